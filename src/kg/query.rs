//! Read-only SPARQL over a [`Graph`] and the concept look-up behind `kgqa concept`.
//!
//! User queries get the [`vocab::PREFIXES`] predeclared; updates are refused. The project's
//! own queries live as `.rq` files under `kg/queries/` and receive their inputs as bound
//! variables (typed IRIs), never as spliced strings.

use std::io::Write;

use oxigraph::io::{RdfFormat, RdfSerializer};
use oxigraph::model::{Term, Triple, Variable};
use oxigraph::sparql::results::{QueryResultsFormat, QueryResultsSerializer};
use oxigraph::sparql::{QueryResults, SparqlEvaluator};
use serde::Serialize;

use crate::kg::endpoint::{Endpoint, Reply};
use crate::kg::error::{Error, Result};
use crate::kg::retrieve::Retriever;
use crate::kg::store::{Graph, Source};
use crate::kg::vocab;

/// The materialized answer to a query.
#[derive(Debug)]
pub enum Answer {
    /// SELECT: variable names and rows of optional terms.
    Solutions {
        /// The projected variables.
        variables: Vec<Variable>,
        /// One row per solution, aligned with `variables`.
        rows: Vec<Vec<Option<Term>>>,
    },
    /// ASK.
    Boolean(bool),
    /// CONSTRUCT or DESCRIBE.
    Graph(Vec<Triple>),
}

pub use oxigraph::model::NamedNode;
pub use oxigraph::sparql::CancellationToken;

fn evaluator() -> SparqlEvaluator {
    let mut evaluator = SparqlEvaluator::new();
    for (prefix, iri) in vocab::PREFIXES {
        evaluator = evaluator.with_prefix(*prefix, *iri).expect("static prefixes are valid");
    }
    evaluator
}

/// Runs a read-only SPARQL query on `graph`.
pub fn run(graph: &Graph, sparql: &str) -> Result<Answer> {
    run_limited(graph, sparql, usize::MAX, None)
}

/// The graphs a query runs over when the SPARQL protocol's `default-graph-uri` and
/// `named-graph-uri` parameters name them (they replace the query's own FROM and FROM
/// NAMED); both empty: the query's own dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dataset {
    /// Graphs whose union is the default graph.
    pub default_graphs: Vec<NamedNode>,
    /// Graphs available to `GRAPH`.
    pub named_graphs: Vec<NamedNode>,
}

impl Dataset {
    /// True when the protocol named no graph.
    pub fn is_empty(&self) -> bool {
        self.default_graphs.is_empty() && self.named_graphs.is_empty()
    }
}

/// [`run`], refusing with [`Error::TooManyResults`] an answer of more than `max` solutions
/// or triples (the rows past `max` are never materialized), so that a server cannot be
/// made to hold a whole store in memory; and stopping with [`Error::Cancelled`] once
/// `cancel` is cancelled (checked at every read from the store).
pub fn run_limited(
    graph: &Graph,
    sparql: &str,
    max: usize,
    cancel: Option<CancellationToken>,
) -> Result<Answer> {
    run_in(graph, sparql, max, cancel, &Dataset::default())
}

/// [`run_limited`] over the graphs `dataset` names.
pub fn run_in(
    graph: &Graph,
    sparql: &str,
    max: usize,
    cancel: Option<CancellationToken>,
    dataset: &Dataset,
) -> Result<Answer> {
    let with_token = |e: SparqlEvaluator| match &cancel {
        Some(token) => e.with_cancellation_token(token.clone()),
        None => e,
    };
    crate::kg::guard::check_nesting(sparql, crate::kg::guard::MAX_NESTING)?;
    let mut prepared = match with_token(evaluator()).parse_query(sparql) {
        Ok(p) => p,
        Err(e) => {
            if evaluator().parse_update(sparql).is_ok() {
                return Err(Error::UpdateRefused);
            }
            return Err(e.into());
        }
    };
    let cancelled = |e: Error| match e {
        Error::SparqlEvaluation(oxigraph::sparql::QueryEvaluationError::Cancelled) => {
            Error::Cancelled
        }
        other => other,
    };
    if !dataset.is_empty() {
        let d = prepared.dataset_mut();
        d.set_default_graph(dataset.default_graphs.iter().cloned().map(Into::into).collect());
        d.set_available_named_graphs(
            dataset.named_graphs.iter().cloned().map(Into::into).collect(),
        );
    }
    match graph.source() {
        Source::Store(store) => {
            let results = prepared.on_store(store).execute().map_err(|e| cancelled(e.into()))?;
            collect(results, max).map_err(cancelled)
        }
        // The endpoint's own time limit and the client's timeout bound it instead of `cancel`.
        Source::Endpoint(_) if !dataset.is_empty() => Err(Error::Unsupported(
            "default-graph-uri and named-graph-uri with an endpoint graph (name the graphs in the query)".into(),
        )),
        Source::Endpoint(endpoint) => remote(endpoint, sparql, max),
    }
}

