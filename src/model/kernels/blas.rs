//! Linear layers through the system BLAS (`--features blas`, OpenBLAS loaded at run time
//! with the kernels kgqa chose, [`super::openblas`]): `x · wᵀ` for contiguous f32 CPU
//! tensors as `sgemm` calls ([`mat_mul`], which falls back to ndarray's own kernels when
//! no OpenBLAS is installed). OpenBLAS runs this model's shapes about 1.5x faster than
//! candle's gemm on this project's machines (`benches/gemm.rs`). The product has a
//! backward pass (two more BLAS products), so training takes it too.
//!
//! Threads: OpenBLAS is told once to run every call on the calling thread, and
//! [`par_mat_mul`] splits a product into column (or row) panels over rayon's pool
//! instead. Left to itself, OpenBLAS runs small products (attention's) on one core and
//! keeps its worker spinning after large ones, so nothing else (attention, softmax,
//! GELU, layer norm) could use the second core: two threads ran inference only 1.3-1.6x
//! faster than one. With one pool, every stage of a layer is split over the same threads.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::model::kernels::cpu_op::{contiguous, fusable};
use crate::model::kernels::openblas;

/// Products below this many multiply-adds run as one call: splitting them costs more
/// than it saves.
const PAR_MIN_MACS: usize = 1 << 18;

/// Panel widths are kept to multiples of this (OpenBLAS's kernels work on column blocks
/// of 16 or 32 floats at AVX-512 width).
const PANEL_ALIGN: usize = 32;

/// `c = alpha · a · b + beta · c`, split over rayon's threads along the longer side of
/// `c`, each panel one single-threaded BLAS call.
pub fn par_mat_mul(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let along = if n >= m { Axis(1) } else { Axis(0) };
    let len = c.len_of(along);
    let parts = if m * n * k < PAR_MIN_MACS {
        1
    } else {
        rayon::current_num_threads().min(len / PANEL_ALIGN).max(1)
    };
    split(parts, along, alpha, a.view(), b.view(), beta, c);
}

fn split(
    parts: usize,
    along: Axis,
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    let left = parts / 2;
    let len = c.len_of(along);
    let mid = (len * left / parts).next_multiple_of(PANEL_ALIGN).min(len);
    if parts <= 1 || mid == 0 || mid == len {
        mat_mul(alpha, &a, &b, beta, &mut c);
        return;
    }
    let (c1, c2) = c.split_at(along, mid);
    let ((a1, b1), (a2, b2)) = if along == Axis(1) {
        let (b1, b2) = b.split_at(Axis(1), mid);
        ((a, b1), (a, b2))
    } else {
        let (a1, a2) = a.split_at(Axis(0), mid);
        ((a1, b), (a2, b))
    };
    rayon::join(
        || split(left, along, alpha, a1, b1, beta, c1),
        || split(parts - left, along, alpha, a2, b2, beta, c2),
    );
}

/// `c = alpha · a · b + beta · c` as one call on this thread: OpenBLAS's `sgemm` when it
/// is loaded and every operand has a unit stride on one axis (a row-major or transposed
/// view), else ndarray's own kernels.
pub fn mat_mul(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let done = openblas::get().is_some_and(|lib| lib.mat_mul(alpha, a, b, beta, c));
    if !done {
        general_mat_mul(alpha, a, b, beta, c);
    }
}

/// `x [n, k] · w [m, k]ᵀ` with BLAS when both are contiguous f32 CPU tensors, else with
/// candle. Differentiable in both arguments.
pub fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) && fusable(w) && x.rank() == 2 && w.rank() == 2 {
        x.apply_op2(w, LINEAR)
    } else {
        x.matmul(&w.t()?)
    }
}

/// `x [n, k] · w [m, k]ᵀ + b [m]` with BLAS when all three are contiguous f32 CPU tensors
/// (the output starts as the bias rows and the product is added in the same `sgemm` call:
/// no zero fill and no separate bias pass), else as [`matmul_t`] plus a broadcast add.
/// Differentiable in all three.
pub fn linear_t(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) && fusable(w) && fusable(b) && x.rank() == 2 && w.rank() == 2 && b.rank() == 1 {
        x.apply_op3(w, b, BiasedLinear)
    } else {
        matmul_t(x, w)?.broadcast_add(b)
    }
}

