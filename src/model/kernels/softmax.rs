//! Softmax over the last dimension for training, as one fused pass with a one-pass backward.
//!
//! candle's differentiable softmax is composed (max, subtract, exp, sum, divide), and its
//! backward goes back through each of those ops: several passes over the attention
//! probabilities, the largest activations of a training step. Here the forward is one
//! stable pass per row and the backward `dx = y ⊙ (g − ⟨g, y⟩)` another; no approximation.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::model::kernels::cpu_op::{contiguous, fusable, row_task};

/// Softmax over the last dimension with a backward pass, for contiguous f32 CPU tensors;
/// other tensors go through candle's composed `softmax`.
pub fn softmax_last_dim_train(x: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) {
        x.apply_op1(FusedSoftmax)
    } else {
        candle_nn::ops::softmax(x, candle_core::D::Minus1)
    }
}

/// `softmax(scores + mask)` over the last dimension with a backward pass for `scores`:
/// `scores` `[batch, ..., width]`, `mask` `[batch, 1, ..., 1, width]` (additive: 0 where
/// attended, a large negative number where padded), both contiguous f32 on the CPU; the
/// mask is added row by row in the softmax's own pass instead of a broadcast add of its
/// own (and that add's backward). Other tensors: a broadcast add and
/// [`softmax_last_dim_train`].
pub fn masked_softmax_train(scores: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let (sd, md) = (scores.dims(), mask.dims());
    let fits = sd.len() == md.len()
        && sd.len() >= 2
        && md[0] == sd[0]
        && md.last() == sd.last()
        && md[1..md.len() - 1].iter().all(|&d| d == 1);
    if fusable(scores) && fusable(mask) && fits {
        scores.apply_op2(mask, MaskedSoftmax)
    } else {
        softmax_last_dim_train(&scores.broadcast_add(mask)?)
    }
}

struct FusedSoftmax;

struct MaskedSoftmax;

/// One row: `y = softmax(x + m)` (`m` all zeros for the unmasked softmax).
#[inline]
fn softmax_row(x: &[f32], m: Option<&[f32]>, y: &mut [f32]) {
    match m {
        Some(m) => y.iter_mut().zip(x.iter().zip(m)).for_each(|(y, (x, m))| *y = x + m),
        None => y.copy_from_slice(x),
    }
    let max = y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for o in y.iter_mut() {
        *o = (*o - max).exp();
        sum += *o;
    }
    let inv = 1.0 / sum;
    y.iter_mut().for_each(|o| *o *= inv);
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "fused-masked-softmax-train"
    }

    fn cpu_fwd(
        &self,
        scores: &CpuStorage,
        scores_layout: &Layout,
        mask: &CpuStorage,
        mask_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, m) = (contiguous(scores, scores_layout)?, contiguous(mask, mask_layout)?);
        let width = row_width(scores_layout)?;
        let batch = scores_layout.dims()[0].max(1);
        let per_batch = x.len() / batch;
        if m.len() != batch * width || !per_batch.is_multiple_of(width) {
            return Err(candle_core::Error::Msg("fused masked softmax: mask shape".into()));
        }
        let mut out = vec![0f32; x.len()];
        let blocks = x.par_chunks_exact(per_batch).zip(out.par_chunks_exact_mut(per_batch));
        blocks.zip(m.par_chunks_exact(width)).for_each(|((x, y), m)| {
            for (row, y) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
                softmax_row(row, Some(m), y);
            }
        });
        Ok((CpuStorage::F32(out), scores_layout.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad_res.contiguous()?;
        Ok((Some(res.contiguous()?.apply_op2_no_bwd(&grad, &SoftmaxGrad)?), None))
    }
}

/// `y ⊙ (g − ⟨g, y⟩)` row by row, from the softmax output `y` and its gradient `g`.
struct SoftmaxGrad;

fn row_width(layout: &Layout) -> candle_core::Result<usize> {
    match layout.dims().last() {
        Some(&w) if w > 0 => Ok(w),
        _ => Err(candle_core::Error::Msg("fused softmax needs a non-empty last dimension".into())),
    }
}

