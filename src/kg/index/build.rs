//! Building a concept index: one scan of the store's default graph (what retrieval's
//! queries read), every term numbered, then retrieval's queries answered for every
//! concept at once by joins over the numbered statements, each row going through the same
//! [`Neighbourhood`] rules as a query row does.

use std::cmp::Ordering;
use std::collections::HashMap;

use oxigraph::model::{GraphNameRef, NamedNode, Term, TermRef, Variable};
use oxigraph::sparql::{QueryResults, SparqlEvaluator};
use oxigraph::store::Store;

use super::{CONCEPT, DEFINITIONS, EDGE, HEADER, MAGIC, OUTGOING};
use crate::kg::error::Result;
use crate::kg::neighbourhood::{Neighbourhood, Query};
use crate::kg::vocab;

/// Builds the index of everything in `store` as the bytes of its file.
pub fn build(store: &Store) -> Result<Vec<u8>> {
    let terms = Terms::scan(store)?;
    let mut out = Output::default();
    let mut hoods: HashMap<u32, Neighbourhood<u32>> = HashMap::new();
    for (query, concept, row) in terms.neighbourhood_rows() {
        let Some(iri) = terms.iri(concept) else { continue };
        let hood = hoods.entry(concept).or_default();
        hood.add(query, iri, row, |t| out.id(t));
    }
    let definitions = terms.definitions(store)?;
    let mut concepts: Vec<u32> = hoods.keys().chain(definitions.keys()).copied().collect();
    concepts.sort_unstable();
    concepts.dedup();
    let empty = Neighbourhood::default();
    let mut records = Vec::with_capacity(concepts.len());
    for c in concepts {
        let Some(iri) = terms.iri(c) else { continue };
        let defs = definitions.get(&c).map_or(&[][..], Vec::as_slice);
        let defs: Vec<u32> = defs.iter().map(|d| out.id(d)).collect();
        records.push((out.id(iri), hoods.get(&c).unwrap_or(&empty), defs));
    }
    Ok(out.serialize(records))
}

/// The kinds of term retrieval's queries tell apart.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Kind {
    Iri,
    Blank,
    Literal,
}

/// Every term of the default graph, numbered, and its statements as numbers.
struct Terms {
    /// IRIs, blank nodes and literals (by their N-Triples form), each kind apart.
    ids: [HashMap<Box<str>, u32>; 3],
    terms: Vec<Term>,
    /// Sorted by subject.
    triples: Vec<[u32; 3]>,
    /// `kgqa:sense` statements: senses by concept and concepts by sense.
    senses: HashMap<u32, Vec<u32>>,
    sensed: HashMap<u32, Vec<u32>>,
}

/// What a row gives a concept: relation and neighbour when IRIs, weight when a literal.
type Row<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

impl Terms {
    fn scan(store: &Store) -> Result<Self> {
        let mut t = Terms {
            ids: Default::default(),
            terms: Vec::new(),
            triples: Vec::new(),
            senses: HashMap::new(),
            sensed: HashMap::new(),
        };
        let sense = t.id(NamedNode::new_unchecked(format!("{}sense", vocab::KGQA)).as_ref().into());
        for quad in store.quads_for_pattern(None, None, None, Some(GraphNameRef::DefaultGraph)) {
            let quad = quad?;
            let s = t.id(quad.subject.as_ref().into());
            let p = t.id(quad.predicate.as_ref().into());
            let o = t.id(quad.object.as_ref());
            t.triples.push([s, p, o]);
            if p == sense {
                t.senses.entry(s).or_default().push(o);
                t.sensed.entry(o).or_default().push(s);
            }
        }
        t.triples.sort_unstable();
        Ok(t)
    }

    fn id(&mut self, term: TermRef<'_>) -> u32 {
        let literal;
        let (kind, key) = match term {
            TermRef::NamedNode(n) => (Kind::Iri, n.as_str()),
            TermRef::BlankNode(b) => (Kind::Blank, b.as_str()),
            _ => {
                literal = term.to_string();
                (Kind::Literal, literal.as_str())
            }
        };
        if let Some(&id) = self.ids[kind as usize].get(key) {
            return id;
        }
        let id = self.terms.len() as u32;
        self.ids[kind as usize].insert(key.into(), id);
        self.terms.push(term.into_owned());
        id
    }

    fn iri(&self, id: u32) -> Option<&str> {
        match &self.terms[id as usize] {
            Term::NamedNode(n) => Some(n.as_str()),
            _ => None,
        }
    }

    fn literal(&self, id: u32) -> Option<&str> {
        match &self.terms[id as usize] {
            Term::Literal(l) => Some(l.value()),
            _ => None,
        }
    }

    fn lookup(&self, iri: &str) -> Option<u32> {
        self.ids[Kind::Iri as usize].get(iri).copied()
    }

