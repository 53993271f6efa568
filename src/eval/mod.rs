//! Evaluation: batch scoring (each question alone with its timings, paired comparisons,
//! throughput), the statistics accuracy figures are reported with (Wilson intervals, the
//! exact McNemar test) and the benchmark's report (its JSON types, Markdown table and SVG
//! plot), used by `kgqa eval` and `kgqa bench`.

pub mod bench;
pub mod report;
pub mod stats;
