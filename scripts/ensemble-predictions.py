#!/usr/bin/env python3
"""Averages `kgqa eval --predictions` files in logit space, as analysis.

Each question's choice log-probabilities are averaged over the files (the same argmax as
averaging the models' logits, which is what `kgqa distill --teacher A --teacher B`
learns from); writes the result in the same format, so that
`scripts/compare-predictions.py` can pair one ensemble with another (e.g. an input-fusion
+ LM-only pair against two LM-only seeds: what the graph adds to an ensemble beyond a
second seed).

Usage: python3 scripts/ensemble-predictions.py A.jsonl B.jsonl [...] > AB.jsonl
"""
import json
import math
import sys


def read(path):
    rows = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    r = json.loads(line)
                    rows[r["id"]] = r
                except (ValueError, KeyError) as e:
                    sys.exit(f"{path}:{n}: not a prediction line ({e})")
    return rows


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    files = [read(p) for p in sys.argv[1:]]
    if any(set(f) != set(files[0]) for f in files):
        sys.exit("the files cover different questions")
    for q, first in files[0].items():
        logs = [[math.log(max(p, 1e-30)) for p in f[q]["probabilities"]] for f in files]
        mean = [sum(col) / len(files) for col in zip(*logs)]
        top = max(mean)
        z = sum(math.exp(m - top) for m in mean)
        probs = [math.exp(m - top) / z for m in mean]
        predicted = max(range(len(mean)), key=mean.__getitem__)
        print(json.dumps({"id": q, "answer": first["answer"], "predicted": predicted,
                          "probabilities": probs}))


if __name__ == "__main__":
    main()
