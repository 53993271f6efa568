//! Candidate answers for open-ended questions: the concepts within two hops of the
//! question's concepts whose last edge is one that can answer a question (UsedFor,
//! AtLocation, CapableOf, ...), ranked by their paths' scores.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::kg::error::Result;
use crate::kg::paths::Path;
use crate::kg::retrieve::{Edge, Fact, Retriever, hub_penalty};
use crate::kg::store::Graph;
use crate::kg::vocab;
use crate::kg::vocab::display_name;

/// ConceptNet relations whose other end can answer a question about a concept.
pub const ANSWER_RELATIONS: &[&str] = &[
    "UsedFor",
    "CapableOf",
    "AtLocation",
    "LocatedNear",
    "HasPrerequisite",
    "Causes",
    "CausesDesire",
    "HasSubevent",
    "HasFirstSubevent",
    "HasLastSubevent",
    "MotivatedByGoal",
    "Desires",
    "HasA",
    "PartOf",
    "MadeOf",
    "IsA",
    "HasProperty",
    "ReceivesAction",
    "CreatedBy",
    "SimilarTo",
    "Synonym",
];

/// Intermediate concepts expanded for 2-hop candidates (the best-scored 1-hop ones).
const EXPAND: usize = 16;
/// Weight of a path from a context concept (outside the asking sentence).
const CONTEXT_WEIGHT: f64 = 0.5;
/// Weight of a last edge that can answer but does not fit the question's kind.
const OFF_KIND_WEIGHT: f64 = 0.3;

/// What a question asks for, from its wording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerKind {
    /// "what did we dig with?", "what tool ...": something used to do it.
    Instrument,
    /// "where ...": a place.
    Location,
    /// "why ...": a goal or cause.
    Reason,
    /// "what happens ...", "what will result ...": an effect.
    Effect,
    /// "who ...": an agent.
    Agent,
    /// Anything else.
    #[default]
    Any,
}

/// Cue words, checked in order on the asking sentence's words.
const CUES: &[(AnswerKind, &[&str])] = &[
    (AnswerKind::Location, &["where"]),
    (AnswerKind::Reason, &["why", "reason", "purpose"]),
    (AnswerKind::Agent, &["who", "whom"]),
    (AnswerKind::Instrument, &["with", "tool", "tools", "use", "used", "using", "instrument"]),
    (AnswerKind::Effect, &["happen", "happens", "result", "results", "effect", "cause", "causes"]),
];

/// `(relation, the candidate is the edge's head)` pairs that fit each kind.
fn fits(kind: AnswerKind, relation: &str, candidate_is_head: bool) -> bool {
    let pairs: &[(&str, bool)] = match kind {
        AnswerKind::Instrument => &[("UsedFor", true), ("HasPrerequisite", false)],
        AnswerKind::Location => &[
            ("AtLocation", false),
            ("LocatedNear", false),
            ("LocatedNear", true),
            ("PartOf", false),
        ],
        AnswerKind::Reason => &[("MotivatedByGoal", false), ("Causes", true), ("UsedFor", false)],
        AnswerKind::Effect => &[
            ("Causes", false),
            ("HasSubevent", false),
            ("CausesDesire", false),
            ("HasLastSubevent", false),
        ],
        AnswerKind::Agent => &[("CapableOf", true), ("Desires", true), ("CreatedBy", false)],
        AnswerKind::Any => return true,
    };
    relation
        .strip_prefix(vocab::CN_RELATION)
        .is_some_and(|name| pairs.iter().any(|&(n, h)| n == name && h == candidate_is_head))
}

/// The kind of answer the asking sentence wants (the first cue found, in [`CUES`] order).
pub fn answer_kind(asking: &str) -> AnswerKind {
    let words: Vec<String> =
        crate::kg::text::tokenize(asking).into_iter().map(|t| t.text).collect();
    CUES.iter()
        .find(|(_, cues)| words.iter().any(|w| cues.contains(&w.as_str())))
        .map_or(AnswerKind::Any, |(kind, _)| *kind)
}

/// The byte range of the asking sentence: the last one that ends with `?`, else the last.
/// A semicolon ends a clause as a full stop does ("we dug the ground to plant flowers;
/// what did we dig with?" asks "what did we dig with?", the rest is context).
pub fn asking_sentence(text: &str) -> std::ops::Range<usize> {
    let mut start = 0;
    let mut sentences = Vec::new();
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | ';' | '\n') {
            sentences.push((start..i + c.len_utf8(), c == '?'));
            start = i + c.len_utf8();
        }
    }
    if !text[start..].trim().is_empty() {
        sentences.push((start..text.len(), false));
    }
    sentences
        .iter()
        .rev()
        .find(|(_, q)| *q)
        .or(sentences.last())
        .map_or(0..text.len(), |(r, _)| r.clone())
}

/// The question's concepts, split by where they occur.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Focus {
    /// Concepts of the asking sentence.
    pub focus: Vec<String>,
    /// Concepts of the other sentences (and the passage).
    pub context: Vec<String>,
    /// What the question asks for.
    pub kind: AnswerKind,
}

