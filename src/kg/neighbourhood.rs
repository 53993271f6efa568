//! A concept's neighbourhood from the rows of retrieval's queries (`kg/queries/`): which
//! rows count towards its degree, which become edges, and how edges are merged and
//! ordered. Written once and used both for one concept at a time
//! ([`crate::kg::retrieve::Retriever`]) and for the whole store at load time
//! ([`crate::kg::index`]), so the two always agree.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::LazyLock;

use oxigraph::model::Term;
use oxigraph::sparql::QuerySolution;

use crate::kg::vocab;

/// Predicates that describe nodes rather than relate concepts.
const NON_RELATIONS: &[&str] = &[
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "http://www.w3.org/2000/01/rdf-schema#",
    "http://www.w3.org/2002/07/owl#",
    "http://www.w3.org/2004/02/skos/core#",
    vocab::KGQA,
    "http://conceptnet.io/r/ExternalURL",
];

/// The relation given to two concepts that share a WordNet sense.
static SYNONYM: LazyLock<String> = LazyLock::new(|| format!("{}Synonym", vocab::CN_RELATION));

/// Retrieval's per-concept queries; each projects `?concept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// Statements from the concept to an IRI.
    EdgesOut,
    /// Statements from an IRI to the concept.
    EdgesIn,
    /// Weights of reified statements from the concept.
    WeightsOut,
    /// Weights of reified statements to the concept.
    WeightsIn,
    /// WordNet links between the concept's senses and other concepts' senses.
    WordNet,
    /// Concepts sharing one of the concept's senses.
    Synonyms,
    /// The concept's own definitions.
    Definitions,
    /// Its senses' definitions.
    SenseDefinitions,
    /// Statements from the concept to an IRI, counted.
    DegreeOut,
    /// Statements from an IRI to the concept, counted.
    DegreeIn,
}

/// The queries behind a neighbourhood, in the order they are read.
pub const NEIGHBOURHOOD: [Query; 6] = [
    Query::EdgesOut,
    Query::EdgesIn,
    Query::WeightsOut,
    Query::WeightsIn,
    Query::WordNet,
    Query::Synonyms,
];

impl Query {
    /// The query's text (a file under `kg/queries/`).
    pub fn text(self) -> &'static str {
        match self {
            Query::EdgesOut => include_str!("../../kg/queries/edges_out.rq"),
            Query::EdgesIn => include_str!("../../kg/queries/edges_in.rq"),
            Query::WeightsOut => include_str!("../../kg/queries/weights_out.rq"),
            Query::WeightsIn => include_str!("../../kg/queries/weights_in.rq"),
            Query::WordNet => include_str!("../../kg/queries/wordnet_edges.rq"),
            Query::Synonyms => include_str!("../../kg/queries/wordnet_synonyms.rq"),
            Query::Definitions => include_str!("../../kg/queries/definitions.rq"),
            Query::SenseDefinitions => include_str!("../../kg/queries/sense_definitions.rq"),
            Query::DegreeOut => include_str!("../../kg/queries/degree_out.rq"),
            Query::DegreeIn => include_str!("../../kg/queries/degree_in.rq"),
        }
    }
}

/// The edges of one concept, keyed by (leaves the concept, relation, neighbour) with the
/// heaviest weight seen, and the rows its degree counts. `T` names IRIs: the IRI itself,
/// or an id the caller gives it.
pub struct Neighbourhood<T> {
    edges: HashMap<(bool, T, T), Option<f64>>,
    rows: u32,
}

impl<T> Default for Neighbourhood<T> {
    fn default() -> Self {
        Neighbourhood { edges: HashMap::new(), rows: 0 }
    }
}

impl<T: Eq + Hash + Clone> Neighbourhood<T> {
    /// Takes one row of `query` (one of [`NEIGHBOURHOOD`]) for `concept`; `id` names an
    /// IRI.
    pub fn row(
        &mut self,
        query: Query,
        concept: &str,
        row: &QuerySolution,
        id: impl FnMut(&str) -> T,
    ) {
        let named = |name| match row.get(name) {
            Some(Term::NamedNode(n)) => Some(n.as_str()),
            _ => None,
        };
        let weight = match row.get("weight") {
            Some(Term::Literal(l)) => Some(l.value()),
            _ => None,
        };
        self.add(query, concept, (named("relation"), named("neighbour"), weight), id);
    }

    /// Takes one row of `query` for `concept` given as its relation and neighbour (when
    /// they are IRIs) and its weight (when it is a literal). Loops and predicates that
    /// describe nodes are left out.
    pub fn add(
        &mut self,
        query: Query,
        concept: &str,
        (relation, neighbour, weight): (Option<&str>, Option<&str>, Option<&str>),
        mut id: impl FnMut(&str) -> T,
    ) {
        if matches!(query, Query::EdgesOut | Query::EdgesIn) {
            self.rows = self.rows.saturating_add(1);
        }
        let relation = match query {
            Query::Synonyms => Some(SYNONYM.as_str()),
            _ => relation,
        };
        let (Some(relation), Some(neighbour)) = (relation, neighbour) else { return };
        if neighbour == concept || NON_RELATIONS.iter().any(|p| relation.starts_with(p)) {
            return;
        }
        let weight = match query {
            Query::WeightsOut | Query::WeightsIn => {
                weight.and_then(|w| w.parse::<f64>().ok()).filter(|w| w.is_finite())
            }
            _ => None,
        };
        let outgoing = !matches!(query, Query::EdgesIn | Query::WeightsIn);
        let slot = self.edges.entry((outgoing, id(relation), id(neighbour))).or_insert(None);
        if let Some(weight) = weight {
            *slot = Some(slot.map_or(weight, |old| old.max(weight)));
        }
    }

    /// Rows of `edges_out.rq` and `edges_in.rq`: what `degree_*.rq` count.
    pub fn degree(&self) -> u32 {
        self.rows
    }

    /// The edges as (leaves the concept, relation, neighbour, weight; 1.0 when unrecorded),
    /// ordered by head, relation and tail IRIs; `text` gives an id's IRI.
    pub fn sorted<'a>(
        &'a self,
        concept: &'a str,
        text: impl Fn(&'a T) -> &'a str,
    ) -> Vec<(bool, &'a T, &'a T, f64)> {
        let mut edges: Vec<(bool, &T, &T, f64)> =
            self.edges.iter().map(|((out, r, n), w)| (*out, r, n, w.unwrap_or(1.0))).collect();
        let key = |&(out, r, n, _): &(bool, &'a T, &'a T, f64)| {
            let (n, r) = (text(n), text(r));
            if out { (concept, r, n) } else { (n, r, concept) }
        };
        edges.sort_by(|a, b| key(a).cmp(&key(b)));
        edges
    }
}
