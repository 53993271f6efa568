//! Training examples: a question with its choices, answer and cached knowledge, turned into
//! the model's inputs for the fusion the model uses.

use crate::engine::Knowledge;
use crate::engine::dataset::Item;
use crate::model::fusion::{EntityMention, Fusion};
use crate::model::head::Question;
use serde::{Deserialize, Serialize};

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
            if fusion.input {
                e.facts = k.fact_texts();
            }
            if fusion.entity {
                let (texts, mentions) = k.entity_inputs();
                e.concept_texts = texts;
                e.mentions = mentions;
            }
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

/// A permutation of `0..n` from `seed` (Fisher-Yates with splitmix64): the same seed gives
/// the same order on every machine.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed;
    for i in (1..n).rev() {
        let r = crate::model::rng::splitmix64(&mut state);
        let j = (r % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_seeded() {
        let a = permutation(100, 7);
        assert_eq!(a, permutation(100, 7));
        assert_ne!(a, permutation(100, 8));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
