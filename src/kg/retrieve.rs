//! Retrieval: the facts that tie a question's concepts to each answer choice.
//!
//! The neighbourhood of every question and choice concept comes from the store (or a remote
//! SPARQL endpoint: the same queries) through the SPARQL files under `kg/queries/`
//! (`edges_*.rq`, `weights_*.rq`, `wordnet_*.rq`, `*definitions.rq`), with the concept
//! bound as a typed IRI. The edges go into a petgraph
//! subgraph ([`crate::kg::paths`]) where direct edges and 2-hop paths between a question
//! concept and a choice concept are scored and the top k per choice kept. Everything is
//! ordered by score and then by text, so the same graph and question always give the same
//! facts in the same order.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use oxigraph::model::{NamedNode, Term, Variable};
use oxigraph::sparql::{PreparedSparqlQuery, QueryResults, QuerySolution, SparqlEvaluator};
use serde::{Deserialize, Serialize};

use crate::kg::endpoint::bind_concepts;
use crate::kg::error::{Error, Result};
pub use crate::kg::paths::Edge;
use crate::kg::paths::{Path, Subgraph, verbalize_path};
use crate::kg::store::{Graph, Source};
use crate::kg::vocab;

const EDGES_OUT: &str = include_str!("../../kg/queries/edges_out.rq");
const EDGES_IN: &str = include_str!("../../kg/queries/edges_in.rq");
const WEIGHTS_OUT: &str = include_str!("../../kg/queries/weights_out.rq");
const WEIGHTS_IN: &str = include_str!("../../kg/queries/weights_in.rq");
const WORDNET_EDGES: &str = include_str!("../../kg/queries/wordnet_edges.rq");
const WORDNET_SYNONYMS: &str = include_str!("../../kg/queries/wordnet_synonyms.rq");
const DEFINITIONS: &str = include_str!("../../kg/queries/definitions.rq");
const SENSE_DEFINITIONS: &str = include_str!("../../kg/queries/sense_definitions.rq");
const DEGREE_OUT: &str = include_str!("../../kg/queries/degree_out.rq");
const DEGREE_IN: &str = include_str!("../../kg/queries/degree_in.rq");
/// Definitions kept per concept in the cache (more are fetched when asked for).
const CACHED_DEFINITIONS: usize = 3;

/// Predicates that describe nodes rather than relate concepts.
const NON_RELATIONS: &[&str] = &[
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "http://www.w3.org/2000/01/rdf-schema#",
    "http://www.w3.org/2002/07/owl#",
    "http://www.w3.org/2004/02/skos/core#",
    vocab::KGQA,
    "http://conceptnet.io/r/ExternalURL",
];

/// Concepts per batched query on a remote endpoint.
const BATCH: usize = 128;

/// A fact for one choice: a path of one or two edges from a question concept to a choice
/// concept, its score and its sentence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// The edges, in path order from the question concept to the choice concept (each edge
    /// keeps its own direction).
    pub edges: Vec<Edge>,
    /// Path score: edge strengths x hop decay x hub penalties, in (0, 1].
    pub score: f64,
    /// The verbalized path ("trowel is used for dig").
    pub text: String,
}

/// A definition of a concept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// The concept IRI.
    pub concept: String,
    /// The definition text.
    pub text: String,
}

/// How retrieval scores and cuts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Facts kept per choice.
    pub top_k: usize,
    /// Look for 2-hop paths through one intermediate concept.
    pub two_hop: bool,
    /// Definitions kept per choice concept.
    pub definitions: usize,
    /// Degree at which the hub penalty halves a node's contribution (see [`hub_penalty`]).
    pub hub_degree: f64,
    /// Factor per extra hop.
    pub hop_decay: f64,
    /// Concepts whose neighbourhood, definitions and degree are kept in memory (0: none).
    /// Caching never changes results: it only saves queries on concepts seen before.
    pub cache: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            top_k: 5,
            two_hop: true,
            definitions: 1,
            hub_degree: 150.0,
            hop_decay: 0.5,
            cache: 8192,
        }
    }
}

/// The retrieved knowledge for one answer choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChoiceFacts {
    /// The choice's concepts.
    pub concepts: Vec<String>,
    /// The top facts, best first.
    pub facts: Vec<Fact>,
    /// Definitions of the choice's concepts.
    pub definitions: Vec<Definition>,
}

