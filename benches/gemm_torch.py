"""The linear-layer products of this model's shapes in PyTorch (MKL) and NumPy (its bundled
OpenBLAS), 2 threads, GFLOP/s (medians of 20): what a BLAS reaches on these sizes, beside
`cargo bench --bench gemm`. Set-up as in benches/mc_speed.sh.
Usage: OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ~/.cache/kgqa/bench-venv/bin/python benches/gemm_torch.py
"""
import time

import numpy as np
import torch

torch.set_num_threads(2)


def median_seconds(f, repeats=20):
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


for m, k, n in [(320, 384, 1152), (320, 384, 1536), (320, 1536, 384), (10240, 384, 1536)]:
    a = np.random.rand(m, k).astype(np.float32)
    b = np.random.rand(n, k).astype(np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    flops = 2 * m * k * n
    t_torch = median_seconds(lambda: ta @ tb.T)
    t_numpy = median_seconds(lambda: a @ b.T)
    print(f"gemm {m}x{k}x{n} torch_gflops={flops / t_torch / 1e9:.1f} numpy_gflops={flops / t_numpy / 1e9:.1f}")
