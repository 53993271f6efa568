//! Linear layers through the system BLAS (`--features blas`, OpenBLAS): `x · wᵀ` for
//! contiguous f32 CPU tensors as one `sgemm`, through ndarray's safe `general_mat_mul`.
//! OpenBLAS runs this model's shapes about 1.5x faster than candle's gemm on this
//! project's machines (`benches/gemm.rs`). The product has a backward pass (two more BLAS
//! products), so training takes it too.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2};

/// `x [n, k] · w [m, k]ᵀ` with BLAS when both are contiguous f32 CPU tensors, else with
/// candle. Differentiable in both arguments.
pub fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let ok = |t: &Tensor| t.dtype() == DType::F32 && t.device().is_cpu() && t.is_contiguous();
    if ok(x) && ok(w) && x.rank() == 2 && w.rank() == 2 {
        x.apply_op2(w, LINEAR)
    } else {
        x.matmul(&w.t()?)
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
        general_mat_mul(1.0, &a, &b, 0.0, &mut out);
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
