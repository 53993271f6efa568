//! Training examples: a question with its choices, answer and cached knowledge, turned into
//! the model's inputs for the fusion the model uses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::eval::batch::Example;
use crate::eval::dataset::{self, Item, Split};
use crate::knowledge::Knowledge;
use crate::model::fusion::Fusion;
use crate::train::error::{Error, Result};

/// Where a run's questions come from: a CommonsenseQA-format file, the id list of its
/// split, the retrieval cache of its facts, and a limit (quick runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DataSpec {
    /// A CommonsenseQA-format JSONL file.
    pub dataset: PathBuf,
    /// Question ids: training reads the listed ones, evaluation the others.
    pub ids: Option<PathBuf>,
    /// The retrieval cache (`kgqa retrieve`), needed by models that read facts.
    pub facts: Option<PathBuf>,
    /// Only the first N questions.
    pub limit: Option<usize>,
}

impl DataSpec {
    /// The questions in `split` of the id list (all without one), at most `limit`.
    pub fn items(&self, split: Split) -> Result<Vec<Item>> {
        let items = dataset::read_csqa(&self.dataset)?;
        let mut items = match &self.ids {
            Some(ids) => dataset::select(items, &dataset::read_ids(ids)?, split),
            None => items,
        };
        if let Some(n) = self.limit {
            items.truncate(n);
        }
        Ok(items)
    }

    /// `items` as training examples, with their facts when `fusion` reads them.
    pub fn examples(&self, items: &[Item], fusion: Fusion) -> Result<Vec<Example>> {
        let invalid = |field, message| Error::Invalid { field, message };
        let facts: HashMap<String, Knowledge> = match (&self.facts, fusion.reads_facts()) {
            (Some(path), true) => dataset::read_facts(path)?,
            (None, true) => {
                let message = format!(
                    "a model with {} fusion reads retrieved facts; give the cache \
                     `kgqa retrieve --out FACTS.jsonl` writes",
                    fusion.name()
                );
                return Err(invalid("facts", message));
            }
            _ => HashMap::new(),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let knowledge = facts.get(&item.id);
            if let (Some(path), None, true) = (&self.facts, knowledge, fusion.reads_facts()) {
                let message = format!("{}: no facts for question {:?}", path.display(), item.id);
                return Err(invalid("facts", message));
            }
            let example = Example::new(item, knowledge, fusion)
                .ok_or_else(|| invalid("answerKey", format!("question {:?} has none", item.id)))?;
            out.push(example);
        }
        Ok(out)
    }

    /// The questions of `path` (e.g. `--transfer`) with their facts (from `facts`, else
    /// this spec's), each with whether the teachers' choice becomes its answer (it has no
    /// `answerKey`). Each must have `choices` choices, as the training questions do: a
    /// batch holds one count.
    pub fn unlabelled(
        &self,
        path: &Path,
        facts: Option<&Path>,
        fusion: Fusion,
        choices: usize,
    ) -> Result<Vec<(Example, bool)>> {
        let mut items = dataset::read_csqa(path)?;
        if let Some(odd) = items.iter().find(|i| i.choices.len() != choices) {
            let message = format!(
                "{}: question {:?} has {} choices, the training questions {choices} (a batch \
                 holds questions with one number of choices)",
                path.display(),
                odd.id,
                odd.choices.len()
            );
            return Err(Error::Invalid { field: "transfer", message });
        }
        let unlabelled: Vec<bool> = items.iter().map(|i| i.answer.is_none()).collect();
        for item in &mut items {
            // A placeholder the teachers' argmax replaces (labelling).
            item.answer.get_or_insert(0);
        }
        let spec = DataSpec {
            dataset: path.to_owned(),
            ids: None,
            facts: facts.map(Path::to_owned).or_else(|| self.facts.clone()),
            limit: None,
        };
        Ok(spec.examples(&items, fusion)?.into_iter().zip(unlabelled).collect())
    }
}

/// The training questions and the held-out slice (at most a fifth of all): a fixed,
/// seed-independent split, the same for any list of one value per question, so lists
/// stay aligned.
pub fn split_held_out<T: Clone>(all: Vec<T>, held_out: usize) -> (Vec<T>, Vec<T>) {
    let order = permutation(all.len(), 0x5EED);
    let held = held_out.min(all.len() / 5);
    let held_out: Vec<T> = order[..held].iter().map(|&i| all[i].clone()).collect();
    let train_set: Vec<T> = order[held..].iter().map(|&i| all[i].clone()).collect();
    (train_set, held_out)
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
