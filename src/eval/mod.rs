//! Evaluation: the statistics accuracy figures are reported with (Wilson intervals, the
//! exact McNemar test for paired comparisons) and the benchmark's report (its JSON types,
//! Markdown table and SVG plot), used by `kgqa eval`, `kgqa bench` and training's
//! held-out evaluations.

pub mod report;
pub mod stats;
