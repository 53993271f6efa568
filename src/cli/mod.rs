//! Command-line types (clap) and dispatch; each subcommand has its own file.

mod ask;
mod augment;
mod average;
mod bench;
mod bench_report;
mod concept;
mod eval;
mod export;
mod load;
mod query;
mod retrieve;
mod serve;
mod train;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use kgqa::kg::Graph;

/// Knowledge-graph-augmented question answering.
#[derive(Parser, Debug)]
#[command(name = "kgqa", version, about)]
pub struct Args {
    /// The graph store folder (created by `kgqa load`), or the `http(s)://` URL of a
    /// SPARQL 1.1 endpoint that holds the graph (read-only; the grounding lexicon is
    /// fetched from it at start). Without it, the embedded default graph is used.
    #[arg(long, global = true, env = "KGQA_STORE")]
    pub store: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load graph dumps (RDF, ConceptNet 5 CSV, TSV triples, WordNet) into a store.
    Load(load::LoadArgs),
    /// Run a read-only SPARQL query (SELECT/ASK as a table or JSON, CONSTRUCT/DESCRIBE as N-Triples).
    Query(query::QueryArgs),
    /// Show the concepts a phrase grounds to and their neighbours.
    Concept(concept::ConceptArgs),
    /// Answer a question: ground, retrieve facts, score the choices (or propose candidates).
    Ask(ask::AskArgs),
    /// Serve the HTTP API (POST /ask, /health, /metrics, /sparql, /concept) and the web page.
    Serve(serve::ServeArgs),
    /// Compute the facts of every question of a dataset once (a cache for train/eval).
    Retrieve(retrieve::RetrieveArgs),
    /// Fine-tune a multiple-choice model (a teacher) on a CommonsenseQA-format set.
    Train(train::TrainArgs),
    /// Distil a smaller student from one or more teachers (soft targets, DistilBERT, TinyBERT).
    Distill(train::DistillArgs),
    /// Write a model folder again, optionally with half-precision weights (for shipping).
    Export(export::ExportArgs),
    /// Accuracy and per-question latency of a model on a CommonsenseQA-format set.
    Eval(eval::EvalArgs),
    /// Average the weights of several models of one shape (a model soup).
    Average(average::AverageArgs),
    /// Benchmark a model and graph on question sets (CommonsenseQA/OpenBookQA, PIQA,
    /// Social IQa, WinoGrande): accuracy, the graph's gain, latency, throughput, memory.
    Bench(bench::BenchArgs),
}

/// Runs the parsed command.
pub fn run(args: Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Load(a) => load::run(args.store.as_deref(), a),
        Command::Query(a) => query::run(args.store.as_deref(), a),
        Command::Concept(a) => concept::run(args.store.as_deref(), a),
        Command::Ask(a) => ask::run(args.store.as_deref(), a),
        Command::Serve(a) => serve::run(args.store.as_deref(), a),
        Command::Retrieve(a) => retrieve::run(args.store.as_deref(), a),
        Command::Train(a) => train::train(a),
        Command::Distill(a) => train::distill(args.store.as_deref(), a),
        Command::Eval(a) => eval::eval(a),
        Command::Export(a) => export::export(a),
        Command::Average(a) => average::run(a),
        Command::Bench(a) => bench::run(args.store.as_deref(), a),
    }
}

/// How long one request to a remote SPARQL endpoint may take.
const ENDPOINT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The endpoint URL `store` names, if it is one rather than a folder.
pub fn endpoint_url(store: &Path) -> Option<&str> {
    store.to_str().filter(|s| s.starts_with("http://") || s.starts_with("https://"))
}

/// Opens the store at `store` (a folder, or a SPARQL endpoint's URL), or the embedded
/// default graph when none is given.
pub fn open_graph(store: Option<&Path>) -> anyhow::Result<Graph> {
    match store {
        Some(url) if endpoint_url(url).is_some() => {
            let url = endpoint_url(url).expect("checked");
            Graph::remote(url, ENDPOINT_TIMEOUT).context("opening the remote graph")
        }
        Some(dir) => open_dir(dir),
        None => Graph::embedded().context("loading the embedded default graph"),
    }
}

#[cfg(feature = "rocksdb")]
fn open_dir(dir: &Path) -> anyhow::Result<Graph> {
    Ok(Graph::open(dir)?)
}

#[cfg(not(feature = "rocksdb"))]
fn open_dir(dir: &Path) -> anyhow::Result<Graph> {
    anyhow::bail!("{}: on-disk stores need the `rocksdb` feature", dir.display())
}
