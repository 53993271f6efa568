//! The route handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State as Extract};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Instant;

use super::error::parse_json;
use super::{ApiError, State};
use crate::engine::{self, Deadline, Engine, Request};
use crate::kg::query;

/// The OpenAPI description, kept beside the code it describes.
const OPENAPI: &str = include_str!("openapi.json");
const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// A place among the requests at work, once [`super::Admission`] gives one.
pub(super) async fn admit(state: &State) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    admit_to(state, &state.admission).await
}

/// A place among `admission`'s requests at work (the engine's, or the query workers').
pub(super) async fn admit_to(
    state: &State,
    admission: &super::Admission,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    admission.enter().await.map_err(|busy| {
        state.metrics.refused();
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the engine is busy ({} at work, {} waiting); try again shortly",
                busy.in_flight, busy.queued
            ),
        )
    })
}

/// Runs `work` on the blocking pool once [`super::Admission`] lets it in.
pub(super) async fn on_engine<T: Send + 'static>(
    state: &State,
    work: impl FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = admit(state).await?;
    let shared = state.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work(&shared.engine)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
}

pub(super) fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| ApiError::new(r.status(), r.body_text()))
}

/// Middleware: reads the whole request body before any handler runs, within the client
/// time limit (408 after it) and the size limit (413, at once when the declared length is
/// over it), so that a slow or lying client holds no worker. Either refusal closes the
/// connection.
pub async fn read_body(
    Extract(state): Extract<State>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (max, limit) = (state.settings.max_body, state.settings.client_timeout);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the server's limit of {max} bytes"),
        )
    };
    if declared.is_some_and(|n| n > max as u64) {
        return closing(too_large());
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limit, axum::body::to_bytes(body, max)).await {
        Err(_) => closing(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {:.1} s", limit.as_secs_f64()),
        )),
        Ok(Err(e)) if over_length(&e) => closing(too_large()),
        Ok(Err(e)) => {
            closing(ApiError::new(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))
        }
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
        }
    }
}

fn over_length(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The page's Content-Security-Policy: its own script and style files only, no inline
/// code, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Middleware: the cross-origin policy and security headers of every response. Any origin
/// may call this API (it is read-only and takes no credentials), so preflight `OPTIONS`
/// requests get 204 with what they may send.
pub async fn policy(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use header::HeaderValue;
    let mut response = if request.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// An error answer that also closes the connection (its body may still be arriving).
fn closing(e: ApiError) -> Response {
    let mut response = e.into_response();
    response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    response
}

/// `POST /ask`: a [`Request`] as JSON, the engine's [`crate::engine::Response`] back.
pub async fn ask(
    Extract(state): Extract<State>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: Request = parse_json(&body(raw)?)?;
    // Checked before queueing: a bad request should not wait for the engine.
    state.engine.validate(&request)?;
    // The deadline counts from here, the queue included. A question over it gets 503 at
    // once. Its worker stops at the engine's next stage boundary (`Deadline`) and gives its
    // place among `--max-in-flight` back then, not earlier: the bound on work at once stays
    // true.
    let limit = state.settings.ask_timeout;
    // A limit past the clock's range (`--ask-timeout 1e19`) is no deadline, not a panic.
    let deadline = Instant::now().checked_add(limit).map_or(Deadline::NONE, Deadline::at);
    let over = move || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the question ran over the server's time limit of {limit:?} (waiting \
                 included); try again shortly"
            ),
        )
    };
    // `None`: the engine stopped at the deadline.
    let work = on_engine(&state, move |engine| match engine.ask_until(&request, deadline) {
        Err(engine::Error::TimedOut { .. }) => Ok(None),
        answer => Ok(Some(answer?)),
    });
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(Some(answer))) => Ok(Json(answer).into_response()),
        Ok(Err(e)) => Err(e),
        // Counted once, whether the question waited or worked past its deadline.
        Ok(Ok(None)) | Err(_) => {
            state.metrics.given_up();
            Err(over())
        }
    }
}

