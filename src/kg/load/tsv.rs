//! `Relation<TAB>head<TAB>tail[<TAB>weight]` lines, the ConceptNet-100K format.
//!
//! Heads and tails are English phrases (`play on ice`); relations are ConceptNet relation
//! names (`UsedFor`) or absolute IRIs in angle brackets.

use oxigraph::model::NamedNode;

use super::edge::{self, Edge, End};
use super::{FileCtx, Sink, parse_weight, read_line, utf8};
use crate::kg::error::Result;
use crate::kg::vocab;

/// Loads one TSV file.
pub(crate) fn load(ctx: &mut FileCtx<'_>, sink: &mut Sink<'_>) -> Result<()> {
    let mut reader = ctx.open()?;
    let mut buf = Vec::new();
    let mut line_no = 0;
    while read_line(&mut *reader, &mut buf, &ctx.path)? {
        line_no += 1;
        if buf.iter().all(|b| b.is_ascii_whitespace()) || buf.first() == Some(&b'#') {
            continue;
        }
        match parse(&buf) {
            Ok(record) => emit(ctx, sink, record)?,
            Err(message) => {
                let err = ctx.error(line_no, message);
                ctx.issue(err)?;
            }
        }
    }
    Ok(())
}

struct Record {
    relation: NamedNode,
    head: String,
    tail: String,
    weight: f64,
}

fn parse(bytes: &[u8]) -> std::result::Result<Record, String> {
    let line = utf8(bytes)?;
    let cols: Vec<&str> = line.split('\t').collect();
    if !(3..=4).contains(&cols.len()) {
        return Err(format!(
            "expected 3 or 4 tab-separated columns (Relation, head, tail[, weight]), found {}",
            cols.len()
        ));
    }
    let relation = relation(cols[0])?;
    let head = vocab::normalize_term(cols[1]);
    let tail = vocab::normalize_term(cols[2]);
    if head.is_empty() || tail.is_empty() {
        return Err("empty head or tail".into());
    }
    let weight = match cols.get(3) {
        Some(w) => parse_weight(w)?,
        None => 1.0,
    };
    Ok(Record { relation, head, tail, weight })
}

/// A relation name (`UsedFor`, letters, digits, `_`) or an absolute `<IRI>`.
pub(crate) fn relation(text: &str) -> std::result::Result<NamedNode, String> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
        return NamedNode::new(inner).map_err(|e| format!("invalid relation IRI <{inner}>: {e}"));
    }
    let valid = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "invalid relation {text:?}: expected a name such as UsedFor or an <IRI>"
        ));
    }
    Ok(vocab::relation_iri(text))
}

fn emit(ctx: &FileCtx<'_>, sink: &mut Sink<'_>, r: Record) -> Result<()> {
    let head =
        End { node: vocab::concept_iri("en", &r.head), label: Some(("en", &r.head)), sense: None };
    let tail =
        End { node: vocab::concept_iri("en", &r.tail), label: Some(("en", &r.tail)), sense: None };
    edge::emit(
        sink,
        Edge {
            head,
            relation: r.relation,
            tail,
            weight: r.weight,
            id: None,
            dataset: &ctx.dataset,
            license: None,
            surface_text: None,
        },
    )
}
