//! `/sparql`: the SPARQL 1.1 protocol's query operation, read-only. The query comes as
//! `GET ?query=`, as a POST body (`application/sparql-query` or plain text), as a form or
//! as JSON `{"query": ...}`; `default-graph-uri` and `named-graph-uri` (repeatable, in the
//! URL or the form) name the dataset. With a worker command set the query runs in a process
//! of its own ([`super::isolate`]); else on the blocking pool with a cancellation token.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxigraph::model::NamedNode;
use serde::Deserialize;
use std::time::Instant;

use super::api::{admit_to, body, on_engine};
use super::error::parse_json;
use super::{ApiError, State};
use crate::kg::query::{self, Answer, Dataset};

/// A query and its dataset, as the protocol's parameters give them.
#[derive(Debug, Default)]
pub struct Protocol {
    /// The query text.
    pub query: String,
    /// The dataset the parameters name.
    pub dataset: Dataset,
}

/// Reads `query`, `default-graph-uri` and `named-graph-uri` from URL-encoded pairs; any
/// other name is a 400 that names it.
fn from_pairs(encoded: &str) -> Result<(Option<String>, Dataset), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(encoded)
        .map_err(|e| ApiError::bad_field("query", format!("malformed parameters: {e}")))?;
    let (mut text, mut dataset) = (None, Dataset::default());
    for (name, value) in pairs {
        let iri = |field: &str| {
            NamedNode::new(value.clone())
                .map_err(|e| ApiError::bad_field(field, format!("not an IRI ({value:?}): {e}")))
        };
        match name.as_str() {
            "query" if text.is_some() => return Err(ApiError::bad_field("query", "given twice")),
            "query" => text = Some(value),
            "default-graph-uri" => dataset.default_graphs.push(iri("default-graph-uri")?),
            "named-graph-uri" => dataset.named_graphs.push(iri("named-graph-uri")?),
            other => return Err(ApiError::bad_field(other, "unknown parameter")),
        }
    }
    Ok((text, dataset))
}

/// `GET /sparql?query=...`.
pub async fn get(
    Extract(state): Extract<State>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (text, dataset) = from_pairs(raw.as_deref().unwrap_or(""))?;
    let query = text.ok_or_else(|| ApiError::bad_field("query", "missing"))?;
    run(&state, Protocol { query, dataset }).await
}

/// The JSON body of `POST /sparql`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonBody {
    query: String,
}

/// `POST /sparql`: the query as the body (`application/sparql-query` or plain text, with
/// the dataset in the URL), as a form (`query=...`), or as JSON `{"query": ...}`.
pub async fn post(
    Extract(state): Extract<State>,
    RawQuery(url): RawQuery,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let raw = body(raw)?;
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let kind = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (url_query, mut dataset) = from_pairs(url.as_deref().unwrap_or(""))?;
    if url_query.is_some() {
        return Err(ApiError::bad_field("query", "a POST carries the query in its body"));
    }
    let query = match kind.as_str() {
        "application/json" => parse_json::<JsonBody>(&raw)?.query,
        "application/x-www-form-urlencoded" => {
            let (text, form_dataset) = from_pairs(&String::from_utf8_lossy(&raw))?;
            dataset.default_graphs.extend(form_dataset.default_graphs);
            dataset.named_graphs.extend(form_dataset.named_graphs);
            text.ok_or_else(|| ApiError::bad_field("query", "missing"))?
        }
        _ => String::from_utf8(raw.to_vec())
            .map_err(|e| ApiError::bad_field("query", format!("not UTF-8: {e}")))?,
    };
    run(&state, Protocol { query, dataset }).await
}

async fn run(state: &State, p: Protocol) -> Result<Response, ApiError> {
    if p.query.trim().is_empty() {
        return Err(ApiError::bad_field("query", "the query is empty"));
    }
    crate::kg::guard::check_nesting(&p.query, crate::kg::guard::MAX_NESTING)?;
    let max = state.settings.max_sparql_results;
    // The time limit counts from here, the queue included: it is the request's deadline.
    let limit = state.settings.sparql_timeout;
    let (answer, graph) = match &state.settings.sparql_worker {
        Some(command) => {
            let start = Instant::now();
            // Worker queries have places of their own: a slow query never holds one of
            // the engine's, which /ask needs.
            let workers = &state.sparql_admission;
            let _permit =
                tokio::time::timeout(limit, admit_to(state, workers)).await.map_err(|_| {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the engine stayed busy; try again shortly",
                    )
                })??;
            let limits = super::QueryLimits {
                max_results: max,
                timeout: limit
                    .saturating_sub(start.elapsed())
                    .max(std::time::Duration::from_millis(1)),
                max_memory_mib: state.settings.sparql_memory_mib,
            };
            let most = state.settings.sparql_answer_bytes;
            super::isolate::run(command, &p.query, &p.dataset, limits, most).await?
        }
        None => in_process(state, p, max, limit).await?,
    };
    let kind = if graph { "application/n-triples" } else { "application/sparql-results+json" };
    Ok(([(header::CONTENT_TYPE, kind)], answer).into_response())
}

/// The query on the blocking pool, stopped at its next read from the store once `limit`
/// has passed.
async fn in_process(
    state: &State,
    p: Protocol,
    max: usize,
    limit: std::time::Duration,
) -> Result<(Vec<u8>, bool), ApiError> {
    let token = query::CancellationToken::new();
    let timer = {
        let token = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            token.cancel();
        })
    };
    let answer = on_engine(state, move |engine| {
        let answer = query::run_in(engine.graph(), &p.query, max, Some(token), &p.dataset)
            .map_err(|e| match e {
                crate::kg::Error::Cancelled => super::isolate::over_time(limit),
                other => other.into(),
            })?;
        let graph = matches!(answer, Answer::Graph(_));
        let mut out = Vec::new();
        query::write_json(&answer, &mut out)?;
        Ok((out, graph))
    })
    .await;
    timer.abort();
    answer
}