/// `x · wᵀ + b` in one BLAS call (see [`linear_t`]).
struct BiasedLinear;

impl CustomOp3 for BiasedLinear {
    fn name(&self) -> &'static str {
        "blas-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (view(s1, l1)?, view(s2, l2)?);
        let bias = contiguous(s3, l3)?;
        let ((n, k), (m, k2)) = (x.dim(), w.dim());
        if k != k2 || bias.len() != m {
            return Err(candle_core::Error::Msg(format!(
                "blas linear: {n}x{k} by ({m}x{k2})ᵀ plus {}",
                bias.len()
            )));
        }
        let mut data = Vec::with_capacity(n * m);
        for _ in 0..n {
            data.extend_from_slice(bias);
        }
        let mut out = Array2::from_shape_vec((n, m), data)
            .map_err(|e| candle_core::Error::Msg(format!("blas linear: {e}")))?;
        par_mat_mul(1.0, &x, &w.reversed_axes(), 1.0, out.view_mut());
        let (data, _) = out.into_raw_vec_and_offset();
        Ok((CpuStorage::F32(data), Shape::from((n, m))))
    }

    /// For `y = x · wᵀ + b`: `dx = dy · w`, `dw = dyᵀ · x`, `db = Σ_rows dy`.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = gemm(dy, w, Gemm { trans_a: false, trans_b: false })?;
        let dw = gemm(dy, x, Gemm { trans_a: true, trans_b: false })?;
        Ok((Some(dx), Some(dw), Some(column_sums(dy)?)))
    }
}

/// Columns per task of [`ColumnSums`]: a few cache lines of each row.
const SUM_COLUMNS: usize = 64;

/// `Σ_rows dy` for a 2-D tensor, the bias gradient: candle's `sum(0)` on contiguous f32
/// CPU tensors (one thread, a strided walk per column) as a pass split over rayon's threads
/// by columns. Each column still adds its rows in order from zero, so the sums are the
/// bits candle's give.
fn column_sums(dy: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(dy) && dy.rank() == 2 { dy.apply_op1_no_bwd(&ColumnSums) } else { dy.sum(0) }
}

struct ColumnSums;

impl candle_core::CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "column-sums"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dy = contiguous(storage, layout)?;
        let (_, width) = layout.shape().dims2()?;
        let mut sums = vec![0f32; width];
        sums.par_chunks_mut(SUM_COLUMNS).enumerate().for_each(|(task, sums)| {
            let first = task * SUM_COLUMNS;
            for row in dy.chunks_exact(width) {
                let row = &row[first..first + sums.len()];
                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
        });
        Ok((CpuStorage::F32(sums), Shape::from(width)))
    }
}

/// `op(a) · op(b)`, where `op` transposes when the flag says so.
#[derive(Clone, Copy)]
struct Gemm {
    trans_a: bool,
    trans_b: bool,
}

/// The linear layer's product, `x · wᵀ`.
const LINEAR: Gemm = Gemm { trans_a: false, trans_b: true };

fn gemm(a: &Tensor, b: &Tensor, op: Gemm) -> candle_core::Result<Tensor> {
    a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &op)
}

fn view<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<ArrayView2<'a, f32>> {
    let data = s.as_slice::<f32>()?;
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("blas matmul: non-contiguous input".into()))?;
    let (rows, cols) = l.shape().dims2()?;
    ArrayView2::from_shape((rows, cols), &data[start..end])
        .map_err(|e| candle_core::Error::Msg(format!("blas matmul: {e}")))
}

