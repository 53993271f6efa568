//! kgqa: knowledge-graph-augmented question answering with small distilled models.
//!
//! The knowledge graph ([`kg`]) is an oxigraph store of ConceptNet-style concepts and
//! relations with a grounding lexicon; see `ARCHITECTURE.md` for the map of the crate.

pub mod alloc;
pub mod engine;
pub mod eval;
pub mod kg;
pub mod knowledge;
pub mod model;
pub mod server;
pub mod train;
