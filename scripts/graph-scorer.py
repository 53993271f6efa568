#!/usr/bin/env python3
"""How much any linear reading of the retrieved facts can say about the answer.

`graph-signal.py` scores each choice by fixed rules (best fact, sum, count). This learns
the rule instead: a softmax over the choices of a linear score of each choice's graph
features (whether it has a definition; its number of facts and their best and summed
path scores; and, per fact, its hop count, its relation path, e.g. `AtLocation+MadeOf`,
and whether it starts at CommonsenseQA's question concept, whose neighbours the
distractors were drawn from, or at another word of the question). Trained by SGD on
kgqa's training questions (the in-house training split less its held-out slice; 10
epochs, lr 0.05, L2 1e-3, features seen on at least 20 questions, seed 0), it reports
accuracy on the training questions and on the held-out slice only (chance 20%). A graph
whose best linear reading stays near chance cannot add much to a model that reads it.

Usage: python3 scripts/graph-scorer.py FACTS.jsonl
"""
import collections
import json
import math
import random
import sys

from csqa import TRAIN, gold_answers
from held_out import split

EPOCHS, LR, L2, MIN_COUNT = 10, 0.05, 1e-3, 20


def question_concepts():
    """{id: ConceptNet path of the question concept}, e.g. `/c/en/magazine`."""
    out = {}
    for line in open(TRAIN):
        q = json.loads(line)
        concept = q["question"].get("question_concept", "").lower().replace(" ", "_")
        out[q["id"]] = f"/c/en/{concept}"
    return out


def relation(uri):
    return uri.rsplit("/", 1)[-1]


def fact_features(f, fact, question_side, own, focus):
    edges = fact["edges"]
    ends = {edges[0]["head"], edges[0]["tail"], edges[-1]["head"], edges[-1]["tail"]}
    starts = [u for u in ends if u in question_side and u not in own]
    tag = "focus" if any(u.endswith(focus) for u in starts) else "other"
    hops = len(edges)
    f[f"{tag}{hops}:" + "+".join(relation(e["relation"]) for e in edges)] += 1
    f[f"{tag}{hops}"] += 1
    f[f"{tag}{hops} score"] += fact["score"]
    for e in edges:
        f[f"relation {relation(e['relation'])}"] += 1


def choice_features(record, focus):
    """One {feature: value} per choice of a retrieval-cache line."""
    question_side = {c for m in record["question_mentions"] for c in m["concepts"]}
    rows = []
    for choice in record["choices"]:
        own = set(choice["concepts"]) | {c for m in choice["mentions"] for c in m["concepts"]}
        counts = collections.Counter()
        for fact in choice["facts"]:
            fact_features(counts, fact, question_side, own, focus)
        row = {name: math.log1p(v) if "score" not in name else v for name, v in counts.items()}
        scores = [x["score"] for x in choice["facts"]]
        row.update({"has a definition": float(bool(choice.get("definitions"))),
                    "facts": math.log1p(len(scores)), "best score": max(scores, default=0.0),
                    "summed score": sum(scores)})
        rows.append(row)
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    gold, focus = gold_answers(), question_concepts()
    train, held, _ = split()
    wanted = set(train)
    rows = {}
    for line in open(sys.argv[1]):
        record = json.loads(line)
        if record["id"] in wanted:
            rows[record["id"]] = choice_features(record, focus[record["id"]])
    held_set = set(held)
    fit = [q for q in train if q not in held_set and q in rows]
    seen = collections.Counter(name for q in fit for r in rows[q] for name in r)
    index = {name: i for i, name in enumerate(sorted(n for n, c in seen.items() if c >= MIN_COUNT))}
    x = {q: [[(index[n], v) for n, v in r.items() if n in index] for r in rows[q]] for q in rows}
    w = [0.0] * len(index)
    score = lambda q: [sum(w[i] * v for i, v in row) for row in x[q]]

    def accuracy(qs):
        right = sum(max(range(len(s)), key=s.__getitem__) == gold[q] for q in qs for s in [score(q)])
        return 100 * right / len(qs)

    rng = random.Random(0)
    for _ in range(EPOCHS):
        rng.shuffle(fit)
        for q in fit:
            s = score(q)
            top = max(s)
            p = [math.exp(v - top) for v in s]
            total = sum(p)
            for j, row in enumerate(x[q]):
                g = p[j] / total - (j == gold[q])
                for i, v in row:
                    w[i] -= LR * g * v
        w = [v * (1 - LR * L2) for v in w]
    held_in = [q for q in held if q in rows]
    print(f"{sys.argv[1]}: {len(index)} features; the learned graph score picks the answer on "
          f"{accuracy(fit):.1f}% of the {len(fit)} training questions and "
          f"{accuracy(held_in):.1f}% of the {len(held_in)} held-out ones (chance 20%)")
    strongest = sorted(index, key=lambda n: -abs(w[index[n]]))[:8]
    print("strongest:", ", ".join(f"{n} {w[index[n]]:+.2f}" for n in strongest))


if __name__ == "__main__":
    main()
