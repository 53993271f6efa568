//! Linear-layer products of this model's shapes (`[rows, in] · [out, in]ᵀ`): candle's gemm
//! against OpenBLAS through `kgqa::model::kernels::blas`, and the int8 product
//! (`kgqa::model::kernels::int8`, quantizing the input rows included) against OpenBLAS
//! (a bench command, not a test).
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

/// The three products of a linear layer's training step at MPNet's shapes (5,120 token rows
/// = 16 questions x 5 choices x 64): forward `x · wᵀ`, `dx = dy · w`, and the weight
/// gradient `dw = dyᵀ · x` in two forms, straight from the transposed view of `dy` and
/// from a transposed copy of it (copy included).
fn training_products() {
    use ndarray::Array2;
    let fill = |r: usize, c: usize, seed: usize| {
        Array2::from_shape_fn((r, c), |(i, j)| ((i * 31 + j * 17 + seed) % 23) as f32 / 23.0 - 0.5)
    };
    for (rows, inner, out) in [(5120, 768, 768), (5120, 768, 3072), (5120, 3072, 768)] {
        let (x, w, dy) = (fill(rows, inner, 1), fill(out, inner, 2), fill(rows, out, 3));
        let mm = |a: ndarray::ArrayView2<f32>, b: ndarray::ArrayView2<f32>| {
            let mut c = Array2::<f32>::zeros((a.nrows(), b.ncols()));
            kgqa::model::kernels::blas::par_mat_mul(1.0, &a, &b, 0.0, c.view_mut());
            c
        };
        let fwd = time(5, || drop(mm(x.view(), w.t())));
        let dx = time(5, || drop(mm(dy.view(), w.view())));
        let dw_t = time(5, || drop(mm(dy.t(), x.view())));
        // The weight gradient as training meets it: `x` saved in the forward pass, out of
        // the caches by the time the backward pass reads it.
        let flush = vec![1f32; 64 << 20];
        let dw_cold = time(5, || {
            std::hint::black_box(flush.iter().sum::<f32>());
            drop(mm(dy.t(), x.view()))
        }) - time(5, || {
            std::hint::black_box(flush.iter().sum::<f32>());
        });
        let dw_copy = time(5, || {
            let dyt = dy.t().as_standard_layout().into_owned();
            drop(mm(dyt.view(), x.view()))
        });
        println!(
            "train {rows}x{inner}x{out} forward_ms={fwd:.1} dx_ms={dx:.1} dw_transposed_ms={dw_t:.1} \
             dw_cold_ms={dw_cold:.1} dw_copied_ms={dw_copy:.1}"
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--training") {
        training_products();
        return;
    }
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
        let wv = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let xv = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let packed = kgqa::model::kernels::int8::PackedWeight::new(&wv, out, inner);
        let int8 = time(reps, || {
            let mut y = vec![0f32; rows * out];
            kgqa::model::kernels::int8::mat_mul_acc(&xv, rows, &packed, &mut y);
        });
        let gflops = |ms: f64| 2.0 * (rows * inner * out) as f64 / ms / 1e6;
        println!(
            "gemm {rows}x{inner}x{out} candle_ms={candle:.3} openblas_ms={blas:.3} ratio={:.2} \
             int8_ms={int8:.3} openblas/int8={:.2} (openblas {:.0} GFLOP/s, int8 {:.0} GOP/s)",
            candle / blas,
            blas / int8,
            gflops(blas),
            gflops(int8)
        );
    }
}