/// [`run_limited`] on a remote endpoint: the query goes out with the predeclared prefixes
/// written in front, and the answer is held to `max` rows like a local one.
fn remote(endpoint: &Endpoint, sparql: &str, max: usize) -> Result<Answer> {
    let mut text = String::new();
    for (prefix, iri) in vocab::PREFIXES {
        text.push_str(&format!("PREFIX {prefix}: <{iri}>\n"));
    }
    text.push_str(sparql);
    let too_many = |n: usize| if n > max { Err(Error::TooManyResults(max)) } else { Ok(()) };
    Ok(match endpoint.query(&text)? {
        Reply::Solutions(variables, solutions) => {
            too_many(solutions.len())?;
            let rows = solutions
                .iter()
                .map(|s| variables.iter().map(|v| s.get(v).cloned()).collect())
                .collect();
            Answer::Solutions { variables, rows }
        }
        Reply::Boolean(b) => Answer::Boolean(b),
        Reply::Graph(triples) => {
            too_many(triples.len())?;
            Answer::Graph(triples)
        }
    })
}

fn collect(results: QueryResults<'_>, max: usize) -> Result<Answer> {
    Ok(match results {
        QueryResults::Solutions(solutions) => {
            let variables = solutions.variables().to_vec();
            let mut rows = Vec::new();
            for solution in solutions {
                if rows.len() == max {
                    return Err(Error::TooManyResults(max));
                }
                let solution = solution?;
                rows.push(variables.iter().map(|v| solution.get(v).cloned()).collect());
            }
            Answer::Solutions { variables, rows }
        }
        QueryResults::Boolean(b) => Answer::Boolean(b),
        QueryResults::Graph(triples) => {
            let mut out = Vec::new();
            for triple in triples {
                if out.len() == max {
                    return Err(Error::TooManyResults(max));
                }
                out.push(triple?);
            }
            Answer::Graph(out)
        }
    })
}

/// Writes an answer for people: an aligned table, `true`/`false`, or N-Triples.
pub fn write_text(answer: &Answer, out: &mut dyn Write) -> Result<()> {
    let io = Error::Output;
    match answer {
        Answer::Solutions { variables, rows } => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.iter().map(|t| t.as_ref().map(short).unwrap_or_default()).collect())
                .collect();
            let mut widths: Vec<usize> = variables.iter().map(|v| v.as_str().len() + 1).collect();
            for row in &cells {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let header: Vec<String> =
                variables.iter().map(|v| format!("?{}", v.as_str())).collect();
            write_row(out, &header, &widths).map_err(io)?;
            for row in &cells {
                write_row(out, row, &widths).map_err(io)?;
            }
            writeln!(out, "({} rows)", cells.len()).map_err(io)?;
        }
        Answer::Boolean(b) => writeln!(out, "{b}").map_err(io)?,
        Answer::Graph(triples) => write_ntriples(triples, out)?,
    }
    Ok(())
}

fn write_row(out: &mut dyn Write, cells: &[String], widths: &[usize]) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        if i + 1 < cells.len() {
            line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
        }
    }
    writeln!(out, "{line}")
}

/// Writes an answer for machines: SPARQL 1.1 JSON results, or N-Triples for graphs.
pub fn write_json(answer: &Answer, out: &mut dyn Write) -> Result<()> {
    let io = Error::Output;
    let serializer = QueryResultsSerializer::from_format(QueryResultsFormat::Json);
    match answer {
        Answer::Solutions { variables, rows } => {
            let mut writer = serializer
                .serialize_solutions_to_writer(&mut *out, variables.clone())
                .map_err(io)?;
            for row in rows {
                writer
                    .serialize(
                        variables.iter().zip(row).filter_map(|(v, t)| Some((v, t.as_ref()?))),
                    )
                    .map_err(io)?;
            }
            writer.finish().map_err(io)?;
            writeln!(out).map_err(io)?;
        }
        Answer::Boolean(b) => {
            serializer.serialize_boolean_to_writer(&mut *out, *b).map_err(io)?;
            writeln!(out).map_err(io)?;
        }
        Answer::Graph(triples) => write_ntriples(triples, out)?,
    }
    Ok(())
}

