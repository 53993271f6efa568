//! Teacher hidden states kept between epochs: the first teacher's last hidden states per
//! training question (the cosine loss's targets), within a memory budget.
//!
//! A teacher runs without dropout, so its outputs for a question never change; keeping them
//! spares its forward pass from the second epoch on. Each choice's row is kept without its
//! padding (real tokens only, which are a prefix: inputs are padded on the right) and padded
//! again with zeros to the length of the batch it is used in. Padded positions never reach a
//! loss (the losses mask them), and a real token's hidden state does not depend on how much
//! padding follows it, so a kept row equals a recomputed one up to float rounding.
//! TinyBERT's targets (every layer's hidden states and attention scores) are about 40 times
//! larger and are not kept: they are recomputed at each step.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::train::error::{Error, Result};

fn model_err(e: candle_core::Error) -> Error {
    Error::Model(e.into())
}

/// Per training question, its choices' last hidden states (real tokens only), up to a
/// budget of bytes; questions beyond the budget are simply not kept.
#[derive(Debug)]
pub struct HiddenCache {
    /// Question index -> one `tokens × width` row per choice.
    rows: HashMap<usize, Vec<Vec<f32>>>,
    width: usize,
    bytes: usize,
    budget: usize,
}

impl HiddenCache {
    /// An empty cache that keeps at most `budget` bytes of hidden states (0: keeps nothing).
    pub fn new(budget: usize) -> Self {
        HiddenCache { rows: HashMap::new(), width: 0, bytes: 0, budget }
    }

    /// How many questions are kept.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no question is kept.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes of hidden states kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether every question in `ids` is kept.
    pub fn has_all(&self, ids: &[usize]) -> bool {
        ids.iter().all(|i| self.rows.contains_key(i))
    }

    /// Whether question `id` is kept.
    pub fn contains(&self, id: usize) -> bool {
        self.rows.contains_key(&id)
    }