impl CustomOp1 for FusedSoftmax {
    fn name(&self) -> &'static str {
        "fused-softmax-train"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous(storage, layout)?;
        let width = row_width(layout)?;
        let mut out = vec![0f32; x.len()];
        let task = row_task(width);
        out.par_chunks_mut(task).zip(x.par_chunks(task)).for_each(|(y, x)| {
            for (row, y) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
                softmax_row(row, None, y);
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(res.contiguous()?.apply_op2_no_bwd(&grad, &SoftmaxGrad)?))
    }
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "fused-softmax-train-grad"
    }

    fn cpu_fwd(
        &self,
        y: &CpuStorage,
        y_layout: &Layout,
        g: &CpuStorage,
        g_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (y, g) = (contiguous(y, y_layout)?, contiguous(g, g_layout)?);
        if y.len() != g.len() {
            return Err(candle_core::Error::Msg("fused softmax grad: shapes differ".into()));
        }
        let width = row_width(y_layout)?;
        let mut out = vec![0f32; y.len()];
        let task = row_task(width);
        let runs = out.par_chunks_mut(task).zip(y.par_chunks(task).zip(g.par_chunks(task)));
        runs.for_each(|(d, (y, g))| {
            let rows = y.chunks_exact(width).zip(g.chunks_exact(width));
            for ((y, g), d) in rows.zip(d.chunks_exact_mut(width)) {
                let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
                for ((d, &y), &g) in d.iter_mut().zip(y).zip(g) {
                    *d = y * (g - dot);
                }
            }
        });
        Ok((CpuStorage::F32(out), y_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Forward and gradient equal candle's composed softmax, on rows with a masked
    /// (-1e4) entry, under a loss that weighs each output differently.
    #[test]
    fn matches_candle_softmax_and_its_gradient() {
        let device = Device::Cpu;
        let (rows, width) = (6, 9);
        let values: Vec<f32> = (0..rows * width)
            .map(|i| if i % 7 == 3 { -1e4 } else { ((i * 37) % 23) as f32 / 4.0 - 3.0 })
            .collect();
        let weights: Vec<f32> = (0..rows * width).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let w = Tensor::from_vec(weights, (2, 3, width), &device).unwrap();
        let run = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
            let x = Var::from_tensor(
                &Tensor::from_vec(values.clone(), (2, 3, width), &device).unwrap(),
            )
            .unwrap();
            let y = f(x.as_tensor()).unwrap();
            let loss = (&y * &w).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (flat(&y), flat(grads.get(x.as_tensor()).unwrap()))
        };
        let (ours_y, ours_g) = run(&|x| softmax_last_dim_train(x));
        let (ref_y, ref_g) = run(&|x| candle_nn::ops::softmax(x, candle_core::D::Minus1));
        for (a, b) in ours_y.iter().zip(&ref_y).chain(ours_g.iter().zip(&ref_g)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // With an additive mask [2, 1, width]: the same as adding it first.
        let mask: Vec<f32> =
            (0..2 * width).map(|i| if i % 4 == 1 { f32::MIN } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (2, 1, width), &device).unwrap();
        let (masked_y, masked_g) = run(&|x| masked_softmax_train(x, &mask));
        let (ref_y, ref_g) =
            run(&|x| candle_nn::ops::softmax(&x.broadcast_add(&mask)?, candle_core::D::Minus1));
        for (a, b) in masked_y.iter().zip(&ref_y).chain(masked_g.iter().zip(&ref_g)) {
            assert!((a - b).abs() < 1e-5, "masked: {a} vs {b}");
        }
        // Masked entries get no probability.
        for (r, row) in masked_y.chunks(width).enumerate() {
            let b = r / 3;
            for (j, p) in row.iter().enumerate() {
                if (b * width + j) % 4 == 1 {
                    assert!(*p < 1e-30, "row {r} column {j}: {p}");
                }
            }
        }
        // Each row sums to one.
        for row in ours_y.chunks(width) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    /// Inputs that span several of the parallel passes' tasks (the last one partial):
    /// forward and gradient still equal candle's, masked and unmasked.
    #[test]
    fn inputs_split_into_tasks_match_candle() {
        let device = Device::Cpu;
        let width = 64;
        let rows = 3 * row_task(width) / width + 5;
        let (batch, heads) = (rows / 5, 5);
        let n = batch * heads * width;
        let values: Vec<f32> = (0..n).map(|i| ((i * 37) % 23) as f32 / 4.0 - 3.0).collect();
        let weights: Vec<f32> = (0..n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let w = Tensor::from_vec(weights, (batch, heads, width), &device).unwrap();
        let mask: Vec<f32> =
            (0..batch * width).map(|i| if i % 9 == 2 { f32::MIN } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (batch, 1, width), &device).unwrap();
        let run = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
            let x = Var::from_tensor(
                &Tensor::from_vec(values.clone(), (batch, heads, width), &device).unwrap(),
            )
            .unwrap();
            let y = f(x.as_tensor()).unwrap();
            let grads = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            [flat(&y), flat(grads.get(x.as_tensor()).unwrap())]
        };
        let candle = |x: &Tensor| candle_nn::ops::softmax(x, candle_core::D::Minus1);
        let pairs = [
            (run(&|x| softmax_last_dim_train(x)), run(&candle)),
            (run(&|x| masked_softmax_train(x, &mask)), run(&|x| candle(&x.broadcast_add(&mask)?))),
        ];
        for (ours, reference) in pairs {
            for (a, b) in ours.iter().flatten().zip(reference.iter().flatten()) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }
}
