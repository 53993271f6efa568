//! `/sparql` queries in a process of their own, so that no query can take the server with
//! it.
//!
//! oxigraph checks a query's cancellation only when it reads from the store: a cross
//! product of `VALUES` blocks, nested `BIND(CONCAT(...))` or an unbounded property path
//! can run for minutes and grow to gigabytes between two reads, and a thread cannot be
//! stopped from outside. A process can. Each query runs in `kgqa sparql-worker` (the same
//! binary, the store opened read-only without its lexicon), which:
//! - reads the query from its standard input and writes one header line (status, kind)
//!   then the answer to its standard output;
//! - watches its own time and resident memory and exits with [`EXIT_TIMEOUT`] or
//!   [`EXIT_MEMORY`] when over the limits;
//! - is killed by the server at the deadline (plus a grace period), when the client goes
//!   away (the request's future is dropped with the child), or at shutdown. Its memory
//!   goes back to the system when it exits.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ApiError;
use crate::kg::Graph;
use crate::kg::query::{self, Answer, CancellationToken, Dataset};

/// Exit status of a worker over its time limit.
pub const EXIT_TIMEOUT: i32 = 74;
/// Exit status of a worker over its memory budget.
pub const EXIT_MEMORY: i32 = 75;

/// How to start a worker: the program and the arguments before `sparql-worker` (the
/// graph: `--store DIR`, or none for the embedded graph).
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    /// The `kgqa` binary.
    pub program: PathBuf,
    /// Global arguments naming the graph.
    pub graph_args: Vec<OsString>,
}

/// The limits of one query.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Most solutions or triples in the answer.
    pub max_results: usize,
    /// Time the query may run.
    pub timeout: Duration,
    /// Resident memory the worker may reach, MiB.
    pub max_memory_mib: u64,
}

/// The first line a worker writes.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    status: u16,
    /// For 200: whether the answer is a graph (N-Triples) rather than JSON results.
    #[serde(default)]
    graph: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

/// Runs `sparql` in a worker; the answer's bytes (at most `max_bytes`, else a 400) and
/// whether it is a graph.
pub(crate) async fn run(
    command: &WorkerCommand,
    sparql: &str,
    dataset: &Dataset,
    limits: QueryLimits,
    max_bytes: u64,
) -> Result<(Vec<u8>, bool), ApiError> {
    let mut child = spawn(command, dataset, limits)?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    // The worker stops itself at the limit; the server kills it a little later at most.
    let grace = Duration::from_millis(500).max(limits.timeout / 10);
    let work = async {
        // A worker that dies before reading it all closes the pipe: its exit status says why.
        let _ = stdin.write_all(sparql.as_bytes()).await;
        drop(stdin);
        let mut out = Vec::new();
        // One byte past the limit tells an answer over it; the worker is then killed
        // (dropping the child) rather than waited for.
        let read = (&mut stdout).take(max_bytes.saturating_add(1)).read_to_end(&mut out).await;
        if out.len() as u64 > max_bytes {
            let _ = child.start_kill();
        }
        let status = child.wait().await;
        (read.map(|_| out), status)
    };
    let Ok((out, status)) = tokio::time::timeout(limits.timeout + grace, work).await else {
        return Err(over_time(limits.timeout));
    };
    let status = status.map_err(|e| ApiError::internal(format!("query worker: {e}")))?;
    match status.code() {
        Some(EXIT_TIMEOUT) => return Err(over_time(limits.timeout)),
        Some(EXIT_MEMORY) => {
            return Err(ApiError::bad_field(
                "query",
                format!(
                    "the query needs more than the server's memory budget of {} MiB; narrow it or add a LIMIT",
                    limits.max_memory_mib
                ),
            ));
        }
        _ => {}
    }
    let out = out.map_err(|e| ApiError::internal(format!("reading the query worker: {e}")))?;
    if out.len() as u64 > max_bytes {
        return Err(ApiError::bad_field(
            "query",
            format!(
                "the answer is larger than the server's limit of {} MiB; narrow the query or add a LIMIT",
                max_bytes >> 20
            ),
        ));
    }
    parse(&out).ok_or_else(|| {
        // No header: the worker died on the query (a crash is logged, the client told).
        tracing::warn!("a query worker stopped without an answer ({status})");
        ApiError::bad_field(
            "query",
            "the query could not be evaluated: the query engine failed on it",
        )
    })?
}

/// Starts a worker for `dataset` under `limits`, its stdin and stdout piped.
fn spawn(
    command: &WorkerCommand,
    dataset: &Dataset,
    limits: QueryLimits,
) -> Result<tokio::process::Child, ApiError> {
    let mut worker = tokio::process::Command::new(&command.program);
    worker.args(&command.graph_args).arg("sparql-worker");
    for g in &dataset.default_graphs {
        worker.arg("--default-graph-uri").arg(g.as_str());
    }
    for g in &dataset.named_graphs {
        worker.arg("--named-graph-uri").arg(g.as_str());
    }
    worker
        .arg("--max-results")
        .arg(limits.max_results.to_string())
        .arg("--timeout-ms")
        .arg(limits.timeout.as_millis().to_string())
        .arg("--max-memory-mib")
        .arg(limits.max_memory_mib.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // The worker's log lines (a failure's details, under its request id) join the
        // server's.
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ApiError::internal(format!("starting a query worker: {e}")))
}

