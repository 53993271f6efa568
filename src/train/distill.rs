//! Distillation: a smaller student learns from one or more teachers.
//!
//! - Soft targets (Hinton): `α · T² · KL(teacher ‖ student at T) + (1 - α) · CE(labels)`;
//!   several teachers are averaged in logit space, and their logits are cached per
//!   training question (teachers run without dropout, so they never change).
//! - DistilBERT: the student copies every other teacher layer (or the layers given) and
//!   adds `cosine` · the cosine loss between its last hidden states and the teacher's.
//! - TinyBERT: MSE on the embedding output, on each student layer's attention scores and
//!   hidden states against teacher layer g(m), through a learned projection
//!   (`distill_projection`, trained, never shipped) when the student is narrower; the
//!   first `intermediate_epochs` use these losses alone, then prediction distillation.
//!
//! Teacher outputs are cached per training question: the mean logits always, the first
//! teacher's last hidden states (the cosine loss's targets) within a memory budget
//! ([`Distill::with_hidden_cache`], [`HiddenCache`]), so from the second epoch on a
//! DistilBERT-style step runs no teacher at all. TinyBERT's targets are recomputed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::eval::batch::Example;
use crate::eval::batch::batch_logits;
use crate::model::Collect;
use crate::model::head::MultipleChoice;
use crate::train::error::{Error, Result};
use crate::train::hidden_cache::HiddenCache;
use crate::train::losses::{attention_mse, cosine_loss, hidden_mse, layer_map, soft_target_loss};
use crate::train::{Objective, cross_entropy};

pub use crate::train::student::{NarrowInit, PROJECTION, PROJECTION_BIAS, build_student};

/// Which losses a distillation uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    /// Weight of the soft-target loss against the hard labels (0: hard labels only).
    pub alpha: f64,
    /// Softmax temperature of the soft targets.
    pub temperature: f64,
    /// Weight of DistilBERT's cosine loss on the last hidden states (0: off).
    pub cosine: f64,
    /// TinyBERT's intermediate losses (embeddings, attention scores, hidden states).
    pub tinybert: bool,
    /// Epochs that use only the intermediate losses before prediction distillation.
    pub intermediate_epochs: usize,
}

impl DistillConfig {
    /// Checks the settings against a run of `epochs` epochs: α in 0..=1, a positive
    /// temperature, a cosine weight of 0 or more, and with TinyBERT at least one epoch of
    /// prediction distillation after the intermediate ones (else the head never trains).
    pub fn validate(&self, epochs: usize) -> Result<()> {
        let bad = |field: &'static str, message: String| Err(Error::Invalid { field, message });
        if !(0.0..=1.0).contains(&self.alpha) {
            return bad("alpha", format!("the soft-target weight is 0 to 1, got {}", self.alpha));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            let t = self.temperature;
            return bad("temperature", format!("must be a positive number, got {t}"));
        }
        if !(self.cosine.is_finite() && self.cosine >= 0.0) {
            return bad(
                "cosine",
                format!("the cosine-loss weight is 0 or more, got {}", self.cosine),
            );
        }
        if self.tinybert && self.intermediate_epochs >= epochs {
            return bad(
                "intermediate_epochs",
                format!(
                    "{} intermediate epochs leave none of the {epochs} for prediction \
                     distillation; use fewer (0: all losses from the first step) or more epochs",
                    self.intermediate_epochs
                ),
            );
        }
        Ok(())
    }
}

fn model_err(e: candle_core::Error) -> Error {
    Error::Model(e.into())
}

/// The distillation objective.
pub struct Distill {
    teachers: Vec<MultipleChoice>,
    config: DistillConfig,
    cache: Mutex<HashMap<usize, Vec<f32>>>,
    hidden: Mutex<HiddenCache>,
    passes: AtomicUsize,
}

impl Distill {
    /// An objective over loaded teachers.
    pub fn new(teachers: Vec<MultipleChoice>, config: DistillConfig) -> Self {
        let hidden = HiddenCache::new(0).into();
        Distill { teachers, config, cache: Mutex::default(), hidden, passes: AtomicUsize::new(0) }
    }

