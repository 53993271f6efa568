#!/usr/bin/env bash
# Retrieval latency per 5-choice CommonsenseQA question (the 1,241 in-house test questions)
# on a store of ConceptNet-100K + WordNet 3.0, and `kgqa retrieve` over all 9,741 training
# questions. Needs ../shared/datasets and wordnet-base (/usr/share/wordnet).
# Usage: bash benches/retrieval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${KGQA_DATASETS:-../shared/datasets}"
WORDNET="${KGQA_WORDNET:-/usr/share/wordnet}"
STORE="$(mktemp -d)"
trap 'rm -rf "$STORE"' EXIT
cargo build --quiet --release
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
"$KGQA" load "$DATA/conceptnet-100k/train100k.txt.gz" "$WORDNET" --store "$STORE/store" | tail -1
CSQA="$DATA/commonsenseqa"
cargo bench --quiet --bench retrieval -- "$STORE/store" "$CSQA/train_rand_split.jsonl" "$CSQA/inhouse_split_qids.txt"
/usr/bin/time -f "kgqa retrieve: %e s wall, %M KB peak" \
  "$KGQA" --store "$STORE/store" retrieve --dataset "$CSQA/train_rand_split.jsonl" --out "$STORE/facts.jsonl"
