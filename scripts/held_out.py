#!/usr/bin/env python3
"""The held-out slice `kgqa train` and `kgqa distill` pick checkpoints on, outside kgqa.

`kgqa` holds out 500 of the in-house training questions: a Fisher-Yates permutation
(splitmix64, seed 0x5EED) of the listed ids in file order, first 500 (`split_held_out` and
`permutation` in `src/train/data.rs`). This script computes the same
slice, so models can be evaluated on it (checked: `teacher-lm-lr1` scores 41.8% here and
in its own training log).

Usage: python3 scripts/held_out.py EVAL_IDS.txt [DATASET.jsonl] [IDS.txt]
writes EVAL_IDS.txt: the in-house training ids minus the held-out slice, so that
`kgqa eval --ids EVAL_IDS.txt` evaluates the held-out slice and the test split together
(1,741 questions; `--predictions` lines carry the ids to tell them apart).

Usage: python3 scripts/held_out.py --ids-for held-out EVAL_IDS.txt
writes EVAL_IDS.txt so that `kgqa eval --ids EVAL_IDS.txt` evaluates the held-out slice
alone (500 questions), for choosing among candidates without computing test answers.

Usage: python3 scripts/held_out.py --only held-out|test PREDICTIONS.jsonl > PART.jsonl
prints the prediction lines (`kgqa eval --predictions`) of one split, e.g. to compare two
models or ensembles on the held-out slice with `compare-predictions.py`.
"""
import json
import sys
from pathlib import Path

CSQA = Path(__file__).resolve().parent.parent / ".." / "shared" / "datasets" / "commonsenseqa"
MASK = (1 << 64) - 1
HELD_OUT = 500
SEED = 0x5EED


def splitmix64(state):
    """(new state, output), as `model::bert::splitmix64`."""
    state = (state + 0x9E37_79B9_7F4A_7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & MASK
    return state, z ^ (z >> 31)


def permutation(n, seed):
    """`train::data::permutation`: Fisher-Yates from the last index down."""
    order, state = list(range(n)), seed
    for i in range(n - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def split(dataset=CSQA / "train_rand_split.jsonl", ids=CSQA / "inhouse_split_qids.txt"):
    """(training ids in file order, held-out ids, test ids)."""
    listed = {line.strip() for line in open(ids) if line.strip()}
    every = [json.loads(line)["id"] for line in open(dataset) if line.strip()]
    train = [q for q in every if q in listed]
    order = permutation(len(train), SEED)
    held = [train[i] for i in order[: min(HELD_OUT, len(train) // 5)]]
    return train, held, [q for q in every if q not in listed]


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    if sys.argv[1] == "--ids-for":
        if len(sys.argv) != 4 or sys.argv[2] != "held-out":
            sys.exit(__doc__)
        train, held, test = split()
        held_set = set(held)
        with open(sys.argv[3], "w") as out:
            out.writelines(q + "\n" for q in train + test if q not in held_set)
        print(f"{sys.argv[3]}: kgqa eval with it covers the {len(held)} held-out questions")
        return
    if sys.argv[1] not in ("--only", "--ids-for") and sys.argv[1].startswith("-"):
        sys.exit(f"held_out.py: unknown option {sys.argv[1]}\n{__doc__}")
    if sys.argv[1] == "--only":
        if len(sys.argv) != 4 or sys.argv[2] not in ("held-out", "test"):
            sys.exit(__doc__)
        _, held, test = split()
        keep = set(held if sys.argv[2] == "held-out" else test)
        for line in open(sys.argv[3]):
            if line.strip() and json.loads(line)["id"] in keep:
                sys.stdout.write(line if line.endswith("\n") else line + "\n")
        return
    train, held, test = split(*sys.argv[2:4])
    held_set = set(held)
    with open(sys.argv[1], "w") as out:
        out.writelines(q + "\n" for q in train if q not in held_set)
    print(f"{sys.argv[1]}: {len(train) - len(held)} ids; kgqa eval with it covers "
          f"{len(held)} held-out + {len(test)} test questions")


if __name__ == "__main__":
    main()