    /// Keeps up to `budget` bytes of the first teacher's last hidden states (the cosine
    /// loss's targets; about 0.5 MB per 5-choice question at length 64), so that later
    /// epochs need not run it again. Without this call nothing is kept.
    pub fn with_hidden_cache(self, budget: usize) -> Self {
        *self.hidden.lock().expect("hidden cache") = HiddenCache::new(budget);
        self
    }

    /// How many batches the first teacher has run on for its hidden states (the runs the
    /// hidden-state cache spares).
    pub fn teacher_passes(&self) -> usize {
        self.passes.load(Ordering::Relaxed)
    }

    /// How many training questions have their teacher hidden states cached, and in how
    /// many bytes.
    pub fn cached_hidden(&self) -> (usize, usize) {
        let hidden = self.hidden.lock().expect("hidden cache");
        (hidden.len(), hidden.bytes())
    }

    /// Seeds the teacher-logit cache with `(training question index, mean teacher logits)`
    /// pairs computed earlier by [`mean_teacher_logits`] (the labelled augmentation
    /// variants), so they are not computed again.
    pub fn with_cached_logits(self, logits: impl IntoIterator<Item = (usize, Vec<f32>)>) -> Self {
        self.cache.lock().expect("teacher cache").extend(logits);
        self
    }

    /// How many training questions have their teacher logits cached.
    pub fn cached_logits(&self) -> usize {
        self.cache.lock().expect("teacher cache").len()
    }

    /// Mean teacher logits `[batch, choices]`, cached per training question. The questions
    /// not cached yet are run through the teachers as one batch; `first`, when given, is
    /// the first teacher's logits for some positions of the batch (`[positions, choices]`),
    /// already computed by the forward pass that gave its hidden states, used when it
    /// covers every question not cached (so that teacher does not run twice).
    fn teacher_logits(
        &self,
        batch: &[(usize, &Example)],
        first: Option<(&[usize], &Tensor)>,
    ) -> Result<Tensor> {
        let choices = batch[0].1.choices.len();
        let missing: Vec<usize> = {
            let cache = self.cache.lock().expect("teacher cache");
            (0..batch.len()).filter(|&p| !cache.contains_key(&batch[p].0)).collect()
        };
        if !missing.is_empty() {
            let examples: Vec<&Example> = missing.iter().map(|&p| batch[p].1).collect();
            // Rows of `first` for the missing positions, if it has them all.
            let rows: Option<Vec<u32>> = first.and_then(|(positions, _)| {
                let row = |p: &usize| positions.iter().position(|q| q == p).map(|r| r as u32);
                missing.iter().map(row).collect()
            });
            let first = match (first, rows) {
                (Some((_, l)), Some(rows)) => {
                    let rows = Tensor::new(rows, l.device()).map_err(model_err)?;
                    Some(l.index_select(&rows, 0).map_err(model_err)?)
                }
                _ => None,
            };
            let means = mean_teacher_logits_many(&self.teachers, &examples, first.as_ref())?;
            let mut cache = self.cache.lock().expect("teacher cache");
            for (&p, mean) in missing.iter().zip(means) {
                cache.insert(batch[p].0, mean);
            }
        }
        let cache = self.cache.lock().expect("teacher cache");
        let rows: Vec<f32> = batch.iter().flat_map(|(i, _)| cache[i].iter().copied()).collect();
        Tensor::from_vec(rows, (batch.len(), choices), &Device::Cpu).map_err(model_err)
    }
}

/// The teachers' logits for one question averaged in logit space (each teacher's logits
/// divided by their number, then summed in teacher order), as the soft targets use them.
pub fn mean_teacher_logits(teachers: &[MultipleChoice], example: &Example) -> Result<Vec<f32>> {
    let mut means = mean_teacher_logits_many(teachers, &[example], None)?;
    Ok(means.remove(0))
}

