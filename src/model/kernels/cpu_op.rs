//! What the fused custom ops (GELU, softmax, layer norm, dropout, the BLAS linear layer)
//! share: the test for a tensor they can take, the read of its values, and how they split
//! a pass over rayon's threads.
//!
//! Every split is by position (fixed runs of elements, rows or columns), and each output
//! value is computed by one task in the order a single thread would use, so results do
//! not depend on the number of threads.

use candle_core::{CpuStorage, Layout, Tensor};
use rayon::prelude::*;

/// Elements per task when an element-wise pass is split over rayon's threads: large
/// enough to outweigh scheduling, small enough to spread a layer's activations evenly.
pub(crate) const TASK: usize = 1 << 15;

/// The elements of a whole number of rows of `width` (at least one row) closest to
/// [`TASK`]: the task size of row-wise passes.
pub(crate) fn row_task(width: usize) -> usize {
    (TASK / width.max(1)).max(1) * width.max(1)
}

/// `f(x)` for every element of `x`, over rayon's threads.
pub(crate) fn par_map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(TASK).zip(x.par_chunks(TASK)).for_each(|(o, x)| {
        o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x));
    });
    out
}

/// `f(a, b)` for every pair of elements of `a` and `b` (of one length), over rayon's
/// threads.
pub(crate) fn par_zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(TASK).zip(a.par_chunks(TASK).zip(b.par_chunks(TASK))).for_each(
        |(o, (a, b))| {
            o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&a, &b))| *o = f(a, b));
        },
    );
    out
}

/// Whether a fused op can take `t`: f32, on the CPU, contiguous. Other tensors go
/// through candle's composed ops.
pub(crate) fn fusable(t: &Tensor) -> bool {
    t.dtype() == candle_core::DType::F32 && t.device().is_cpu() && t.is_contiguous()
}

/// The f32 values of a contiguous tensor (an error for a strided one): the input of the
/// fused custom ops.
pub(crate) fn contiguous<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&storage.as_slice::<f32>()?[start..end]),
        None => Err(candle_core::Error::Msg("fused op needs contiguous inputs".into())),
    }
}