fn write_ntriples(triples: &[Triple], out: &mut dyn Write) -> Result<()> {
    let mut writer = RdfSerializer::from_format(RdfFormat::NTriples).for_writer(out);
    for t in triples {
        writer.serialize_triple(t).map_err(Error::Output)?;
    }
    writer.finish().map_err(Error::Output)?;
    Ok(())
}

/// A term for people: IRIs with a known prefix as `prefix:local`, others as N-Triples.
pub fn short(term: &Term) -> String {
    if let Term::NamedNode(n) = term {
        for (prefix, ns) in vocab::PREFIXES {
            if let Some(local) = n.as_str().strip_prefix(ns)
                && !local.is_empty()
                && !local.contains(['/', '#'])
            {
                return format!("{prefix}:{local}");
            }
        }
    }
    term.to_string()
}

/// One edge at a concept.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Neighbour {
    /// `true` when the edge leaves the concept (`concept relation neighbour`).
    pub outgoing: bool,
    /// The relation IRI.
    pub relation: String,
    /// The neighbour IRI.
    pub neighbour: String,
    /// A label of the neighbour (its ConceptNet term when it has none).
    pub label: String,
    /// The heaviest weight recorded for the edge, 1.0 when none is.
    pub weight: f64,
}

/// The edges at `concept` (WordNet links lifted to concepts, see [`Retriever`]), heaviest
/// first (then by relation and neighbour IRI), at most `limit` per direction.
pub fn neighbours(
    graph: &Graph,
    retriever: &Retriever,
    concept: &str,
    limit: usize,
) -> Result<Vec<Neighbour>> {
    let edges = retriever.neighbourhood(graph, concept)?;
    let mut out = Vec::new();
    for outgoing in [true, false] {
        let mut side: Vec<Neighbour> = edges
            .iter()
            .filter(|e| (e.head == concept) == outgoing)
            .map(|e| {
                let neighbour = if outgoing { &e.tail } else { &e.head };
                Neighbour {
                    outgoing,
                    relation: e.relation.clone(),
                    neighbour: neighbour.clone(),
                    label: vocab::display_name(neighbour),
                    weight: e.weight,
                }
            })
            .collect();
        side.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then_with(|| a.relation.cmp(&b.relation))
                .then_with(|| a.neighbour.cmp(&b.neighbour))
        });
        side.truncate(limit);
        out.extend(side);
    }
    Ok(out)
}

/// The definitions of `concept` (its own and its WordNet senses').
pub fn definitions(graph: &Graph, retriever: &Retriever, concept: &str) -> Result<Vec<String>> {
    retriever.definitions(graph, concept, usize::MAX)
}

/// A concept of a mention, with what the graph says about it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConceptView {
    /// The concept IRI.
    pub iri: String,
    /// Its definitions ([`definitions`]).
    pub definitions: Vec<String>,
    /// Its heaviest edges per direction ([`neighbours`]).
    pub neighbours: Vec<Neighbour>,
}

/// A grounded mention and its concepts.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MentionView {
    /// The text as written.
    pub text: String,
    /// The lexicon form it matched.
    pub form: String,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// Its concepts, at most `senses` of them.
    pub concepts: Vec<ConceptView>,
}

/// What a phrase grounds to, and the graph around it (`kgqa concept`, `GET /concept`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LookUp {
    /// The grounded mentions, in text order.
    pub mentions: Vec<MentionView>,
    /// The content words that grounded to nothing.
    pub diagnostics: Vec<crate::kg::ground::Diagnostic>,
}

/// Grounds `text` and describes at most `senses` concepts per mention with their
/// definitions and at most `limit` neighbours per direction.
pub fn look_up(
    graph: &Graph,
    retriever: &Retriever,
    text: &str,
    senses: usize,
    limit: usize,
) -> Result<LookUp> {
    let (found, diagnostics) = graph.grounder().ground(text);
    let mut mentions = Vec::new();
    for m in found {
        let mut concepts = Vec::new();
        for iri in m.concepts.iter().take(senses) {
            concepts.push(ConceptView {
                iri: iri.clone(),
                definitions: definitions(graph, retriever, iri)?,
                neighbours: neighbours(graph, retriever, iri, limit)?,
            });
        }
        mentions.push(MentionView {
            text: m.text,
            form: m.form,
            start: m.start,
            end: m.end,
            concepts,
        });
    }
    Ok(LookUp { mentions, diagnostics })
}
