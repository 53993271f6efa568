#!/usr/bin/env python3
"""Greedy model soup (Wortsman et al. 2022) over the evaluations a run kept.

A run trained with `--keep-evaluations` has one model per held-out evaluation in
RUN/evaluations/step-NNNNNN/ and their held-out accuracies in RUN/log.jsonl. Sorted by
that accuracy, best first, each model joins the soup (`kgqa average`) if the soup's
held-out accuracy does not drop; the held-out slice alone decides (kgqa eval over those 500
questions only). The final soup is written to OUT and scored once on the held-out slice
and the in-house test split; the test figure is for reporting, never for choosing.

Usage: python3 scripts/greedy-soup.py RUN FACTS.jsonl OUT
       python3 scripts/greedy-soup.py --models OUT FACTS.jsonl MODEL [MODEL...]
  (the second form: the uniform soup of the given model folders, scored the same way)
  env KGQA_BIN (default: $CARGO_TARGET_DIR/release/kgqa or target/release/kgqa)
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

root = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("held_out", root / "scripts" / "held_out.py")
held_out = importlib.util.module_from_spec(spec)
spec.loader.exec_module(held_out)
KGQA = os.environ.get("KGQA_BIN") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", root / "target")) / "release" / "kgqa")
DATASET = held_out.CSQA / "train_rand_split.jsonl"


def accuracy(model, facts, ids_file):
    """`kgqa eval` accuracy of `model` on the questions not listed in `ids_file`."""
    out = subprocess.run([KGQA, "eval", "--model", str(model), "--dataset", str(DATASET),
                          "--ids", str(ids_file), "--facts", str(facts), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return 100 * json.loads(out)["accuracy"]


def average(models, out):
    if out.exists():
        shutil.rmtree(out)
    args = [KGQA, "average", "--out", str(out)]
    for m in models:
        args += ["--model", str(m)]
    subprocess.run(args, check=True, capture_output=True)


def report(out, facts, work, train, held, test):
    """Scores `out` once on the held-out slice and the test split and prints both."""
    held_set = set(held)
    both = work / "not-held-out-or-test.txt"  # held-out + test are left
    both.write_text("".join(q + "\n" for q in train if q not in held_set))
    predictions = work / "p.jsonl"
    subprocess.run([KGQA, "eval", "--model", str(out), "--dataset", str(DATASET), "--ids",
                    str(both), "--facts", str(facts), "--json", "--predictions",
                    str(predictions)], check=True, capture_output=True)
    rows = [json.loads(l) for l in open(predictions)]
    for name, ids in (("held-out", held_set), ("test", set(test))):
        part = [r for r in rows if r["id"] in ids]
        acc = 100 * sum(r["answer"] == r["predicted"] for r in part) / len(part)
        print(f"{name}: {acc:.1f}% ({len(part)} questions)")


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "--models":
        out, facts, models = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
        average(models, out)
        work = Path(tempfile.mkdtemp())
        try:
            report(out, facts, work, *held_out.split())
        finally:
            shutil.rmtree(work)
        return
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    run, facts, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    log = {l["step"]: l["accuracy"] for l in map(json.loads, open(run / "log.jsonl"))}
    kept = sorted((run / "evaluations").glob("step-*"),
                  key=lambda d: (-log[int(d.name[5:])], int(d.name[5:])))
    train, held, test = held_out.split()
    work = Path(tempfile.mkdtemp())
    try:
        only_held = work / "not-held-out.txt"   # every id but the held-out slice
        held_set = set(held)
        only_held.write_text("".join(q + "\n" for q in train + test if q not in held_set))
        soup, best = [kept[0]], 100 * log[int(kept[0].name[5:])]
        print(f"{kept[0].name}: held-out {best:.1f}%")
        for candidate in kept[1:]:
            average(soup + [candidate], work / "try")
            acc = accuracy(work / "try", facts, only_held)
            joined = acc >= best
            print(f"+ {candidate.name}: soup held-out {acc:.1f}%{' (kept)' if joined else ''}")
            if joined:
                soup, best = soup + [candidate], acc
        average(soup, out)
        print(f"soup of {len(soup)}: {', '.join(d.name for d in soup)} -> {out}")
        report(out, facts, work, train, held, test)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
