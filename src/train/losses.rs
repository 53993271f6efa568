//! The distillation losses, written out exactly (none is approximated):
//!
//! - Hinton's soft targets: `T² · KL(softmax(t/T) ‖ softmax(s/T))`, mean over questions.
//! - DistilBERT's cosine loss: `1 - cos(h_s, h_t)` per real token, mean.
//! - TinyBERT's MSE on hidden states `‖h_s W + b - h_t‖²` (W: the learned projection when
//!   the student is narrower) and on attention scores before the softmax, over real
//!   tokens (and real keys) only, mean per element.
//! - The layer map g(m) from student layers to teacher layers.

use candle_core::{D, DType, Tensor};

use crate::model::error::Result;

/// `T² · KL(p_t ‖ p_s)` with `p = softmax(logits / T)`, averaged over rows (questions).
pub fn soft_target_loss(student: &Tensor, teacher: &Tensor, temperature: f64) -> Result<Tensor> {
    let t = temperature;
    let log_ps = candle_nn::ops::log_softmax(&(student / t)?, D::Minus1)?;
    let log_pt = candle_nn::ops::log_softmax(&(teacher / t)?, D::Minus1)?;
    let pt = log_pt.exp()?;
    let kl = (pt * (log_pt - log_ps)?)?.sum(D::Minus1)?;
    Ok((kl.mean_all()? * (t * t))?)
}

/// `[batch, seq, 1]` f32 mask from a `[batch, seq]` attention mask.
fn token_mask(attention_mask: &Tensor) -> Result<Tensor> {
    Ok(attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?)
}

/// DistilBERT's cosine loss: mean over real tokens of `1 - cos(student, teacher)`;
/// `[batch, seq, hidden]` each (same width).
pub fn cosine_loss(student: &Tensor, teacher: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    let dot = (student * teacher)?.sum_keepdim(D::Minus1)?;
    let ns = student.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    let nt = teacher.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    let cos = (dot / ((ns * nt)? + 1e-12)?)?;
    let mask = token_mask(attention_mask)?;
    let loss = ((cos.affine(-1.0, 1.0)? * &mask)?.sum_all()? / mask.sum_all()?)?;
    Ok(loss)
}

/// Mean squared error over the real tokens of `[batch, seq, hidden]` tensors.
pub fn hidden_mse(student: &Tensor, teacher: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    let mask = token_mask(attention_mask)?;
    let hidden = student.dim(D::Minus1)? as f64;
    let se = (student - teacher)?.sqr()?.broadcast_mul(&mask)?.sum_all()?;
    Ok((se / (mask.sum_all()? * hidden)?)?)
}

/// Mean squared error between attention scores `[batch, heads, seq, seq]` (before the
/// softmax), over real query and key positions only (padded keys hold the mask's large
/// negative value in both and are left out rather than compared). When the head counts
/// differ, each side's heads are averaged first.
pub fn attention_mse(
    student: &Tensor,
    teacher: &Tensor,
    attention_mask: &Tensor,
) -> Result<Tensor> {
    let m = attention_mask.to_dtype(DType::F32)?;
    let (batch, seq) = m.dims2()?;
    let pair = m.reshape((batch, 1, seq, 1))?.broadcast_mul(&m.reshape((batch, 1, 1, seq))?)?;
    // Mask before anything else: padded keys hold about f32::MIN, whose sums overflow and
    // whose differences can round to ~1e31.
    let mut s = student.broadcast_mul(&pair)?;
    let mut t = teacher.broadcast_mul(&pair)?;
    if s.dim(1)? != t.dim(1)? {
        s = s.mean_keepdim(1)?;
        t = t.mean_keepdim(1)?;
    }
    let heads = s.dim(1)? as f64;
    let se = (s - t)?.sqr()?.sum_all()?;
    Ok((se / (pair.sum_all()? * heads)?)?)
}

/// The teacher layer each student layer imitates (1-based layer outputs, as in TinyBERT's
/// g(m) = m · N / M): student layer m of M takes teacher layer m·N/M of N.
pub fn layer_map(student_layers: usize, teacher_layers: usize) -> Vec<usize> {
    (1..=student_layers).map(|m| m * teacher_layers / student_layers.max(1)).collect()
}

