//! The knowledge-graph layer: loading dumps into oxigraph, the IRI vocabulary, the
//! grounding lexicon and lemmatizer, and read-only SPARQL.

pub mod candidates;
pub mod endpoint;
pub mod error;
pub mod ground;
pub mod guard;
pub mod index;
pub mod lemma;
pub mod lexicon;
pub mod load;
pub mod neighbourhood;
pub mod paths;
pub mod query;
pub mod retrieve;
pub mod sense;
pub mod store;
pub mod text;
pub mod verbalize;
pub mod vocab;

pub use error::{Error, Result};
pub use store::Graph;
