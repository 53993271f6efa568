#!/usr/bin/env bash
# A model soup, scored: `kgqa average` of the given model folders into OUT, then `kgqa eval`
# of OUT on kgqa's held-out slice and on the in-house test split (one run over both, split
# apart by scripts/held_out.py). Choose soups on the held-out figure; the test figure is
# for reporting only. Prints "held-out A% test B%" and keeps OUT.
# Usage: bash scripts/soup.sh OUT FACTS.jsonl MODEL [MODEL...]
#   env KGQA_BIN (default: target/release/kgqa under CARGO_TARGET_DIR), KGQA_DATASETS
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$1"; FACTS="$2"; shift 2
KGQA="${KGQA_BIN:-${CARGO_TARGET_DIR:-target}/release/kgqa}"
CSQA="${KGQA_DATASETS:-../shared/datasets}/commonsenseqa"
MODELS=(); for m in "$@"; do MODELS+=(--model "$m"); done
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
"$KGQA" average "${MODELS[@]}" --out "$OUT" >/dev/null
python3 scripts/held_out.py "$WORK/ids.txt" "$CSQA/train_rand_split.jsonl" "$CSQA/inhouse_split_qids.txt"
"$KGQA" eval --model "$OUT" --dataset "$CSQA/train_rand_split.jsonl" --ids "$WORK/ids.txt" \
  --facts "$FACTS" --json --predictions "$WORK/p.jsonl" >/dev/null
for split in held-out test; do
  python3 scripts/held_out.py --only "$split" "$WORK/p.jsonl" > "$WORK/$split.jsonl"
done
python3 - "$WORK" <<'PY'
import json, sys
acc = {}
for split in ("held-out", "test"):
    rows = [json.loads(l) for l in open(f"{sys.argv[1]}/{split}.jsonl")]
    acc[split] = 100 * sum(r["answer"] == r["predicted"] for r in rows) / len(rows)
print(f"held-out {acc['held-out']:.1f}% test {acc['test']:.1f}%")
PY
