#!/usr/bin/env bash
# Two models' `kgqa eval` speed side by side on the 1,241 in-house test questions,
# alternating A, B, A, B, ... so that both see the same machine; prints each round's ms
# per question (mean and p50) and the ratio of the two models' median p50s. Run it with
# nothing else busy (pause a training run with kill -STOP, resume with kill -CONT).
#
# Usage: bash scripts/speed-pair.sh MODEL_A MODEL_B [ROUNDS] [FACTS.jsonl]
#   ROUNDS defaults to 2, FACTS to runs/facts.jsonl; KGQA_BIN picks the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?usage: scripts/speed-pair.sh MODEL_A MODEL_B [ROUNDS] [FACTS.jsonl]}
B=${2:?usage: scripts/speed-pair.sh MODEL_A MODEL_B [ROUNDS] [FACTS.jsonl]}
ROUNDS=${3:-2}
FACTS=${4:-runs/facts.jsonl}
KGQA=${KGQA_BIN:-${CARGO_TARGET_DIR:-target}/release/kgqa}
CSQA=../shared/datasets/commonsenseqa
OUT=$(mktemp)
for round in $(seq "$ROUNDS"); do
  for model in "$A" "$B"; do
    "$KGQA" eval --model "$model" --dataset "$CSQA/train_rand_split.jsonl" \
      --ids "$CSQA/inhouse_split_qids.txt" --facts "$FACTS" --json |
      python3 -c 'import json,sys; r=json.load(sys.stdin); print(sys.argv[1], sys.argv[2], r["questions"], r["correct"], r["ms_per_question_mean"], r["ms_per_question_p50"])' "$round" "$model" |
      tee -a "$OUT"
  done
done
python3 - "$OUT" "$A" "$B" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for model in sys.argv[2:]:
    mine = [r for r in rows if r[1] == model]
    means = [float(r[4]) for r in mine]
    p50s = [float(r[5]) for r in mine]
    print(f"{model}: {mine[0][3]}/{mine[0][2]} correct; ms per question, mean by round "
          + " / ".join(f"{m:.1f}" for m in means) + ", p50 by round "
          + " / ".join(f"{p:.1f}" for p in p50s))
med = {m: statistics.median(float(r[5]) for r in rows if r[1] == m) for m in sys.argv[2:]}
a, b = sys.argv[2:]
print(f"median p50: {med[a]:.1f} ms against {med[b]:.1f} ms: B is {med[a] / med[b]:.2f}x faster than A")
PY
rm -f "$OUT"
