//! `kgqa serve [--addr HOST:PORT]`: the HTTP server and web page over the engine.

use std::io::Write;

use clap::Args;
use kgqa::engine::{Engine, Options};
use kgqa::server::{self, Describe, Settings};

/// Arguments of `kgqa serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed once bound).
    #[arg(long, env = "KGQA_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// A model folder; by default the shipped student (as for `kgqa ask`). Without any
    /// model the server still answers open-ended questions from the graph alone.
    #[arg(long, env = "KGQA_MODEL")]
    pub model: Option<std::path::PathBuf>,
    /// Facts kept per choice.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Before listening, read the store's live generation whole (as `kgqa load --check`)
    /// and refuse to start if it is damaged (about 30 s for 1.6 M statements). Without it
    /// a damaged table is reported by the first query that reads it.
    #[arg(long)]
    pub check_store: bool,
    /// Candidates proposed for open-ended questions.
    #[arg(long, default_value_t = 10)]
    pub candidates: usize,
    /// Requests the engine works on at once (default: the CPU count, at most 4).
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Requests that may wait for the engine; more get 503 at once.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// /sparql queries whose worker processes run at once (more wait in the queue). They
    /// run at low priority and never take the places /ask requests use.
    #[arg(long, default_value_t = 1)]
    pub max_sparql_in_flight: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 64 << 10)]
    pub max_body: usize,
    /// Most solutions or triples a /sparql answer may have.
    #[arg(long, default_value_t = 10_000)]
    pub max_sparql_results: usize,
    /// Seconds a /sparql request may take (503 after them).
    #[arg(long, default_value_t = 10.0)]
    pub sparql_timeout: f64,
    /// Seconds a /ask request may take, waiting for the engine included (503 after them).
    #[arg(long, default_value_t = 30.0)]
    pub ask_timeout: f64,
    /// Resident memory (MiB) one /sparql query's worker process may reach (400 above it).
    #[arg(long, default_value_t = 1024)]
    pub sparql_memory_mib: u64,
    /// Size (MiB) a /sparql answer may have (400 above it; the server holds an answer
    /// whole before sending it).
    #[arg(long, default_value_t = 32)]
    pub max_sparql_answer_mib: u64,
    /// Seconds a client may take to send a request's headers, or its body, and that an
    /// idle keep-alive connection stays open (408 or a closed connection after them).
    #[arg(long, default_value_t = 10.0)]
    pub client_timeout: f64,
    /// Seconds the server waits for requests under way after Ctrl-C or SIGTERM.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
}

/// Arguments of the internal `kgqa sparql-worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Most solutions or triples.
    #[arg(long)]
    pub max_results: usize,
    /// Milliseconds the query may run.
    #[arg(long)]
    pub timeout_ms: u64,
    /// Resident memory the process may reach, MiB.
    #[arg(long)]
    pub max_memory_mib: u64,
    /// Graphs whose union is the default graph (the protocol's `default-graph-uri`).
    #[arg(long)]
    pub default_graph_uri: Vec<String>,
    /// Graphs available to GRAPH (the protocol's `named-graph-uri`).
    #[arg(long)]
    pub named_graph_uri: Vec<String>,
}

/// Runs `kgqa sparql-worker`: one query from standard input, its answer to standard
/// output ([`kgqa::server::isolate`]).
pub fn worker(graph_args: &super::GraphArgs, args: &WorkerArgs) -> anyhow::Result<()> {
    let graph = match graph_args.store.as_deref() {
        Some(dir) => kgqa::kg::Graph::open_statements(dir)?,
        None => kgqa::kg::Graph::embedded()?,
    };
    let iris = |v: &[String]| -> anyhow::Result<Vec<kgqa::kg::query::NamedNode>> {
        v.iter().map(|i| Ok(kgqa::kg::query::NamedNode::new(i.clone())?)).collect()
    };
    let dataset = kgqa::kg::query::Dataset {
        default_graphs: iris(&args.default_graph_uri)?,
        named_graphs: iris(&args.named_graph_uri)?,
    };
    let limits = server::QueryLimits {
        max_results: args.max_results,
        timeout: std::time::Duration::from_millis(args.timeout_ms),
        max_memory_mib: args.max_memory_mib,
    };
    std::process::exit(server::isolate::worker_process(&graph, limits, &dataset)?)
}

/// A positive duration from a command-line number of seconds.
fn seconds(flag: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{flag}: a positive number of seconds"))
}

