#!/usr/bin/env bash
# Training speed, side by side in one run: `kgqa train` against PyTorch's
# BertForMultipleChoice (benches/train_speed_torch.py), same base model, batch 16 x 5
# choices x 64 tokens (synthetic questions long enough that every pair is cut at 64), 2
# threads, AdamW, clipping, dropout. PyTorch: the median of steps 2-8.
# Set-up for the Python side: see benches/mc_speed.sh.
# Usage: bash benches/train_speed.sh   (KGQA_BIN=PATH to time another kgqa binary;
#        KGQA_BASELINE=PATH [ROUNDS=N] to compare two kgqa binaries instead, see below)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${KGQA_BASE_MODEL:-$(bash scripts/fetch-model.sh)}"
PY="${BENCH_PYTHON:-$HOME/.cache/kgqa/bench-venv/bin/python}"
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
# KGQA_BIN: time another build of kgqa (e.g. before a change) against the same reference.
if [ -z "${KGQA_BIN:-}" ]; then cargo build --quiet --release; fi
KGQA="${KGQA_BIN:-${CARGO_TARGET_DIR:-target}/release/kgqa}"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
python3 - "$DIR/q.jsonl" <<'PY'
import json, sys
words = "garden shovel soil flower plant dig hole seed water tool hand spade".split()
with open(sys.argv[1], "w") as f:
    for i in range(96):
        stem = " ".join(words[(i + k) % len(words)] for k in range(80)) + "?"
        choices = [{"label": l, "text": f"{words[(i + j) % len(words)]} {l}"} for j, l in enumerate("ABCDE")]
        f.write(json.dumps({"id": f"s{i}", "answerKey": "ABCDE"[i % 5],
                            "question": {"stem": stem, "choices": choices}}) + "\n")
PY
# Three epochs of 80 questions (5 steps each, 16 more held out); kgqa's time per step is
# that of epochs 2 and 3 (from the run's log.jsonl) over their 10 steps, so start-up and
# the first steps' page faults do not count (each epoch's held-out pass of 16 questions,
# about 2% of an epoch, does).
kgqa_step() {  # binary, label
  rm -rf "$DIR/run"
  "$1" train --dataset "$DIR/q.jsonl" --limit 96 --held-out 16 --epochs 3 --batch-size 16 \
    --max-length 64 --fusion none --base "$MODEL" --run "$DIR/run" --checkpoint-every 1000 >/dev/null 2>&1
  python3 - "$DIR/run/log.jsonl" "$2" <<'PY2'
import json, sys
s = [json.loads(l)["seconds"] for l in open(sys.argv[1])]
step = (s[2] - s[0]) / 10
print(f"{sys.argv[2]} step_s={step:.3f} questions_per_s={16 / step:.2f}  (epoch seconds, cumulative: "
      + ", ".join(f"{x:.1f}" for x in s) + ")")
PY2
}
# KGQA_BASELINE=PATH [ROUNDS=N]: an A/B of two kgqa builds instead, alternating N rounds
# (default 2), medians and their ratio; no PyTorch.
if [ -n "${KGQA_BASELINE:-}" ]; then
  for _ in $(seq "${ROUNDS:-2}"); do
    kgqa_step "$KGQA_BASELINE" baseline | tee -a "$DIR/out"
    kgqa_step "$KGQA" kgqa | tee -a "$DIR/out"
  done
  python3 - "$DIR/out" <<'PY2'
import re, statistics, sys
t = {}
for m in re.finditer(r"(\w+) step_s=([\d.]+)", open(sys.argv[1]).read()):
    t.setdefault(m[1], []).append(float(m[2]))
b, k = statistics.median(t["baseline"]), statistics.median(t["kgqa"])
print(f"median s/step: baseline {b:.3f}, kgqa {k:.3f}; kgqa/baseline {k / b:.2f}")
PY2
  exit 0
fi
kgqa_step "$KGQA" kgqa | tee "$DIR/out"
"$PY" benches/train_speed_torch.py "$MODEL" 8 64 2>/dev/null | tee -a "$DIR/out"
python3 - "$DIR/out" <<'PY2'
import re, sys
t = {m[1]: float(m[2]) for m in re.finditer(r"(\w+) step_s=([\d.]+)", open(sys.argv[1]).read())}
print(f"kgqa/PyTorch time per step: {t['kgqa'] / t['pytorch']:.2f}")
PY2
