//! RDF inputs through oxigraph's parsers: N-Triples, N-Quads, Turtle, TriG, RDF/XML.
//!
//! Statements are kept as they are. Every IRI or blank node in subject or object position
//! counts as a concept and every predicate as a relation for the load summary.

use oxigraph::io::{RdfFormat, RdfParseError, RdfParser};
use oxigraph::model::{NamedOrBlankNode, Term};

use super::{FileCtx, Format, Sink};
use crate::kg::error::{Error, Result};

/// Loads one RDF file.
pub(crate) fn load(ctx: &mut FileCtx<'_>, sink: &mut Sink<'_>, format: Format) -> Result<()> {
    let rdf_format = match format {
        Format::NTriples => RdfFormat::NTriples,
        Format::NQuads => RdfFormat::NQuads,
        Format::Turtle => RdfFormat::Turtle,
        Format::TriG => RdfFormat::TriG,
        Format::RdfXml => RdfFormat::RdfXml,
        other => unreachable!("{other:?} is not an RDF format"),
    };
    let reader = ctx.open()?;
    let base = format!("file://{}", ctx.path.canonicalize().unwrap_or(ctx.path.clone()).display());
    let mut parser = RdfParser::from_format(rdf_format);
    if let Ok(p) = parser.clone().with_base_iri(base) {
        parser = p;
    }
    let mut results = parser.for_reader(reader);
    let mut stopped = false;
    let quads = std::iter::from_fn(|| {
        loop {
            if stopped {
                return None;
            }
            match results.next()? {
                Ok(quad) => return Some(Ok(quad)),
                Err(RdfParseError::Syntax(e)) => {
                    let err = match e.location() {
                        Some(range) => ctx.error(
                            range.start.line + 1,
                            format!(
                                "column {}: {}",
                                range.start.column + 1,
                                strip_position(&e.to_string())
                            ),
                        ),
                        None => Error::Invalid { file: ctx.path.clone(), message: e.to_string() },
                    };
                    if let Err(err) = ctx.issue(err) {
                        return Some(Err(err));
                    }
                    // The RDF/XML parser cannot resynchronise after an error.
                    stopped = format == Format::RdfXml;
                }
                // Invalid UTF-8 surfaces as an I/O error of kind InvalidData.
                Err(RdfParseError::Io(e)) => {
                    return Some(Err(Error::Invalid {
                        file: ctx.path.clone(),
                        message: e.to_string(),
                    }));
                }
            }
        }
    });
    sink.stream(quads, |tally, quad| {
        match &quad.subject {
            NamedOrBlankNode::NamedNode(n) => tally.rdf_node(n.as_str()),
            NamedOrBlankNode::BlankNode(b) => tally.rdf_node(b.as_str()),
        }
        match &quad.object {
            Term::NamedNode(n) => {
                tally.rdf_node(n.as_str());
                tally.edge(&quad.predicate);
            }
            Term::BlankNode(b) => {
                tally.rdf_node(b.as_str());
                tally.edge(&quad.predicate);
            }
            Term::Literal(_) => {}
        }
    })
}

/// Drops the "Parser error at line L column C: " prefix oxttl puts on its messages.
fn strip_position(message: &str) -> &str {
    match message.strip_prefix("Parser error at ") {
        Some(rest) => rest.split_once(": ").map_or(message, |(_, m)| m),
        None => message,
    }
}
