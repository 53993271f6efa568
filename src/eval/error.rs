//! `eval::Error`: what can go wrong reading question sets and facts files or scoring them.

use std::path::PathBuf;

/// A failure of the evaluation layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The knowledge-graph layer failed (retrieving facts for a question set).
    #[error(transparent)]
    Graph(#[from] crate::kg::Error),
    /// The graph a set's facts are retrieved from could not be opened (the caller's
    /// message, with its causes).
    #[error("{0}")]
    OpenGraph(String),
    /// The model layer failed (a forward pass).
    #[error(transparent)]
    Model(#[from] crate::model::Error),
    /// A dataset or facts file is malformed; `line` is 1-based.
    #[error("{}:{line}: {message}", file.display())]
    Dataset {
        /// The file.
        file: PathBuf,
        /// The 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// An input cannot be scored as given; `field` names it (`choices`, ...).
    #[error("{field}: {message}")]
    Invalid {
        /// The input.
        field: &'static str,
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

/// Results of the evaluation layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