impl CustomOp2 for Gemm {
    fn name(&self) -> &'static str {
        "blas-gemm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a, b) = (view(s1, l1)?, view(s2, l2)?);
        let a = if self.trans_a { a.reversed_axes() } else { a };
        let b = if self.trans_b { b.reversed_axes() } else { b };
        let ((n, k), (k2, m)) = (a.dim(), b.dim());
        if k != k2 {
            return Err(candle_core::Error::Msg(format!("blas matmul: {n}x{k} by {k2}x{m}")));
        }
        let mut out = Array2::<f32>::zeros((n, m));
        par_mat_mul(1.0, &a, &b, 0.0, out.view_mut());
        let (data, _) = out.into_raw_vec_and_offset();
        Ok((CpuStorage::F32(data), Shape::from((n, m))))
    }

    /// For `y = x · wᵀ`: `dx = dy · w` and `dw = dyᵀ · x`.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        if (self.trans_a, self.trans_b) != (false, true) {
            return Err(candle_core::Error::BackwardNotSupported {
                op: "blas-gemm (transposed a)",
            });
        }
        let dx = gemm(dy, w, Gemm { trans_a: false, trans_b: false })?;
        let dw = gemm(dy, x, Gemm { trans_a: true, trans_b: false })?;
        Ok((Some(dx), Some(dw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by plain loops, the reference for the split one.
    fn naive(a: &ArrayView2<'_, f32>, b: &ArrayView2<'_, f32>) -> Array2<f32> {
        let (m, k) = a.dim();
        Array2::from_shape_fn((m, b.ncols()), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    fn filled(rows: usize, cols: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 31 + j * 17 + seed) % 23) as f32 / 23.0 - 0.5
        })
    }

    /// The fused biased linear layer: output and the gradients of `x`, `w` and `b` equal
    /// candle's composed `x · wᵀ + b`, under a loss weighing each output differently.
    #[test]
    fn biased_linear_matches_candle_and_its_gradients() {
        use candle_core::{Device, Var};
        let (n, k, m) = (37, 20, 45);
        let values = |len: usize, seed: usize| -> Vec<f32> {
            (0..len).map(|i| ((i * 31 + seed) % 23) as f32 / 23.0 - 0.5).collect()
        };
        let weights = Tensor::from_vec(values(n * m, 5), (n, m), &Device::Cpu).unwrap();
        let run = |f: &dyn Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor>| {
            let var = |v: Vec<f32>, shape: &[usize]| {
                Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
            };
            let (x, w, b) = (
                var(values(n * k, 1), &[n, k]),
                var(values(m * k, 2), &[m, k]),
                var(values(m, 3), &[m]),
            );
            let y = f(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
            let grads = (&y * &weights).unwrap().sum_all().unwrap().backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let grad = |v: &Var| flat(grads.get(v.as_tensor()).unwrap());
            [flat(&y), grad(&x), grad(&w), grad(&b)]
        };
        let ours = run(&|x, w, b| linear_t(x, w, b));
        let reference = run(&|x, w, b| x.matmul(&w.t()?)?.broadcast_add(b));
        for (what, (a, b)) in ["y", "dx", "dw", "db"].iter().zip(ours.iter().zip(&reference)) {
            assert_eq!(a.len(), b.len(), "{what}");
            for (p, q) in a.iter().zip(b) {
                assert!((p - q).abs() < 1e-4, "{what}: {p} vs {q}");
            }
        }
    }

    /// The bias gradient's column sums are candle's `sum(0)`, bit for bit, over several
    /// tasks' columns (the last one partial).
    #[test]
    fn column_sums_are_candles_bits() {
        use candle_core::Device;
        let (rows, width) = (301, 3 * SUM_COLUMNS + 5);
        let values: Vec<f32> =
            (0..rows * width).map(|i| ((i * 37) % 101) as f32 / 7.3 - 6.0).collect();
        let dy = Tensor::from_vec(values, (rows, width), &Device::Cpu).unwrap();
        let ours = column_sums(&dy).unwrap().to_vec1::<f32>().unwrap();
        let reference = dy.sum(0).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(ours.len(), width);
        for (a, b) in ours.iter().zip(&reference) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
    }

    #[test]
    fn split_products_equal_the_whole_along_either_side() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        // Wide output (split by columns), tall output (split by rows), a transposed
        // operand, and one too small to split.
        for (m, k, n, transposed) in [(70, 90, 301, false), (333, 64, 40, true), (5, 6, 7, false)] {
            let a = filled(m, k, 1);
            let b_t = filled(n, k, 2);
            let b = b_t.t();
            let mut c = filled(m, n, 3);
            let expected = naive(&a.view(), &b) * 0.5 + &c;
            pool.install(|| {
                if transposed {
                    let a_t = a.t().to_owned();
                    par_mat_mul(0.5, &a_t.t(), &b, 1.0, c.view_mut());
                } else {
                    par_mat_mul(0.5, &a.view(), &b, 1.0, c.view_mut());
                }
            });
            let worst = (&c - &expected).iter().fold(0f32, |w, d| w.max(d.abs()));
            assert!(worst < 1e-4, "{m}x{k}x{n}: worst difference {worst}");
        }
    }
}
