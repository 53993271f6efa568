//! Knowledge fusion settings and the entity-embedding path.
//!
//! Input fusion is plain text (facts appended to the choice segment, see
//! [`crate::model::head`]). Entity fusion adds, at the word pieces of each grounded mention,
//! the projection of its concepts' embeddings: `extra = A · (V Wᵀ + b)`, where `V` holds one
//! vector per concept (`[concepts, hidden]`), `W`/`b` is the learned `entity_projection`
//! and `A` (`[batch * seq, concepts]`) puts each mention's concepts, averaged, on its word
//! pieces. A concept's vector is the model's own mean-pooled encoding of its text (term and
//! definition, from the graph), computed without gradients.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::error::Result;

/// Which fusions a model uses; part of `kgqa.json`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Fusion {
    /// Verbalized facts (and definitions) appended to the choice segment.
    #[serde(default)]
    pub input: bool,
    /// Concept embeddings added to the token embeddings of grounded mentions.
    #[serde(default)]
    pub entity: bool,
    /// Trained on curated knowledge (`kgqa retrieve --curated`): the engine retrieves the
    /// same way for it. Written only when on, so a `kgqa.json` without it means plain facts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub curated: bool,
}

impl Fusion {
    /// Whether a model with these fusions reads retrieved facts (input or entity fusion).
    pub fn reads_facts(&self) -> bool {
        self.input || self.entity
    }

    /// What a model reading either fusion's inputs needs: each flag of either.
    pub fn union(self, other: Fusion) -> Fusion {
        Fusion {
            input: self.input || other.input,
            entity: self.entity || other.entity,
            curated: self.curated || other.curated,
        }
    }

    /// A short name for tables: `none`, `input`, `entity` or `input+entity`.
    pub fn name(&self) -> &'static str {
        match (self.input, self.entity) {
            (false, false) => "none",
            (true, false) => "input",
            (false, true) => "entity",
            (true, true) => "input+entity",
        }
    }
}

/// Which text of a (question, choice) pair a mention is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segment {
    /// The question (without the passage).
    Question,
    /// The choice text.
    Choice,
}

/// A grounded mention to fuse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityMention {
    /// The text it is in.
    pub segment: Segment,
    /// Byte offset of its first character in that text.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// Rows of the concept matrix (indices into the question's concept texts).
    pub concepts: Vec<usize>,
}

/// A word piece's place in the input: which text (0 first, 1 second, `None` for special
/// tokens and padding) and its byte range there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceSpan {
    /// Sequence index in the pair.
    pub sequence: Option<usize>,
    /// Byte offset of the piece's start.
    pub start: usize,
    /// Byte offset of its end.
    pub end: usize,
}

/// The assignment matrix `A` (`[rows * seq, concepts]`, row-major): for each row of the
/// batch, every word piece that overlaps a mention gets `1 / k` on each of its `k`
/// concepts. `shifts[row]` is where the question starts in the row's first text (after a
/// passage).
pub fn assignment(
    pieces: &[Vec<PieceSpan>],
    mentions: &[Vec<EntityMention>],
    concepts: usize,
    shifts: &[usize],
    device: &Device,
) -> Result<Tensor> {
    let seq = pieces.first().map_or(0, Vec::len);
    let mut a = vec![0f32; pieces.len() * seq * concepts];
    for (row, (spans, row_mentions)) in pieces.iter().zip(mentions).enumerate() {
        let shift = shifts.get(row).copied().unwrap_or(0);
        for m in row_mentions {
            if m.concepts.is_empty() {
                continue;
            }
            let (sequence, start, end) = match m.segment {
                Segment::Question => (0, m.start + shift, m.end + shift),
                Segment::Choice => (1, m.start, m.end),
            };
            let share = 1.0 / m.concepts.len() as f32;
            for (position, p) in spans.iter().enumerate() {
                if p.sequence == Some(sequence) && p.start < end && start < p.end {
                    let base = (row * seq + position) * concepts;
                    for &c in &m.concepts {
                        if c < concepts {
                            a[base + c] = share;
                        }
                    }
                }
            }
        }
    }
    Ok(Tensor::from_vec(a, (pieces.len() * seq, concepts), device)?)
}

/// Concept vectors by text, for a model whose weights no longer change (a concept's vector
/// does not depend on the question, so a frozen model encodes each text once). Holds at
/// most `capacity` vectors and starts over when full.
pub struct ConceptCache {
    vectors: Mutex<HashMap<String, Tensor>>,
    capacity: usize,
}

impl ConceptCache {
    /// An empty cache for up to `capacity` vectors.
    pub fn new(capacity: usize) -> Self {
        ConceptCache { vectors: Mutex::new(HashMap::new()), capacity }
    }