/// DistilBERT's initialisation: which teacher layers (0-based) a student of `m` layers
/// copies when none are given: every other one, starting from the first
/// (`[0, 2, 4]` for 3 of 6).
pub fn every_other(student_layers: usize, teacher_layers: usize) -> Vec<usize> {
    let step = (teacher_layers / student_layers.max(1)).max(1);
    (0..student_layers).map(|m| (m * step).min(teacher_layers - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t2(rows: &[&[f32]]) -> Tensor {
        let cols = rows[0].len();
        Tensor::from_vec(rows.concat(), (rows.len(), cols), &Device::Cpu).unwrap()
    }

    fn scalar(t: Tensor) -> f32 {
        t.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn soft_targets_by_hand() {
        // Teacher logits (0, ln 3) at T = 1: p_t = (1/4, 3/4). Student (0, 0): p_s = (1/2, 1/2).
        // KL = 1/4 ln(1/2) + 3/4 ln(3/2) = 0.130812. At T = 2 the teacher's logits halve:
        // p_t = (1/(1+√3), √3/(1+√3)); KL·4.
        let s = t2(&[&[0.0, 0.0]]);
        let t = t2(&[&[0.0, 3f32.ln()]]);
        let kl1 = 0.25 * (0.5f32).ln() + 0.75 * (1.5f32).ln();
        assert!((scalar(soft_target_loss(&s, &t, 1.0).unwrap()) - kl1).abs() < 1e-6);
        let a = 1.0 / (1.0 + 3f32.sqrt());
        let b = 1.0 - a;
        let kl2 = a * (a / 0.5).ln() + b * (b / 0.5).ln();
        assert!((scalar(soft_target_loss(&s, &t, 2.0).unwrap()) - 4.0 * kl2).abs() < 1e-5);
        // Identical distributions: zero.
        assert!(scalar(soft_target_loss(&t, &t, 3.0).unwrap()).abs() < 1e-7);
    }

    #[test]
    fn cosine_by_hand() {
        // Token 1: (1,0) vs (0,1): cos 0 -> 1. Token 2: (1,1) vs (2,2): cos 1 -> 0.
        // Token 3 is padding. Mean over real tokens: 0.5.
        let s = Tensor::new(&[[[1f32, 0.0], [1.0, 1.0], [5.0, 5.0]]], &Device::Cpu).unwrap();
        let t = Tensor::new(&[[[0f32, 1.0], [2.0, 2.0], [-5.0, 5.0]]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
        assert!((scalar(cosine_loss(&s, &t, &mask).unwrap()) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn hidden_mse_by_hand() {
        // Real tokens: differences (1, 1) and (0, 2): squares 1+1+0+4 = 6 over 2 tokens x 2
        // dims = 1.5; the padded token's difference is ignored.
        let s = Tensor::new(&[[[1f32, 1.0], [0.0, 2.0], [9.0, 9.0]]], &Device::Cpu).unwrap();
        let t = Tensor::zeros((1, 3, 2), DType::F32, &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
        assert!((scalar(hidden_mse(&s, &t, &mask).unwrap()) - 1.5).abs() < 1e-6);
    }

    #[test]
    fn attention_mse_by_hand() {
        // One head, 2 real positions of 3: 4 real (query, key) pairs with differences
        // 1, 2, 3, 4 -> (1+4+9+16)/4 = 7.5; pairs touching the padded position are ignored.
        let s = Tensor::new(
            &[[[[1f32, 2.0, 100.0], [3.0, 4.0, 100.0], [100.0, 100.0, 100.0]]]],
            &Device::Cpu,
        )
        .unwrap();
        let t = Tensor::zeros((1, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
        assert!((scalar(attention_mse(&s, &t, &mask).unwrap()) - 7.5).abs() < 1e-5);
    }

    #[test]
    fn layer_maps() {
        assert_eq!(layer_map(3, 6), [2, 4, 6]);
        assert_eq!(layer_map(4, 6), [1, 3, 4, 6]);
        assert_eq!(layer_map(6, 6), [1, 2, 3, 4, 5, 6]);
        assert_eq!(every_other(3, 6), [0, 2, 4]);
        assert_eq!(every_other(4, 6), [0, 1, 2, 3]);
        assert_eq!(every_other(2, 12), [0, 6]);
    }
}
