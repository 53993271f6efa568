//! What MPNet adds to the BERT encoder (`bert.rs` runs both): a relative
//! position bias shared by all layers and added to every layer's attention scores,
//! positions counted after the padding id as in RoBERTa, and its tensor names.
//!
//! Reference: Hugging Face `transformers/models/mpnet/modeling_mpnet.py`
//! (`MPNetEncoder.compute_position_bias`, `relative_position_bucket`,
//! `create_position_ids_from_input_ids`).

use candle_core::{Device, Tensor};
use candle_nn::{Embedding, Module};

use crate::model::error::Result;

/// The farthest distance the buckets tell apart; farther ones share the last bucket.
const MAX_DISTANCE: f32 = 128.0;

/// The bucket of the relative position `memory - context` (bidirectional: half the
/// buckets for keys before the query, half for keys after; within each half, exact
/// buckets for small distances and logarithmic ones up to [`MAX_DISTANCE`]). Computed in
/// f32 as the reference does, so that boundary distances land in the same bucket.
pub fn bucket(relative: i64, buckets: usize) -> usize {
    let half = (buckets / 2) as i64;
    let n = -relative;
    let mut ret = if n < 0 { half } else { 0 };
    let n = n.abs();
    let max_exact = half / 2;
    if n < max_exact {
        ret += n;
    } else {
        let scaled = (n as f32 / max_exact as f32).ln() / (MAX_DISTANCE / max_exact as f32).ln()
            * (half - max_exact) as f32;
        ret += (max_exact + scaled as i64).min(half - 1);
    }
    ret as usize
}

/// The additive attention bias `[heads, seq, seq]` of a sequence length, from the shared
/// `[buckets, heads]` table (differentiable in the table).
pub fn position_bias(table: &Embedding, seq: usize, device: &Device) -> Result<Tensor> {
    let buckets = table.embeddings().dim(0)?;
    let ids: Vec<u32> = (0..seq as i64)
        .flat_map(|i| (0..seq as i64).map(move |j| bucket(j - i, buckets) as u32))
        .collect();
    let ids = Tensor::from_vec(ids, (seq, seq), device)?;
    // [seq, seq, heads] -> [heads, seq, seq]
    Ok(table.forward(&ids)?.permute((2, 0, 1))?.contiguous()?)
}

/// Position ids as MPNet counts them: real tokens `pad + 1, pad + 2, ...` in order,
/// padding at `pad` (`[batch, seq]`, u32), from the 0/1 attention mask.
pub fn position_ids(attention_mask: &Tensor, pad: u32) -> Result<Tensor> {
    let (batch, seq) = attention_mask.dims2()?;
    let mask = attention_mask.to_dtype(candle_core::DType::U32)?.flatten_all()?.to_vec1::<u32>()?;
    let mut ids = Vec::with_capacity(mask.len());
    for row in mask.chunks(seq.max(1)) {
        let mut count = 0;
        ids.extend(row.iter().map(|&m| {
            count += m.min(1);
            if m > 0 { pad + count } else { pad }
        }));
    }
    Ok(Tensor::from_vec(ids, (batch, seq), attention_mask.device())?)
}

/// Checkpoint names of one layer's attention tensors, for BERT and MPNet: query, key,
/// value, output projection and the layer norm after attention.
pub fn attention_names(mpnet: bool) -> [&'static str; 5] {
    if mpnet {
        ["attn.q", "attn.k", "attn.v", "attn.o", "LayerNorm"]
    } else {
        ["self.query", "self.key", "self.value", "output.dense", "output.LayerNorm"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets of the reference (`relative_position_bucket`, 32 buckets, distance 128)
    /// at the distances where they change.
    #[test]
    fn buckets_match_the_reference() {
        for (relative, expected) in [
            (0, 0),
            (-1, 1),
            (-7, 7),
            (-8, 8),
            (-11, 8),
            (-12, 9),
            (-16, 10),
            (-127, 15),
            (-1000, 15),
            (1, 17),
            (7, 23),
            (8, 24),
            (16, 26),
            (128, 31),
        ] {
            assert_eq!(bucket(relative, 32), expected, "relative position {relative}");
        }
    }

    #[test]
    fn positions_start_after_the_padding_id() {
        let mask = Tensor::new(&[[1u32, 1, 1, 0], [1, 1, 0, 0]], &Device::Cpu).unwrap();
        let ids = position_ids(&mask, 1).unwrap().to_vec2::<u32>().unwrap();
        assert_eq!(ids, vec![vec![2, 3, 4, 1], vec![2, 3, 1, 1]]);
    }
}
