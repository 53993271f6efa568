//! `GET /metrics`: request counts by route and status (499 for requests whose client left
//! before the answer), a latency histogram per route, connections refused at the HTTP level
//! (unparsable requests, headers too large, slow clients), and the engine's queue, in
//! Prometheus' text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Latency {
    /// Requests at or under each bound of [`BUCKETS`] (cumulative when written).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Tables {
    /// (route, status) -> requests.
    requests: BTreeMap<(String, u16), u64>,
    /// route -> latency.
    latency: BTreeMap<String, Latency>,
}

/// The server's counters. Routes are the router's patterns (`/ask`), or `unmatched`, so
/// the label set stays bounded whatever paths clients try.
#[derive(Default)]
pub struct Metrics {
    tables: Mutex<Tables>,
    refused: std::sync::atomic::AtomicU64,
    given_up: std::sync::atomic::AtomicU64,
    /// reason -> connections closed at the HTTP level.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

/// The status counted for a request whose client closed the connection before the answer
/// (nginx's convention; never sent).
pub const CLIENT_GONE: u16 = 499;

impl Metrics {
    /// Counts one answered request.
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        *t.requests.entry((route.to_owned(), status)).or_default() += 1;
        let l = t.latency.entry(route.to_owned()).or_default();
        if let Some(i) = BUCKETS.iter().position(|&b| seconds <= b) {
            l.buckets[i] += 1;
        }
        l.count += 1;
        l.sum += seconds;
    }

    /// Counts one request refused because the engine was busy.
    pub fn refused(&self) {
        self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts one question whose worker stopped at its deadline, before the end.
    pub fn given_up(&self) {
        self.given_up.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts one connection closed by the HTTP layer for `reason` (`bad_request`,
    /// `headers_too_large`, `timeout`, `other`).
    pub fn rejected(&self, reason: &'static str) {
        let mut r = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        *r.entry(reason).or_default() += 1;
    }

    /// The text exposition, with the engine's current `in_flight` and `queued`.
    pub fn render(&self, in_flight: usize, queued: usize) -> String {
        let t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = (|| -> std::fmt::Result {
            writeln!(out, "# HELP kgqa_requests_total Requests answered, by route and status.")?;
            writeln!(out, "# TYPE kgqa_requests_total counter")?;
            for ((route, status), n) in &t.requests {
                writeln!(out, "kgqa_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}")?;
            }
            writeln!(out, "# HELP kgqa_request_duration_seconds Time to answer, by route.")?;
            writeln!(out, "# TYPE kgqa_request_duration_seconds histogram")?;
            for (route, l) in &t.latency {
                let mut cumulative = 0;
                for (bound, n) in BUCKETS.iter().zip(l.buckets) {
                    cumulative += n;
                    writeln!(
                        out,
                        "kgqa_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                    )?;
                }
                writeln!(
                    out,
                    "kgqa_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    l.count
                )?;
                writeln!(out, "kgqa_request_duration_seconds_sum{{route=\"{route}\"}} {}", l.sum)?;
                writeln!(
                    out,
                    "kgqa_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    l.count
                )?;
            }
            let refused = self.refused.load(std::sync::atomic::Ordering::Relaxed);
            writeln!(
                out,
                "# HELP kgqa_refused_total Requests refused because the engine was busy."
            )?;
            writeln!(out, "# TYPE kgqa_refused_total counter")?;
            writeln!(out, "kgqa_refused_total {refused}")?;
            let given_up = self.given_up.load(std::sync::atomic::Ordering::Relaxed);
            writeln!(
                out,
                "# HELP kgqa_given_up_total Questions answered 503 at their time limit, \
                 waiting or working."
            )?;
            writeln!(out, "# TYPE kgqa_given_up_total counter")?;
            writeln!(out, "kgqa_given_up_total {given_up}")?;
            writeln!(
                out,
                "# HELP kgqa_connections_rejected_total Connections closed by the HTTP layer: \
                 unparsable requests, headers too large, clients too slow."
            )?;
            writeln!(out, "# TYPE kgqa_connections_rejected_total counter")?;
            let rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
            for (reason, n) in rejected.iter() {
                writeln!(out, "kgqa_connections_rejected_total{{reason=\"{reason}\"}} {n}")?;
            }
            writeln!(out, "# HELP kgqa_in_flight Requests the engine is working on.")?;
            writeln!(out, "# TYPE kgqa_in_flight gauge")?;
            writeln!(out, "kgqa_in_flight {in_flight}")?;
            writeln!(out, "# HELP kgqa_queued Requests waiting for the engine.")?;
            writeln!(out, "# TYPE kgqa_queued gauge")?;
            writeln!(out, "kgqa_queued {queued}")
        })();
        out
    }
}

/// Middleware: times every request and counts it under its route pattern and status.
pub async fn record(State(state): State<super::State>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    // Dropped unanswered when the client goes away: counted as CLIENT_GONE then.
    let mut pending = Pending { metrics: &state.metrics, route: &route, start, done: false };
    let response = next.run(request).await;
    pending.done = true;
    state.metrics.observe(&route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

/// A request not yet answered.
struct Pending<'a> {
    metrics: &'a Metrics,
    route: &'a str,
    start: Instant,
    done: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.metrics.observe(self.route, CLIENT_GONE, self.start.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("/ask", 200, 0.02);
        m.observe("/ask", 200, 0.3);
        m.observe("/ask", 400, 0.001);
        m.refused();
        m.given_up();
        m.rejected("timeout");
        let text = m.render(1, 2);
        assert!(text.contains("kgqa_requests_total{route=\"/ask\",status=\"200\"} 2\n"), "{text}");
        assert!(text.contains("kgqa_requests_total{route=\"/ask\",status=\"400\"} 1\n"));
        // 0.001 and 0.02 are at or under 0.025; 0.3 only from 0.5 on.
        assert!(text.contains("le=\"0.025\"} 2\n"), "{text}");
        assert!(text.contains("le=\"0.25\"} 2\n"));
        assert!(text.contains("le=\"0.5\"} 3\n"));
        assert!(text.contains("le=\"+Inf\"} 3\n"));
        assert!(text.contains("kgqa_request_duration_seconds_count{route=\"/ask\"} 3\n"));
        assert!(text.contains("kgqa_refused_total 1\n"), "{text}");
        assert!(text.contains("kgqa_given_up_total 1\n"), "{text}");
        assert!(text.contains("kgqa_connections_rejected_total{reason=\"timeout\"} 1\n"));
        assert!(text.contains("kgqa_in_flight 1\n") && text.contains("kgqa_queued 2\n"));
    }
}
