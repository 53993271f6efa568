//! Linear layers through the system BLAS (`--features blas`, OpenBLAS): `x · wᵀ` for
//! contiguous f32 CPU tensors as one `sgemm`, through ndarray's safe `general_mat_mul`.
//! OpenBLAS runs this model's shapes about 1.5x faster than candle's gemm on this
//! project's machines (`benches/gemm.rs`); inference only (no backward pass).

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2};

/// `x [n, k] · w [m, k]ᵀ` with BLAS when both are contiguous f32 CPU tensors, else with
/// candle.
pub fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let ok = |t: &Tensor| t.dtype() == DType::F32 && t.device().is_cpu() && t.is_contiguous();
    if ok(x) && ok(w) && x.rank() == 2 && w.rank() == 2 {
        x.apply_op2_no_bwd(w, &MatmulT)
    } else {
        x.matmul(&w.t()?)
    }
}

struct MatmulT;

fn view<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<ArrayView2<'a, f32>> {
    let data = s.as_slice::<f32>()?;
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("blas matmul: non-contiguous input".into()))?;
    let (rows, cols) = l.shape().dims2()?;
    ArrayView2::from_shape((rows, cols), &data[start..end])
        .map_err(|e| candle_core::Error::Msg(format!("blas matmul: {e}")))
}

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "blas-matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (view(s1, l1)?, view(s2, l2)?);
        let (n, k) = x.dim();
        let (m, k2) = w.dim();
        if k != k2 {
            return Err(candle_core::Error::Msg(format!("blas matmul: {n}x{k} by ({m}x{k2})ᵀ")));
        }
        let mut out = Array2::<f32>::zeros((n, m));
        general_mat_mul(1.0, &x, &w.t(), 0.0, &mut out);
        let (data, _) = out.into_raw_vec_and_offset();
        Ok((CpuStorage::F32(data), Shape::from((n, m))))
    }
}
