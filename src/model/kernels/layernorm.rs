//! Layer norm for training: one fused pass forward, one fused pass backward.
//!
//! candle's differentiable layer norm (`layer_norm_slow`) is composed of nine ops (mean,
//! subtract, square, mean, add, square root, divide, multiply, add), and its backward goes
//! back through each: about twenty passes over the activations per norm, thirteen norms
//! per step of a 6-layer encoder. Here the forward is one pass per row and the backward
//! one more, exact (no approximation):
//!
//! `x̂ = (x − μ) / σ`, `y = γ ⊙ x̂ + β`; with `ĝ = γ ⊙ g`,
//! `dx = (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) / σ`, `dγ = Σ_rows g ⊙ x̂`, `dβ = Σ_rows g`.
//!
//! Rows are processed in parallel in fixed blocks of [`BLOCK`] rows, and the per-block
//! sums of `dγ` and `dβ` are added in block order, so results do not depend on the number
//! of threads (a resumed run still equals an uninterrupted one).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::model::kernels::cpu_op::{contiguous, fusable};

/// Rows per parallel task (and per partial sum of the parameter gradients).
const BLOCK: usize = 64;

/// Layer norm over the last dimension with weight and bias, with a backward pass for all
/// three, for contiguous f32 CPU tensors; other tensors go through candle's composed
/// `layer_norm_slow`.
pub fn layer_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f32,
) -> candle_core::Result<Tensor> {
    let fused = [x, weight, bias].iter().all(|t| fusable(t));
    if fused {
        x.apply_op3(weight, bias, FusedLayerNorm { eps })
    } else {
        candle_nn::ops::layer_norm_slow(x, weight, bias, eps)
    }
}

struct FusedLayerNorm {
    eps: f32,
}

/// The gradients of [`FusedLayerNorm`] from `(x, γ, g)`: a `(rows + 2, width)` tensor
/// holding `dx` row by row, then `dγ`, then `dβ`.
struct LayerNormGrad {
    eps: f32,
}

fn width_of(x: &Layout, weight: &Layout, bias: &Layout) -> candle_core::Result<usize> {
    let width = x.dims().last().copied().unwrap_or(0);
    if width == 0 || weight.dims() != [width] || bias.dims() != [width] {
        return Err(candle_core::Error::Msg(format!(
            "fused layer norm: input {:?}, weight {:?}, bias {:?}",
            x.dims(),
            weight.dims(),
            bias.dims()
        )));
    }
    Ok(width)
}