/// How the server starts a /sparql worker on its graph: this binary with the same store
/// folder, or on the embedded graph; none for an endpoint (it bounds its own queries).
fn sparql_worker(graph_args: &super::GraphArgs) -> anyhow::Result<Option<server::WorkerCommand>> {
    let store = graph_args.store.as_deref();
    if store.and_then(super::endpoint_url).is_some() {
        return Ok(None);
    }
    let mut graph_args = Vec::new();
    if let Some(dir) = store {
        graph_args.push("--store".into());
        graph_args.push(std::path::absolute(dir)?.into_os_string());
    }
    Ok(Some(server::WorkerCommand { program: std::env::current_exe()?, graph_args }))
}

/// A folder's last part (an endpoint's URL as it is), for what clients may see.
fn short_name(path: &std::path::Path) -> String {
    if let Some(url) = super::endpoint_url(path) {
        return url.to_owned();
    }
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// `--check-store`: the whole live generation of a store folder read before listening.
#[cfg(feature = "rocksdb")]
fn check_store(graph_args: &super::GraphArgs) -> anyhow::Result<()> {
    let Some(dir) = graph_args.store.as_deref().filter(|s| super::endpoint_url(s).is_none()) else {
        anyhow::bail!("--check-store: needs --store DIR (a store folder)");
    };
    let report = kgqa::kg::store::check(dir)?;
    tracing::info!(
        generation = report.generation,
        statements = report.statements,
        seconds = report.seconds,
        "store checked: intact"
    );
    Ok(())
}

#[cfg(not(feature = "rocksdb"))]
fn check_store(_: &super::GraphArgs) -> anyhow::Result<()> {
    anyhow::bail!("--check-store: on-disk stores need the `rocksdb` feature")
}

/// Runs `kgqa serve` until Ctrl-C or SIGTERM.
pub fn run(
    graph_args: &super::GraphArgs,
    args: &ServeArgs,
    precision: kgqa::model::kernels::Precision,
) -> anyhow::Result<()> {
    let dir = args.model.clone().unwrap_or_else(kgqa::model::default_model);
    let model = super::ask::load_model(&dir, args.model.is_none(), precision)?;
    if args.check_store {
        check_store(graph_args)?;
    }
    let graph = super::open_graph(graph_args)?;
    let mut options = Options::default();
    options.retrieve.top_k = args.top_k;
    options.candidates = args.candidates;
    // The log names the folders in full; `/health` (clients) only by their last part.
    let graph_place = graph_args
        .store
        .as_ref()
        .map_or_else(|| "embedded".to_owned(), |s| s.display().to_string());
    let model_place = model.as_ref().map(|(p, _)| p.display().to_string());
    let describe = Describe {
        graph: graph_args.store.as_deref().map_or_else(|| "embedded".to_owned(), short_name),
        model: model.as_ref().map(|(p, _)| short_name(p)),
    };
    let engine = Engine::new(graph, model, options)?;
    let mut settings = Settings {
        max_queue: args.max_queue,
        max_sparql_in_flight: args.max_sparql_in_flight.max(1),
        max_body: args.max_body,
        max_sparql_results: args.max_sparql_results,
        sparql_timeout: seconds("--sparql-timeout", args.sparql_timeout)?,
        ask_timeout: seconds("--ask-timeout", args.ask_timeout)?,
        client_timeout: seconds("--client-timeout", args.client_timeout)?,
        drain: seconds("--drain", args.drain)?,
        sparql_memory_mib: args.sparql_memory_mib,
        sparql_answer_bytes: args.max_sparql_answer_mib.saturating_mul(1 << 20),
        sparql_worker: sparql_worker(graph_args)?,
        ..Settings::default()
    };
    if let Some(n) = args.max_in_flight {
        anyhow::ensure!(n > 0, "--max-in-flight: at least 1");
        settings.max_in_flight = n;
    }
    let precision_of =
        engine.model().map_or(kgqa::model::kernels::Precision::F32, |m| m.bert().precision());
    let app = server::app(engine, settings, describe);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(server::serve(app, &args.addr, |addr| {
        let model = model_place.as_deref().unwrap_or("none: open-ended questions only");
        println!("kgqa serve: listening on http://{addr} (graph: {graph_place}, model: {model})");
        println!(
            "kgqa serve: kernels: {}; model products: {}",
            kgqa::model::kernels::path().summary(),
            precision_of.name()
        );
        // The line tells scripts (and the tests) the port; it must not wait in a buffer.
        let _ = std::io::stdout().flush();
    }));
    // Tasks still running (requests past the drain time) are dropped, not awaited.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    served?;
    eprintln!("kgqa serve: stopped");
    Ok(())
}
