//! Inverted dropout for training as one fused op, its mask never stored.
//!
//! The mask of element `i` is a pure function of the step's generator state `s` (the
//! splitmix64 stream: draw `i` is `mix(s + (i + 1)·γ)`), so the forward pass draws it
//! while scaling `x`, and the backward pass draws the same mask again while scaling the
//! gradient. The composed form (a mask tensor, then `x * mask`) wrote and read a mask as
//! large as the activations and multiplied in a separate pass, each way. The draws are the
//! ones the composed form made, in the same order, so training results do not change.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use rayon::prelude::*;

use crate::model::kernels::cpu_op::{TASK, contiguous, fusable};
use crate::model::rng::splitmix64;

/// The increment of the splitmix64 state per draw.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Drops each element of `x` with probability `p` and scales the rest by `1 / (1 - p)`,
/// drawing from the generator `state` (advanced past `x`'s draws). Differentiable.
pub fn dropout_train(x: &Tensor, p: f32, state: &mut u64) -> candle_core::Result<Tensor> {
    let mask = Mask { seed: *state, keep: 1.0 - p };
    let n = x.elem_count() as u64;
    if fusable(x) {
        *state = state.wrapping_add(n.wrapping_mul(GAMMA));
        x.apply_op1(mask)
    } else {
        let values: Vec<f32> = (0..n).map(|_| mask.factor(splitmix64(state))).collect();
        x * Tensor::from_vec(values, x.shape(), x.device())?
    }
}

/// The mask drawn from `seed`: each element kept with probability `keep` and scaled by
/// `1 / keep`.
#[derive(Clone, Copy)]
struct Mask {
    seed: u64,
    keep: f32,
}

impl Mask {
    /// The factor (`1 / keep` or 0) for one 64-bit draw.
    #[inline(always)]
    fn factor(&self, r: u64) -> f32 {
        if ((r >> 40) as f32) * (1.0 / (1u64 << 24) as f32) < self.keep {
            1.0 / self.keep
        } else {
            0.0
        }
    }

    /// `values` times the mask, in a new buffer, over rayon's threads: draw `i` needs
    /// only the seed advanced `i` steps, so each run of elements starts where it lies.
    fn apply(&self, values: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; values.len()];
        let runs = out.par_chunks_mut(TASK).zip(values.par_chunks(TASK));
        runs.enumerate().for_each(|(run, (out, values))| {
            let mut state = self.seed.wrapping_add(((run * TASK) as u64).wrapping_mul(GAMMA));
            for (o, &v) in out.iter_mut().zip(values) {
                *o = v * self.factor(splitmix64(&mut state));
            }
        });
        out
    }
}

/// The gradient: the incoming gradient times the same mask.
struct MaskGrad(Mask);

impl CustomOp1 for Mask {
    fn name(&self) -> &'static str {
        "fused-dropout-train"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous(storage, layout)?;
        Ok((CpuStorage::F32(self.apply(x)), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad_res.contiguous()?.apply_op1_no_bwd(&MaskGrad(*self))?))
    }
}

impl CustomOp1 for MaskGrad {
    fn name(&self) -> &'static str {
        "fused-dropout-train-grad"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = contiguous(storage, layout)?;
        Ok((CpuStorage::F32(self.0.apply(g)), layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The composed reference: a mask tensor drawn in the same order, then `x * mask`.
    fn composed(x: &Tensor, p: f32, state: &mut u64) -> candle_core::Result<Tensor> {
        let keep = 1.0 - p;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                let r = splitmix64(state);
                if ((r >> 40) as f32) * (1.0 / (1u64 << 24) as f32) < keep {
                    1.0 / keep
                } else {
                    0.0
                }
            })
            .collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }

    /// Output, gradient and the generator's state afterwards equal the composed form's,
    /// over two calls in a row (the second continues the stream); about `p` of the
    /// elements are dropped.
    #[test]
    fn matches_the_composed_mask_and_its_gradient() {
        let device = Device::Cpu;
        // Several of the parallel passes' runs, the last one partial.
        let (rows, width) = (3 * TASK / 100 + 7, 100);
        let n = rows * width;
        let values: Vec<f32> = (0..n).map(|i| ((i * 37) % 23) as f32 / 4.0 - 3.0 + 0.1).collect();
        let weights: Vec<f32> = (0..n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let w = Tensor::from_vec(weights, (rows, width), &device).unwrap();
        let run = |f: &dyn Fn(&Tensor, &mut u64) -> candle_core::Result<Tensor>| {
            let x = Var::from_tensor(
                &Tensor::from_vec(values.clone(), (rows, width), &device).unwrap(),
            )
            .unwrap();
            let mut state = 7u64;
            let y = f(x.as_tensor(), &mut state).unwrap();
            let y = (f(&y, &mut state).unwrap() + &y).unwrap();
            let grads = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (flat(&y), flat(grads.get(x.as_tensor()).unwrap()), state)
        };
        let ours = run(&|x, s| dropout_train(x, 0.1, s));
        let reference = run(&|x, s| composed(x, 0.1, s));
        assert_eq!(ours.2, reference.2, "generator state");
        for (a, b) in ours.0.iter().zip(&reference.0).chain(ours.1.iter().zip(&reference.1)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let mut state = 7u64;
        let once =
            dropout_train(&Tensor::new(values.as_slice(), &device).unwrap(), 0.1, &mut state)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
        let dropped = once.iter().filter(|v| **v == 0.0).count() as f64 / n as f64;
        assert!((dropped - 0.1).abs() < 0.02, "dropped {dropped}");
    }
}
