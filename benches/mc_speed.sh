#!/usr/bin/env bash
# Side-by-side speed of multiple-choice scoring: kgqa's encoder vs PyTorch and vs
# onnxruntime, same model, same inputs, 2 threads, fp32. Set-up for the Python side (once):
#   python3 -m venv ~/.cache/kgqa/bench-venv
#   ~/.cache/kgqa/bench-venv/bin/pip install torch transformers onnxruntime onnx
# Usage: bash benches/mc_speed.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS="${1:-20}"
MODEL="${KGQA_BASE_MODEL:-$(bash scripts/fetch-model.sh)}"
PY="${BENCH_PYTHON:-$HOME/.cache/kgqa/bench-venv/bin/python}"
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
# The bench runs on mimalloc with purging off, as the kgqa binary does (src/main.rs).
export MIMALLOC_PURGE_DELAY=-1
OUT=$(mktemp)
# KGQA_BENCH_FEATURES=blas measures the OpenBLAS build (needs libopenblas-dev).
cargo bench --quiet ${KGQA_BENCH_FEATURES:+--features "$KGQA_BENCH_FEATURES"} --bench mc_speed -- "$MODEL" "$REPEATS" | tee "$OUT"
"$PY" benches/mc_speed_torch.py "$MODEL" "$REPEATS" | tee -a "$OUT"
(cd benches && "$PY" mc_speed_onnx.py "$MODEL" "$REPEATS" 2>/dev/null) | tee -a "$OUT"
python3 - "$OUT" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) questions=(\d+) len=(\d+) median_ms=([\d.]+)", line)
    if m:
        rows.setdefault((int(m[2]), int(m[3])), {})[m[1]] = float(m[4])
# kgqa: as the engine scores ([CLS]-only last layer); kgqa_full: the whole last layer.
print("| questions x 5 choices | length | kgqa ms | kgqa int8 ms | kgqa full ms | PyTorch ms | onnxruntime ms | kgqa/PyTorch | int8/f32 | int8/PyTorch | full/PyTorch | kgqa/onnxruntime |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (q, l), r in sorted(rows.items()):
    onnx = r.get("onnx")
    o = f"{onnx:.1f}" if onnx else "-"
    ro = f"{r['kgqa']/onnx:.2f}" if onnx else "-"
    t = r["torch"]
    i8 = r["kgqa_int8"]
    print(f"| {q} | {l} | {r['kgqa']:.1f} | {i8:.1f} | {r['kgqa_full']:.1f} | {t:.1f} | {o} | {r['kgqa']/t:.2f} | {i8/r['kgqa']:.2f} | {i8/t:.2f} | {r['kgqa_full']/t:.2f} | {ro} |")
PY
