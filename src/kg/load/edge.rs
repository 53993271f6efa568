//! Emission of one ConceptNet-style edge: the triple itself, its edge node with weight
//! and provenance, and a label for each concept seen for the first time.

use oxigraph::model::vocab::xsd;
use oxigraph::model::{GraphName, Literal, NamedNode, Quad};

use super::Sink;
use crate::kg::error::Result;
use crate::kg::vocab::{self, iri};

/// One end of an edge: its node and, for concepts, language and display term.
pub(crate) struct End<'a> {
    pub node: NamedNode,
    /// `(language, term)` of a concept; `None` for other nodes (external URLs).
    pub label: Option<(&'a str, &'a str)>,
    /// The sense suffix folded away (`/n/wn/food`), kept as provenance.
    pub sense: Option<&'a str>,
}

/// An edge and its provenance.
pub(crate) struct Edge<'a> {
    pub head: End<'a>,
    pub relation: NamedNode,
    pub tail: End<'a>,
    pub weight: f64,
    /// The edge node; minted from the triple and dataset when `None`.
    pub id: Option<NamedNode>,
    pub dataset: &'a str,
    pub license: Option<&'a str>,
    pub surface_text: Option<&'a str>,
}

/// Pushes every statement of `edge` into `sink`.
pub(crate) fn emit(sink: &mut Sink<'_>, edge: Edge<'_>) -> Result<()> {
    for end in [&edge.head, &edge.tail] {
        if let Some((lang, term)) = end.label
            && sink.concept(&end.node)
        {
            let label = Literal::new_language_tagged_literal_unchecked(
                term.replace('_', " "),
                lang.to_ascii_lowercase(),
            );
            sink.push(quad(end.node.clone(), iri(vocab::RDFS_LABEL), label))?;
        }
    }
    sink.edge(&edge.relation);
    let id = edge.id.unwrap_or_else(|| {
        let key = format!(
            "{}\t{}\t{}\t{}",
            edge.relation.as_str(),
            edge.head.node.as_str(),
            edge.tail.node.as_str(),
            edge.dataset
        );
        iri(format!("{}{:016x}", vocab::KGQA_EDGE, super::fnv(&key)))
    });
    sink.push(quad(edge.head.node.clone(), edge.relation.clone(), edge.tail.node.clone()))?;
    sink.push(quad(id.clone(), iri(vocab::RDF_SUBJECT), edge.head.node))?;
    sink.push(quad(id.clone(), iri(vocab::RDF_PREDICATE), edge.relation))?;
    sink.push(quad(id.clone(), iri(vocab::RDF_OBJECT), edge.tail.node))?;
    let weight = Literal::new_typed_literal(edge.weight.to_string(), xsd::DOUBLE);
    sink.push(quad(id.clone(), vocab::kgqa("weight"), weight))?;
    sink.push(quad(id.clone(), vocab::kgqa("dataset"), Literal::new_simple_literal(edge.dataset)))?;
    if let Some(license) = edge.license {
        sink.push(quad(id.clone(), vocab::kgqa("license"), Literal::new_simple_literal(license)))?;
    }
    if let Some(text) = edge.surface_text {
        sink.push(quad(id.clone(), vocab::kgqa("surfaceText"), Literal::new_simple_literal(text)))?;
    }
    if let Some(sense) = edge.head.sense {
        sink.push(quad(
            id.clone(),
            vocab::kgqa("subjectSense"),
            Literal::new_simple_literal(sense),
        ))?;
    }
    if let Some(sense) = edge.tail.sense {
        sink.push(quad(id, vocab::kgqa("objectSense"), Literal::new_simple_literal(sense)))?;
    }
    Ok(())
}

/// A statement in the default graph.
pub(crate) fn quad(s: NamedNode, p: NamedNode, o: impl Into<oxigraph::model::Term>) -> Quad {
    Quad::new(s, p, o, GraphName::DefaultGraph)
}
