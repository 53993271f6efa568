#!/usr/bin/env python3
"""Multiple-choice questions written from the graph, for `kgqa distill --transfer`.

CommonsenseQA was written from ConceptNet: a question concept, a relation, answers among
its neighbours. This script writes questions the same way, from templates, so that the
teachers can label many more questions than the 8,000 training ones (TinyBERT's larger
transfer set, with the graph as the source):

  - question concepts: those of the training questions (`question_concept` of the listed
    ids; never the test split's), so the questions stay in the training set's domain;
  - for each concept and each templated relation it has in the graph, one question: the
    template filled with the concept ("Where would you find a trowel?"), one of its tails
    for that relation (seeded choice), and four other graph neighbours of the concept
    (any relation), as CommonsenseQA's distractors are: so every choice has facts that
    link it to the question, and the facts alone do not give the answer away (with
    unlinked distractors, 0.9 facts per choice, nearly all on the tail: a model would
    learn to pick the choice with facts);
  - five choices in a seeded order, no `answerKey`: a template cannot say which of the
    neighbours it means (several may fit), so the teachers' soft targets label the
    question and their choice is its hard label; `question_concept` the concept; ids
    `graph-N`.

Usage: python3 scripts/graph-questions.py TRIPLES.txt[.gz] DATASET.jsonl IDS.txt OUT.jsonl
           [--per-concept N] [--seed S] [--answer-key]
--answer-key marks the templated relation's tail as the answer, for analysis only (`kgqa
eval` on the file: how often a model picks the tail the template was written from).
TRIPLES: ConceptNet-100K's `Relation<TAB>head<TAB>tail<TAB>weight` lines. Prints how many
questions it wrote, by relation. Deterministic for given inputs and seed.
"""
import argparse
import gzip
import json
import random
from collections import defaultdict

# Relation -> template over the head; "{a}" is the head with "a"/"an" when it reads as a
# noun phrase. Relations whose questions read poorly from templates (IsA, DefinedAs, the
# negated ones) are left out.
TEMPLATES = {
    "AtLocation": "Where would you find {a}?",
    "UsedFor": "What is {a} used for?",
    "CapableOf": "What can {a} do?",
    "HasProperty": "What is {a} like?",
    "HasSubevent": "What happens when you {h}?",
    "HasPrerequisite": "What do you need before you {h}?",
    "Causes": "What can {h} cause?",
    "HasA": "What does {a} have?",
    "ReceivesAction": "What can be done to {a}?",
    "MotivatedByGoal": "Why would you {h}?",
    "Desires": "What does {a} want?",
    "PartOf": "What is {a} part of?",
    "CausesDesire": "What might {h} make you want to do?",
    "MadeOf": "What is {a} made of?",
    "HasFirstSubevent": "What is the first thing you do when you {h}?",
}
LABELS = ["A", "B", "C", "D", "E"]


def article(term):
    return ("an " if term[:1] in "aeiou" else "a ") + term


def read_triples(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise SystemExit(f"{path}:{n}: expected relation, head, tail")
            yield parts[0], parts[1].strip().lower(), parts[2].strip().lower()


def training_concepts(dataset, ids):
    listed = {line.strip() for line in open(ids) if line.strip()}
    out = []
    for line in open(dataset):
        if line.strip():
            item = json.loads(line)
            concept = item["question"].get("question_concept")
            if item["id"] in listed and concept and concept.lower() not in out:
                out.append(concept.lower())
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("triples")
    p.add_argument("dataset")
    p.add_argument("ids")
    p.add_argument("out")
    p.add_argument("--per-concept", type=int, default=3, help="most questions per concept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--answer-key", action="store_true", help="the tail as answerKey")
    a = p.parse_args()
    tails = defaultdict(list)  # (relation, head) -> tails
    linked = defaultdict(set)  # term -> terms it shares an edge with
    for relation, head, tail in read_triples(a.triples):
        if relation in TEMPLATES and head != tail:
            tails[(relation, head)].append(tail)
        linked[head].add(tail)
        linked[tail].add(head)
    rng = random.Random(a.seed)
    written, counts = 0, defaultdict(int)
    with open(a.out, "w") as out:
        for concept in training_concepts(a.dataset, a.ids):
            relations = [r for r in TEMPLATES if (r, concept) in tails]
            rng.shuffle(relations)
            for relation in relations[: a.per_concept]:
                tail = rng.choice(sorted(set(tails[(relation, concept)])))
                others = sorted(linked[concept] - {concept, tail})
                if len(others) < 4:
                    continue
                choices = rng.sample(others, 4) + [tail]
                rng.shuffle(choices)
                stem = TEMPLATES[relation].format(a=article(concept), h=concept)
                item = {
                    "id": f"graph-{written}",
                    **({"answerKey": LABELS[choices.index(tail)]} if a.answer_key else {}),
                    "question": {
                        "question_concept": concept,
                        "stem": stem,
                        "choices": [{"label": l, "text": c} for l, c in zip(LABELS, choices)],
                    },
                }
                out.write(json.dumps(item) + "\n")
                written += 1
                counts[relation] += 1
    print(f"{a.out}: {written} questions")
    for relation, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {relation}: {n}")


if __name__ == "__main__":
    main()
