//! AdamW with decoupled weight decay (Loshchilov & Hutter), global-norm gradient clipping
//! and a linear warm-up / linear decay schedule. The optimizer's state (step, first and
//! second moments) saves to and loads from safetensors, so a resumed run continues exactly.
//!
//! On the CPU (f32, contiguous) a step is one fused pass per parameter that updates the
//! moments and the weights in place ([`FusedStep`]); elsewhere it runs as candle's composed
//! ops, about fourteen passes that each allocate a tensor. Both round every intermediate
//! value the same way, so they give the same bits (`fused_step_equals_the_composed_ops`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Tensor, Var};
use rayon::prelude::*;

use crate::model::error::Result;

/// AdamW's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay (not applied to biases and layer norms).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// One named parameter and its moments.
struct Slot {
    name: String,
    var: Var,
    moments: Moments,
    decay: bool,
}

/// A parameter's first and second moments: host vectors updated in place by the fused step,
/// or tensors replaced by the composed one.
enum Moments {
    Host { m: Vec<f32>, v: Vec<f32> },
    Tensors { m: Tensor, v: Tensor },
}

impl Moments {
    fn zeros(var: &Var, fused: bool) -> Result<Self> {
        Ok(if fused && crate::model::kernels::cpu_op::fusable(var.as_tensor()) {
            let n = var.elem_count();
            Moments::Host { m: vec![0.0; n], v: vec![0.0; n] }
        } else {
            Moments::Tensors { m: var.zeros_like()?, v: var.zeros_like()? }
        })
    }

    /// Both moments as tensors of the parameter's shape (for saving).
    fn tensors(&self, var: &Var) -> Result<(Tensor, Tensor)> {
        Ok(match self {
            Moments::Host { m, v } => (
                Tensor::from_slice(m, var.shape(), var.device())?,
                Tensor::from_slice(v, var.shape(), var.device())?,
            ),
            Moments::Tensors { m, v } => (m.clone(), v.clone()),
        })
    }

    /// Takes saved moments, keeping this slot's kind.
    fn set(&mut self, m: Tensor, v: Tensor) -> Result<()> {
        match self {
            Moments::Host { m: hm, v: hv } => {
                *hm = m.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                *hv = v.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
            }
            Moments::Tensors { m: tm, v: tv } => (*tm, *tv) = (m, v),
        }
        Ok(())
    }
}

/// The optimizer.
pub struct AdamW {
    slots: Vec<Slot>,
    config: AdamWConfig,
    step: u64,
}

/// One step's constants, each already the f32 that candle's `affine` would use, so that
/// the fused pass rounds exactly as the composed ops do.
#[derive(Clone, Copy)]
struct StepConstants {
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    inv_correction1: f32,
    inv_correction2: f32,
    eps: f32,
    /// `1 - lr · weight decay`, or `None` for parameters that do not decay.
    decay: Option<f32>,
    lr: f32,
}

impl StepConstants {
    /// The update of one weight `w` with gradient `g` and moments `m`, `v` (in place).
    /// Each line is one of the composed ops; `x * c + 0.0` is candle's `affine(c, 0)`.
    #[inline(always)]
    fn apply(&self, w: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        *m = (*m * self.beta1 + 0.0) + (g * self.one_minus_beta1 + 0.0);
        *v = (*v * self.beta2 + 0.0) + ((g * g) * self.one_minus_beta2 + 0.0);
        let m_hat = *m * self.inv_correction1 + 0.0;
        let v_hat = *v * self.inv_correction2 + 0.0;
        let update = m_hat / (v_hat.sqrt() * 1.0 + self.eps);
        let decayed = match self.decay {
            Some(d) => *w * d + 0.0,
            None => *w,
        };
        *w = decayed - (update * self.lr + 0.0);
    }
}

/// The fused CPU step of one parameter: candle hands it the weights' storage to write in
/// place and the gradient's to read; the moments come along in the op.
struct FusedStep<'a> {
    constants: StepConstants,
    moments: RefCell<(&'a mut [f32], &'a mut [f32])>,
}