    /// The statements whose subject is `s`.
    fn about(&self, s: u32) -> &[[u32; 3]] {
        let start = self.triples.partition_point(|t| t[0] < s);
        let end = self.triples.partition_point(|t| t[0] <= s);
        &self.triples[start..end]
    }

    /// Every row of the neighbourhood queries, as (query, concept, row).
    fn neighbourhood_rows(&self) -> impl Iterator<Item = (Query, u32, Row<'_>)> {
        let edges = self.triples.iter().flat_map(move |&[s, p, o]| {
            let (rel, subject, object) = (self.iri(p), self.iri(s), self.iri(o));
            // edges_out: ?concept ?relation ?neighbour, the neighbour an IRI; edges_in the
            // other way round.
            let out = object.map(|_| (Query::EdgesOut, s, (rel, object, None)));
            let inn = subject.map(|_| (Query::EdgesIn, o, (rel, subject, None)));
            out.into_iter().chain(inn)
        });
        edges.chain(self.weight_rows()).chain(self.wordnet_rows())
    }

    /// weights_out / weights_in: the edge nodes' subject, predicate, object and weight.
    fn weight_rows(&self) -> impl Iterator<Item = (Query, u32, Row<'_>)> {
        let ids = [vocab::RDF_SUBJECT, vocab::RDF_PREDICATE, vocab::RDF_OBJECT]
            .map(|p| self.lookup(p))
            .into_iter()
            .chain([self.lookup(&format!("{}weight", vocab::KGQA))])
            .collect::<Option<Vec<u32>>>();
        let Some(&[subject, predicate, object, weight]) = ids.as_deref() else {
            return Vec::new().into_iter();
        };
        let mut rows = Vec::new();
        let mut edge_nodes: Vec<u32> =
            self.triples.iter().filter(|t| t[1] == subject).map(|t| t[0]).collect();
        edge_nodes.dedup();
        for e in edge_nodes {
            let about = self.about(e);
            let values = |p: u32| about.iter().filter(move |t| t[1] == p).map(|t| t[2]);
            for s in values(subject) {
                for r in values(predicate) {
                    for o in values(object) {
                        for w in values(weight) {
                            let (rel, weight) = (self.iri(r), self.literal(w));
                            rows.push((Query::WeightsOut, s, (rel, self.iri(o), weight)));
                            rows.push((Query::WeightsIn, o, (rel, self.iri(s), weight)));
                        }
                    }
                }
            }
        }
        rows.into_iter()
    }

    /// wordnet_edges (links between senses, lifted to the concepts having them) and
    /// wordnet_synonyms (concepts sharing a sense).
    fn wordnet_rows(&self) -> impl Iterator<Item = (Query, u32, Row<'_>)> {
        let links = self.senses.iter().flat_map(|(&c, senses)| senses.iter().map(move |&s| (c, s)));
        links.flat_map(move |(c, sense)| {
            let lifted = self.about(sense).iter().flat_map(move |&[_, r, other]| {
                let neighbours = self.sensed.get(&other).map_or(&[][..], Vec::as_slice);
                neighbours
                    .iter()
                    .map(move |&n| (Query::WordNet, c, (self.iri(r), self.iri(n), None)))
            });
            let same = self.sensed.get(&sense).map_or(&[][..], Vec::as_slice);
            let synonyms =
                same.iter().map(move |&n| (Query::Synonyms, c, (None, self.iri(n), None)));
            lifted.chain(synonyms)
        })
    }

    /// The first [`DEFINITIONS`] distinct definitions of every concept that has one: its
    /// own by `definitions.rq`'s order, then its senses' by `sense_definitions.rq`'s.
    fn definitions(&self, store: &Store) -> Result<HashMap<u32, Vec<String>>> {
        let mut out: HashMap<u32, Vec<String>> = HashMap::new();
        let Some(definition) = self.lookup(vocab::SKOS_DEFINITION) else { return Ok(out) };
        let of = |s: u32| self.about(s).iter().filter(move |t| t[1] == definition).map(|t| t[2]);
        let mut concepts: Vec<u32> =
            self.triples.iter().filter(|t| t[1] == definition).map(|t| t[0]).collect();
        concepts.extend(self.senses.keys());
        concepts.sort_unstable();
        concepts.dedup();
        for c in concepts {
            if self.iri(c).is_none() {
                continue;
            }
            let mut own: Vec<(u32, u32)> = of(c).map(|d| (0, d)).collect();
            let senses = self.senses.get(&c).map_or(&[][..], Vec::as_slice);
            let mut theirs: Vec<(u32, u32)> =
                senses.iter().flat_map(|&s| of(s).map(move |d| (s, d))).collect();
            if own.iter().chain(&theirs).any(|&(_, d)| self.unordered(d)) {
                // Literals SPARQL orders by their values (numbers, dates): its own order.
                let iri = self.iri(c).expect("checked");
                out.insert(c, queried_definitions(store, iri)?);
                continue;
            }
            own.sort_by(|a, b| self.cmp(a.1, b.1));
            theirs.sort_by(|a, b| self.cmp(a.0, b.0).then_with(|| self.cmp(a.1, b.1)));
            let mut kept: Vec<String> = Vec::new();
            for text in own.iter().chain(&theirs).filter_map(|&(_, d)| self.literal(d)) {
                if kept.len() < DEFINITIONS && !kept.iter().any(|k| k == text) {
                    kept.push(text.to_owned());
                }
            }
            if !kept.is_empty() {
                out.insert(c, kept);
            }
        }
        Ok(out)
    }

