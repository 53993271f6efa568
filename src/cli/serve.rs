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
    /// Candidates proposed for open-ended questions.
    #[arg(long, default_value_t = 10)]
    pub candidates: usize,
    /// Requests the engine works on at once (default: the CPU count, at most 4).
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Requests that may wait for the engine; more get 503 at once.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
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
}

/// A positive duration from a command-line number of seconds.
fn seconds(flag: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{flag}: a positive number of seconds"))
}

/// Runs `kgqa serve` until Ctrl-C or SIGTERM.
pub fn run(graph_args: &super::GraphArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let dir = args.model.clone().unwrap_or_else(kgqa::model::default_model);
    let model = super::ask::load_model(&dir, args.model.is_none())?;
    let graph = super::open_graph(graph_args)?;
    let mut options = Options::default();
    options.retrieve.top_k = args.top_k;
    options.candidates = args.candidates;
    let describe = Describe {
        graph: graph_args
            .store
            .as_ref()
            .map_or_else(|| "embedded".to_owned(), |s| s.display().to_string()),
        model: model.as_ref().map(|(p, _)| p.display().to_string()),
    };
    let engine = Engine::new(graph, model, options)?;
    let mut settings = Settings {
        max_queue: args.max_queue,
        max_body: args.max_body,
        max_sparql_results: args.max_sparql_results,
        sparql_timeout: seconds("--sparql-timeout", args.sparql_timeout)?,
        ask_timeout: seconds("--ask-timeout", args.ask_timeout)?,
        ..Settings::default()
    };
    if let Some(n) = args.max_in_flight {
        anyhow::ensure!(n > 0, "--max-in-flight: at least 1");
        settings.max_in_flight = n;
    }
    let app = server::router(engine, settings, describe.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(server::serve(app, &args.addr, |addr| {
        let model = describe.model.as_deref().unwrap_or("none: open-ended questions only");
        println!(
            "kgqa serve: listening on http://{addr} (graph: {}, model: {model})",
            describe.graph
        );
        println!("kgqa serve: kernels: {}", kgqa::model::kernels::path().summary());
        // The line tells scripts (and the tests) the port; it must not wait in a buffer.
        let _ = std::io::stdout().flush();
    }))?;
    eprintln!("kgqa serve: stopped");
    Ok(())
}
