#!/usr/bin/env python3
"""Which retrieved facts set a choice apart from the other choices of its question.

A fact is *shared* when another choice of the same question has a fact of the same shape:
the same edges once each choice's own concepts are replaced by "?" ("magazine is found
in ?"). CommonsenseQA's distractors were drawn from the question concept's ConceptNet
neighbours, so such facts describe every choice alike; the others are *discriminative*.
Reports, over a retrieval cache (`kgqa retrieve`):
- how many facts are discriminative, and how often the gold choice and a distractor have
  any fact (a model that reads facts can learn "a choice with facts is the answer");
- how often the best-scored fact picks the answer, from all facts and from the
  discriminative ones only (ties share the credit; chance is 20%);
- with a model's predictions with and without its facts (`kgqa eval --predictions`, and
  `--withhold-facts`), accuracy and the questions the facts fixed and broke, by whether
  the gold choice and the distractors have discriminative facts.

Usage: python3 scripts/shared-facts.py FACTS.jsonl [WITH.jsonl WITHOUT.jsonl]
(questions from ../shared/datasets/commonsenseqa/train_rand_split.jsonl)
"""
import collections
import json
import sys

from csqa import TRAIN as dataset, gold_answers


def read(path):
    return {r["id"]: r for r in map(json.loads, open(path))}



def shape(fact, own):
    """The fact's edges with the choice's own concepts replaced by "?"."""
    return tuple(
        ("?" if e["head"] in own else e["head"], e["relation"], "?" if e["tail"] in own else e["tail"])
        for e in fact["edges"]
    )


def discriminative(record):
    """Per choice, its facts whose shape no other choice of the question has."""
    shapes = []
    for c in record["choices"]:
        own = set(c.get("concepts", []))
        for m in c.get("mentions", []):
            own |= set(m["concepts"])
        shapes.append([shape(f, own) for f in c["facts"]])
    counts = collections.Counter(s for ss in shapes for s in set(ss))
    return [[f for f, s in zip(c["facts"], ss) if counts[s] == 1] for c, ss in zip(record["choices"], shapes)]


def picks(facts_per_choice, gold):
    """Credit for the answer when the best-scored fact picks the choice (ties share it)."""
    best = [max((f["score"] for f in fs), default=0.0) for fs in facts_per_choice]
    top = [i for i, b in enumerate(best) if b == max(best)]
    return (gold in top) / len(top)


def group(disc, gold):
    g = "gold: discriminative" if disc[gold] else "gold: none"
    d = "a distractor: discriminative" if any(x for i, x in enumerate(disc) if i != gold) else "no distractor"
    return g, d, f"{g} / {d}"


def main():
    golds = gold_answers(dataset)
    with_facts, without = (read(sys.argv[2]), read(sys.argv[3])) if len(sys.argv) > 3 else ({}, {})
    n = collections.Counter()
    groups = collections.defaultdict(lambda: [0, 0, 0, 0])  # questions, right, fixed, broken
    for record in map(json.loads, open(sys.argv[1])):
        gold = golds.get(record["id"])
        if gold is None:
            continue
        disc = discriminative(record)
        choices = record["choices"]
        n["questions"] += 1
        n["facts"] += sum(len(c["facts"]) for c in choices)
        n["discriminative"] += sum(len(d) for d in disc)
        n["gold has a fact"] += bool(choices[gold]["facts"])
        n["distractors"] += len(choices) - 1
        n["distractor has a fact"] += sum(bool(c["facts"]) for i, c in enumerate(choices) if i != gold)
        n["signal: all"] += picks([c["facts"] for c in choices], gold)
        n["signal: discriminative"] += picks(disc, gold)
        a, b = with_facts.get(record["id"]), without.get(record["id"])
        if a and b:
            right, right_without = a["predicted"] == gold, b["predicted"] == gold
            for key in group(disc, gold):
                g = groups[key]
                g[0] += 1
                g[1] += right
                g[2] += right and not right_without
                g[3] += right_without and not right
    q = n["questions"]
    print(f"{q} questions, {n['facts']} facts, {n['discriminative']} discriminative "
          f"({n['discriminative'] / n['facts']:.1%})")
    print(f"gold has a fact: {n['gold has a fact'] / q:.1%}; "
          f"a distractor has one: {n['distractor has a fact'] / n['distractors']:.1%}")
    print(f"best fact picks the answer: all facts {n['signal: all'] / q:.1%}, "
          f"discriminative only {n['signal: discriminative'] / q:.1%} (chance 20%)")
    for key, (count, right, fixed, broken) in sorted(groups.items()):
        print(f"{key:60s} questions {count:5d}  accuracy {right / count:.1%}  fixed {fixed:4d}  broken {broken:4d}")


if __name__ == "__main__":
    main()