/// `1 / sqrt(1 + degree / hub_degree)`: about 1 for rare concepts, 0.71 at `hub_degree`
/// statements, 0.2 at 24 times that (hubs such as "person" or "thing").
pub fn hub_penalty(degree: u32, hub_degree: f64) -> f64 {
    (1.0 / (1.0 + f64::from(degree) / hub_degree)).sqrt().min(1.0)
}

/// The strength of an edge of weight `w`: `w / (1 + w)` (1.0 -> 0.5, 3.0 -> 0.75).
pub fn edge_strength(weight: f64) -> f64 {
    let w = weight.max(0.0);
    w / (1.0 + w)
}

/// Runs the retrieval queries. Shareable between threads: queries are parsed once, and
/// what depends only on the store (neighbourhoods, definitions, degrees) is cached per
/// concept, least recently used out first.
pub struct Retriever {
    edges_out: OwnQuery,
    edges_in: OwnQuery,
    weights_out: OwnQuery,
    weights_in: OwnQuery,
    wordnet: OwnQuery,
    synonyms: OwnQuery,
    definitions: OwnQuery,
    sense_definitions: OwnQuery,
    degree_out: OwnQuery,
    degree_in: OwnQuery,
    options: Options,
    cache: Option<Mutex<Cache>>,
}

/// One of the project's queries: parsed once for a local store, and its text for a remote
/// endpoint.
struct OwnQuery {
    prepared: PreparedSparqlQuery,
    text: &'static str,
}

/// Per-concept results that depend only on the store.
struct Cache {
    neighbourhoods: LruCache<String, Arc<Vec<Edge>>>,
    definitions: LruCache<String, Arc<Vec<String>>>,
    degrees: LruCache<String, u32>,
}

