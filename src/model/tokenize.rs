//! Tokenization with the `tokenizers` crate from a model folder's `tokenizer.json`:
//! `[CLS] question [SEP] choice ; facts [SEP]` pairs (MPNet: `<s> A </s></s> B </s>`, as its
//! tokenizer's post-processor writes them), truncating the second segment first.

use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams, TruncationStrategy};

use crate::model::error::{Error, Result};
use crate::model::fusion::PieceSpan;

/// A batch of encoded pairs as `[batch, seq]` u32 tensors.
#[derive(Debug)]
pub struct Batch {
    /// Word-piece ids.
    pub input_ids: Tensor,
    /// Segment ids (0 for the first text, 1 for the second).
    pub token_type_ids: Tensor,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// Where each word piece comes from, per row (entity fusion maps mentions with it).
    pub pieces: Vec<Vec<PieceSpan>>,
}

/// Encodes text pairs for a BERT model.
pub struct PairEncoder {
    tokenizer: Tokenizer,
    single: Tokenizer,
}

/// Longest single text [`PairEncoder::encode_single`] keeps, in word pieces.
pub const SINGLE_MAX_LENGTH: usize = 64;

impl PairEncoder {
    /// Reads `tokenizer.json` and sets truncation (`only_second`, then longest-first if the
    /// first text alone is too long) to `max_length` and padding to the longest pair.
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| Error::Mismatch {
            path: path.to_path_buf(),
            message: format!("cannot read the tokenizer: {e}"),
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::OnlySecond,
                ..Default::default()
            }))
            .map_err(Error::Tokenizer)?;
        // Pad with the model's own padding token (BERT's `[PAD]` 0, MPNet's `<pad>` 1).
        let (pad_id, pad_token) = match tokenizer.get_padding() {
            Some(p) => (p.pad_id, p.pad_token.clone()),
            None => ["[PAD]", "<pad>"]
                .into_iter()
                .find_map(|t| tokenizer.token_to_id(t).map(|id| (id, t.to_owned())))
                .unwrap_or((0, "[PAD]".to_owned())),
        };
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..Default::default()
        }));
        let mut single = tokenizer.clone();
        single
            .with_truncation(Some(TruncationParams {
                max_length: SINGLE_MAX_LENGTH,
                strategy: TruncationStrategy::LongestFirst,
                ..Default::default()
            }))
            .map_err(Error::Tokenizer)?;
        Ok(PairEncoder { tokenizer, single })
    }

    /// Encodes single texts (`[CLS] text [SEP]`, at most [`SINGLE_MAX_LENGTH`] pieces).
    pub fn encode_single(&self, texts: &[String], device: &Device) -> Result<Batch> {
        let inputs: Vec<tokenizers::EncodeInput<'_>> =
            texts.iter().map(|t| t.as_str().into()).collect();
        let encodings = self.single.encode_batch(inputs, true).map_err(Error::Tokenizer)?;
        batch(&encodings, device)
    }

    /// Encodes `(first, second)` pairs into one padded batch.
    pub fn encode(&self, pairs: &[(String, String)], device: &Device) -> Result<Batch> {
        let inputs: Vec<tokenizers::EncodeInput<'_>> =
            pairs.iter().map(|(a, b)| (a.as_str(), b.as_str()).into()).collect();
        let encodings = match self.tokenizer.encode_batch(inputs.clone(), true) {
            Ok(e) => e,
            // The first text alone is over the limit: cut both, longest first.
            Err(_) => {
                let mut t = self.tokenizer.clone();
                let max_length = t.get_truncation().map_or(512, |p| p.max_length);
                t.with_truncation(Some(TruncationParams {
                    max_length,
                    strategy: TruncationStrategy::LongestFirst,
                    ..Default::default()
                }))
                .map_err(Error::Tokenizer)?;
                t.encode_batch(inputs, true).map_err(Error::Tokenizer)?
            }
        };
        batch(&encodings, device)
    }
}

/// Turns encodings (already padded to one length) into a [`Batch`].
fn batch(encodings: &[tokenizers::Encoding], device: &Device) -> Result<Batch> {
    let rows = encodings.len();
    let seq = encodings.first().map_or(0, |e| e.get_ids().len());
    let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
        encodings.iter().flat_map(|e| f(e).iter().copied()).collect()
    };
    let pieces = encodings
        .iter()
        .map(|e| {
            e.get_sequence_ids()
                .into_iter()
                .zip(e.get_offsets())
                .map(|(sequence, &(start, end))| PieceSpan { sequence, start, end })
                .collect()
        })
        .collect();
    Ok(Batch {
        pieces,
        input_ids: Tensor::from_vec(flat(&|e| e.get_ids()), (rows, seq), device)?,
        token_type_ids: Tensor::from_vec(flat(&|e| e.get_type_ids()), (rows, seq), device)?,
        attention_mask: Tensor::from_vec(flat(&|e| e.get_attention_mask()), (rows, seq), device)?,
    })
}
