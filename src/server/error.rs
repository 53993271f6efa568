//! The server's error responses: a status and a JSON body `{"error": ..., "field"?: ...}`.
//! Failures on the server's side (5xx other than "busy") keep their details (paths, error
//! chains, upstream addresses) in the log, under a request id the client is given.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine;
use crate::kg;

/// An error answer: what is wrong and, for bad input, which field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    /// The HTTP status (4xx for the client's mistakes, 5xx for ours).
    #[serde(skip)]
    pub status: StatusCode,
    /// What is wrong, in words.
    pub error: String,
    /// The request field at fault (`question`, `choices[2]`, `query`, ...), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For the server's own failures: the id under which the log holds the details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A fresh id for a logged failure: the process id and a counter, unique per server run.
fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{n}", std::process::id())
}

impl ApiError {
    /// A 400 about `field`.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: message.into(),
            field: Some(field.into()),
            request_id: None,
        }
    }

    /// An error with a status and no field.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, error: message.into(), field: None, request_id: None }
    }

    /// A 500: our failure, not the client's. `details` go to the log only.
    pub fn internal(details: impl std::fmt::Display) -> Self {
        Self::logged(StatusCode::INTERNAL_SERVER_ERROR, "internal error", details)
    }

    /// An error whose `details` are logged under a fresh request id; the client gets
    /// `public` and the id.
    pub fn logged(status: StatusCode, public: &str, details: impl std::fmt::Display) -> Self {
        let id = request_id();
        tracing::error!(request_id = %id, status = status.as_u16(), "{details}");
        ApiError {
            status,
            error: format!("{public} (request {id}; the details are in the server's log)"),
            field: None,
            request_id: Some(id),
        }
    }
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> Self {
        match e {
            engine::Error::Request { field, message } => ApiError::bad_field(field, message),
            engine::Error::Graph(g) => g.into(),
            engine::Error::TimedOut { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            engine::Error::Model(crate::model::Error::Unsupported(message)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<kg::Error> for ApiError {
    fn from(e: kg::Error) -> Self {
        match e {
            kg::Error::SparqlSyntax(_)
            | kg::Error::UpdateRefused
            | kg::Error::TooManyResults(_)
            | kg::Error::TooDeep { .. } => ApiError::bad_field("query", e.to_string()),
            kg::Error::Unsupported(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
            // SERVICE is never fetched from here: the client asked for what is not offered.
            kg::Error::SparqlEvaluation(
                oxigraph::sparql::QueryEvaluationError::Service(_)
                | oxigraph::sparql::QueryEvaluationError::UnsupportedService(_)
                | oxigraph::sparql::QueryEvaluationError::InvalidServiceName(_)
                | oxigraph::sparql::QueryEvaluationError::UnboundService,
            ) => ApiError::bad_field("query", format!("{e}: this server does not run SERVICE")),
            kg::Error::Cancelled => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            kg::Error::InvalidIri { .. } => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
            // The graph's endpoint upstream failed: not this server's fault, nor the client's.
            kg::Error::Endpoint { .. } => {
                ApiError::logged(StatusCode::BAD_GATEWAY, "the graph's SPARQL endpoint failed", e)
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(&self)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Busy or over time: worth retrying, after a moment.
            let again = axum::http::HeaderValue::from_static("1");
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, again);
        }
        response
    }
}

/// A JSON body as `T`, or a 400 that names the field at fault (`choices[1]`) and where in
/// the body (line and column) the problem is.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body is empty; send a JSON object",
        ));
    }
    let invalid = |e: &dyn std::fmt::Display| format!("invalid JSON body: {e}");
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = invalid(e.inner());
        match path.as_str() {
            "." | "?" | "" => ApiError::new(StatusCode::BAD_REQUEST, message),
            _ => ApiError::bad_field(path, message),
        }
    })?;
    de.end().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, invalid(&e)))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Request;

    #[test]
    fn json_errors_name_the_field_and_the_place() {
        let e = parse_json::<Request>(br#"{"question": "q", "choices": ["a", 3]}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field.as_deref(), Some("choices[1]"));
        assert!(e.error.contains("line 1 column"), "{}", e.error);
        let e = parse_json::<Request>(br#"{"question": "q", "choises": []}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("choises"));
        assert!(e.error.contains("unknown field `choises`"), "{}", e.error);
        let e = parse_json::<Request>(b"{\"question\": \"q\",\n  ").unwrap_err();
        assert_eq!(e.field, None);
        assert!(e.error.contains("line 2"), "{}", e.error);
        let e = parse_json::<Request>(br#"{"question": "q"} trailing"#).unwrap_err();
        assert!(e.error.contains("trailing characters"), "{}", e.error);
        assert!(parse_json::<Request>(b"  ").unwrap_err().error.contains("empty"));
        assert!(parse_json::<Request>(br#"{"question": "q"}"#).is_ok());
    }

    #[test]
    fn engine_errors_keep_their_field() {
        let e: ApiError =
            engine::Error::Request { field: "choices", message: "too many".into() }.into();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::BAD_REQUEST, Some("choices")));
        let e: ApiError = engine::Error::Graph(kg::Error::UpdateRefused).into();
        assert_eq!((e.status, e.field.as_deref()), (StatusCode::BAD_REQUEST, Some("query")));
        let io = std::io::Error::other("disk");
        let e: ApiError =
            engine::Error::Graph(kg::Error::Io { path: "/srv/secret/x".into(), source: io }).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        // The path stays in the log; the client gets the request id to quote.
        assert!(!e.error.contains("secret"), "{}", e.error);
        let id = e.request_id.clone().expect("a request id");
        assert!(e.error.contains(&id), "{}", e.error);
        let upstream =
            kg::Error::Endpoint { url: "http://x/sparql".into(), message: "down".into() };
        let e: ApiError = engine::Error::Graph(upstream).into();
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.error.starts_with("the graph's SPARQL endpoint failed (request "), "{}", e.error);
        assert!(!e.error.contains("http://x"), "{}", e.error);
        assert_ne!(e.request_id, Some(id), "ids are fresh");
    }
}