    /// Number of vectors held.
    pub fn len(&self) -> usize {
        self.vectors.lock().map_or(0, |v| v.len())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `[texts, hidden]` vectors of `texts`: cached rows, and `encode` (one call, on the
    /// distinct texts not cached yet) for the rest. The lock is not held while encoding.
    pub fn get_or_encode(
        &self,
        texts: &[String],
        encode: impl FnOnce(&[String]) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let mut missing: Vec<String> = {
            let held = self.vectors.lock().unwrap_or_else(|e| e.into_inner());
            texts.iter().filter(|t| !held.contains_key(*t)).cloned().collect()
        };
        missing.sort();
        missing.dedup();
        let mut fresh: HashMap<&str, Tensor> = HashMap::with_capacity(missing.len());
        if !missing.is_empty() {
            let encoded = encode(&missing)?;
            for (i, t) in missing.iter().enumerate() {
                fresh.insert(t, encoded.get(i)?);
            }
        }
        let mut held = self.vectors.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows = Vec::with_capacity(texts.len());
        for t in texts {
            match fresh.get(t.as_str()).or_else(|| held.get(t)) {
                Some(v) => rows.push(v.clone()),
                None => unreachable!("every text is cached or was just encoded"),
            }
        }
        if held.len() + fresh.len() > self.capacity {
            held.clear();
        }
        for (t, v) in fresh {
            held.insert(t.to_owned(), v);
        }
        Ok(Tensor::stack(&rows, 0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concept_cache_encodes_each_text_once() {
        // A stand-in encoder: row i of a call is [len(text), call number].
        let calls = std::cell::Cell::new(0f32);
        let encode = |texts: &[String]| -> Result<Tensor> {
            calls.set(calls.get() + 1.0);
            let v: Vec<f32> = texts.iter().flat_map(|t| [t.len() as f32, calls.get()]).collect();
            Ok(Tensor::from_vec(v, (texts.len(), 2), &Device::Cpu)?)
        };
        let cache = ConceptCache::new(3);
        let texts = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let first = cache.get_or_encode(&texts(&["ab", "c", "ab"]), encode).unwrap();
        assert_eq!(first.to_vec2::<f32>().unwrap(), [[2.0, 1.0], [1.0, 1.0], [2.0, 1.0]]);
        assert_eq!(cache.len(), 2);
        // "ab" comes from the first call, only "dddd" is encoded.
        let second = cache.get_or_encode(&texts(&["dddd", "ab"]), encode).unwrap();
        assert_eq!(second.to_vec2::<f32>().unwrap(), [[4.0, 2.0], [2.0, 1.0]]);
        assert_eq!(calls.get(), 2.0);
        // Everything cached: no call.
        cache.get_or_encode(&texts(&["c", "dddd"]), encode).unwrap();
        assert_eq!(calls.get(), 2.0);
        // Over capacity: starts over with the new vectors.
        cache.get_or_encode(&texts(&["eeeee"]), encode).unwrap();
        assert_eq!((cache.len(), calls.get()), (1, 3.0));
    }

    #[test]
    fn assignment_marks_exactly_the_overlapping_pieces() {
        // [CLS] we dug [SEP] tro ##wel [SEP]
        let p = |sequence, start, end| PieceSpan { sequence, start, end };
        let pieces = vec![vec![
            p(None, 0, 0),
            p(Some(0), 0, 2),
            p(Some(0), 3, 6),
            p(None, 0, 0),
            p(Some(1), 0, 3),
            p(Some(1), 3, 6),
            p(None, 0, 0),
        ]];
        let mentions = vec![vec![
            EntityMention { segment: Segment::Question, start: 3, end: 6, concepts: vec![0] },
            EntityMention { segment: Segment::Choice, start: 0, end: 6, concepts: vec![1, 2] },
        ]];
        let a = assignment(&pieces, &mentions, 3, &[0], &Device::Cpu).unwrap();
        let rows = a.to_vec2::<f32>().unwrap();
        let expected = [
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.5, 0.5],
            [0.0, 0.5, 0.5],
            [0.0, 0.0, 0.0],
        ];
        assert_eq!(rows, expected);
    }

    #[test]
    fn curated_is_written_only_when_on() {
        let plain = Fusion { input: true, entity: false, curated: false };
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#"{"input":true,"entity":false}"#);
        let curated = Fusion { curated: true, ..plain };
        let text = serde_json::to_string(&curated).unwrap();
        assert_eq!(serde_json::from_str::<Fusion>(&text).unwrap(), curated);
        assert_eq!(serde_json::from_str::<Fusion>(r#"{"input":true}"#).unwrap(), plain);
    }

    #[test]
    fn union_keeps_each_flag_of_either() {
        let input = Fusion { input: true, entity: false, curated: true };
        let entity = Fusion { input: false, entity: true, curated: false };
        assert_eq!(input.union(entity), Fusion { input: true, entity: true, curated: true });
        assert_eq!(Fusion::default().union(entity), entity);
    }
}
