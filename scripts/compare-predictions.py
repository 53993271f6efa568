#!/usr/bin/env python3
"""Paired comparison of two models on the same questions.

Reads two `kgqa eval --predictions FILE` outputs (one JSON line per question: id, answer,
predicted), pairs them by question id and prints how many questions each model alone gets
right, the accuracy difference, and the exact two-sided McNemar p-value (a binomial test
on the questions where exactly one model is right). Pairing removes the questions both
get right or both get wrong, so it separates two models far better than comparing two
accuracies with their own standard errors. Also prints how often the two pick the same
choice (a student's *fidelity* to its teacher, right or wrong), and the accuracy of the
two averaged in logit space (the mean of their log-probabilities has the same argmax), as
analysis.

Lines without "answer" (the files kept in data/predictions/, which hold no dataset
content) take it from the CommonsenseQA training file by id.

Usage: python3 scripts/compare-predictions.py A.jsonl B.jsonl
"""
import json
import math
import sys
from math import comb

from csqa import gold_answers

_ANSWERS = {}


def gold(qid):
    """The answer index of a CommonsenseQA question, read from the training file once."""
    if not _ANSWERS:
        _ANSWERS.update(gold_answers())
    return _ANSWERS[qid]


def read(path):
    """{id: (right, answer, probabilities)}."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                answer = r["answer"] if "answer" in r else gold(r["id"])
                out[r["id"]] = (r["predicted"] == answer, answer, r["probabilities"])
            except (ValueError, KeyError) as e:
                sys.exit(f"{path}:{n}: not a prediction line ({e})")
    return out


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value: P(X <= min(b, c)) * 2 for X ~ Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pa, pb = read(sys.argv[1]), read(sys.argv[2])
    a = {q: v[0] for q, v in pa.items()}
    b = {q: v[0] for q, v in pb.items()}
    if set(a) != set(b):
        sys.exit(f"the files cover different questions ({len(a)} and {len(b)} ids, "
                 f"{len(set(a) & set(b))} shared)")
    both = sum(a[q] and b[q] for q in a)
    only_a = sum(a[q] and not b[q] for q in a)
    only_b = sum(b[q] and not a[q] for q in a)
    n = len(a)
    acc_a, acc_b = (both + only_a) / n, (both + only_b) / n
    print(f"questions: {n}")
    print(f"A {sys.argv[1]}: {100 * acc_a:.1f}%   B {sys.argv[2]}: {100 * acc_b:.1f}%")
    print(f"both right {both}, only A {only_a}, only B {only_b}, "
          f"both wrong {n - both - only_a - only_b}")
    print(f"A - B: {100 * (acc_a - acc_b):+.1f} points; "
          f"exact McNemar p = {mcnemar_exact(only_a, only_b):.3g}")
    pick = lambda p: max(range(len(p)), key=p.__getitem__)
    same = sum(pick(p) == pick(pb[q][2]) for q, (_, _, p) in pa.items())
    print(f"same choice: {same} of {n} ({100 * same / n:.1f}%)")
    ensemble = 0
    for q, (_, answer, p) in pa.items():
        s = [math.log(max(x, 1e-30)) + math.log(max(y, 1e-30)) for x, y in zip(p, pb[q][2])]
        ensemble += max(range(len(s)), key=s.__getitem__) == answer
    print(f"A and B averaged in logit space: {100 * ensemble / n:.1f}%")


if __name__ == "__main__":
    main()