/// A proposed answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The concept IRI.
    pub concept: String,
    /// Its readable name (the answer text).
    pub label: String,
    /// `1 - prod over question concepts (1 - best weighted path score)`, times the
    /// candidate's own hub penalty.
    pub score: f64,
    /// Its best paths from the question, best first.
    pub facts: Vec<Fact>,
}

fn answers(relation: &str) -> bool {
    relation.strip_prefix(vocab::CN_RELATION).is_some_and(|name| ANSWER_RELATIONS.contains(&name))
}

fn other_end<'a>(edge: &'a Edge, concept: &str) -> &'a str {
    if edge.head == concept { &edge.tail } else { &edge.head }
}

impl Retriever {
    /// The best `n` candidates for a question: concepts one or two edges away from its
    /// concepts, the last edge an answering relation. A path's weight is its score, halved
    /// for context concepts, and cut to 0.3 when the last edge does not fit the question's
    /// kind; a candidate adds up (noisy-or) the best path from each question concept.
    pub fn candidates(&self, graph: &Graph, question: &Focus, n: usize) -> Result<Vec<Candidate>> {
        let all: Vec<&String> = question.focus.iter().chain(&question.context).collect();
        let excluded: HashSet<&str> = all.iter().map(|s| s.as_str()).collect();
        let is_candidate = |iri: &str| {
            !excluded.contains(iri) && vocab::concept_term(iri).is_some_and(|(l, _)| l == "en")
        };
        let mut paths: BTreeMap<String, Vec<Path>> = BTreeMap::new();
        let mut first_hops: Vec<(f64, Path)> = Vec::new();
        for q in &all {
            for edge in self.neighbourhood(graph, q)?.iter().cloned() {
                let x = other_end(&edge, q).to_owned();
                if x == **q || excluded.contains(x.as_str()) {
                    continue;
                }
                let path = Path { nodes: vec![(*q).clone(), x.clone()], edges: vec![edge] };
                if answers(&path.edges[0].relation) && is_candidate(&x) {
                    paths.entry(x).or_default().push(path.clone());
                }
                first_hops.push((self.path_score(graph, &path)?, path));
            }
        }
        first_hops
            .sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.nodes[1].cmp(&b.1.nodes[1])));
        let mut expanded: HashSet<String> = HashSet::new();
        for (_, first) in first_hops {
            if expanded.len() >= EXPAND {
                break;
            }
            let middle = first.nodes[1].clone();
            if excluded.contains(middle.as_str()) || !expanded.insert(middle.clone()) {
                continue;
            }
            for edge in self.neighbourhood(graph, &middle)?.iter().cloned() {
                let x = other_end(&edge, &middle).to_owned();
                if x == middle || !answers(&edge.relation) || !is_candidate(&x) {
                    continue;
                }
                let path = Path {
                    nodes: vec![first.nodes[0].clone(), middle.clone(), x.clone()],
                    edges: vec![first.edges[0].clone(), edge],
                };
                paths.entry(x).or_default().push(path);
            }
        }
        // Every degree scoring needs (each candidate's and its paths' hubs), in batches.
        let hubs = paths.iter().flat_map(|(concept, ps)| {
            let inner = ps.iter().flat_map(|p| p.nodes.split_last().map_or(&[][..], |(_, r)| r));
            std::iter::once(concept).chain(inner).map(String::as_str)
        });
        self.prefetch_degrees(graph, hubs)?;
        let mut out = Vec::with_capacity(paths.len());
        for (concept, candidate_paths) in paths {
            // The best weighted path from each question concept.
            let mut best: BTreeMap<&str, f64> = BTreeMap::new();
            for path in &candidate_paths {
                let last = path.edges.last().expect("paths have edges");
                let mut w = self.path_score(graph, path)?;
                if !question.focus.contains(&path.nodes[0]) {
                    w *= CONTEXT_WEIGHT;
                }
                if !fits(question.kind, &last.relation, last.head == concept) {
                    w *= OFF_KIND_WEIGHT;
                }
                let slot = best.entry(path.nodes[0].as_str()).or_insert(0.0);
                *slot = slot.max(w);
            }
            let miss: f64 = best.values().map(|w| 1.0 - w).product();
            let own = hub_penalty(self.degree(graph, &concept)?, self.options().hub_degree);
            let score = (1.0 - miss) * own;
            let facts = self.rank(graph, candidate_paths, self.options().top_k)?;
            out.push(Candidate { label: display_name(&concept), concept, score, facts });
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.label.cmp(&b.label)));
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_asking_sentences() {
        let text = "We dug the ground to plant flowers. What did we dig with?";
        let r = asking_sentence(text);
        assert_eq!(&text[r], " What did we dig with?");
        assert_eq!(answer_kind("What did we dig with?"), AnswerKind::Instrument);
        assert_eq!(answer_kind("Where would you find a trowel?"), AnswerKind::Location);
        assert_eq!(answer_kind("Why do people dig?"), AnswerKind::Reason);
        assert_eq!(answer_kind("What is a trowel?"), AnswerKind::Any);
        assert_eq!(asking_sentence("no end"), 0..6);
        let text = "We dug the ground to plant flowers; what did we dig with?";
        assert_eq!(&text[asking_sentence(text)], " what did we dig with?");
    }
}
