#!/usr/bin/env bash
# Training speed, side by side in one run: `kgqa train` against PyTorch's
# BertForMultipleChoice (benches/train_speed_torch.py), same base model, batch 16 x 5
# choices x 64 tokens (synthetic questions long enough that every pair is cut at 64), 2
# threads, AdamW, clipping, dropout. kgqa's time per step is the difference between a
# 12-step and a 5-step run divided by 7, so start-up, the held-out pass and saving cancel.
# Set-up for the Python side: see benches/mc_speed.sh.
# Usage: bash benches/train_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${KGQA_BASE_MODEL:-$(bash scripts/fetch-model.sh)}"
PY="${BENCH_PYTHON:-$HOME/.cache/kgqa/bench-venv/bin/python}"
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
cargo build --quiet --release
KGQA="${CARGO_TARGET_DIR:-target}/release/kgqa"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
python3 - "$DIR/q.jsonl" <<'PY'
import json, sys
words = "garden shovel soil flower plant dig hole seed water tool hand spade".split()
with open(sys.argv[1], "w") as f:
    for i in range(208):
        stem = " ".join(words[(i + k) % len(words)] for k in range(80)) + "?"
        choices = [{"label": l, "text": f"{words[(i + j) % len(words)]} {l}"} for j, l in enumerate("ABCDE")]
        f.write(json.dumps({"id": f"s{i}", "answerKey": "ABCDE"[i % 5],
                            "question": {"stem": stem, "choices": choices}}) + "\n")
PY
run() {  # questions -> seconds
  local start end
  start=$(date +%s.%N)
  "$KGQA" train --dataset "$DIR/q.jsonl" --limit "$1" --held-out 16 --epochs 1 --batch-size 16 \
    --max-length 64 --fusion none --base "$MODEL" --run "$DIR/run$1" --checkpoint-every 1000 >/dev/null 2>&1
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}
T5=$(run 96); T12=$(run 208)   # 16 held out, then 5 or 12 batches of 16
python3 -c "s = ($T12 - $T5) / 7; print(f'kgqa step_s={s:.3f} questions_per_s={16 / s:.2f}  (5 steps {$T5:.1f} s, 12 steps {$T12:.1f} s)')" | tee "$DIR/out"
"$PY" benches/train_speed_torch.py "$MODEL" 8 64 2>/dev/null | tee -a "$DIR/out"
python3 - "$DIR/out" <<'PY'
import re, sys
t = {m[1]: float(m[2]) for m in re.finditer(r"(\w+) step_s=([\d.]+)", open(sys.argv[1]).read())}
print(f"kgqa/PyTorch time per step: {t['kgqa'] / t['pytorch']:.2f}")
PY
