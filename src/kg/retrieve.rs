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

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use oxigraph::model::{NamedNode, Term, Variable};
use oxigraph::sparql::{PreparedSparqlQuery, QueryResults, QuerySolution, SparqlEvaluator};
use serde::{Deserialize, Serialize};

use crate::kg::endpoint::bind_concepts;
use crate::kg::error::{Error, Result};
use crate::kg::index::ConceptIndex;
use crate::kg::neighbourhood::{NEIGHBOURHOOD, Neighbourhood, Query};
pub use crate::kg::paths::Edge;
use crate::kg::paths::{Path, Subgraph, verbalize_path};
use crate::kg::store::{Graph, Source};

/// Definitions kept per concept in the cache (more are fetched when asked for).
const CACHED_DEFINITIONS: usize = crate::kg::index::DEFINITIONS;

/// The graph's concept index, when it has one, once `concept` is known to be an IRI (as
/// the queries require).
fn indexed<'g>(graph: &'g Graph, concept: &str) -> Result<Option<&'g ConceptIndex>> {
    let Some(index) = graph.concept_index() else { return Ok(None) };
    NamedNode::new(concept)
        .map_err(|e| Error::InvalidIri { iri: concept.to_owned(), message: e.to_string() })?;
    Ok(Some(index))
}

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
    /// Curated knowledge: 2-hop paths only where they say something ([`informative`]),
    /// and each choice defined by the sense its question speaks of
    /// ([`crate::kg::sense::choose`]). Off by default: a model trained on plain facts reads
    /// plain facts.
    #[serde(default)]
    pub curated: bool,
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
            curated: false,
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

/// Relations that only say how words relate (taxonomy, synonymy, derivation): two of them
/// in a row rarely tell a question's concept anything about a choice.
const LEXICAL: &[&str] = &[
    "http://conceptnet.io/r/IsA",
    "http://conceptnet.io/r/Synonym",
    "http://conceptnet.io/r/Antonym",
    "http://conceptnet.io/r/SimilarTo",
    "http://conceptnet.io/r/RelatedTo",
    "http://conceptnet.io/r/DerivedFrom",
    "http://conceptnet.io/r/FormOf",
    "http://conceptnet.io/r/EtymologicallyRelatedTo",
    "http://conceptnet.io/r/InheritsFrom",
    "http://kgqa.dev/wn#hyponym",
    "http://kgqa.dev/wn#instanceHyponym",
    "http://kgqa.dev/wn#alsoSee",
    "http://kgqa.dev/wn#verbGroup",
    "http://kgqa.dev/wn#attribute",
    "http://kgqa.dev/wn#derivation",
    "http://kgqa.dev/wn#participle",
    "http://kgqa.dev/wn#pertainym",
    "http://kgqa.dev/wn#domainUsage",
    "http://kgqa.dev/wn#memberOfUsage",
];

/// Whether a path says something: a single edge always does; a 2-hop path does when one
/// of its edges is more than a word relation ([`LEXICAL`]) and none is a derivation
/// ("find is derived from the same word as restoration").
pub fn informative(edges: &[Edge]) -> bool {
    let lexical = |e: &Edge| LEXICAL.contains(&e.relation.as_str());
    let derivation = |e: &Edge| e.relation.ends_with("#derivation");
    edges.len() < 2 || (!edges.iter().all(lexical) && !edges.iter().any(derivation))
}