    /// Whether SPARQL's ORDER BY compares this term by something else than its text (a
    /// literal other than a plain or language-tagged string).
    fn unordered(&self, id: u32) -> bool {
        match &self.terms[id as usize] {
            Term::Literal(l) => {
                let string = l.datatype().as_str() == "http://www.w3.org/2001/XMLSchema#string";
                !(string || l.language().is_some())
            }
            _ => false,
        }
    }

    /// SPARQL's ORDER BY on IRIs, blank nodes and string literals: blank nodes, then IRIs,
    /// then literals; strings by value, datatype, language.
    fn cmp(&self, a: u32, b: u32) -> Ordering {
        fn rank(t: &Term) -> (u8, &str, &str, Option<&str>) {
            match t {
                Term::BlankNode(b) => (0, b.as_str(), "", None),
                Term::NamedNode(n) => (1, n.as_str(), "", None),
                Term::Literal(l) => (2, l.value(), l.datatype().as_str(), l.language()),
                #[allow(unreachable_patterns)]
                _ => (3, "", "", None),
            }
        }
        rank(&self.terms[a as usize]).cmp(&rank(&self.terms[b as usize]))
    }
}

/// A concept's definitions through retrieval's own queries (literals whose order SPARQL
/// decides by their values).
fn queried_definitions(store: &Store, iri: &str) -> Result<Vec<String>> {
    let mut kept: Vec<String> = Vec::new();
    for query in [Query::Definitions, Query::SenseDefinitions] {
        let prepared = SparqlEvaluator::new().parse_query(query.text())?;
        let bound = prepared
            .on_store(store)
            .substitute_variable(Variable::new_unchecked("concept"), NamedNode::new_unchecked(iri));
        if let QueryResults::Solutions(rows) = bound.execute()? {
            for row in rows {
                if let Some(Term::Literal(l)) = row?.get("definition")
                    && kept.len() < DEFINITIONS
                    && !kept.iter().any(|k| k == l.value())
                {
                    kept.push(l.value().to_owned());
                }
            }
        }
    }
    Ok(kept)
}

/// The strings of the file, numbered in order of first use.
#[derive(Default)]
struct Output {
    ids: HashMap<String, u32>,
    texts: Vec<String>,
}

impl Output {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.ids.insert(text.to_owned(), id);
        self.texts.push(text.to_owned());
        id
    }

    /// The file: `records` are (concept IRI id, neighbourhood, definition ids).
    fn serialize(self, mut records: Vec<(u32, &Neighbourhood<u32>, Vec<u32>)>) -> Vec<u8> {
        let texts = self.texts;
        records.sort_by(|a, b| texts[a.0 as usize].cmp(&texts[b.0 as usize]));
        let (mut concepts, mut edges, mut defs) = (Vec::new(), Vec::new(), Vec::new());
        for (iri, hood, definitions) in &records {
            let first_edge = (edges.len() / EDGE) as u64;
            let sorted = hood.sorted(&texts[*iri as usize], |&i| &texts[i as usize]);
            for (outgoing, relation, neighbour, weight) in &sorted {
                edges.extend(neighbour.to_le_bytes());
                edges.extend((*relation | if *outgoing { OUTGOING } else { 0 }).to_le_bytes());
                edges.extend(weight.to_le_bytes());
            }
            concepts.extend([*iri, hood.degree()].iter().flat_map(|v| v.to_le_bytes()));
            concepts.extend(first_edge.to_le_bytes());
            let tail = [sorted.len() as u32, defs.len() as u32, definitions.len() as u32, 0];
            concepts.extend(tail.iter().flat_map(|v| v.to_le_bytes()));
            defs.extend(definitions.iter().copied());
        }
        let mut out = Vec::with_capacity(HEADER + concepts.len() + edges.len());
        out.extend(MAGIC);
        for n in [texts.len(), records.len(), edges.len() / EDGE, defs.len()] {
            out.extend((n as u64).to_le_bytes());
        }
        let mut offset = 0u64;
        out.extend(offset.to_le_bytes());
        for t in &texts {
            offset += t.len() as u64;
            out.extend(offset.to_le_bytes());
        }
        debug_assert_eq!(concepts.len(), records.len() * CONCEPT);
        out.extend(concepts);
        out.extend(edges);
        out.extend(defs.iter().flat_map(|d| d.to_le_bytes()));
        for t in &texts {
            out.extend(t.as_bytes());
        }
        super::seal(out)
    }
}
