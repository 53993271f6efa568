//! The HTTP server behind `kgqa serve` (axum on tokio).
//!
//! ```text
//! POST /ask        a question (+ passage) (+ choices) -> the engine's answer, as `kgqa ask --json`
//! GET  /health     liveness and what is loaded
//! GET  /metrics    Prometheus text: requests by route and status, latency, queue
//! POST /sparql     read-only SPARQL (also GET ?query=): JSON results or N-Triples
//! GET  /concept    ?text=&senses=&limit=: what a phrase grounds to (`kgqa concept --json`)
//! GET  /openapi.json, and the web page (`/`, `/app.js`, `/style.css`, compiled in from web/)
//! ```
//!
//! The engine is synchronous and CPU-bound: every request that touches it runs on tokio's
//! blocking pool, admitted by [`Admission`] (at most `max_in_flight` at once, at most
//! `max_queue` waiting, the rest refused with 503 at once), so the async runtime keeps
//! answering `/health` and `/metrics` while the model works. Every error is a JSON
//! `{"error": ..., "field"?: ...}` with a 4xx or 5xx status ([`ApiError`]); a panic in a
//! handler's blocking work becomes a 500, not a dead server.
//!
//! Hostile input is bounded everywhere: `/sparql` queries run in worker processes with a
//! time and memory limit ([`isolate`]); a client gets `client_timeout` to send its headers
//! and its body (then the connection is closed, or 408), and an idle keep-alive
//! connection as long; after Ctrl-C or SIGTERM requests under way get `drain` to finish.

mod admission;
mod api;
mod error;
pub mod isolate;
mod metrics;
mod sparql;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use admission::{Admission, Busy};
pub use error::ApiError;
pub use isolate::{QueryLimits, WorkerCommand};
pub use metrics::Metrics;

use crate::engine::Engine;

/// Limits of a server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest request body, in bytes (413 above it).
    pub max_body: usize,
    /// Requests the engine works on at once.
    pub max_in_flight: usize,
    /// Requests that may wait for the engine; more are refused with 503.
    pub max_queue: usize,
    /// `/sparql` queries whose worker processes run at once (each may use a core until
    /// its time limit; they run at low priority and never take the engine's places).
    pub max_sparql_in_flight: usize,
    /// Most concepts described per mention by `GET /concept`.
    pub max_senses: usize,
    /// Most neighbours per concept and direction by `GET /concept`.
    pub max_neighbours: usize,
    /// Most solutions or triples a `/sparql` answer may have (400 above, before the rest
    /// is read from the store).
    pub max_sparql_results: usize,
    /// Time a `/sparql` request may take, queueing included (503 after it; the query is
    /// stopped at its next read from the store).
    pub sparql_timeout: std::time::Duration,
    /// Time a `/ask` request may take, queueing included (503 after it; the engine stops
    /// at its next stage boundary).
    pub ask_timeout: std::time::Duration,
    /// Resident memory one `/sparql` worker may reach, MiB (400 above it).
    pub sparql_memory_mib: u64,
    /// Bytes a `/sparql` worker's answer may have (400 above it: the server holds the
    /// answer whole before sending it).
    pub sparql_answer_bytes: u64,
    /// How to start `/sparql` workers; `None` runs queries in this process (an endpoint
    /// graph, which bounds its own queries; tests of the router alone).
    pub sparql_worker: Option<WorkerCommand>,
    /// Time a client may take to send its headers, or its body, and that an idle
    /// keep-alive connection stays open.
    pub client_timeout: Duration,
    /// Time requests under way get after Ctrl-C or SIGTERM before the process exits.
    pub drain: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_body: 64 << 10,
            max_in_flight: std::thread::available_parallelism().map_or(2, |n| n.get()).min(4),
            max_queue: 64,
            max_sparql_in_flight: 1,
            max_senses: 10,
            max_neighbours: 100,
            max_sparql_results: 10_000,
            sparql_timeout: std::time::Duration::from_secs(10),
            ask_timeout: std::time::Duration::from_secs(30),
            sparql_memory_mib: 1024,
            sparql_answer_bytes: 32 << 20,
            sparql_worker: None,
            client_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

/// What `/health` reports about the loaded graph and model.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Describe {
    /// The graph: `embedded` or the store folder.
    pub graph: String,
    /// The model folder, if one is loaded.
    pub model: Option<String>,
}

/// The state every handler shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) settings: Settings,
    pub(crate) admission: Admission,
    /// Places of `/sparql` worker processes, apart from the engine's.
    pub(crate) sparql_admission: Admission,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) describe: Describe,
}

/// A cheaply cloned handle on the shared state.
pub(crate) type State = Arc<Shared>;

/// A server ready to run: its router and what the connection layer needs.
pub struct App {
    /// Every route, over the engine.
    pub router: Router,
    metrics: Arc<Metrics>,
    settings: Settings,
}

/// The router of every route, over `engine`.
pub fn router(engine: Engine, settings: Settings, describe: Describe) -> Router {
    app(engine, settings, describe).router
}

/// The [`App`] over `engine`.
pub fn app(engine: Engine, settings: Settings, describe: Describe) -> App {
    let metrics = Arc::new(Metrics::default());
    let state: State = Arc::new(Shared {
        admission: Admission::new(settings.max_in_flight, settings.max_queue),
        sparql_admission: Admission::new(settings.max_sparql_in_flight, settings.max_queue),
        metrics: metrics.clone(),
        engine,
        settings: settings.clone(),
        describe,
    });
    let router = Router::new()
        .route("/ask", post(api::ask))
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics))
        .route("/sparql", post(sparql::post).get(sparql::get))
        .route("/concept", get(api::concept))
        .route("/openapi.json", get(api::openapi))
        .route("/", get(api::index))
        .route("/app.js", get(api::app_js))
        .route("/style.css", get(api::style_css))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), api::read_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::record))
        .layer(axum::middleware::from_fn(api::policy))
        .with_state(state);
    App { router, metrics, settings }
}

/// An error starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("serving: {0}")]
    Serve(#[source] std::io::Error),
}

/// Binds `addr` (port 0: any free port), calls `ready` with the bound address, then
/// serves `app` until Ctrl-C or SIGTERM, giving the requests under way `drain` to finish.
pub async fn serve(app: App, addr: &str, ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr: addr.to_owned(), source })?;
    let local = listener.local_addr().map_err(Error::Serve)?;
    ready(local);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.settings.client_timeout)
        .max_buf_size(64 << 10);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait, do not spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        let metrics = app.metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                metrics.rejected(rejection(e.as_ref()));
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(app.settings.drain) => {
            eprintln!("kgqa serve: requests still under way after the drain time; stopping them");
        }
    }
    Ok(())
}

/// What a connection's error says about the client, for `/metrics`.
fn rejection(e: &(dyn std::error::Error + 'static)) -> &'static str {
    match e.downcast_ref::<hyper::Error>() {
        Some(h) if h.is_timeout() => "timeout",
        Some(h) if h.is_parse_too_large() => "headers_too_large",
        Some(h) if h.is_parse() => "bad_request",
        Some(h) if h.is_incomplete_message() || h.is_closed() || h.is_canceled() => "client_gone",
        _ => "other",
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        // An error here means no handler could be installed: then only SIGTERM stops us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