    /// Keeps the questions `ids` of a batch, `choices` rows each in order, from `hidden`
    /// `[ids × choices, seq, width]` and its `attention_mask` `[ids × choices, seq]`, as long
    /// as they fit the budget; questions already kept are left as they are. A row padded
    /// anywhere but at its end is an error (kgqa's encoder pads on the right).
    pub fn insert(
        &mut self,
        ids: &[usize],
        choices: usize,
        hidden: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<()> {
        if self.bytes >= self.budget || self.has_all(ids) {
            return Ok(());
        }
        let (rows, seq, width) = hidden.dims3().map_err(model_err)?;
        if rows != ids.len() * choices {
            return Err(Error::Invalid {
                field: "hidden states",
                message: format!("{rows} rows for {} questions × {choices} choices", ids.len()),
            });
        }
        let mask = attention_mask.to_dtype(DType::F32).and_then(|m| m.to_vec2::<f32>());
        let mask = mask.map_err(model_err)?;
        let values = hidden.flatten_all().and_then(|h| h.to_vec1::<f32>()).map_err(model_err)?;
        self.width = width;
        for (q, &id) in ids.iter().enumerate() {
            if self.rows.contains_key(&id) {
                continue;
            }
            let mut kept = Vec::with_capacity(choices);
            for (r, row_mask) in mask.iter().enumerate().skip(q * choices).take(choices) {
                let tokens = row_mask.iter().take_while(|&&m| m > 0.5).count();
                if row_mask.iter().filter(|&&m| m > 0.5).count() != tokens {
                    return Err(Error::Invalid {
                        field: "hidden states",
                        message: format!("row {r} is not padded on the right"),
                    });
                }
                let start = r * seq * width;
                kept.push(values[start..start + tokens * width].to_vec());
            }
            let size: usize = kept.iter().map(|k| k.len() * 4).sum();
            if self.bytes + size > self.budget {
                return Ok(());
            }
            self.bytes += size;
            self.rows.insert(id, kept);
        }
        Ok(())
    }

    /// The kept rows of the questions `ids` as `[ids × choices, seq, width]`, each padded
    /// with zeros to `seq` positions. Every question must be kept ([`Self::has_all`]).
    pub fn assemble(&self, ids: &[usize], seq: usize) -> Result<Tensor> {
        Self::assemble_from(&[self], ids, seq)
    }

    /// [`Self::assemble`] with each question taken from the first of `caches` that keeps
    /// it (e.g. the run's cache and one holding the rows just computed).
    pub fn assemble_from(caches: &[&HiddenCache], ids: &[usize], seq: usize) -> Result<Tensor> {
        let width = caches.iter().map(|c| c.width).max().unwrap_or(0);
        let mut out = Vec::new();
        let mut rows = 0;
        for id in ids {
            let kept =
                caches.iter().find_map(|c| c.rows.get(id)).ok_or_else(|| Error::Invalid {
                    field: "hidden states",
                    message: format!("training question {id} is not cached"),
                })?;
            for row in kept {
                if row.len() > seq * width {
                    return Err(Error::Invalid {
                        field: "hidden states",
                        message: format!(
                            "a cached row of question {id} has {} tokens, the batch {seq}: \
                             teacher and student must share their tokenizer",
                            row.len() / width
                        ),
                    });
                }
                out.extend_from_slice(row);
                out.resize(out.len() + seq * width - row.len(), 0.0);
                rows += 1;
            }
        }
        Tensor::from_vec(out, (rows, seq, width), &Device::Cpu).map_err(model_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(values: Vec<f32>, shape: (usize, usize, usize)) -> Tensor {
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn rows_come_back_without_padding_then_padded_to_the_batch() {
        // Two questions × 2 choices, seq 3, width 2; row r has r + 1 real tokens (max 3).
        let hidden = tensor((0..24).map(|v| v as f32).collect(), (4, 3, 2));
        let mask = Tensor::new(&[[1u32, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]], &Device::Cpu);
        let mut cache = HiddenCache::new(1 << 20);
        cache.insert(&[7, 9], 2, &hidden, &mask.unwrap()).unwrap();
        assert_eq!((cache.len(), cache.bytes()), (2, (1 + 2 + 3 + 3) * 2 * 4));
        // Question 9 then 7, padded to 4 positions.
        let back = cache.assemble(&[9, 7], 4).unwrap().to_vec3::<f32>().unwrap();
        let z = [0.0, 0.0];
        assert_eq!(back[0], [[12., 13.], [14., 15.], [16., 17.], z]);
        assert_eq!(back[1], [[18., 19.], [20., 21.], [22., 23.], z]);
        assert_eq!(back[2], [[0., 1.], z, z, z]);
        assert_eq!(back[3], [[6., 7.], [8., 9.], z, z]);
        // Too short a batch for a kept row: an error, not a cut.
        assert!(cache.assemble(&[9], 2).is_err());
        assert!(cache.assemble(&[8], 4).is_err());
    }

    #[test]
    fn the_budget_is_never_exceeded() {
        let hidden = tensor(vec![1.0; 24], (4, 3, 2));
        let mask = Tensor::new(&[[1u32, 1, 1]; 4], &Device::Cpu).unwrap();
        // One question is 2 rows × 3 tokens × 2 floats × 4 bytes = 48 bytes.
        let mut cache = HiddenCache::new(60);
        cache.insert(&[0, 1], 2, &hidden, &mask).unwrap();
        assert_eq!((cache.len(), cache.bytes()), (1, 48));
        assert!(cache.has_all(&[0]) && !cache.has_all(&[0, 1]));
        let mut none = HiddenCache::new(0);
        none.insert(&[0, 1], 2, &hidden, &mask).unwrap();
        assert!(none.is_empty());
        // Rows that do not match the questions are refused, and so is left padding.
        assert!(HiddenCache::new(100).insert(&[0], 2, &hidden, &mask).is_err());
        let left = Tensor::new(&[[0u32, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]], &Device::Cpu);
        assert!(HiddenCache::new(1000).insert(&[0, 1], 2, &hidden, &left.unwrap()).is_err());
        // Two caches together: question 1 from the second one.
        let mut other = HiddenCache::new(1000);
        other.insert(&[0, 1], 2, &hidden, &mask).unwrap();
        let both = HiddenCache::assemble_from(&[&cache, &other], &[1, 0], 3).unwrap();
        assert_eq!(both.dims3().unwrap(), (4, 3, 2));
        assert!(HiddenCache::assemble_from(&[&cache], &[1], 3).is_err());
    }
}