/// [`mean_teacher_logits`] for several questions with the same number of choices, each
/// teacher running them as one batch. `first`: the first teacher's logits `[questions,
/// choices]` when already computed.
pub fn mean_teacher_logits_many(
    teachers: &[MultipleChoice],
    examples: &[&Example],
    first: Option<&Tensor>,
) -> Result<Vec<Vec<f32>>> {
    let choices = examples.first().map_or(0, |e| e.choices.len());
    let mut means = vec![vec![0f32; choices]; examples.len()];
    if examples.is_empty() {
        return Ok(means);
    }
    for (k, t) in teachers.iter().enumerate() {
        let logits = match first {
            Some(l) if k == 0 => l.clone(),
            _ => batch_logits(t, examples, false)?,
        };
        let rows = logits.to_vec2::<f32>().map_err(model_err)?;
        for (mean, row) in means.iter_mut().zip(rows) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / teachers.len() as f32;
            }
        }
    }
    Ok(means)
}

fn project(student: &MultipleChoice, h: &Tensor) -> Result<Tensor> {
    match (student.tensor(PROJECTION), student.tensor(PROJECTION_BIAS)) {
        (Some(w), Some(b)) => {
            let (batch, seq, width) = h.dims3().map_err(model_err)?;
            let flat = h.reshape((batch * seq, width)).map_err(model_err)?;
            let out = flat.matmul(&w.t().map_err(model_err)?).map_err(model_err)?;
            let out = out.broadcast_add(b).map_err(model_err)?;
            out.reshape((batch, seq, w.dim(0).map_err(model_err)?)).map_err(model_err)
        }
        _ => Ok(h.clone()),
    }
}

impl Objective for Distill {
    fn loss(
        &self,
        student: &MultipleChoice,
        batch: &[(usize, &Example)],
        epoch: usize,
    ) -> Result<Tensor> {
        let c = &self.config;
        let examples: Vec<&Example> = batch.iter().map(|(_, e)| *e).collect();
        let questions: Vec<_> = examples.iter().map(|e| e.question()).collect();
        let intermediate = c.tinybert || c.cosine > 0.0;
        let collect =
            Collect { hidden_states: intermediate, attentions: c.tinybert, ..Collect::default() };
        let encoded = student.encode_many(&questions)?;
        let (logits, out) = student.forward(&encoded, collect, true)?;
        let choices = examples[0].choices.len();
        let logits = logits.reshape((examples.len(), choices)).map_err(model_err)?;
        let pass = StudentPass { model: student, encoded: &encoded, out: &out, choices };
        let mut terms: Vec<(Tensor, f64)> = Vec::new();
        // The first teacher's logits `[positions, choices]` for some positions of the batch,
        // when its forward pass runs anyway (intermediate losses).
        let first_logits = if c.tinybert {
            Some(self.tinybert_terms(&pass, &examples, collect, &mut terms)?)
        } else if intermediate {
            self.cosine_terms(&pass, batch, &mut terms)?
        } else {
            None
        };
        let prediction = !c.tinybert || epoch >= c.intermediate_epochs;
        if prediction {
            let answers: Vec<usize> = examples.iter().map(|e| e.answer).collect();
            if c.alpha < 1.0 {
                terms.push((cross_entropy(&logits, &answers)?, 1.0 - c.alpha));
            }
            if c.alpha > 0.0 {
                let first = first_logits.as_ref().map(|(p, l)| (p.as_slice(), l));
                let teacher = self.teacher_logits(batch, first)?;
                terms.push((soft_target_loss(&logits, &teacher, c.temperature)?, c.alpha));
            }
        }
        let mut loss: Option<Tensor> = None;
        for (t, w) in terms {
            let t = (t * w).map_err(model_err)?;
            loss = Some(match loss.take() {
                Some(l) => (l + t).map_err(model_err)?,
                None => t,
            });
        }
        loss.ok_or_else(|| Error::Invalid { field: "distill", message: "no loss selected".into() })
    }
}

/// The student's forward pass over a batch, as the intermediate losses read it.
struct StudentPass<'a> {
    model: &'a MultipleChoice,
    encoded: &'a crate::model::head::Encoded,
    out: &'a crate::model::bert::Outputs,
    choices: usize,
}

/// Teacher logits for some positions of a batch: (positions, `[positions, choices]`).
type FirstLogits = (Vec<usize>, Tensor);

