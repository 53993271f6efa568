#!/usr/bin/env python3
"""The graph added to a model's answers after the model (late fusion), weighed on the
held-out slice only.

Each choice's score becomes `log p(choice) + w * s(choice)`: `p` is the model's
probability (`kgqa eval --predictions`), `s` the choice's best fact score in a retrieval
cache (`kgqa retrieve`'s path score; 0 for a choice without facts). `w` is picked from a
fixed grid by accuracy on kgqa's held-out slice (ties: the smaller); only then is the
test split scored, once, with that `w`. Writes the test answers as `kgqa eval
--predictions` lines, for `compare-predictions.py` against the model alone.

Usage: python3 scripts/late-fusion.py PREDICTIONS.jsonl FACTS.jsonl OUT.jsonl
(PREDICTIONS must cover the held-out slice and the test split: `kgqa eval --ids
runs/eval-ids.txt`, see held_out.py.)
"""
import json
import math
import sys

from csqa import gold_answers
from held_out import split

GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def best_scores(path, wanted):
    """{id: [best fact score per choice]} for the questions in `wanted`."""
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["id"] in wanted:
                out[r["id"]] = [max((x["score"] for x in c.get("facts", [])), default=0.0)
                                for c in r["choices"]]
    return out


def fused(probabilities, scores, w):
    return [math.log(max(p, 1e-12)) + w * s for p, s in zip(probabilities, scores)]


def accuracy(rows, scores, w):
    right = 0
    for r in rows:
        f = fused(r["probabilities"], scores[r["id"]], w)
        right += max(range(len(f)), key=lambda k: (f[k], -k)) == r["answer"]
    return right / len(rows)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    predictions, facts, out = sys.argv[1:]
    _, held, test = split()
    # The gold answer from the dataset: kept answer files carry none.
    gold = gold_answers()
    rows = [json.loads(l) for l in open(predictions) if l.strip()]
    for r in rows:
        r["answer"] = gold[r["id"]]
    held_set, test_set = set(held), set(test)
    held_rows = [r for r in rows if r["id"] in held_set]
    test_rows = [r for r in rows if r["id"] in test_set]
    if len(held_rows) != len(held_set) or len(test_rows) != len(test_set):
        sys.exit(f"{predictions}: {len(held_rows)} of {len(held_set)} held-out and "
                 f"{len(test_rows)} of {len(test_set)} test questions; both must be whole")
    scores = best_scores(facts, held_set | test_set)
    missing = [r["id"] for r in rows if r["id"] in held_set | test_set and r["id"] not in scores]
    if missing:
        sys.exit(f"{facts}: no facts line for {len(missing)} questions, e.g. {missing[0]}")
    chosen, best = 0.0, -1.0
    for w in GRID:
        a = accuracy(held_rows, scores, w)
        print(f"held-out, w {w}: {100 * a:.1f}%")
        if a > best:
            chosen, best = w, a
    print(f"chosen on the held-out slice: w {chosen} ({100 * best:.1f}%)")
    with open(out, "w") as f:
        for r in test_rows:
            z = fused(r["probabilities"], scores[r["id"]], chosen)
            m = max(z)
            e = [math.exp(v - m) for v in z]
            p = [v / sum(e) for v in e]
            predicted = max(range(len(z)), key=lambda k: (z[k], -k))
            f.write(json.dumps({"id": r["id"], "answer": r["answer"], "predicted": predicted,
                                "probabilities": p}) + "\n")
    print(f"test, w {chosen}: {100 * accuracy(test_rows, scores, chosen):.1f}% "
          f"({len(test_rows)} questions); answers in {out}")
    explain(test_rows, scores)


def explain(rows, scores):
    """What a weight on the graph can fix and break on these answers of the model alone:
    where it is wrong, is the gold answer's best fact above its pick's; where it is right,
    is the runner-up's above the gold answer's."""
    wrong = [r for r in rows if r["predicted"] != r["answer"]]
    gaps = sorted(math.log(max(r["probabilities"][r["predicted"]], 1e-12))
                  - math.log(max(r["probabilities"][r["answer"]], 1e-12)) for r in wrong)
    if gaps:
        print(f"model alone: {len(wrong)} errors, median gap from its pick to the gold answer "
              f"{gaps[len(gaps) // 2]:.2f} nats")
    above = sum(scores[r["id"]][r["answer"]] > scores[r["id"]][r["predicted"]] for r in wrong)
    below = sum(scores[r["id"]][r["answer"]] < scores[r["id"]][r["predicted"]] for r in wrong)
    print(f"errors: the gold answer's best fact above the pick's {above}, below {below}")
    breakable = 0
    for r in rows:
        if r["predicted"] == r["answer"] and len(r["probabilities"]) > 1:
            p = r["probabilities"]
            runner_up = sorted(range(len(p)), key=lambda k: -p[k])[1]
            breakable += scores[r["id"]][runner_up] > scores[r["id"]][r["answer"]]
    print(f"right answers whose runner-up has the better best fact: {breakable}")


if __name__ == "__main__":
    main()