impl InplaceOp2 for FusedStep<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        w: &mut CpuStorage,
        wl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        let g = crate::model::kernels::cpu_op::contiguous(g, gl)?;
        let Some((start, end)) = wl.contiguous_offsets() else {
            candle_core::bail!("fused-adamw: the weights are not contiguous")
        };
        let CpuStorage::F32(w) = w else { candle_core::bail!("fused-adamw: weights not f32") };
        let w = &mut w[start..end];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        if g.len() != w.len() || m.len() != w.len() || v.len() != w.len() {
            candle_core::bail!("fused-adamw: {} weights, {} gradients", w.len(), g.len())
        }
        // Element-wise, so any split gives the same bits; chunks keep the threads busy.
        const CHUNK: usize = 1 << 15;
        let c = self.constants;
        w.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((w, g), m), v)| {
                for i in 0..w.len() {
                    c.apply(&mut w[i], g[i], &mut m[i], &mut v[i]);
                }
            });
        Ok(())
    }
}

/// Whether weight decay applies to a parameter (not to biases and LayerNorm weights, as in
/// BERT's original recipe).
pub fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm") || name.contains("layer_norm"))
}

impl AdamW {
    /// An optimizer over named variables (sorted by name, so the order is stable); f32
    /// parameters on the CPU take the fused step.
    pub fn new(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        Self::build(vars, config, true)
    }

    /// The same optimizer with every parameter on candle's composed ops: the reference the
    /// fused step is tested and benchmarked against (`benches/optim.rs`).
    pub fn composed(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        Self::build(vars, config, false)
    }

    fn build(vars: Vec<(String, Var)>, config: AdamWConfig, fused: bool) -> Result<Self> {
        let mut vars = vars;
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let moments = Moments::zeros(&var, fused)?;
                Ok(Slot { decay: decays(&name), name, var, moments })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW { slots, config, step: 0 })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One update with learning rate `lr`; parameters without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let correction1 = 1.0 - c.beta1.powi(t);
        let correction2 = 1.0 - c.beta2.powi(t);
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else { continue };
            let decay = slot.decay && c.weight_decay > 0.0;
            match &mut slot.moments {
                Moments::Host { m, v } => {
                    let constants = StepConstants {
                        beta1: c.beta1 as f32,
                        one_minus_beta1: (1.0 - c.beta1) as f32,
                        beta2: c.beta2 as f32,
                        one_minus_beta2: (1.0 - c.beta2) as f32,
                        inv_correction1: (1.0 / correction1) as f32,
                        inv_correction2: (1.0 / correction2) as f32,
                        eps: c.eps as f32,
                        decay: decay.then_some((1.0 - lr * c.weight_decay) as f32),
                        lr: lr as f32,
                    };
                    let op = FusedStep { constants, moments: RefCell::new((m, v)) };
                    // A strided gradient (none seen so far) is copied into order first.
                    slot.var.as_tensor().inplace_op2(&g.contiguous()?, &op)?;
                }
                Moments::Tensors { m, v } => {
                    composed_step(&slot.var, g, (m, v), &c, decay, lr, (correction1, correction2))?
                }
            }
        }
        Ok(())
    }

    /// Saves the step and moments.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for s in &self.slots {
            let (m, v) = s.moments.tensors(&s.var)?;
            tensors.insert(format!("m.{}", s.name), m);
            tensors.insert(format!("v.{}", s.name), v);
        }
        let step = Tensor::new(&[self.step as f64], &candle_core::Device::Cpu)?;
        tensors.insert("step".into(), step);
        candle_core::safetensors::save(&tensors, path)?;
        Ok(())
    }

    /// Loads what [`AdamW::save`] wrote (same parameter names).
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let device =
            self.slots.first().map(|s| s.var.device().clone()).unwrap_or(candle_core::Device::Cpu);
        let tensors = candle_core::safetensors::load(path, &device)?;
        let get = |k: &str| {
            tensors.get(k).cloned().ok_or_else(|| {
                crate::model::Error::Unsupported(format!("{}: no {k}", path.display()))
            })
        };
        for s in &mut self.slots {
            let (m, v) = (get(&format!("m.{}", s.name))?, get(&format!("v.{}", s.name))?);
            if m.shape() != s.var.shape() || v.shape() != s.var.shape() {
                return Err(crate::model::Error::Unsupported(format!(
                    "{}: moments of {} have shape {:?}, the parameter {:?}",
                    path.display(),
                    s.name,
                    m.dims(),
                    s.var.dims()
                )));
            }
            s.moments.set(m, v)?;
        }
        self.step = get("step")?.to_dtype(DType::F64)?.to_vec1::<f64>()?[0] as u64;
        Ok(())
    }
}

