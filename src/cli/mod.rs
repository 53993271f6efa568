//! Command-line types (clap) and dispatch; each subcommand has its own file.

mod ask;
mod average;
mod bench;
mod concept;
mod data;
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
use kgqa::model::kernels::Precision;

/// Knowledge-graph-augmented question answering.
#[derive(Parser, Debug)]
#[command(name = "kgqa", version, about)]
pub struct Args {
    #[command(flatten)]
    pub graph: GraphArgs,

    /// Precision of the model's matrix products when answering (ask, serve, eval, bench):
    /// `auto` (int8 where the CPU has AVX-512 VNNI, else f32), `f32` or `int8`. Training
    /// and distillation always run f32.
    #[arg(long, global = true, env = "KGQA_PRECISION", default_value = "auto",
          value_parser = parse_precision)]
    pub precision: Precision,

    #[command(subcommand)]
    pub command: Command,
}

/// Which graph a command works on (global options).
#[derive(clap::Args, Debug, Clone)]
pub struct GraphArgs {
    /// The graph store folder (created by `kgqa load`), or the `http(s)://` URL of a
    /// SPARQL 1.1 endpoint that holds the graph (read-only). Without it, the embedded
    /// default graph is used.
    #[arg(long, global = true, env = "KGQA_STORE")]
    pub store: Option<PathBuf>,
    /// With an endpoint as `--store`: the grounding lexicon file (`form<TAB>iri...`, as a
    /// store's `lexicon-N.tsv`). Read when it exists; else fetched from the endpoint (a
    /// scan of its labels and concepts, minutes for large graphs) and written there.
    /// Without it the lexicon is fetched at every start.
    #[arg(long, global = true, env = "KGQA_LEXICON")]
    pub lexicon: Option<PathBuf>,
    /// With an endpoint as `--store`: seconds one request to it may take.
    #[arg(long, global = true, default_value_t = 60.0)]
    pub endpoint_timeout: f64,
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
    Distill(Box<train::DistillArgs>),
    /// Write a model folder again, optionally with half-precision weights (for shipping).
    Export(export::ExportArgs),
    /// Accuracy and per-question latency of a model on a CommonsenseQA-format set.
    Eval(eval::EvalArgs),
    /// Average the weights of several models of one shape (a model soup).
    Average(average::AverageArgs),
    /// Benchmark a model and graph on question sets (CommonsenseQA/OpenBookQA, PIQA,
    /// Social IQa, WinoGrande): accuracy, the graph's gain, latency, throughput, memory.
    Bench(bench::BenchArgs),
    /// Internal: answers one /sparql query for `kgqa serve` in a process of its own.
    #[command(hide = true)]
    SparqlWorker(serve::WorkerArgs),
}

impl Command {
    /// `serve` and its query workers: long-running processes that must give memory back
    /// after a burst, unlike batch work (training, evaluation), which keeps it for speed.
    pub fn is_server(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::SparqlWorker(_))
    }
}

/// Runs the parsed command.
pub fn run(args: Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Load(a) => load::run(&args.graph, a),
        Command::Query(a) => query::run(&args.graph, a),
        Command::Concept(a) => concept::run(&args.graph, a),
        Command::Ask(a) => ask::run(&args.graph, a, args.precision),
        Command::Serve(a) => serve::run(&args.graph, a, args.precision),
        Command::Retrieve(a) => retrieve::run(&args.graph, a),
        Command::Train(a) => train::train(a),
        Command::Distill(a) => train::distill(&args.graph, a),
        Command::Eval(a) => eval::eval(a, args.precision),
        Command::Export(a) => export::export(a),
        Command::Average(a) => average::run(a),
        Command::Bench(a) => bench::run(&args.graph, a, args.precision),
        Command::SparqlWorker(a) => serve::worker(&args.graph, a),
    }
}

fn parse_precision(s: &str) -> Result<Precision, String> {
    Precision::parse(s).ok_or_else(|| format!("{s:?}: expected auto, f32 or int8"))
}

/// The endpoint URL `store` names, if it is one rather than a folder.
pub fn endpoint_url(store: &Path) -> Option<&str> {
    store.to_str().filter(|s| s.starts_with("http://") || s.starts_with("https://"))
}

/// Opens the graph `graph` names: a store folder, an endpoint's URL (with its lexicon from
/// `--lexicon` when given), or the embedded default graph when none is given.
pub fn open_graph(graph: &GraphArgs) -> anyhow::Result<Graph> {
    if graph.lexicon.is_some() && graph.store.as_deref().and_then(endpoint_url).is_none() {
        anyhow::bail!(
            "--lexicon goes with an endpoint URL as --store (a store folder keeps its own)"
        );
    }
    match graph.store.as_deref() {
        Some(url) if endpoint_url(url).is_some() => {
            let url = endpoint_url(url).expect("checked");
            let lexicon = graph.lexicon.as_deref();
            let timeout = std::time::Duration::try_from_secs_f64(graph.endpoint_timeout)
                .ok()
                .filter(|t| !t.is_zero())
                .context("--endpoint-timeout must be a positive number of seconds")?;
            Graph::remote(url, timeout, lexicon).context("opening the remote graph")
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
