//! The engine layer's error type.

/// An error of the engine: from the graph, the model, or the request itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The knowledge-graph layer failed.
    #[error(transparent)]
    Graph(#[from] crate::kg::Error),
    /// The model layer failed.
    #[error(transparent)]
    Model(#[from] crate::model::Error),
    /// The request is not one the engine can answer; `field` names the offending input.
    #[error("{field}: {message}")]
    Request {
        /// The request field (`question`, `choices`, ...).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The question's deadline ([`super::Deadline`]) passed; it was given up before `stage`.
    #[error("the time limit passed before {stage}; the question was given up")]
    TimedOut {
        /// The stage it did not start.
        stage: &'static str,
    },
}

/// The engine layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
