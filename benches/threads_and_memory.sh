#!/usr/bin/env bash
# The figures behind the README's thread-scaling and memory claims, rerunnable:
# 1. encoder time with 1 and 2 threads (same bench binary as mc_speed.sh, kgqa side only);
# 2. page faults and peak memory of three training steps (`kgqa train --limit 48`);
# 3. peak memory of `kgqa ask` with the shipped student (embedded graph; a store if given)
#    and with the base model (all-MiniLM-L6-v2, F32).
# Usage: bash benches/threads_and_memory.sh [STORE]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${KGQA_BASE_MODEL:-$(bash scripts/fetch-model.sh)}"
DATA="${KGQA_DATASETS:-../shared/datasets}/commonsenseqa"
cargo build --quiet --release
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
for t in 1 2; do
  echo "threads=$t"
  RAYON_NUM_THREADS=$t cargo bench --quiet --bench mc_speed -- "$MODEL" 10
done
RUN=$(mktemp -d)
/usr/bin/time -f "train 3 steps: %R minor page faults, %M KB peak" "$KGQA" train \
  --dataset "$DATA/train_rand_split.jsonl" --ids "$DATA/inhouse_split_qids.txt" --fusion none \
  --limit 48 --held-out 16 --epochs 1 --max-length 64 --base "$MODEL" --run "$RUN/run" >/dev/null
rm -rf "$RUN"
Q="We dug the ground to build a house. What did we dig with?"
/usr/bin/time -f "ask, embedded graph: %M KB peak" "$KGQA" ask "$Q" >/dev/null
/usr/bin/time -f "ask, base model (6 layers, F32), embedded graph, multiple choice: %M KB peak" \
  "$KGQA" ask "Where would you keep a trowel?" --choices "garden shed,kitchen,car" \
  --model "$MODEL" >/dev/null
if [ -n "${1:-}" ]; then
  /usr/bin/time -f "ask, store, open-ended: %M KB peak" "$KGQA" --store "$1" ask "$Q" >/dev/null
  /usr/bin/time -f "ask, store, multiple choice: %M KB peak" "$KGQA" --store "$1" ask \
    "Where would you keep a trowel?" --choices "garden shed,kitchen,car" >/dev/null
fi
