#!/usr/bin/env bash
# Entity fusion's concept-vector cache, side by side in one run: `kgqa eval` of an
# entity-fusion model on the 1,241 in-house test questions with the cache off
# (KGQA_CONCEPT_CACHE=0) and on (the default), alternating, ROUNDS rounds each; prints
# accuracy (must be equal) and mean / median ms per question, then the ratios of medians.
# Usage: bash benches/entity_cache.sh MODEL FACTS.jsonl [ROUNDS]
#   e.g. bash benches/entity_cache.sh runs/teacher-entity/best runs/facts.jsonl 2
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="$1"; FACTS="$2"; ROUNDS="${3:-2}"
CSQA="${KGQA_DATASETS:-../shared/datasets}/commonsenseqa"
cargo build --quiet --release
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
OUT=$(mktemp)
for _ in $(seq "$ROUNDS"); do
  for cache in off on; do
    # "on" leaves the variable unset: the default capacity, whatever it is.
    if [ "$cache" = off ]; then export KGQA_CONCEPT_CACHE=0; else unset KGQA_CONCEPT_CACHE; fi
    "$KGQA" eval --model "$MODEL" --dataset "$CSQA/train_rand_split.jsonl" \
      --ids "$CSQA/inhouse_split_qids.txt" --facts "$FACTS" --json \
      | python3 -c "import json,sys; r=json.load(sys.stdin); print('$cache', r['correct'], r['ms_per_question_mean'], r['ms_per_question_p50'])" \
      | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {c: [r for r in rows if r[0] == c] for c in ("off", "on")}
med = {c: statistics.median(float(r[3]) for r in rs) for c, rs in by.items()}
mean = {c: statistics.median(float(r[2]) for r in rs) for c, rs in by.items()}
print("| cache | correct | mean ms (median of rounds) | p50 ms (median of rounds) |")
print("|---|---|---|---|")
for c in ("off", "on"):
    print(f"| {c} | {by[c][0][1]} | {mean[c]:.1f} | {med[c]:.1f} |")
print(f"on/off: mean {mean['on'] / mean['off']:.2f}, p50 {med['on'] / med['off']:.2f}")
PY
rm -f "$OUT"
