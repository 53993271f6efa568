//! ConceptNet 5 assertion dumps (`conceptnet-assertions-5.x.csv[.gz]`): five tab-separated
//! columns `assertion-uri, /r/Rel, /c/lang/term[/pos/...], /c/..., {json}`.
//!
//! Only edges whose both ends are in the chosen languages are kept (English by default).
//! Sense suffixes are folded into the concept and kept on the edge node; weight, dataset,
//! license and surface text come from the JSON column.

use oxigraph::model::NamedNode;
use serde::Deserialize;

use super::edge::{self, Edge, End};
use super::{FileCtx, Sink, read_line, utf8};
use crate::kg::error::Result;
use crate::kg::vocab::{self, iri};

#[derive(Deserialize)]
struct Info {
    weight: Option<serde_json::Value>,
    dataset: Option<String>,
    license: Option<String>,
    #[serde(rename = "surfaceText")]
    surface_text: Option<String>,
}

/// Loads one assertions dump.
pub(crate) fn load(ctx: &mut FileCtx<'_>, sink: &mut Sink<'_>) -> Result<()> {
    let mut reader = ctx.open()?;
    let mut buf = Vec::new();
    let mut line_no = 0;
    while read_line(&mut *reader, &mut buf, &ctx.path)? {
        line_no += 1;
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if let Err(message) = line(ctx, sink, &buf)? {
            let err = ctx.error(line_no, message);
            ctx.issue(err)?;
        }
    }
    Ok(())
}

/// A concept URI split into its parts: `/c/en/test/n/wikt/en_1`.
struct ConceptPath<'a> {
    lang: &'a str,
    term: &'a str,
    sense: Option<&'a str>,
}

fn concept_path(text: &str) -> std::result::Result<ConceptPath<'_>, String> {
    let rest = text
        .strip_prefix("/c/")
        .ok_or_else(|| format!("concept {text:?} does not start with /c/"))?;
    let mut parts = rest.splitn(3, '/');
    let lang = parts.next().filter(|l| !l.is_empty());
    let term = parts.next().filter(|t| !t.is_empty());
    let (Some(lang), Some(term)) = (lang, term) else {
        return Err(format!("concept {text:?} lacks a language or a term"));
    };
    let sense = parts.next().map(|_| &text[3 + lang.len() + 1 + term.len()..]);
    Ok(ConceptPath { lang, term, sense })
}

/// An edge end: a ConceptNet concept, or an external URL (as in `/r/ExternalURL` edges).
enum Node<'a> {
    Concept(ConceptPath<'a>),
    Url(NamedNode),
}

fn node(text: &str) -> std::result::Result<Node<'_>, String> {
    if text.starts_with("http://") || text.starts_with("https://") {
        return NamedNode::new(text)
            .map(Node::Url)
            .map_err(|e| format!("invalid IRI <{text}>: {e}"));
    }
    concept_path(text).map(Node::Concept)
}

impl<'a> Node<'a> {
    /// The normalized term of a concept (empty for URLs).
    fn term(&self) -> String {
        match self {
            Node::Concept(c) => vocab::normalize_term(c.term),
            Node::Url(_) => String::new(),
        }
    }

    /// The edge end; `original` is the column text, kept when a sense was folded away.
    fn end(&self, term: &'a str, original: &'a str) -> End<'a> {
        match self {
            Node::Concept(c) => End {
                node: vocab::concept_iri(c.lang, term),
                label: Some((c.lang, term)),
                sense: c.sense.map(|_| original),
            },
            Node::Url(url) => End { node: url.clone(), label: None, sense: None },
        }
    }
}

/// Parses and emits one line. The outer `Result` is a storage failure; the inner one a
/// malformed record.
fn line(
    ctx: &mut FileCtx<'_>,
    sink: &mut Sink<'_>,
    bytes: &[u8],
) -> Result<std::result::Result<(), String>> {
    let text = match utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let cols: Vec<&str> = text.split('\t').collect();
    if cols.len() != 5 {
        return Ok(Err(format!(
            "expected 5 tab-separated columns (assertion, relation, start, end, JSON), found {}",
            cols.len()
        )));
    }
    let Some(rel) = cols[1].strip_prefix("/r/").filter(|r| !r.is_empty()) else {
        return Ok(Err(format!("relation {:?} does not start with /r/", cols[1])));
    };
    let (start, end) = match (node(cols[2]), node(cols[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return Ok(Err(m)),
    };
    let info: Info = match serde_json::from_str(cols[4]) {
        Ok(info) => info,
        Err(e) => return Ok(Err(format!("invalid JSON in column 5: {e}"))),
    };
    let weight = match info.weight {
        None => 1.0,
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(w) if w.is_finite() => w,
            _ => return Ok(Err(format!("weight {n} is not a finite number"))),
        },
        Some(other) => return Ok(Err(format!("weight {other} is not a number"))),
    };
    if !cols[0].starts_with("/a/") {
        return Ok(Err(format!("assertion {:?} does not start with /a/", cols[0])));
    }
    // Concepts must be in a kept language; external URLs have none.
    let kept = |n: &Node<'_>| match n {
        Node::Concept(c) => ctx.options.languages.keeps(c.lang),
        Node::Url(_) => true,
    };
    if !(kept(&start) && kept(&end)) || matches!((&start, &end), (Node::Url(_), Node::Url(_))) {
        ctx.filtered += 1;
        return Ok(Ok(()));
    }
    let head_term = start.term();
    let tail_term = end.term();
    let mut id = String::from(vocab::CN_ASSERTION);
    vocab::encode_segment(&cols[0][3..], &mut id);
    let dataset = info.dataset.as_deref().unwrap_or(&ctx.dataset).to_owned();
    edge::emit(
        sink,
        Edge {
            head: start.end(&head_term, cols[2]),
            relation: vocab::relation_iri(rel),
            tail: end.end(&tail_term, cols[3]),
            weight,
            id: Some(iri(id)),
            dataset: &dataset,
            license: info.license.as_deref(),
            surface_text: info.surface_text.as_deref(),
        },
    )?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concept_paths_split() {
        let p = concept_path("/c/en/test/n/wikt/en_1").unwrap();
        assert_eq!((p.lang, p.term, p.sense), ("en", "test", Some("/n/wikt/en_1")));
        let p = concept_path("/c/ja/テスト").unwrap();
        assert_eq!((p.lang, p.term, p.sense), ("ja", "テスト", None));
        assert!(concept_path("/c/en").is_err());
        assert!(concept_path("/x/en/a").is_err());
    }
}