/// One parameter's update on candle's composed ops (the moments replaced by new tensors).
fn composed_step(
    var: &Var,
    g: &Tensor,
    (m, v): (&mut Tensor, &mut Tensor),
    c: &AdamWConfig,
    decay: bool,
    lr: f64,
    (correction1, correction2): (f64, f64),
) -> Result<()> {
    *m = ((&*m * c.beta1)? + (g * (1.0 - c.beta1))?)?;
    *v = ((&*v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
    let m_hat = (&*m / correction1)?;
    let v_hat = (&*v / correction2)?;
    let update = (m_hat / (v_hat.sqrt()? + c.eps)?)?;
    let mut w = var.as_tensor().clone();
    if decay {
        w = (&w * (1.0 - lr * c.weight_decay))?;
    }
    var.set(&(w - (update * lr)?)?)?;
    Ok(())
}

/// Scales the gradients so that their global L2 norm is at most `max_norm`; returns the
/// norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    let mut total = 0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
    }
    let norm = total.sqrt();
    if norm > max_norm && norm > 0.0 {
        let scale = max_norm / (norm + 1e-6);
        for v in vars {
            if let Some(g) = grads.remove(v.as_tensor()) {
                grads.insert(v.as_tensor(), (g * scale)?);
            }
        }
    }
    Ok(norm)
}