/// The 503 of a query over its time limit.
pub(crate) fn over_time(limit: Duration) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the query ran over the server's time limit of {:.1} s; narrow it or add a LIMIT",
            limit.as_secs_f64()
        ),
    )
}

/// The header and answer a worker wrote, or `None` if it wrote no valid header.
fn parse(out: &[u8]) -> Option<Result<(Vec<u8>, bool), ApiError>> {
    let end = out.iter().position(|&b| b == b'\n')?;
    let header: Header = serde_json::from_slice(&out[..end]).ok()?;
    if header.status == 200 {
        return Some(Ok((out[end + 1..].to_vec(), header.graph)));
    }
    let status = StatusCode::from_u16(header.status).ok()?;
    let error = header.error.unwrap_or_default();
    Some(Err(ApiError { status, error, field: header.field, request_id: header.request_id }))
}

/// The worker process (`kgqa sparql-worker`): at a lower CPU priority, on a thread with a
/// large stack (oxigraph's parser recurses per nesting level, beside the nesting check),
/// runs [`worker`] on standard input and output. Returns the process's exit status.
pub fn worker_process(
    graph: &Graph,
    limits: QueryLimits,
    dataset: &Dataset,
) -> std::io::Result<i32> {
    lower_priority();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, || {
                let (mut stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
                worker(graph, limits, dataset, &mut stdin, &mut stdout)
            })
            .map(|h| h.join().unwrap_or(1))
    })
}

/// Lowers this process's CPU priority (nice 10): a query worker's work, a client's query
/// that may run to its time limit, must not take the cores from `/ask`.
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: `setpriority` reads its three integer arguments and changes only this
    // process's scheduling priority; a failure (returned, not raised) leaves it as it was.
    let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) } != 0;
    if failed {
        tracing::warn!("kgqa sparql-worker: could not lower its priority");
    }
}

/// The worker's side: reads a query from `input`, answers it on `graph` within `limits`
/// and writes the header and answer to `output`. Returns the process's exit status. The
/// watchdog ends the process itself when the query runs over its time or memory.
pub fn worker(
    graph: &Graph,
    limits: QueryLimits,
    dataset: &Dataset,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> i32 {
    let token = CancellationToken::new();
    watchdog(limits, token.clone());
    let mut sparql = String::new();
    let header = match input.read_to_string(&mut sparql) {
        Err(e) => Err(ApiError::bad_field("query", format!("not UTF-8: {e}"))),
        Ok(_) => answer(graph, &sparql, limits, dataset, token),
    };
    let (header, body) = match header {
        Ok((body, graph)) => {
            (Header { status: 200, graph, error: None, field: None, request_id: None }, body)
        }
        Err(e) => {
            let header = Header {
                status: e.status.as_u16(),
                graph: false,
                error: Some(e.error),
                field: e.field,
                request_id: e.request_id,
            };
            (header, Vec::new())
        }
    };
    let line = serde_json::to_string(&header).expect("serializable");
    let written = writeln!(output, "{line}")
        .and_then(|()| output.write_all(&body))
        .and_then(|()| output.flush());
    i32::from(written.is_err())
}

fn answer(
    graph: &Graph,
    sparql: &str,
    limits: QueryLimits,
    dataset: &Dataset,
    token: CancellationToken,
) -> Result<(Vec<u8>, bool), ApiError> {
    let max = limits.max_results;
    let answer = query::run_in(graph, sparql, max, Some(token), dataset).map_err(|e| match e {
        crate::kg::Error::Cancelled => over_time(limits.timeout),
        other => other.into(),
    })?;
    let is_graph = matches!(answer, Answer::Graph(_));
    let mut out = Vec::new();
    query::write_json(&answer, &mut out)?;
    Ok((out, is_graph))
}

/// Starts the thread that cancels the query at its deadline and ends the process a
/// moment later if it has not stopped, or at once when resident memory passes the budget.
fn watchdog(limits: QueryLimits, token: CancellationToken) {
    let start = Instant::now();
    let budget = limits.max_memory_mib.saturating_mul(1 << 20);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(10));
            let elapsed = start.elapsed();
            if elapsed > limits.timeout {
                token.cancel();
            }
            if elapsed > limits.timeout + Duration::from_millis(200) {
                std::process::exit(EXIT_TIMEOUT);
            }
            if resident_bytes().is_some_and(|r| r > budget) {
                std::process::exit(EXIT_MEMORY);
            }
        }
    });
}

/// This process's resident memory, from `/proc/self/statm` (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> QueryLimits {
        QueryLimits { max_results: 10, timeout: Duration::from_secs(30), max_memory_mib: 1 << 20 }
    }

    #[test]
    fn a_worker_answers_and_reports_errors_in_its_header() {
        let graph = Graph::embedded().unwrap();
        let mut out = Vec::new();
        let q = "SELECT ?o WHERE { <http://conceptnet.io/c/en/trowel> ?p ?o } LIMIT 1";
        let none = Dataset::default();
        assert_eq!(worker(&graph, limits(), &none, &mut q.as_bytes(), &mut out), 0);
        let (body, is_graph) = parse(&out).unwrap().unwrap();
        assert!(!is_graph);
        assert!(String::from_utf8(body).unwrap().contains("\"bindings\""));
        let mut out = Vec::new();
        worker(&graph, limits(), &none, &mut "SELECT nonsense".as_bytes(), &mut out);
        let e = parse(&out).unwrap().unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::BAD_REQUEST, Some("query")));
        assert!(parse(b"garbage").is_none());
    }
}
