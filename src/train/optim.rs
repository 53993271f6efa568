//! AdamW with decoupled weight decay (Loshchilov & Hutter), global-norm gradient clipping
//! and a linear warm-up / linear decay schedule. The optimizer's state (step, first and
//! second moments) saves to and loads from safetensors, so a resumed run continues exactly.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

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
    m: Tensor,
    v: Tensor,
    decay: bool,
}

/// The optimizer.
pub struct AdamW {
    slots: Vec<Slot>,
    config: AdamWConfig,
    step: u64,
}

/// Whether weight decay applies to a parameter (not to biases and LayerNorm weights, as in
/// BERT's original recipe).
pub fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm") || name.contains("layer_norm"))
}

impl AdamW {
    /// An optimizer over named variables (sorted by name, so the order is stable).
    pub fn new(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        let mut vars = vars;
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let m = var.zeros_like()?;
                let v = var.zeros_like()?;
                Ok(Slot { decay: decays(&name), name, var, m, v })
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
            slot.m = ((&slot.m * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            slot.v = ((&slot.v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let m_hat = (&slot.m / correction1)?;
            let v_hat = (&slot.v / correction2)?;
            let update = (m_hat / (v_hat.sqrt()? + c.eps)?)?;
            let mut w = slot.var.as_tensor().clone();
            if slot.decay && c.weight_decay > 0.0 {
                w = (&w * (1.0 - lr * c.weight_decay))?;
            }
            slot.var.set(&(w - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// Saves the step and moments.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for s in &self.slots {
            tensors.insert(format!("m.{}", s.name), s.m.clone());
            tensors.insert(format!("v.{}", s.name), s.v.clone());
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
            s.m = get(&format!("m.{}", s.name))?;
            s.v = get(&format!("v.{}", s.name))?;
        }
        self.step = get("step")?.to_dtype(DType::F64)?.to_vec1::<f64>()?[0] as u64;
        Ok(())
    }
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
}