/// Runs the retrieval queries. Shareable between threads: queries are parsed once, and
/// what depends only on the store (neighbourhoods, definitions, degrees) is cached per
/// concept, least recently used out first.
pub struct Retriever {
    /// The queries of [`NEIGHBOURHOOD`], in its order.
    neighbourhood: Vec<OwnQuery>,
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
            neighbourhood: NEIGHBOURHOOD
                .map(|q| parse(q.text()))
                .into_iter()
                .collect::<Result<Vec<_>>>()?,
            definitions: parse(Query::Definitions.text())?,
            sense_definitions: parse(Query::SenseDefinitions.text())?,
            degree_out: parse(Query::DegreeOut.text())?,
            degree_in: parse(Query::DegreeIn.text())?,
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
        let edges = Arc::new(match indexed(graph, concept)? {
            Some(index) => index.neighbourhood(concept)?,
            None => self.fetch_neighbourhoods(graph, &[concept])?.remove(0),
        });
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
        let mut hoods: Vec<Neighbourhood<String>> =
            concepts.iter().map(|_| Neighbourhood::default()).collect();
        for (query, own) in NEIGHBOURHOOD.into_iter().zip(&self.neighbourhood) {
            self.run_many(graph, own, concepts, |k, s| {
                hoods[k].row(query, concepts[k], s, str::to_owned);
            })?;
        }
        self.remember(|c| {
            for (concept, hood) in concepts.iter().zip(&hoods) {
                c.degrees.put((*concept).to_owned(), hood.degree());
            }
        });
        Ok(concepts
            .iter()
            .zip(&hoods)
            .map(|(concept, hood)| {
                hood.sorted(concept, String::as_str)
                    .into_iter()
                    .map(|(out, relation, neighbour, weight)| {
                        let (head, tail) = if out {
                            ((*concept).to_owned(), neighbour.clone())
                        } else {
                            (neighbour.clone(), (*concept).to_owned())
                        };
                        Edge { head, relation: relation.clone(), tail, weight }
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
            let indexed = match indexed(graph, concept)? {
                Some(index) => index.definitions(concept, CACHED_DEFINITIONS)?,
                None => None,
            };
            let d = Arc::new(match indexed {
                Some(d) => d,
                None => self.fetch_definitions(graph, concept, CACHED_DEFINITIONS)?,
            });
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
            self.run(graph, query, concept, |s| add_definition(&mut out, s, n))?;
        }
        Ok(out)
    }

    /// How many statements mention `concept` as subject or object (cached): the measure
    /// behind the hub penalty.
    pub fn degree(&self, graph: &Graph, concept: &str) -> Result<u32> {
        if let Some(d) = self.cached(|c| c.degrees.get(concept).copied()) {
            return Ok(d);
        }
        if let Some(index) = indexed(graph, concept)? {
            let degree = index.degree(concept)?;
            self.remember(|c| {
                c.degrees.put(concept.to_owned(), degree);
            });
            return Ok(degree);
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
                        let found = subgraph.paths(q, c, self.options.two_hop, question);
                        let curated = self.options.curated;
                        paths.extend(
                            found.into_iter().filter(|p| !curated || informative(&p.edges)),
                        );
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

    /// Fetches into the cache the definitions of those `concepts` it lacks, in batches of
    /// [`BATCH`] per query, where every query is a round trip (a remote endpoint; a local
    /// store reads them from its concept index when asked). The same lists as
    /// [`Retriever::definitions`]: the concept's own definitions first, then its senses'.
    pub(crate) fn prefetch_definitions<'a>(
        &self,
        graph: &Graph,
        concepts: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        let refs = self.to_prefetch(graph, concepts, |cache, c| cache.definitions.contains(c));
        let mut found = vec![Vec::<String>::new(); refs.len()];
        for query in [&self.definitions, &self.sense_definitions] {
            self.run_many(graph, query, &refs, |k, s| {
                add_definition(&mut found[k], s, CACHED_DEFINITIONS)
            })?;
        }
        self.remember(|cache| {
            for (c, d) in refs.iter().zip(found) {
                cache.definitions.put((*c).to_owned(), Arc::new(d));
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

/// Appends a solution's `definition` literal to `out` unless `out` holds `n` already or
/// holds it: the one rule of [`Retriever::definitions`] and its batched prefetch.
fn add_definition(out: &mut Vec<String>, solution: &QuerySolution, n: usize) {
    if let Some(Term::Literal(l)) = solution.get("definition")
        && out.len() < n
        && !out.iter().any(|d| d == l.value())
    {
        out.push(l.value().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(relation: &str) -> Edge {
        let r = match relation.strip_prefix("wn:") {
            Some(name) => format!("{}{name}", crate::kg::vocab::WN_RELATION),
            None => format!("http://conceptnet.io/r/{relation}"),
        };
        Edge { head: "a".into(), relation: r, tail: "b".into(), weight: 1.0 }
    }

    #[test]
    fn two_word_relations_in_a_row_say_nothing() {
        assert!(informative(&[edge("wn:derivation")]), "one edge always counts");
        assert!(informative(&[edge("IsA"), edge("AtLocation")]));
        assert!(informative(&[edge("UsedFor"), edge("wn:domainTopic")]));
        assert!(!informative(&[edge("wn:hyponym"), edge("IsA")]));
        assert!(!informative(&[edge("Synonym"), edge("Antonym")]));
        assert!(!informative(&[edge("wn:derivation"), edge("HasSubevent")]));
    }
}
