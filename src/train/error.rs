//! `train::Error`: what can go wrong in a training or distillation run.

use std::path::PathBuf;

/// A failure of training, distillation or their run folders.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model layer failed (loading, a forward or backward pass, saving).
    #[error(transparent)]
    Model(#[from] crate::model::Error),
    /// A dataset or facts file could not be read, or scoring it failed.
    #[error(transparent)]
    Data(#[from] crate::eval::Error),
    /// The graph failed (synonym variants for augmentation read it).
    #[error(transparent)]
    Graph(#[from] crate::kg::Error),
    /// A setting or input of the run cannot be used; `field` names it (`lr`, `teacher`,
    /// `choices`, ...).
    #[error("{field}: {message}")]
    Invalid {
        /// The setting or input.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A file of the run folder (`state.json`, a checkpoint's settings) is malformed;
    /// `line` is 1-based.
    #[error("{}:{line}: {message}", file.display())]
    RunFile {
        /// The file.
        file: PathBuf,
        /// The 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Results of the training layer.
pub type Result<T> = std::result::Result<T, Error>;
