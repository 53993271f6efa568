#!/usr/bin/env bash
# How much of its teacher a narrower student keeps before any training: for each
# LAYERSxWIDTH:INIT, `kgqa distill ... --stop-at 1` on 40 questions builds the student
# (RUN/student-init; the one step changes nothing there), then `kgqa eval` scores that
# untrained student on the 500 held-out questions, paired with the teacher.
#
# Usage: bash scripts/narrow-at-init.sh TEACHER [LAYERSxWIDTH:INIT ...]
#   default: 6x352:select 6x320:select 4x256:select 4x256:random
#   KGQA_BIN picks the binary (default target/release/kgqa). Writes runs/narrow-at-init/.
set -euo pipefail
cd "$(dirname "$0")/.."
TEACHER=${1:?usage: scripts/narrow-at-init.sh TEACHER [LAYERSxWIDTH:INIT ...]}
shift
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(6x352:select 6x320:select 4x256:select 4x256:random)
KGQA=${KGQA_BIN:-${CARGO_TARGET_DIR:-target}/release/kgqa}
CSQA=../shared/datasets/commonsenseqa
Q=$CSQA/train_rand_split.jsonl
OUT=runs/narrow-at-init
mkdir -p "$OUT"
[ -f runs/eval-ids.txt ] || python3 scripts/held_out.py runs/eval-ids.txt
"$KGQA" eval --model "$TEACHER" --dataset "$Q" --ids runs/eval-ids.txt --facts runs/facts.jsonl \
  --json --predictions "$OUT/teacher.jsonl" > /dev/null
python3 scripts/held_out.py --only held-out "$OUT/teacher.jsonl" > "$OUT/teacher-held-out.jsonl"
for shape in "${SHAPES[@]}"; do
  layers=${shape%%x*}; rest=${shape#*x}; width=${rest%%:*}; init=${rest#*:}
  run="$OUT/$layers-$width-$init"
  rm -rf "$run"
  "$KGQA" distill --teacher "$TEACHER" --dataset "$Q" --ids "$CSQA/inhouse_split_qids.txt" \
    --facts runs/facts.jsonl --run "$run" --student-layers "$layers" --student-hidden "$width" \
    --narrow-init "$init" --limit 40 --held-out 8 --epochs 1 --batch-size 4 --max-length 64 \
    --stop-at 1 > /dev/null 2>&1
  "$KGQA" eval --model "$run/student-init" --dataset "$Q" --ids runs/eval-ids.txt \
    --facts runs/facts.jsonl --json --predictions "$run.jsonl" > /dev/null
  python3 scripts/held_out.py --only held-out "$run.jsonl" > "$run-held-out.jsonl"
  echo "== $layers layers x $width, $init, untrained, against the teacher on the held-out slice"
  python3 scripts/compare-predictions.py "$run-held-out.jsonl" "$OUT/teacher-held-out.jsonl" \
    | grep -E '^A |^A - B|^same choice'
done
