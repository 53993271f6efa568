//! Linear-layer products of this model's shapes (`[rows, in] · [out, in]ᵀ`): candle's gemm
//! against OpenBLAS through `kgqa::model::kernels::blas` (a bench command, not a test).
//! Usage: `RAYON_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 cargo bench --features blas --bench gemm`

use std::time::Instant;

use candle_core::{Device, Tensor};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(reps: usize, f: impl Fn()) -> f64 {
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn main() {
    let shapes = [
        (160, 384, 384),
        (320, 384, 384),
        (320, 384, 1536),
        (320, 1536, 384),
        (640, 384, 1536),
        (10240, 384, 1536),
    ];
    for (rows, inner, out) in shapes {
        let x = Tensor::randn(0f32, 1.0, (rows, inner), &Device::Cpu).unwrap();
        let w = Tensor::randn(0f32, 1.0, (out, inner), &Device::Cpu).unwrap();
        let reps = if rows > 5000 { 5 } else { 50 };
        let candle = time(reps, || {
            x.matmul(&w.t().unwrap()).unwrap();
        });
        let blas = time(reps, || {
            kgqa::model::kernels::blas::matmul_t(&x, &w).unwrap();
        });
        println!(
            "gemm {rows}x{inner}x{out} candle_ms={candle:.3} openblas_ms={blas:.3} ratio={:.2}",
            candle / blas
        );
    }
}