/// Linear warm-up over `warmup` steps to `peak`, then linear decay to 0 at `total`.
pub fn learning_rate(step: u64, warmup: u64, total: u64, peak: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let rest = total.saturating_sub(warmup).max(1) as f64;
    peak * (1.0 - (step - warmup) as f64 / rest).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays() {
        assert_eq!(learning_rate(0, 10, 100, 1.0), 0.1);
        assert_eq!(learning_rate(9, 10, 100, 1.0), 1.0);
        assert_eq!(learning_rate(10, 10, 100, 1.0), 1.0);
        assert!((learning_rate(55, 10, 100, 1.0) - 0.5).abs() < 1e-12);
        assert_eq!(learning_rate(100, 10, 100, 1.0), 0.0);
    }

    #[test]
    fn one_step_lowers_the_loss_and_matches_the_formula() {
        // loss = sum((w - 3)^2); Adam's first step moves each weight by lr (sign of grad).
        let w = Var::new(&[0f32, 1.0], &Device::Cpu).unwrap();
        let loss = |w: &Var| (w.as_tensor() - 3.0).unwrap().sqr().unwrap().sum_all().unwrap();
        let before = loss(&w).to_scalar::<f32>().unwrap();
        let mut opt = AdamW::new(
            vec![("w".into(), w.clone())],
            AdamWConfig { weight_decay: 0.0, ..AdamWConfig::default() },
        )
        .unwrap();
        let grads = loss(&w).backward().unwrap();
        opt.step(&grads, 0.1).unwrap();
        let after = loss(&w).to_scalar::<f32>().unwrap();
        assert!(after < before);
        let got = w.as_tensor().to_vec1::<f32>().unwrap();
        assert!((got[0] - 0.1).abs() < 1e-5 && (got[1] - 1.1).abs() < 1e-5, "{got:?}");
    }

    #[test]
    fn clipping_caps_the_global_norm() {
        let a = Var::new(&[3f32], &Device::Cpu).unwrap();
        let b = Var::new(&[4f32], &Device::Cpu).unwrap();
        // d/da (a^2/2 + b^2/2) = (3, 4): norm 5.
        let loss = ((a.as_tensor().sqr().unwrap() + b.as_tensor().sqr().unwrap()).unwrap() * 0.5)
            .unwrap()
            .sum_all()
            .unwrap();
        let mut grads = loss.backward().unwrap();
        let vars = [a.clone(), b.clone()];
        let norm = clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        let ga = grads.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap()[0];
        let gb = grads.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap()[0];
        assert!(((ga * ga + gb * gb).sqrt() - 1.0).abs() < 1e-4);
    }

    /// Seeded values spread over several magnitudes (so that rounding differences would show).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                let r = crate::model::rng::splitmix64(&mut state);
                let unit = (r >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                unit * 10f32.powi((r % 5) as i32 - 3)
            })
            .collect()
    }

    /// Five steps of the fused CPU path give the same bits as candle's composed ops, for
    /// parameters with and without weight decay, a parameter without a gradient, a strided
    /// gradient, and after a save and load of the moments; the moments are saved alike too.
    #[test]
    fn fused_step_equals_the_composed_ops() {
        let dev = Device::Cpu;
        let shapes: [(&str, &[usize]); 4] = [
            ("embeddings.word_embeddings.weight", &[70_000, 3]),
            ("encoder.layer.0.output.dense.bias", &[7]),
            ("encoder.layer.0.LayerNorm.weight", &[5]),
            ("unused.weight", &[4]),
        ];
        let make = || -> Vec<(String, Var)> {
            shapes
                .iter()
                .enumerate()
                .map(|(i, (name, dims))| {
                    let n = dims.iter().product();
                    let t = Tensor::from_vec(values(n, i as u64), *dims, &dev).unwrap();
                    (name.to_string(), Var::from_tensor(&t).unwrap())
                })
                .collect()
        };
        let config = AdamWConfig { weight_decay: 0.1, ..AdamWConfig::default() };
        let (fused_vars, composed_vars) = (make(), make());
        let mut fused = AdamW::new(fused_vars.clone(), config).unwrap();
        let mut composed = AdamW::composed(composed_vars.clone(), config).unwrap();
        assert!(matches!(fused.slots[0].moments, Moments::Host { .. }));
        assert!(matches!(composed.slots[0].moments, Moments::Tensors { .. }));
        let dir = tempfile::tempdir().unwrap();
        for step in 0..5u64 {
            let mut grads = [GradStore::default(), GradStore::default()];
            for (vars, grads) in [&fused_vars, &composed_vars].into_iter().zip(&mut grads) {
                for (i, (name, var)) in vars.iter().enumerate() {
                    if name.starts_with("unused") {
                        continue;
                    }
                    let g = values(var.elem_count(), 100 + 10 * step + i as u64);
                    let mut g = Tensor::from_vec(g, var.shape(), &dev).unwrap();
                    if step == 1 && i == 0 {
                        // The same values in a strided layout.
                        g = g.t().unwrap().contiguous().unwrap().t().unwrap();
                        assert!(!g.is_contiguous());
                    }
                    grads.insert(var.as_tensor(), g);
                }
            }
            let lr = 1e-3 * (step + 1) as f64;
            fused.step(&grads[0], lr).unwrap();
            composed.step(&grads[1], lr).unwrap();
            if step == 2 {
                fused.save(&dir.path().join("f.safetensors")).unwrap();
                fused.load(&dir.path().join("f.safetensors")).unwrap();
                composed.save(&dir.path().join("c.safetensors")).unwrap();
            }
            for ((name, a), (_, b)) in fused_vars.iter().zip(&composed_vars) {
                let a = a.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let b = b.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let differ = a.iter().zip(&b).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
                assert_eq!(differ, 0, "step {step}, {name}: {differ} weights differ");
            }
        }
        let saved = |f: &str| candle_core::safetensors::load(dir.path().join(f), &dev).unwrap();
        let (f, c) = (saved("f.safetensors"), saved("c.safetensors"));
        assert_eq!(f.len(), c.len());
        for (k, t) in &c {
            let (a, b) = (t.flatten_all().unwrap(), f[k].flatten_all().unwrap());
            assert_eq!(a.to_vec1::<f32>().ok(), b.to_vec1::<f32>().ok(), "{k}");
            assert_eq!(t.dims(), f[k].dims(), "{k}");
        }
    }
}
