#!/usr/bin/env python3
"""Late (score) fusion as analysis: a model's choice log-probabilities plus w times a
score computed from the retrieved facts alone, w picked on the held-out slice.

A third way of adding the graph, after input and entity fusion: no training, one weight.
For each score of `graph-signal.py` (and "has any fact"), w is chosen from a fixed grid on
the 500 held-out training questions (`held_out.py`), then applied once to the test split.

Usage: python3 scripts/late-fusion.py PREDICTIONS.jsonl FACTS.jsonl
PREDICTIONS.jsonl: `kgqa eval --ids EVAL_IDS.txt --predictions ...` with the ids file of
`scripts/held_out.py`, so that it covers both the held-out slice and the test split.
"""
import importlib.util
import json
import math
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("held_out", Path(__file__).with_name("held_out.py"))
held_out = importlib.util.module_from_spec(spec)
spec.loader.exec_module(held_out)

SCORES = {
    "sum of fact scores": lambda fs: sum(f["score"] for f in fs),
    "log(1 + sum)": lambda fs: math.log1p(sum(f["score"] for f in fs)),
    "best fact score": lambda fs: max((f["score"] for f in fs), default=0.0),
    "one-hop facts": lambda fs: sum(1 for f in fs if len(f["edges"]) == 1),
    "has any fact": lambda fs: float(bool(fs)),
}
GRID = [-2, -1, -0.5, -0.25, -0.1, 0, 0.05, 0.1, 0.25, 0.5, 1, 2]


def accuracy(rows, facts, w, score):
    right = 0
    for r in rows:
        choices = facts[r["id"]]
        s = [math.log(max(p, 1e-30)) + w * score(choices[i]["facts"])
             for i, p in enumerate(r["probabilities"])]
        right += max(range(len(s)), key=s.__getitem__) == r["answer"]
    return right / len(rows)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    facts = {}
    for line in open(sys.argv[2]):
        r = json.loads(line)
        facts[r["id"]] = r["choices"]
    _, held, test = held_out.split()
    held, test = set(held), set(test)
    h = [r for r in rows if r["id"] in held]
    t = [r for r in rows if r["id"] in test]
    if len(h) != len(held) or len(t) != len(test):
        sys.exit(f"{sys.argv[1]}: covers {len(h)} of {len(held)} held-out and {len(t)} of "
                 f"{len(test)} test questions; evaluate with the ids of held_out.py")
    print(f"{sys.argv[1]}: model alone {100 * accuracy(h, facts, 0, len):.1f}% held-out, "
          f"{100 * accuracy(t, facts, 0, len):.1f}% test")
    print("| score | w (picked on held-out) | held-out | test |")
    print("|---|---|---|---|")
    for name, score in SCORES.items():
        acc, w = max((accuracy(h, facts, w, score), w) for w in GRID)
        print(f"| {name} | {w} | {100 * acc:.1f}% | {100 * accuracy(t, facts, w, score):.1f}% |")


if __name__ == "__main__":
    main()
