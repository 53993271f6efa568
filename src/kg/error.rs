//! The knowledge-graph layer's error type: everything that can go wrong while loading,
//! storing and querying the graph.

use std::path::PathBuf;

/// An error of the knowledge-graph layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record of an input file is malformed; `line` is 1-based.
    #[error("{}:{line}: {message}", file.display())]
    Parse {
        /// The input file.
        file: PathBuf,
        /// The 1-based line of the bad record.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// An input file is malformed at a place that has no line number (e.g. RDF/XML).
    #[error("{}: {message}", file.display())]
    Invalid {
        /// The input file.
        file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The format of an input could not be told from its name.
    #[error("{}: cannot tell the format from the file name; pass --format (one of {known})", path.display())]
    UnknownFormat {
        /// The input.
        path: PathBuf,
        /// The format names `--format` accepts.
        known: &'static str,
    },
    /// A folder given as a WordNet database lacks its data files.
    #[error("{}: not a WordNet 3.0 database folder ({reason})", path.display())]
    NotWordNet {
        /// The folder.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// An input held no statements at all.
    #[error("{}: the file is empty, nothing to load", .0.display())]
    Empty(PathBuf),
    /// The store folder is not a kgqa store or is in an unexpected state.
    #[error("store {}: {message}", path.display())]
    Store {
        /// The store folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The underlying oxigraph storage failed.
    #[error("storage: {0}")]
    Storage(#[from] oxigraph::store::StorageError),
    /// A SPARQL query does not parse.
    #[error("SPARQL syntax error: {0}")]
    SparqlSyntax(#[from] oxigraph::sparql::SparqlSyntaxError),
    /// A SPARQL query failed while it ran.
    #[error("SPARQL evaluation: {0}")]
    SparqlEvaluation(#[from] oxigraph::sparql::QueryEvaluationError),
    /// A SPARQL update was given where only queries are allowed.
    #[error(
        "SPARQL updates are refused: the graph is read-only here (use `kgqa load` to add data)"
    )]
    UpdateRefused,
    /// A query's answer is larger than the caller allows.
    #[error("the answer has more than {0} results; add a LIMIT (or use `kgqa query`)")]
    TooManyResults(usize),
    /// A request the graph's kind cannot serve.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A query nests deeper than the parser may go.
    #[error("the query nests {depth} levels of brackets deep; at most {max} are allowed")]
    TooDeep {
        /// Its deepest nesting.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// A query was stopped before it finished (its caller's time limit).
    #[error("the query was stopped before it finished")]
    Cancelled,
    /// Results could not be written out.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
    /// A remote SPARQL endpoint failed or answered what is not SPARQL results.
    #[error("SPARQL endpoint {url}: {message}")]
    Endpoint {
        /// The endpoint's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A string that should be an IRI is not one.
    #[error("invalid IRI {iri:?}: {message}")]
    InvalidIri {
        /// The text.
        iri: String,
        /// Why it is not an IRI.
        message: String,
    },
}

/// The knowledge-graph layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
