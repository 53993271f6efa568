//! The knowledge-graph layer: loading dumps into oxigraph, the IRI vocabulary, the
//! grounding lexicon and lemmatizer, and read-only SPARQL.

pub mod error;
pub mod ground;
pub mod lemma;
pub mod lexicon;
pub mod load;
pub mod query;
pub mod store;
pub mod vocab;

pub use error::{Error, Result};
pub use store::Graph;
