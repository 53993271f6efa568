//! GELU with the exact (erf) form, fused into one pass for inference.
//!
//! candle's `gelu_erf` calls libm's scalar `erff` per element, a tenth of the encoder's
//! time in profiles. Here erf is a rational approximation on [-4, 4] (the one Eigen and
//! TensorFlow use; max error 6.5e-8 against `math.erf` over that range, clamped outside),
//! made of multiplications, additions and one division, so the loop vectorizes. Training
//! uses [`gelu_erf_train`], the same forward pass with a one-pass backward (candle's
//! `gelu_erf` backward takes several passes and libm's scalar `erff`).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use crate::model::kernels::cpu_op::{contiguous, fusable, par_map, par_zip_map};

/// Exact-form GELU, `x * (1 + erf(x / sqrt 2)) / 2`, for contiguous f32 CPU tensors;
/// other tensors go through candle's `gelu_erf`.
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) { x.apply_op1_no_bwd(&FusedGeluErf) } else { x.gelu_erf() }
}

/// [`gelu_erf`] with a backward pass: `d/dx = Φ(x) + x φ(x)`, in one pass over `x` and
/// the incoming gradient. Other tensors go through candle's `gelu_erf`.
pub fn gelu_erf_train(x: &Tensor) -> candle_core::Result<Tensor> {
    if fusable(x) { x.apply_op1(FusedGeluErf) } else { x.gelu_erf() }
}

struct FusedGeluErf;

/// `grad * gelu'(x)` for two contiguous f32 tensors of one shape, without a backward pass.
struct GeluGrad;

/// The derivative of exact-form GELU: `Φ(x) + x φ(x)`.
#[inline(always)]
pub fn gelu_derivative(x: f32) -> f32 {
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    cdf + x * FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "fused-gelu-erf-grad"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, grad) = (contiguous(x, x_layout)?, contiguous(grad, grad_layout)?);
        if x.len() != grad.len() {
            return Err(candle_core::Error::Msg("fused gelu grad: shapes differ".into()));
        }
        let out = par_zip_map(x, grad, |x, g| g * gelu_derivative(x));
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }
}

const A: [f32; 7] = [
    -2.726_142_3e-10,
    2.770_681_4e-8,
    -2.101_024e-6,
    -5.692_506_4e-5,
    -7.349_906_3e-4,
    -2.954_6e-3,
    -1.609_603_3e-2,
];
const B: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];

/// erf(x) by the rational approximation.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = A[0];
    for a in &A[1..] {
        p = p * x2 + *a;
    }
    p *= x;
    let mut q = B[0];
    for b in &B[1..] {
        q = q * x2 + *b;
    }
    p / q
}

/// Exact-form GELU of one value, `x * (1 + erf(x / sqrt 2)) / 2`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

impl CustomOp1 for FusedGeluErf {
    fn name(&self) -> &'static str {
        "fused-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous(storage, layout)?;
        let out = par_map(input, gelu);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(&grad, &GeluGrad)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_candle_gelu_erf() {
        // -10..10 in steps of 0.01, repeated over several of the parallel pass's tasks.
        let n = 3 * crate::model::kernels::cpu_op::TASK + 17;
        let values: Vec<f32> = (0..n).map(|i| (i % 2001) as f32 / 100.0 - 10.0).collect();
        let x = Tensor::new(values.as_slice(), &candle_core::Device::Cpu).unwrap();
        let ours = gelu_erf(&x).unwrap();
        let reference = x.gelu_erf().unwrap();
        let diff = (ours - reference).unwrap().abs().unwrap().max(0).unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
    }

    /// The training op's gradient equals candle's `gelu_erf` gradient (which differentiates
    /// through libm's erf), on a loss that weighs each output differently.
    #[test]
    fn training_gradient_matches_candle() {
        // -6..6 in steps of 0.01, repeated over several of the parallel pass's tasks.
        let n = 3 * crate::model::kernels::cpu_op::TASK + 17;
        let values: Vec<f32> = (0..n).map(|i| (i % 1201) as f32 / 100.0 - 6.0).collect();
        let weights: Vec<f32> = (0..values.len()).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let device = candle_core::Device::Cpu;
        let w = Tensor::new(weights.as_slice(), &device).unwrap();
        let grad = |f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>| {
            let x = candle_core::Var::new(values.as_slice(), &device).unwrap();
            let loss = (f(x.as_tensor()).unwrap() * &w).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            grads.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap()
        };
        let ours = grad(&|x| gelu_erf_train(x));
        let reference = grad(&|x| x.gelu_erf());
        for ((a, b), x) in ours.iter().zip(&reference).zip(&values) {
            assert!((a - b).abs() < 1e-5, "x = {x}: {a} vs {b}");
        }
        // And gelu'(x) itself against a central difference of gelu.
        for &x in &[-3.0f32, -1.0, -0.2, 0.0, 0.5, 2.0] {
            let h = 1e-2;
            let numeric = (gelu(x + h) - gelu(x - h)) / (2.0 * h);
            assert!((gelu_derivative(x) - numeric).abs() < 1e-3, "x = {x}");
        }
    }
}
