//! The model layer's error type.

use std::path::PathBuf;

/// An error of the model layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shapes, dtypes, missing tensors in a checkpoint).
    #[error("tensor: {0}")]
    Candle(#[from] candle_core::Error),
    /// A model file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not a BERT configuration.
    #[error("{}: invalid config: {source}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A model that must match another one (to average them) does not: which, and how.
    #[error("{}: {message}", path.display())]
    Mismatch {
        /// The model folder that differs from the first.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// The configuration asks for something this encoder does not implement.
    #[error("unsupported configuration: {0}")]
    Unsupported(String),
}

/// The model layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
