//! What the fused custom ops (GELU, softmax, layer norm, dropout, the BLAS linear layer)
//! share: the test for a tensor they can take, and the read of its values.

use candle_core::{CpuStorage, Layout, Tensor};

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