/// `GET /health`.
pub async fn health(Extract(state): Extract<State>) -> Response {
    let model = state.engine.model().map(|m| {
        let head = m.head();
        serde_json::json!({
            "folder": state.describe.model,
            "trained_head": head.trained,
            "input_fusion": head.fusion.input,
            "entity_fusion": head.fusion.entity,
            "layers": m.bert().config().num_hidden_layers,
            "hidden": m.bert().config().hidden_size,
            "precision": m.bert().precision(),
        })
    });
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "graph": state.describe.graph,
        "model": model,
        "kernels": crate::model::kernels::path(),
        "in_flight": state.admission.in_flight(),
        "queued": state.admission.queued(),
    }))
    .into_response()
}

/// `GET /metrics`.
pub async fn metrics(Extract(state): Extract<State>) -> Response {
    let text = state.metrics.render(state.admission.in_flight(), state.admission.queued());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// The parameters of `GET /concept`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptParams {
    text: String,
    #[serde(default = "three")]
    senses: usize,
    #[serde(default = "ten")]
    limit: usize,
}

fn three() -> usize {
    3
}

fn ten() -> usize {
    10
}

/// `GET /concept?text=...[&senses=3][&limit=10]`: [`query::LookUp`] as JSON.
pub async fn concept(
    Extract(state): Extract<State>,
    params: Result<Query<ConceptParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let s = &state.settings;
    if p.text.trim().is_empty() {
        return Err(ApiError::bad_field("text", "must not be empty"));
    }
    let max_text = state.engine.options().max_text;
    if p.text.len() > max_text {
        return Err(ApiError::bad_field("text", format!("longer than {max_text} bytes")));
    }
    if p.senses > s.max_senses {
        return Err(ApiError::bad_field("senses", format!("at most {}", s.max_senses)));
    }
    if p.limit > s.max_neighbours {
        return Err(ApiError::bad_field("limit", format!("at most {}", s.max_neighbours)));
    }
    let found = on_engine(&state, move |engine| {
        Ok(query::look_up(engine.graph(), engine.retriever(), &p.text, p.senses, p.limit)?)
    })
    .await?;
    Ok(Json(found).into_response())
}

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /`: the web page.
pub async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML).into_response()
}

/// `GET /app.js`.
pub async fn app_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS).into_response()
}

/// `GET /style.css`.
pub async fn style_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE_CSS).into_response()
}

/// Any path no route has.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no route for {method} {}", uri.path()))
}

/// A known path with a method it does not take.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method} (see /openapi.json)", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_worker_is_a_500_and_gives_its_place_back() {
        let graph = crate::kg::Graph::embedded().unwrap();
        let engine = Engine::new(graph, None, Default::default()).unwrap();
        let settings = super::super::Settings { max_in_flight: 1, ..Default::default() };
        let state: State = std::sync::Arc::new(super::super::Shared {
            admission: super::super::Admission::new(1, 0),
            sparql_admission: super::super::Admission::new(1, 0),
            metrics: Default::default(),
            engine,
            settings,
            describe: Default::default(),
        });
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let e = on_engine(&state, |_| -> Result<(), ApiError> { panic!("boom") })
                .await
                .unwrap_err();
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
            // The panic's details are logged, not sent: the client gets the request id.
            assert!(e.error.starts_with("internal error (request "), "{}", e.error);
            assert!(e.request_id.is_some());
            assert_eq!(state.admission.in_flight(), 0);
            // The one place is free again: the next request runs.
            assert_eq!(on_engine(&state, |_| Ok(7)).await.unwrap(), 7);
        });
    }

    #[test]
    fn the_openapi_description_is_json_and_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for route in ["/ask", "/health", "/metrics", "/sparql", "/concept"] {
            assert!(paths.contains_key(route), "{route} missing from openapi.json");
        }
        assert!(paths["/sparql"].get("get").is_some() && paths["/sparql"].get("post").is_some());
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"), "keep the versions in step");
    }
}
