//! Knowledge fusion settings and the entity-embedding path.
//!
//! Input fusion is plain text (facts appended to the choice segment, see
//! [`crate::model::head`]). Entity fusion adds, at the word pieces of each grounded mention,
//! the projection of its concepts' embeddings: `extra = A · (V Wᵀ + b)`, where `V` holds one
//! vector per concept (`[concepts, hidden]`), `W`/`b` is the learned `entity_projection`
//! and `A` (`[batch * seq, concepts]`) puts each mention's concepts, averaged, on its word
//! pieces. A concept's vector is the model's own mean-pooled encoding of its text (term and
//! definition, from the graph), computed without gradients.

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
}

impl Fusion {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
