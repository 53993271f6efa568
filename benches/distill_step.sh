#!/usr/bin/env bash
# Seconds per distillation step of two kgqa builds, side by side in one run: the first
# STEPS steps of the same `kgqa distill` (soft targets + cosine, the teachers given,
# facts in the input, 16 questions per step, nothing cached beforehand), OLD and NEW
# alternating, ROUNDS rounds each; the time is the run's own training clock
# (`checkpoint/state.json` "seconds": steps only, not loading). Prints each run, the
# medians and NEW/OLD. With EPOCHS=2 (or more), each run is EPOCHS epochs of STEPS steps
# (STEPS × 16 training questions, 16 held out), so that what a build keeps from the first
# epoch shows in the later ones: the first figure is then the mean over all the steps, the
# second the last epoch's steps alone (from `log.jsonl`).
# Usage: bash benches/distill_step.sh OLD_BIN NEW_BIN FACTS.jsonl TEACHER [TEACHER...]
#   env ROUNDS (default 2), STEPS (default 15), EPOCHS (default 1)
#   e.g. bash benches/distill_step.sh runs/kgqa-old target/release/kgqa runs/facts.jsonl \
#          runs/teacher-input-lr1/best runs/teacher-lm-lr1/best
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1"; NEW="$2"; FACTS="$3"; shift 3
TEACHERS=(); for t in "$@"; do TEACHERS+=(--teacher "$t"); done
ROUNDS="${ROUNDS:-2}"; STEPS="${STEPS:-15}"; EPOCHS="${EPOCHS:-1}"
if [ "$EPOCHS" = 1 ]; then SIZE=(--limit 700 --epochs 1 --stop-at "$STEPS")
else SIZE=(--limit $((STEPS * 16 + 16)) --held-out 16 --epochs "$EPOCHS"); fi
CSQA="${KGQA_DATASETS:-../shared/datasets}/commonsenseqa"
WORK=$(mktemp -d); OUT="$WORK/times"
for _ in $(seq "$ROUNDS"); do
  for build in OLD NEW; do
    bin="$OLD"; [ "$build" = NEW ] && bin="$NEW"
    rm -rf "$WORK/run"
    "$bin" distill "${TEACHERS[@]}" --dataset "$CSQA/train_rand_split.jsonl" \
      --ids "$CSQA/inhouse_split_qids.txt" --facts "$FACTS" "${SIZE[@]}" --run "$WORK/run" \
      --student-layers 3 --alpha 0.5 --temperature 2 --cosine 1 --lr 2e-4 \
      --max-length 64 --checkpoint-every 0 2>/dev/null
    python3 - "$WORK/run" "$build" "$STEPS" <<'PY' | tee -a "$OUT"
import json, sys
run, build, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(f"{run}/checkpoint/state.json"))
log = [json.loads(l) for l in open(f"{run}/log.jsonl")] if s["epoch"] > 1 else []
# The last epoch's steps alone (log lines carry the training clock at each epoch's end).
last = (log[-1]["seconds"] - log[-2]["seconds"]) / steps if len(log) > 1 else s["seconds"] / s["step"]
print(build, s["step"], s["seconds"] / s["step"], last)
PY
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for col, what in ((2, "seconds per step"), (3, "seconds per step of the last epoch")):
    med = {b: statistics.median(float(r[col]) for r in rows if r[0] == b) for b in ("OLD", "NEW")}
    print(f"{what} (median): OLD {med['OLD']:.2f}, NEW {med['NEW']:.2f}; "
          f"NEW/OLD {med['NEW'] / med['OLD']:.2f}")
PY
rm -rf "$WORK"
