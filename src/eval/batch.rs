//! Batch scoring: a question with the knowledge its model reads ([`Example`], built by
//! [`crate::knowledge::Knowledge::model_inputs`]) and the one path from examples to the
//! model's scores ([`batch_logits`]), used by training, distillation, evaluation and the
//! benchmark.

use candle_core::{D, Tensor};
use serde::{Deserialize, Serialize};

use crate::eval::dataset::Item;
use crate::eval::error::{Error, Result};
use crate::knowledge::Knowledge;
use crate::model::fusion::{EntityMention, Fusion};
use crate::model::head::{MultipleChoice, Question};

/// Owned inputs of one question (what [`Question`] borrows).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The question text.
    pub question: String,
    /// The choice texts.
    pub choices: Vec<String>,
    /// Index of the correct choice.
    pub answer: usize,
    /// Input fusion: texts per choice.
    pub facts: Vec<Vec<String>>,
    /// Entity fusion: concept texts.
    pub concept_texts: Vec<String>,
    /// Entity fusion: mentions per choice.
    pub mentions: Vec<Vec<EntityMention>>,
}

impl Example {
    /// The example of `item` with the knowledge `fusion` needs (none without knowledge).
    pub fn new(item: &Item, knowledge: Option<&Knowledge>, fusion: Fusion) -> Option<Self> {
        let mut e = Example {
            question: item.question.clone(),
            choices: item.choices.clone(),
            answer: item.answer?,
            ..Example::default()
        };
        if let Some(k) = knowledge {
            let inputs = k.model_inputs(fusion);
            (e.facts, e.concept_texts, e.mentions) =
                (inputs.facts, inputs.concept_texts, inputs.mentions);
        }
        Some(e)
    }

    /// The borrowed view the model takes.
    pub fn question(&self) -> Question<'_> {
        Question {
            question: &self.question,
            passage: None,
            choices: &self.choices,
            facts: &self.facts,
            concept_texts: &self.concept_texts,
            mentions: &self.mentions,
        }
    }
}

/// `[questions, choices]` logits of a batch of examples with the same number of choices.
pub fn batch_logits(model: &MultipleChoice, batch: &[&Example], train: bool) -> Result<Tensor> {
    let questions: Vec<_> = batch.iter().map(|e| e.question()).collect();
    let choices = batch[0].choices.len();
    if batch.iter().any(|e| e.choices.len() != choices) {
        return Err(Error::Invalid {
            field: "choices",
            message: "questions of one batch must have the same number of choices".into(),
        });
    }
    let encoded = model.encode_many(&questions)?;
    let logits = model.logits(&encoded, train)?;
    Ok(logits.reshape((batch.len(), choices)).map_err(crate::model::Error::from)?)
}

/// Accuracy of `model` on `examples` (batches of `batch_size`, no dropout).
pub fn accuracy(model: &MultipleChoice, examples: &[Example], batch_size: usize) -> Result<f64> {
    let mut correct = 0usize;
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let logits = batch_logits(model, &refs, false)?;
        let best = logits.argmax(D::Minus1).and_then(|t| t.to_vec1::<u32>());
        let best = best.map_err(crate::model::Error::from)?;
        correct += chunk.iter().zip(best).filter(|(e, b)| e.answer == *b as usize).count();
    }
    Ok(correct as f64 / examples.len().max(1) as f64)
}

/// One question's prediction: what `kgqa eval --predictions` writes per line and
/// `scripts/compare-predictions.py` pairs up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The question's id.
    pub id: String,
    /// The gold answer's index.
    pub answer: usize,
    /// The chosen index.
    pub predicted: usize,
    /// The choices' probabilities.
    pub probabilities: Vec<f32>,
}

/// Each question scored alone (batch 1, as a user's question is): its prediction and its
/// model time in milliseconds.
pub fn predict(
    model: &MultipleChoice,
    items: &[Item],
    examples: &[Example],
) -> Result<Vec<(Prediction, f64)>> {
    let mut out = Vec::with_capacity(examples.len());
    for (item, e) in items.iter().zip(examples) {
        let t = std::time::Instant::now();
        let logits = batch_logits(model, &[e], false)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&logits)
            .and_then(|p| p.squeeze(0))
            .and_then(|p| p.to_vec1::<f32>())
            .map_err(crate::model::Error::from)?;
        let logits = logits.squeeze(0).and_then(|l| l.to_vec1::<f32>());
        let logits = logits.map_err(crate::model::Error::from)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        // The first of equal scores, as the model's argmax gives.
        let predicted = logits
            .iter()
            .enumerate()
            .fold(None, |best: Option<(usize, f32)>, (i, &l)| match best {
                Some((_, b)) if b >= l => best,
                _ => Some((i, l)),
            })
            .map_or(0, |(i, _)| i);
        let id = item.id.clone();
        out.push((Prediction { id, answer: e.answer, predicted, probabilities }, ms));
    }
    Ok(out)
}