impl Retriever {
    /// Parses the queries.
    pub fn new(options: Options) -> Result<Self> {
        let parse = |text: &'static str| -> Result<OwnQuery> {
            Ok(OwnQuery { prepared: SparqlEvaluator::new().parse_query(text)?, text })
        };
        Ok(Retriever {
            edges_out: parse(EDGES_OUT)?,
            edges_in: parse(EDGES_IN)?,
            weights_out: parse(WEIGHTS_OUT)?,
            weights_in: parse(WEIGHTS_IN)?,
            wordnet: parse(WORDNET_EDGES)?,
            synonyms: parse(WORDNET_SYNONYMS)?,
            definitions: parse(DEFINITIONS)?,
            sense_definitions: parse(SENSE_DEFINITIONS)?,
            degree_out: parse(DEGREE_OUT)?,
            degree_in: parse(DEGREE_IN)?,
            cache: NonZeroUsize::new(options.cache).map(|n| {
                Mutex::new(Cache {
                    neighbourhoods: LruCache::new(n),
                    definitions: LruCache::new(n),
                    degrees: LruCache::new(n.saturating_mul(NonZeroUsize::new(4).expect("4"))),
                })
            }),
            options,
        })
    }

    /// The scoring options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `query` with `?concept` bound to `concept` where the graph lives: the local
    /// store, or the remote endpoint (the same text, the IRI bound by a `VALUES` block).
    fn run(
        &self,
        graph: &Graph,
        query: &OwnQuery,
        concept: &str,
        mut row: impl FnMut(&QuerySolution),
    ) -> Result<()> {
        self.run_many(graph, query, &[concept], |_, s| row(s))
    }

    /// Runs `query` for each of `concepts` (`row` is given the concept's index): on a
    /// local store one evaluation each, on an endpoint one request for up to [`BATCH`] of
    /// them, its rows told apart by `?concept` (which every own query projects).
    fn run_many(
        &self,
        graph: &Graph,
        query: &OwnQuery,
        concepts: &[&str],
        mut row: impl FnMut(usize, &QuerySolution),
    ) -> Result<()> {
        let nodes = concepts
            .iter()
            .map(|c| {
                NamedNode::new(*c)
                    .map_err(|e| Error::InvalidIri { iri: (*c).to_owned(), message: e.to_string() })
            })
            .collect::<Result<Vec<_>>>()?;
        let endpoint = match graph.source() {
            Source::Endpoint(endpoint) => endpoint,
            Source::Store(store) => {
                for (k, node) in nodes.into_iter().enumerate() {
                    let results = query
                        .prepared
                        .clone()
                        .on_store(store)
                        .substitute_variable(Variable::new_unchecked("concept"), node)
                        .execute()?;
                    if let QueryResults::Solutions(solutions) = results {
                        for solution in solutions {
                            row(k, &solution?);
                        }
                    }
                }
                return Ok(());
            }
        };
        for (n, chunk) in nodes.chunks(BATCH).enumerate() {
            for s in endpoint.select(&bind_concepts(query.text, chunk))? {
                if let Some(Term::NamedNode(c)) = s.get("concept")
                    && let Some(k) = chunk.iter().position(|x| x == c)
                {
                    row(n * BATCH + k, &s);
                }
            }
        }
        Ok(())
    }

    fn cached<T: Clone>(&self, get: impl FnOnce(&mut Cache) -> Option<T>) -> Option<T> {
        self.cache.as_ref().and_then(|c| get(&mut c.lock().expect("retrieval cache")))
    }

    fn remember(&self, put: impl FnOnce(&mut Cache)) {
        if let Some(c) = &self.cache {
            put(&mut c.lock().expect("retrieval cache"));
        }
    }

    /// Every edge at `concept` (both directions, WordNet links lifted to concepts), one per
    /// (head, relation, tail) with its heaviest weight, sorted.
    pub fn neighbourhood(&self, graph: &Graph, concept: &str) -> Result<Arc<Vec<Edge>>> {
        if let Some(edges) = self.cached(|c| c.neighbourhoods.get(concept).cloned()) {
            return Ok(edges);
        }
        let edges = Arc::new(self.fetch_neighbourhoods(graph, &[concept])?.remove(0));
        self.remember(|c| {
            c.neighbourhoods.put(concept.to_owned(), edges.clone());
        });
        Ok(edges)
    }

    /// The distinct `concepts` worth fetching ahead in a batch: those `cached` says the
    /// cache lacks, and only when the graph is a remote endpoint (where each query is a
    /// round trip) and there is a cache to keep them in.
    fn to_prefetch<'a>(
        &self,
        graph: &Graph,
        concepts: impl IntoIterator<Item = &'a str>,
        cached: impl Fn(&mut Cache, &str) -> bool,
    ) -> Vec<&'a str> {
        if !matches!(graph.source(), Source::Endpoint(_)) {
            return Vec::new();
        }
        let Some(cache) = &self.cache else { return Vec::new() };
        let mut cache = cache.lock().expect("retrieval cache");
        let mut seen = HashSet::new();
        concepts.into_iter().filter(|c| seen.insert(*c) && !cached(&mut cache, c)).collect()
    }

    /// Fetches into the cache the neighbourhoods of those `concepts` it lacks, all in one
    /// query of each kind, where every query is a round trip (a remote endpoint; a local
    /// store answers each when asked, as fast).
    pub(crate) fn prefetch_neighbourhoods<'a>(
        &self,
        graph: &Graph,
        concepts: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        let missing =
            self.to_prefetch(graph, concepts, |cache, c| cache.neighbourhoods.contains(c));
        for chunk in missing.chunks(BATCH) {
            let hoods = self.fetch_neighbourhoods(graph, chunk)?;
            self.remember(|cache| {
                for (c, edges) in chunk.iter().zip(hoods) {
                    cache.neighbourhoods.put((*c).to_owned(), Arc::new(edges));
                }
            });
        }
        Ok(())
    }

    /// The neighbourhoods of `concepts` (distinct), in order; their degrees (the rows of
    /// `edges_*.rq`) go into the cache on the way.
    fn fetch_neighbourhoods(&self, graph: &Graph, concepts: &[&str]) -> Result<Vec<Vec<Edge>>> {
        type Edges = BTreeMap<(String, String, String), Option<f64>>;
        let mut edges: Vec<Edges> = vec![BTreeMap::new(); concepts.len()];
        let add =
            |edges: &mut Edges, head: &str, relation: &str, tail: &str, weight: Option<f64>| {
                if head == tail || NON_RELATIONS.iter().any(|p| relation.starts_with(p)) {
                    return;
                }
                let slot = edges.entry((head.to_owned(), relation.to_owned(), tail.to_owned()));
                let w = slot.or_insert(None);
                if let Some(weight) = weight {
                    *w = Some(w.map_or(weight, |old| old.max(weight)));
                }
            };
        let queries = [
            (true, &self.edges_out),
            (false, &self.edges_in),
            (true, &self.weights_out),
            (false, &self.weights_in),
        ];
        // The rows of edges_out.rq and edges_in.rq are what degree_*.rq count.
        let mut rows = vec![0u32; concepts.len()];
        for (i, (outgoing, query)) in queries.into_iter().enumerate() {
            self.run_many(graph, query, concepts, |k, s| {
                if i < 2 {
                    rows[k] = rows[k].saturating_add(1);
                }
                let (Some(Term::NamedNode(relation)), Some(Term::NamedNode(neighbour))) =
                    (s.get("relation"), s.get("neighbour"))
                else {
                    return;
                };
                let weight = match s.get("weight") {
                    Some(Term::Literal(l)) => {
                        l.value().parse::<f64>().ok().filter(|w| w.is_finite())
                    }
                    _ => None,
                };
                let concept = concepts[k];
                let (h, t) = if outgoing {
                    (concept, neighbour.as_str())
                } else {
                    (neighbour.as_str(), concept)
                };
                add(&mut edges[k], h, relation.as_str(), t, weight);
            })?;
        }
        self.run_many(graph, &self.wordnet, concepts, |k, s| {
            if let (Some(Term::NamedNode(relation)), Some(Term::NamedNode(neighbour))) =
                (s.get("relation"), s.get("neighbour"))
            {
                add(&mut edges[k], concepts[k], relation.as_str(), neighbour.as_str(), None);
            }
        })?;
        self.remember(|c| {
            for (concept, n) in concepts.iter().zip(&rows) {
                c.degrees.put((*concept).to_owned(), *n);
            }
        });
        let synonym = format!("{}Synonym", vocab::CN_RELATION);
        self.run_many(graph, &self.synonyms, concepts, |k, s| {
            if let Some(Term::NamedNode(neighbour)) = s.get("neighbour") {
                add(&mut edges[k], concepts[k], &synonym, neighbour.as_str(), None);
            }
        })?;
        Ok(edges
            .into_iter()
            .map(|e| {
                e.into_iter()
                    .map(|((head, relation, tail), weight)| Edge {
                        head,
                        relation,
                        tail,
                        weight: weight.unwrap_or(1.0),
                    })
                    .collect()
            })
            .collect())
    }

    /// The first `n` definitions of `concept`: its own, then its WordNet senses'.
    pub fn definitions(&self, graph: &Graph, concept: &str, n: usize) -> Result<Vec<String>> {
        if n <= CACHED_DEFINITIONS {
            if let Some(d) = self.cached(|c| c.definitions.get(concept).cloned()) {
                return Ok(d.iter().take(n).cloned().collect());
            }
            let d = Arc::new(self.fetch_definitions(graph, concept, CACHED_DEFINITIONS)?);
            self.remember(|c| {
                c.definitions.put(concept.to_owned(), d.clone());
            });
            return Ok(d.iter().take(n).cloned().collect());
        }
        self.fetch_definitions(graph, concept, n)
    }

    fn fetch_definitions(&self, graph: &Graph, concept: &str, n: usize) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for query in [&self.definitions, &self.sense_definitions] {
            if out.len() >= n {
                break;
            }
            self.run(graph, query, concept, |s| {
                if let Some(Term::Literal(l)) = s.get("definition")
                    && out.len() < n
                    && !out.iter().any(|d| d == l.value())
                {
                    out.push(l.value().to_owned());
                }
            })?;
        }
        Ok(out)
    }

    /// How many statements mention `concept` as subject or object (cached): the measure
    /// behind the hub penalty.
    pub fn degree(&self, graph: &Graph, concept: &str) -> Result<u32> {
        if let Some(d) = self.cached(|c| c.degrees.get(concept).copied()) {
            return Ok(d);
        }
        let mut degree = 0u32;
        for query in [&self.degree_out, &self.degree_in] {
            self.run(graph, query, concept, |s| {
                if let Some(Term::Literal(l)) = s.get("n") {
                    degree = degree.saturating_add(l.value().parse().unwrap_or(0));
                }
            })?;
        }
        self.remember(|c| {
            c.degrees.put(concept.to_owned(), degree);
        });
        Ok(degree)
    }

    /// The facts and definitions for each choice: paths of at most two edges from any
    /// question concept to any of the choice's concepts, best first, `top_k` per choice.
    pub fn retrieve(
        &self,
        graph: &Graph,
        question: &[String],
        choices: &[Vec<String>],
    ) -> Result<Vec<ChoiceFacts>> {
        let all = question.iter().chain(choices.iter().flatten()).map(String::as_str);
        self.prefetch_neighbourhoods(graph, all)?;
        let mut fetched: HashSet<&str> = HashSet::new();
        let mut hoods = Vec::new();
        for concept in question.iter().chain(choices.iter().flatten()) {
            if fetched.insert(concept) {
                hoods.push(self.neighbourhood(graph, concept)?);
            }
        }
        let mut subgraph = Subgraph::default();
        for edge in hoods.iter().flat_map(|h| h.iter()) {
            subgraph.add_edge(edge);
        }
        let mut out = Vec::with_capacity(choices.len());
        for concepts in choices {
            let mut paths: Vec<Path> = Vec::new();
            for c in concepts {
                for q in question {
                    if q != c && !concepts.contains(q) {
                        paths.extend(subgraph.paths(q, c, self.options.two_hop, question));
                    }
                }
            }
            let facts = self.rank(graph, paths, self.options.top_k)?;
            let mut definitions = Vec::new();
            for c in concepts {
                for text in self.definitions(graph, c, self.options.definitions)? {
                    definitions.push(Definition { concept: c.clone(), text });
                }
            }
            out.push(ChoiceFacts { concepts: concepts.clone(), facts, definitions });
        }
        Ok(out)
    }

    /// A path's score: the product of its edges' strengths, `hop_decay` per extra hop, and
    /// the hub penalty of every node but the last (the choice or candidate concept).
    pub fn path_score(&self, graph: &Graph, path: &Path) -> Result<f64> {
        let mut score = self.options.hop_decay.powi(path.edges.len() as i32 - 1);
        for edge in &path.edges {
            score *= edge_strength(edge.weight);
        }
        for node in &path.nodes[..path.nodes.len() - 1] {
            score *= hub_penalty(self.degree(graph, node)?, self.options.hub_degree);
        }
        Ok(score)
    }

    /// Fetches into the cache the degrees of those `concepts` it lacks, in batches of
    /// [`BATCH`] per query, where every query is a round trip (a remote endpoint;
    /// a local store answers each when asked, as fast). The same numbers as
    /// [`Retriever::degree`]: the degree queries group by `?concept`.
    pub(crate) fn prefetch_degrees<'a>(
        &self,
        graph: &Graph,
        concepts: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        let refs = self.to_prefetch(graph, concepts, |cache, c| cache.degrees.contains(c));
        let mut degrees = vec![0u32; refs.len()];
        for query in [&self.degree_out, &self.degree_in] {
            self.run_many(graph, query, &refs, |k, s| {
                if let Some(Term::Literal(n)) = s.get("n") {
                    degrees[k] = degrees[k].saturating_add(n.value().parse().unwrap_or(0));
                }
            })?;
        }
        self.remember(|cache| {
            for (c, d) in refs.iter().zip(degrees) {
                cache.degrees.put((*c).to_owned(), d);
            }
        });
        Ok(())
    }

    /// Scores paths, keeps one fact per sentence, the best `k` (score, then text).
    pub(crate) fn rank(&self, graph: &Graph, paths: Vec<Path>, k: usize) -> Result<Vec<Fact>> {
        let hubs = paths.iter().flat_map(|p| p.nodes.split_last().map_or(&[][..], |(_, r)| r));
        self.prefetch_degrees(graph, hubs.map(String::as_str))?;
        let mut facts: Vec<Fact> = Vec::with_capacity(paths.len());
        for path in paths {
            let score = self.path_score(graph, &path)?;
            let text = verbalize_path(&path.edges);
            facts.push(Fact { edges: path.edges, score, text });
        }
        facts.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.text.cmp(&b.text)));
        let mut seen = std::collections::HashSet::new();
        facts.retain(|f| seen.insert(f.text.clone()));
        facts.truncate(k);
        Ok(facts)
    }
}
