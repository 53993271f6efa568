#!/usr/bin/env python3
"""How much the retrieved facts alone say about the answer (no model involved).

For each CommonsenseQA question in a retrieval cache (`kgqa retrieve`), scores every
choice from its facts alone and reports how often the top-scored choice is the answer
(ties share the credit; chance is 20%), for several scores — on the in-house training
split, on kgqa's held-out slice of it and the rest, and on the test split — and how often
the answer and a distractor have any fact at all. A cache whose facts barely separate the
answer from the distractors gives a model little to learn from them.

Usage: python3 scripts/graph-signal.py FACTS.jsonl [DATASET.jsonl] [IDS.txt]
(default dataset and ids: ../shared/datasets/commonsenseqa/; questions listed in IDS are
the in-house training split, the others its test split; both are reported.)
"""
import json
import sys
from pathlib import Path

from csqa import DIR as csqa, gold_answers
from held_out import split

facts_path = Path(sys.argv[1])
dataset = Path(sys.argv[2]) if len(sys.argv) > 2 else csqa / "train_rand_split.jsonl"
ids_path = Path(sys.argv[3]) if len(sys.argv) > 3 else csqa / "inhouse_split_qids.txt"

answers = gold_answers(dataset)
train_ids = {l.strip() for l in open(ids_path) if l.strip()}
# kgqa's held-out slice of the training questions (what picks checkpoints).
held_ids = set(split(dataset, ids_path)[1])
SPLITS = ("train", "held-out", "rest", "test")

scores = {
    "best fact score": lambda fs: max((f["score"] for f in fs), default=0.0),
    "sum of fact scores": lambda fs: sum(f["score"] for f in fs),
    "one-hop facts": lambda fs: sum(1 for f in fs if len(f["edges"]) == 1),
    "number of facts": len,
}
results = {split: {name: 0.0 for name in scores} for split in SPLITS}
has_fact = {split: [0, 0, 0, 0] for split in SPLITS}  # answer yes/n, distractor yes/n
counts = {split: 0 for split in SPLITS}
for line in open(facts_path):
    r = json.loads(line)
    if r["id"] not in answers:
        continue
    if r["id"] in train_ids:
        splits = ("train", "held-out" if r["id"] in held_ids else "rest")
    else:
        splits = ("test",)
    answer = answers[r["id"]]
    for split in splits:
        counts[split] += 1
        for name, score in scores.items():
            s = [score(c["facts"]) for c in r["choices"]]
            top = [i for i, v in enumerate(s) if v == max(s)]
            results[split][name] += (answer in top) / len(top)
        for i, c in enumerate(r["choices"]):
            k = 0 if i == answer else 2
            has_fact[split][k] += bool(c["facts"])
            has_fact[split][k + 1] += 1

print(f"{facts_path}: accuracy of the facts alone (chance 20.0%)")
print("| score | in-house train | its held-out slice | the rest of train | in-house test |")
print("|---|---|---|---|---|")
for name in scores:
    cells = [f"{100 * results[s][name] / max(counts[s], 1):.1f}%" for s in SPLITS]
    print(f"| {name} | " + " | ".join(cells) + " |")
for s in ("train", "test"):
    a, an, d, dn = has_fact[s]
    print(f"{s} ({counts[s]} questions): the answer has a fact in {100 * a / max(an, 1):.1f}% "
          f"of questions, a distractor in {100 * d / max(dn, 1):.1f}%")