impl Distill {
    /// The cosine loss alone: against the first teacher's last hidden states, kept from an
    /// earlier epoch or computed now for the questions not kept (no dropout); the teacher
    /// logits of the questions it ran on.
    fn cosine_terms(
        &self,
        pass: &StudentPass<'_>,
        batch: &[(usize, &Example)],
        terms: &mut Vec<(Tensor, f64)>,
    ) -> Result<Option<FirstLogits>> {
        let choices = pass.choices;
        let ids: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
        let mut hidden = self.hidden.lock().expect("hidden cache");
        let missing: Vec<usize> = (0..ids.len()).filter(|&p| !hidden.contains(ids[p])).collect();
        let mut fresh = HiddenCache::new(usize::MAX);
        let mut first_logits = None;
        if !missing.is_empty() {
            let teacher = &self.teachers[0];
            let sub: Vec<_> = missing.iter().map(|&p| batch[p].1.question()).collect();
            let t_encoded = teacher.encode_many(&sub)?;
            let (t_logits, t_out) = teacher.forward(&t_encoded, Collect::default(), false)?;
            self.passes.fetch_add(1, Ordering::Relaxed);
            let t_logits = t_logits.reshape((missing.len(), choices)).map_err(model_err)?;
            let sub_ids: Vec<usize> = missing.iter().map(|&p| ids[p]).collect();
            let (t_last, t_mask) = (&t_out.last_hidden_state, &t_encoded.batch.attention_mask);
            hidden.insert(&sub_ids, choices, t_last, t_mask)?;
            // What the budget left out is used for this step only.
            if !hidden.has_all(&sub_ids) {
                fresh.insert(&sub_ids, choices, t_last, t_mask)?;
            }
            first_logits = Some((missing, t_logits));
        }
        let mask = &pass.encoded.batch.attention_mask;
        let seq = mask.dim(1).map_err(model_err)?;
        let t_last = HiddenCache::assemble_from(&[&hidden, &fresh], &ids, seq)?;
        drop(hidden);
        let s_last = project(pass.model, &pass.out.last_hidden_state)?;
        terms.push((cosine_loss(&s_last, &t_last, mask)?, self.config.cosine));
        Ok(first_logits)
    }

    /// TinyBERT's losses against the first teacher's internals for the same inputs (no
    /// dropout), and the cosine loss when asked for; the teacher's logits for the batch.
    fn tinybert_terms(
        &self,
        pass: &StudentPass<'_>,
        examples: &[&Example],
        collect: Collect,
        terms: &mut Vec<(Tensor, f64)>,
    ) -> Result<FirstLogits> {
        let (out, mask) = (pass.out, &pass.encoded.batch.attention_mask);
        let teacher = &self.teachers[0];
        let questions: Vec<_> = examples.iter().map(|e| e.question()).collect();
        let t_encoded = teacher.encode_many(&questions)?;
        let (t_logits, t_out) = teacher.forward(&t_encoded, collect, false)?;
        self.passes.fetch_add(1, Ordering::Relaxed);
        let t_logits = t_logits.reshape((examples.len(), pass.choices)).map_err(model_err)?;
        let detach = |t: &Tensor| t.detach();
        if self.config.cosine > 0.0 {
            let s_last = project(pass.model, &out.last_hidden_state)?;
            let t_last = detach(&t_out.last_hidden_state);
            terms.push((cosine_loss(&s_last, &t_last, mask)?, self.config.cosine));
        }
        let map = layer_map(out.attention_probs.len(), t_out.attention_probs.len());
        let s0 = project(pass.model, &out.hidden_states[0])?;
        terms.push((hidden_mse(&s0, &detach(&t_out.hidden_states[0]), mask)?, 1.0));
        for (m, &g) in map.iter().enumerate() {
            let s_h = project(pass.model, &out.hidden_states[m + 1])?;
            terms.push((hidden_mse(&s_h, &detach(&t_out.hidden_states[g]), mask)?, 1.0));
            let ta = detach(&t_out.attention_scores[g - 1]);
            terms.push((attention_mse(&out.attention_scores[m], &ta, mask)?, 1.0));
        }
        Ok(((0..examples.len()).collect(), t_logits))
    }
}
