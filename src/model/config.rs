//! The BERT configuration, read from a Hugging Face `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::error::{Error, Result};

/// Hyper-parameters of a BERT-family encoder.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Config {
    /// Word-piece vocabulary size.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer (`gelu`, `gelu_new`, `relu`).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Dropout on hidden states (training only).
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f32,
    /// Dropout on attention probabilities (training only).
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f32,
    /// Longest sequence the position embeddings cover.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    /// Number of segment (token type) ids.
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` is supported.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// The architecture: `bert` (BERT-shaped checkpoints, MiniLM among them) or `mpnet`
    /// (relative position bias, RoBERTa-style positions, no segment embeddings; see
    /// [`crate::model::mpnet`]).
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// MPNet: buckets of the relative position bias.
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    /// The padding token's id (MPNet's positions start after it).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f32 {
    0.1
}
fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}
fn default_model_type() -> String {
    "bert".into()
}
fn default_buckets() -> usize {
    32
}

/// The encoder families the model core runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// BERT and BERT-shaped checkpoints (MiniLM, ...).
    Bert,
    /// MPNet (all-mpnet-base-v2).
    Mpnet,
}

impl Config {
    /// Reads `config.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let config: Config = serde_json::from_str(&text)
            .map_err(|source| Error::Config { path: path.to_path_buf(), source })?;
        config.check()?;
        Ok(config)
    }

    /// Checks what the encoder relies on.
    pub fn check(&self) -> Result<()> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(Error::Unsupported(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(Error::Unsupported(format!(
                "position_embedding_type {:?} (only \"absolute\")",
                self.position_embedding_type
            )));
        }
        if !matches!(self.hidden_act.as_str(), "gelu" | "gelu_new" | "relu") {
            return Err(Error::Unsupported(format!("hidden_act {:?}", self.hidden_act)));
        }
        if !matches!(self.model_type.as_str(), "bert" | "mpnet") {
            return Err(Error::Unsupported(format!(
                "model_type {:?} (\"bert\" or \"mpnet\")",
                self.model_type
            )));
        }
        if self.family() == Family::Mpnet && self.relative_attention_num_buckets < 4 {
            return Err(Error::Unsupported(format!(
                "relative_attention_num_buckets {} (at least 4)",
                self.relative_attention_num_buckets
            )));
        }
        Ok(())
    }

    /// The architecture `model_type` names.
    pub fn family(&self) -> Family {
        if self.model_type == "mpnet" { Family::Mpnet } else { Family::Bert }
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
