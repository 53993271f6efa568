//! A remote SPARQL 1.1 endpoint over HTTP (QLever, Virtuoso, Fuseki, an oxigraph server,
//! another `kgqa serve`), for graphs that outgrow one machine: the same retrieval queries
//! run there instead of on the embedded store.
//!
//! Queries go out as `POST` with `Content-Type: application/sparql-query` (the SPARQL 1.1
//! Protocol's direct body); SELECT and ASK answers are read as SPARQL JSON results,
//! CONSTRUCT and DESCRIBE as N-Triples. Inputs are bound as typed IRIs
//! ([`bind_concepts`]), never spliced from user text.

use std::time::Duration;

use oxigraph::io::{RdfFormat, RdfParser};
use oxigraph::model::{NamedNode, Triple, Variable};
use oxigraph::sparql::QuerySolution;
use oxigraph::sparql::results::{
    QueryResultsFormat, QueryResultsParser, SliceQueryResultsParserOutput,
};

use crate::kg::error::{Error, Result};

/// The most bytes one answer may have (a guard against an endpoint streaming forever).
const MAX_ANSWER_BYTES: u64 = 512 << 20;

/// What a remote query returned.
#[derive(Debug)]
pub enum Reply {
    /// SELECT: the variables and the solutions.
    Solutions(Vec<Variable>, Vec<QuerySolution>),
    /// ASK.
    Boolean(bool),
    /// CONSTRUCT or DESCRIBE.
    Graph(Vec<Triple>),
}

/// A SPARQL endpoint's URL and the HTTP client that talks to it.
pub struct Endpoint {
    url: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("url", &self.url).finish()
    }
}

impl Endpoint {
    /// An endpoint at `url` (`http://` or `https://`); each request may take at most
    /// `timeout`. Nothing is sent yet.
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Endpoint {
                url: url.to_owned(),
                message: "not an http:// or https:// URL".into(),
            });
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("kgqa/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Endpoint { url: url.to_owned(), agent })
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An [`Error::Endpoint`] of this endpoint.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Endpoint { url: self.url.clone(), message: message.to_string() }
    }

    /// Sends `query` and returns the answer's media type and body; `accept` lists the
    /// media types wanted. The query goes as an HTML form (`query=...`), the one POST form
    /// of the SPARQL 1.1 protocol that every common store takes: Virtuoso 7.2, for one,
    /// never answers a bare `application/sparql-query` body.
    fn post(&self, query: &str, accept: &str) -> Result<(String, Vec<u8>)> {
        let form = serde_urlencoded::to_string([("query", query)]).map_err(|e| self.error(e))?;
        let mut response = self
            .agent
            .post(&self.url)
            .header("Accept", accept)
            .content_type("application/x-www-form-urlencoded")
            .send(form)
            .map_err(|e| self.error(e))?;
        let status = response.status();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| self.error(e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(500).collect();
            return Err(self.error(format!("HTTP {status}: {}", text.trim())));
        }
        Ok((kind, body))
    }

    /// Runs any read-only query: SELECT and ASK answers are read as SPARQL JSON results,
    /// CONSTRUCT and DESCRIBE ones as N-Triples, told apart by the answer's media type.
    pub fn query(&self, query: &str) -> Result<Reply> {
        let (kind, body) =
            self.post(query, "application/sparql-results+json, application/n-triples;q=0.9")?;
        match kind.as_str() {
            "application/n-triples" | "text/plain" => self.triples(&body),
            _ => self.results(&body),
        }
    }

    fn triples(&self, body: &[u8]) -> Result<Reply> {
        let mut triples = Vec::new();
        for quad in RdfParser::from_format(RdfFormat::NTriples).for_slice(body) {
            let quad = quad.map_err(|e| self.error(format!("bad N-Triples answer: {e}")))?;
            triples.push(Triple::from(quad));
        }
        Ok(Reply::Graph(triples))
    }

    fn results(&self, body: &[u8]) -> Result<Reply> {
        let bad = |e: &dyn std::fmt::Display| self.error(format!("bad SPARQL JSON answer: {e}"));
        match QueryResultsParser::from_format(QueryResultsFormat::Json)
            .for_slice(body)
            .map_err(|e| bad(&e))?
        {
            SliceQueryResultsParserOutput::Boolean(b) => Ok(Reply::Boolean(b)),
            SliceQueryResultsParserOutput::Solutions(solutions) => {
                let variables = solutions.variables().to_vec();
                let rows = solutions.collect::<std::result::Result<_, _>>().map_err(|e| bad(&e))?;
                Ok(Reply::Solutions(variables, rows))
            }
        }
    }

    /// The solutions of a SELECT query.
    pub fn select(&self, query: &str) -> Result<Vec<QuerySolution>> {
        let (_, body) = self.post(query, "application/sparql-results+json")?;
        match self.results(&body)? {
            Reply::Solutions(_, s) => Ok(s),
            _ => Err(self.error("expected the solutions of a SELECT query")),
        }
    }
}

/// `query` (one of the project's own, with one `WHERE {`) with `?concept` bound to each of
/// `concepts` by a `VALUES` block opening its pattern: the IRIs go in as typed, validated
/// IRIs (`NamedNode`), so no text of a user's reaches the query as SPARQL. The rows of all
/// of them come in one round trip, told apart by `?concept` (every own query projects it).
pub fn bind_concepts(query: &str, concepts: &[NamedNode]) -> String {
    let at = query.find("WHERE {").map(|i| i + "WHERE {".len()).expect("own queries have WHERE {");
    let values: Vec<String> = concepts.iter().map(ToString::to_string).collect();
    format!("{} VALUES ?concept {{ {} }} {}", &query[..at], values.join(" "), &query[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concepts_are_bound_as_iris_at_the_pattern_start() {
        let node = NamedNode::new("http://conceptnet.io/c/en/trowel").unwrap();
        let q = "SELECT ?concept (COUNT(*) AS ?n)\nWHERE { ?concept ?p ?o . }\nGROUP BY ?concept";
        assert_eq!(
            bind_concepts(q, std::slice::from_ref(&node)),
            "SELECT ?concept (COUNT(*) AS ?n)\nWHERE { VALUES ?concept { <http://conceptnet.io/c/en/trowel> }  ?concept ?p ?o . }\nGROUP BY ?concept"
        );
        // What could break out of the IRI is not an IRI in the first place.
        assert!(NamedNode::new("http://x/> } ; DROP ALL ; <").is_err());
    }

    #[test]
    fn bad_urls_and_unreachable_endpoints_are_errors_naming_the_url() {
        let err = Endpoint::new("ftp://example.org/sparql", Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SPARQL endpoint ftp://example.org/sparql: not an http:// or https:// URL"
        );
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/sparql");
        let e = Endpoint::new(&url, Duration::from_secs(5)).unwrap();
        let err = e.select("SELECT * WHERE { ?s ?p ?o }").unwrap_err().to_string();
        assert!(err.starts_with(&format!("SPARQL endpoint {url}: ")), "{err}");
    }
}