/// Mean and `1 / sqrt(variance + eps)` of one row (two passes over the row, for accuracy).
#[inline]
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for FusedLayerNorm {
    fn name(&self) -> &'static str {
        "fused-layer-norm-train"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let width = width_of(x_layout, weight_layout, bias_layout)?;
        let x = contiguous(x, x_layout)?;
        let (gamma, beta) = (contiguous(weight, weight_layout)?, contiguous(bias, bias_layout)?);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(BLOCK * width).zip(x.par_chunks(BLOCK * width)).for_each(|(o, x)| {
            for (y, row) in o.chunks_exact_mut(width).zip(x.chunks_exact(width)) {
                let (mean, rstd) = moments(row, self.eps);
                for (((y, &v), &g), &b) in y.iter_mut().zip(row).zip(gamma).zip(beta) {
                    *y = (v - mean) * rstd * g + b;
                }
            }
        });
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad_res.contiguous()?;
        let all = x.apply_op3_no_bwd(weight, &grad, &LayerNormGrad { eps: self.eps })?;
        let rows = all.dim(0)? - 2;
        let dx = all.narrow(0, 0, rows)?.reshape(x.shape())?;
        Ok((Some(dx), Some(all.get(rows)?), Some(all.get(rows + 1)?)))
    }
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "fused-layer-norm-train-grad"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let width = width_of(x_layout, weight_layout, weight_layout)?;
        let (x, gamma, g) = (
            contiguous(x, x_layout)?,
            contiguous(weight, weight_layout)?,
            contiguous(grad, grad_layout)?,
        );
        if x.len() != g.len() {
            return Err(candle_core::Error::Msg("fused layer norm grad: shapes differ".into()));
        }
        let rows = x.len() / width;
        let mut out = vec![0f32; (rows + 2) * width];
        let (dx, _) = out.split_at_mut(rows * width);
        let n = width as f32;
        // Per block: dx in place, and the block's partial sums of dγ and dβ.
        let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
            .par_chunks_mut(BLOCK * width)
            .zip(x.par_chunks(BLOCK * width).zip(g.par_chunks(BLOCK * width)))
            .map(|(dx, (x, g))| {
                let (mut dgamma, mut dbeta) = (vec![0f32; width], vec![0f32; width]);
                let mut xhat = vec![0f32; width];
                let rows = dx.chunks_exact_mut(width).zip(x.chunks_exact(width));
                for ((dx, row), g) in rows.zip(g.chunks_exact(width)) {
                    let (mean, rstd) = moments(row, self.eps);
                    let (mut mean_gh, mut mean_ghx) = (0f32, 0f32);
                    for i in 0..width {
                        xhat[i] = (row[i] - mean) * rstd;
                        let gh = g[i] * gamma[i];
                        mean_gh += gh;
                        mean_ghx += gh * xhat[i];
                        dgamma[i] += g[i] * xhat[i];
                        dbeta[i] += g[i];
                    }
                    let (mean_gh, mean_ghx) = (mean_gh / n, mean_ghx / n);
                    for i in 0..width {
                        dx[i] = rstd * (g[i] * gamma[i] - mean_gh - xhat[i] * mean_ghx);
                    }
                }
                (dgamma, dbeta)
            })
            .collect();
        let (dgamma, dbeta) = out[rows * width..].split_at_mut(width);
        for (pg, pb) in &partials {
            dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
            dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, width))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Forward and the gradients of input, weight and bias equal candle's composed layer
    /// norm, under a loss that weighs each output differently, over more rows than one
    /// parallel block (so the partial sums of dγ and dβ are combined).
    #[test]
    fn matches_candle_layer_norm_and_its_gradients() {
        let device = Device::Cpu;
        let (batch, seq, width) = (3, 50, 12);
        let n = batch * seq * width;
        let values: Vec<f32> = (0..n).map(|i| ((i * 37) % 23) as f32 / 4.0 - 3.0).collect();
        let weights: Vec<f32> = (0..n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let w = Tensor::from_vec(weights, (batch, seq, width), &device).unwrap();
        let gamma: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 / 10.0).collect();
        let beta: Vec<f32> = (0..width).map(|i| i as f32 / 7.0 - 0.8).collect();
        let run = |f: &dyn Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor>| {
            let var = |v: &[f32], shape: &[usize]| {
                Var::from_tensor(&Tensor::from_vec(v.to_vec(), shape, &device).unwrap()).unwrap()
            };
            let x = var(&values, &[batch, seq, width]);
            let (g, b) = (var(&gamma, &[width]), var(&beta, &[width]));
            let y = f(x.as_tensor(), g.as_tensor(), b.as_tensor()).unwrap();
            let loss = (&y * &w).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let grad = |v: &Var| flat(grads.get(v.as_tensor()).unwrap());
            [flat(&y), grad(&x), grad(&g), grad(&b)]
        };
        let ours = run(&|x, g, b| layer_norm_train(x, g, b, 1e-12));
        let reference = run(&|x, g, b| candle_nn::ops::layer_norm_slow(x, g, b, 1e-12));
        for (what, (a, b)) in ["y", "dx", "dgamma", "dbeta"].iter().zip(ours.iter().zip(&reference))
        {
            assert_eq!(a.len(), b.len(), "{what}");
            let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (p, q) in a.iter().zip(b) {
                assert!((p - q).abs() <= 1e-5 * scale, "{what}: {p} vs {q}");
            }
        }
    }

    /// `dx` against a central difference of the loss, on one small row set.
    #[test]
    fn input_gradient_matches_finite_differences() {
        let device = Device::Cpu;
        let width = 5;
        let values = [0.3f32, -1.2, 2.0, 0.7, -0.4, 1.1, 0.0, -0.9, 0.5, 1.6];
        let weights = [1.0f32, -2.0, 0.5, 3.0, -1.0, 0.3, 0.8, -0.6, 2.2, -1.4];
        let gamma = Tensor::new(&[1.0f32, 0.5, 2.0, -1.0, 0.8], &device).unwrap();
        let beta = Tensor::new(&[0.1f32, 0.0, -0.2, 0.3, 0.0], &device).unwrap();
        let w = Tensor::from_vec(weights.to_vec(), (2, width), &device).unwrap();
        let loss = |v: &[f32]| -> f64 {
            let x = Tensor::from_vec(v.to_vec(), (2, width), &device).unwrap();
            let y = layer_norm_train(&x, &gamma, &beta, 1e-5).unwrap();
            (y * &w).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64
        };
        let x = Var::from_tensor(&Tensor::from_vec(values.to_vec(), (2, width), &device).unwrap())
            .unwrap();
        let y = layer_norm_train(x.as_tensor(), &gamma, &beta, 1e-5).unwrap();
        let grads = (y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = grads.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let h = 1e-2f32;
        for i in 0..values.len() {
            let (mut up, mut down) = (values, values);
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
            assert!((numeric - dx[i] as f64).abs() < 2e-2, "{i}: {numeric} vs {}", dx[i]);
        }
    }
}
