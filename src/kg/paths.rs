//! The retrieval subgraph (petgraph): the edges fetched around a question's concepts, and
//! the paths of one or two edges between two of them, whatever the edges' directions.
//! Nodes and relations borrow the fetched edges' strings (no copies per question).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::kg::verbalize::verbalize;
use crate::kg::vocab::display_name;

/// One edge of the graph, `head relation tail`, with its weight (1.0 when unrecorded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Head concept IRI.
    pub head: String,
    /// Relation IRI.
    pub relation: String,
    /// Tail concept IRI.
    pub tail: String,
    /// The heaviest weight recorded for the edge.
    pub weight: f64,
}

/// A path between two concepts.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    /// The concepts along the path, from its start to its end.
    pub nodes: Vec<String>,
    /// The edges, in path order; each keeps its own direction.
    pub edges: Vec<Edge>,
}

/// A directed multigraph of concepts (nodes: IRIs; edges: relation and weight).
#[derive(Default)]
pub struct Subgraph<'a> {
    graph: DiGraph<&'a str, (&'a str, f64)>,
    index: HashMap<&'a str, NodeIndex>,
    seen: HashSet<(NodeIndex, &'a str, NodeIndex)>,
    adjacency: RefCell<HashMap<NodeIndex, Rc<Vec<NodeIndex>>>>,
}

impl<'a> Subgraph<'a> {
    fn node(&mut self, iri: &'a str) -> NodeIndex {
        if let Some(&i) = self.index.get(iri) {
            return i;
        }
        let i = self.graph.add_node(iri);
        self.index.insert(iri, i);
        i
    }

    /// Adds an edge (once per head, relation, tail).
    pub fn add_edge(&mut self, edge: &'a Edge) {
        let (h, t) = (self.node(&edge.head), self.node(&edge.tail));
        if self.seen.insert((h, &edge.relation, t)) {
            self.graph.add_edge(h, t, (&edge.relation, edge.weight));
        }
    }

    /// Number of concepts.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The edges between `a` and `b`, either direction, sorted.
    fn between(&self, a: NodeIndex, b: NodeIndex) -> Vec<Edge> {
        let mut out: Vec<Edge> = self
            .graph
            .edges_connecting(a, b)
            .chain(self.graph.edges_connecting(b, a))
            .map(|e| Edge {
                head: self.graph[e.source()].to_owned(),
                relation: e.weight().0.to_owned(),
                tail: self.graph[e.target()].to_owned(),
                weight: e.weight().1,
            })
            .collect();
        out.sort_by(|x, y| (&x.head, &x.relation, &x.tail).cmp(&(&y.head, &y.relation, &y.tail)));
        out
    }

    /// The neighbours of a node in either direction, sorted and unique (memoized).
    fn adjacent(&self, i: NodeIndex) -> Rc<Vec<NodeIndex>> {
        if let Some(a) = self.adjacency.borrow().get(&i) {
            return a.clone();
        }
        let mut a: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(i, Direction::Outgoing)
            .chain(self.graph.neighbors_directed(i, Direction::Incoming))
            .collect();
        a.sort_unstable();
        a.dedup();
        let a = Rc::new(a);
        self.adjacency.borrow_mut().insert(i, a.clone());
        a
    }

    /// The neighbours of `iri` in either direction, sorted by IRI.
    pub fn neighbours(&self, iri: &str) -> Vec<String> {
        let Some(&i) = self.index.get(iri) else { return Vec::new() };
        let mut out: Vec<String> =
            self.adjacent(i).iter().map(|&n| self.graph[n].to_owned()).collect();
        out.sort();
        out
    }

    /// Every path from `from` to `to`: direct edges, and with `two_hop` every pair of edges
    /// through one intermediate concept not in `skip` (e.g. the other question concepts,
    /// whose own direct edges already say it). Deterministic order.
    pub fn paths(&self, from: &str, to: &str, two_hop: bool, skip: &[String]) -> Vec<Path> {
        let (Some(&a), Some(&b)) = (self.index.get(from), self.index.get(to)) else {
            return Vec::new();
        };
        let mut out: Vec<Path> = self
            .between(a, b)
            .into_iter()
            .map(|e| Path { nodes: vec![from.to_owned(), to.to_owned()], edges: vec![e] })
            .collect();
        if !two_hop {
            return out;
        }
        // Intermediates: the common neighbours, walking the smaller list.
        let (na, nb) = (self.adjacent(a), self.adjacent(b));
        let (small, large) = if na.len() <= nb.len() { (&na, &nb) } else { (&nb, &na) };
        let mut middles: Vec<&str> = small
            .iter()
            .filter(|m| large.binary_search(m).is_ok())
            .map(|&m| self.graph[m])
            .filter(|&m| m != from && m != to && !skip.iter().any(|s| s == m))
            .collect();
        middles.sort_unstable();
        for middle in middles {
            let m = self.index[middle];
            let second = self.between(m, b);
            for e1 in self.between(a, m) {
                for e2 in &second {
                    out.push(Path {
                        nodes: vec![from.to_owned(), middle.to_owned(), to.to_owned()],
                        edges: vec![e1.clone(), e2.clone()],
                    });
                }
            }
        }
        out
    }
}

/// A path as text: each edge verbalized in its own direction, joined by ", and ".
pub fn verbalize_path(edges: &[Edge]) -> String {
    edges
        .iter()
        .map(|e| verbalize(&display_name(&e.head), &e.relation, &display_name(&e.tail)))
        .collect::<Vec<_>>()
        .join(", and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(h: &str, r: &str, t: &str) -> Edge {
        Edge {
            head: format!("http://conceptnet.io/c/en/{h}"),
            relation: format!("http://conceptnet.io/r/{r}"),
            tail: format!("http://conceptnet.io/c/en/{t}"),
            weight: 1.0,
        }
    }

    #[test]
    fn direct_and_two_hop_paths_in_either_direction() {
        let edges = [
            edge("trowel", "UsedFor", "dig"),
            edge("trowel", "UsedFor", "dig"),
            edge("trowel", "UsedFor", "plant"),
            edge("flower", "HasPrerequisite", "plant"),
        ];
        let mut g = Subgraph::default();
        for e in &edges {
            g.add_edge(e);
        }
        assert_eq!(g.edge_count(), 3);
        assert_eq!(g.node_count(), 4);
        let c = |t: &str| format!("http://conceptnet.io/c/en/{t}");
        let direct = g.paths(&c("dig"), &c("trowel"), true, &[]);
        assert_eq!(direct.len(), 1);
        assert_eq!(verbalize_path(&direct[0].edges), "trowel is used for dig");
        let two = g.paths(&c("flower"), &c("trowel"), true, &[]);
        assert_eq!(two.len(), 1);
        assert_eq!(
            verbalize_path(&two[0].edges),
            "flower requires plant, and trowel is used for plant"
        );
        assert!(g.paths(&c("flower"), &c("trowel"), false, &[]).is_empty());
        assert!(g.paths(&c("flower"), &c("trowel"), true, &[c("plant")]).is_empty());
        assert_eq!(g.neighbours(&c("plant")), [c("flower"), c("trowel")]);
    }
}
