//! Evaluation: question sets and their formats (`dataset`, `formats`), batch scoring (the
//! one path from a question's knowledge to the model's scores for many questions, used by
//! training, distillation, `kgqa eval` and `kgqa bench`), each question scored alone with
//! its timings, paired comparisons and throughput (`bench`), the statistics accuracy
//! figures are reported with (Wilson intervals, the exact McNemar test) and the
//! benchmark's report (its JSON types, Markdown table and SVG plot).

pub mod batch;
pub mod bench;
pub mod dataset;
pub mod error;
pub mod formats;
pub mod report;
pub mod stats;
pub mod suite;

pub use error::{Error, Result};
