//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cli;
pub mod server;
pub mod training;

use std::path::{Path, PathBuf};

use kgqa::kg::Graph;
use kgqa::kg::load::{Languages, LoadOptions};
use kgqa::kg::query::{self, Answer};

/// Whether the real-data tier runs (`KGQA_REAL_DATA=1`: it reads `../shared/` and the
/// fetched base models).
pub fn enabled() -> bool {
    std::env::var("KGQA_REAL_DATA").is_ok_and(|v| v == "1")
}

/// Seed questions with their choices, answered through local and remote graphs alike.
pub const QUESTIONS: [(&str, &[&str]); 3] = [
    (
        "We dug the ground to plant flowers. What did we dig with?",
        &["trowel", "excavator", "spoon"],
    ),
    (
        "We dug the ground to build a house. What did we dig with?",
        &["trowel", "excavator", "spoon"],
    ),
    ("Where would you keep milk cold?", &["refrigerator", "oven", "desert"]),
];

/// An answer's JSON without its `timings` (which differ from run to run).
pub fn without_timings(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v.as_object_mut().unwrap().remove("timings");
    v
}

/// A project test fixture.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// Default load options (abort on bad input, English only, no progress bar).
pub fn options() -> LoadOptions {
    LoadOptions {
        format: None,
        languages: Languages::parse("en"),
        skip_invalid: false,
        dataset: None,
        progress: false,
    }
}

/// Runs an ASK query.
pub fn ask(graph: &Graph, sparql: &str) -> bool {
    match query::run(graph, sparql).expect("query runs") {
        Answer::Boolean(b) => b,
        other => panic!("not an ASK answer: {other:?}"),
    }
}

/// Runs a SELECT query returning one number in its first column.
pub fn count(graph: &Graph, sparql: &str) -> u64 {
    match query::run(graph, sparql).expect("query runs") {
        Answer::Solutions { rows, .. } => match &rows[0][0] {
            Some(oxigraph::model::Term::Literal(l)) => l.value().parse().expect("a number"),
            other => panic!("not a number: {other:?}"),
        },
        other => panic!("not a SELECT answer: {other:?}"),
    }
}

/// Every statement of a graph as sorted N-Quads lines: the exact contents.
pub fn snapshot(graph: &Graph) -> Vec<String> {
    let mut lines: Vec<String> =
        graph.store().unwrap().iter().map(|q| q.expect("readable").to_string()).collect();
    lines.sort();
    lines
}

/// Flips bytes through the middle of every RocksDB table file (`*.sst`) of the generation
/// folder `generation`, as a disk fault would; how many files it damaged.
pub fn damage_tables(generation: &Path) -> usize {
    let mut tables = 0;
    for entry in std::fs::read_dir(generation).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sst") {
            let mut bytes = std::fs::read(&path).unwrap();
            let end = bytes.len() * 3 / 4;
            for i in (bytes.len() / 8..end).step_by(16) {
                bytes[i] ^= 0x5a;
            }
            std::fs::write(&path, bytes).unwrap();
            tables += 1;
        }
    }
    tables
}
