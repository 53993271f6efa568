//! The grounding lexicon: normalized surface forms -> concept IRIs.
//!
//! Forms come from English (or untagged) `rdfs:label`s and from the terms of ConceptNet
//! concept IRIs, so that graphs written without labels ground too. In-memory graphs build
//! it by scanning the store ([`Lexicon::build`]); on-disk stores extend the previous
//! generation's lexicon with what a load emits (no scan) and keep it beside each
//! generation as `lexicon-N.tsv` (`form<TAB>iri<TAB>iri...`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use oxigraph::model::{Literal, NamedNodeRef, NamedOrBlankNode, Quad, Term};
use oxigraph::store::Store;

use crate::kg::endpoint::Endpoint;

use crate::kg::error::{Error, Result};
use crate::kg::text::normalize_phrase;
use crate::kg::vocab;

/// Rows per request when a remote graph's lexicon is fetched (what a `kgqa serve` endpoint
/// answers by default).
pub const FETCH_PAGE: usize = 10_000;

const LABELS: &str = include_str!("../../kg/queries/lexicon_labels.rq");
const LABELS_COUNT: &str = include_str!("../../kg/queries/lexicon_labels_count.rq");
const CONCEPTS: &str = include_str!("../../kg/queries/lexicon_concepts.rq");
const CONCEPTS_COUNT: &str = include_str!("../../kg/queries/lexicon_concepts_count.rq");

/// The name in the trailer line that ends a lexicon file (`<TAB>NAME<TAB>entries`): a line
/// no form can start, so a file cut at a line boundary is told from a whole one.
pub const TRAILER: &str = "kgqa-lexicon-entries";

/// Surface forms to concepts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lexicon {
    entries: HashMap<String, Vec<String>>,
    max_words: usize,
}

impl Lexicon {
    /// Builds the lexicon of everything in `store` (a full scan: for small stores).
    pub fn build(store: &Store) -> Result<Self> {
        let mut lexicon = Lexicon::default();
        lexicon.add_labels(store)?;
        // ConceptNet IRIs name their concept even without a label.
        for quad in store.iter() {
            let quad = quad?;
            if let NamedOrBlankNode::NamedNode(n) = &quad.subject {
                lexicon.add_concept_iri(n.as_str());
            }
            if let Term::NamedNode(n) = &quad.object {
                lexicon.add_concept_iri(n.as_str());
            }
        }
        lexicon.finish();
        Ok(lexicon)
    }

    fn add_labels(&mut self, store: &Store) -> Result<()> {
        let label = NamedNodeRef::new_unchecked(vocab::RDFS_LABEL);
        for quad in store.quads_for_pattern(None, Some(label), None, None) {
            self.add_from_quad(&quad?);
        }
        Ok(())
    }

    /// Builds the lexicon of the graph behind a remote endpoint with the queries
    /// `kg/queries/lexicon_*.rq`, `page` rows a request ([`FETCH_PAGE`] by default): the
    /// same entries as [`Lexicon::build`] on the same statements in the default graph.
    /// The pages are not sorted (too slow on large graphs), so each query's distinct rows
    /// are counted against its `_count` query: an endpoint whose pages skipped or repeated
    /// rows is an error, not a silently smaller lexicon.
    pub fn fetch(endpoint: &Endpoint, page: usize) -> Result<Self> {
        let page = page.max(1);
        let mut lexicon = Lexicon::default();
        // Every row of `query`, as the strings of `columns`, each distinct row once.
        let rows = |query: &str, count: &str, columns: &[&str]| -> Result<HashSet<Vec<Term>>> {
            let expected = endpoint
                .select(count)?
                .first()
                .and_then(|s| match s.get("n") {
                    Some(Term::Literal(n)) => n.value().parse::<usize>().ok(),
                    _ => None,
                })
                .ok_or_else(|| endpoint.error("a COUNT query gave no number"))?;
            let mut seen = HashSet::new();
            for i in 0.. {
                let text = format!("{query}LIMIT {page} OFFSET {}\n", i * page);
                let solutions = endpoint.select(&text)?;
                for s in &solutions {
                    let row: Option<Vec<Term>> =
                        columns.iter().map(|c| s.get(*c).cloned()).collect();
                    seen.extend(row);
                }
                if solutions.len() < page {
                    break;
                }
            }
            if seen.len() != expected {
                return Err(endpoint.error(format!(
                    "its pages held {} distinct rows of {expected}: pages are not stable \
                     without ORDER BY there; give the lexicon as a file (--lexicon)",
                    seen.len()
                )));
            }
            Ok(seen)
        };
        for row in rows(LABELS, LABELS_COUNT, &["s", "label"])? {
            if let [Term::NamedNode(subject), Term::Literal(label)] = row.as_slice() {
                lexicon.add_label(subject.as_str(), label);
            }
        }
        for row in rows(CONCEPTS, CONCEPTS_COUNT, &["c"])? {
            if let [Term::NamedNode(c)] = row.as_slice() {
                lexicon.add_concept_iri(c.as_str());
            }
        }
        lexicon.finish();
        Ok(lexicon)
    }

    /// Number of surface forms.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there is no surface form at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The longest surface form, in words.
    pub fn max_words(&self) -> usize {
        self.max_words
    }

    /// The concepts of a normalized surface form.
    pub fn get(&self, form: &str) -> Option<&[String]> {
        self.entries.get(form).map(Vec::as_slice)
    }

    /// Writes the lexicon as sorted TSV, ended by a trailer line that counts the entries
    /// ([`TRAILER`]), and syncs it to disk.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort();
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::new(file);
        let io = (|| {
            for key in keys {
                out.write_all(key.as_bytes())?;
                for iri in &self.entries[key] {
                    out.write_all(b"\t")?;
                    out.write_all(iri.as_bytes())?;
                }
                out.write_all(b"\n")?;
            }
            writeln!(out, "\t{TRAILER}\t{}", self.entries.len())?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()
        })();
        io.map_err(|e| Error::io(path, e))
    }

    /// Reads a lexicon written by [`Lexicon::write`]. A file cut short is refused: its
    /// trailer's count must match, and a file without a trailer (written before it
    /// existed, or by hand) must at least end with a whole line.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lexicon = Lexicon::default();
        let mut counted = None;
        let damaged = |line: usize, message: String| Error::Parse {
            file: path.to_path_buf(),
            line: line as u64,
            message: format!(
                "{message}: the lexicon is damaged or cut short (load the graph again)"
            ),
        };
        for (i, line) in text.lines().enumerate() {
            if counted.is_some() {
                return Err(damaged(i + 1, "lines after the trailer".into()));
            }
            if let Some(n) = line.strip_prefix(&format!("\t{TRAILER}\t")) {
                counted =
                    Some(n.parse::<usize>().map_err(|_| damaged(i + 1, format!("trailer {n:?}")))?);
                continue;
            }
            let mut parts = line.split('\t');
            let key = parts.next().unwrap_or_default();
            let iris: Vec<String> = parts.map(str::to_owned).collect();
            if key.is_empty() || iris.is_empty() {
                return Err(Error::Parse {
                    file: path.to_path_buf(),
                    line: i as u64 + 1,
                    message: "expected `form<TAB>iri...`".into(),
                });
            }
            lexicon.max_words = lexicon.max_words.max(key.split(' ').count());
            lexicon.entries.insert(key.to_owned(), iris);
        }
        let lines = text.lines().count();
        match counted {
            Some(n) if n != lexicon.entries.len() => Err(damaged(
                lines,
                format!("the trailer counts {n} entries, the file holds {}", lexicon.entries.len()),
            )),
            None if !text.is_empty() && !text.ends_with('\n') => {
                Err(damaged(lines, "the last line is not whole".into()))
            }
            _ => Ok(lexicon),
        }
    }

    /// Adds the label in `quad`, if it is an English or untagged `rdfs:label` of an IRI.
    pub fn add_from_quad(&mut self, quad: &Quad) {
        if quad.predicate.as_str() != vocab::RDFS_LABEL {
            return;
        }
        if let (NamedOrBlankNode::NamedNode(subject), Term::Literal(literal)) =
            (&quad.subject, &quad.object)
        {
            self.add_label(subject.as_str(), literal);
        }
    }

    /// Adds `label` of the IRI `subject` if it is English or untagged.
    fn add_label(&mut self, subject: &str, label: &Literal) {
        if label.language().is_none_or(|l| l == "en" || l.starts_with("en-")) {
            self.add(label.value(), subject);
        }
    }

    /// Adds an English ConceptNet concept IRI under its term.
    pub fn add_concept_iri(&mut self, iri: &str) {
        if let Some((lang, term)) = vocab::concept_term(iri)
            && lang == "en"
        {
            self.add(&term, iri);
        }
    }

    fn add(&mut self, surface: &str, iri: &str) {
        let key = normalize_phrase(surface);
        if key.is_empty() {
            return;
        }
        let iris = self.entries.entry(key).or_default();
        if !iris.iter().any(|i| i == iri) {
            iris.push(iri.to_owned());
        }
    }

    /// Orders each entry: ConceptNet concepts first, then the rest, each sorted, so that
    /// grounding is deterministic. Call after adding.
    pub fn finish(&mut self) {
        for (key, iris) in &mut self.entries {
            iris.sort_by(|a, b| {
                let rank = |s: &str| !s.starts_with(vocab::CN_CONCEPT);
                (rank(a), a).cmp(&(rank(b), b))
            });
            self.max_words = self.max_words.max(key.split(' ').count());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lexicon_cut_short_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lexicon.tsv");
        let mut lexicon = Lexicon::default();
        for (form, iri) in [("dig", "c/dig"), ("hand tool", "c/hand_tool"), ("trowel", "c/trowel")]
        {
            lexicon.entries.insert(form.into(), vec![format!("http://conceptnet.io/{iri}")]);
        }
        lexicon.write(&path).unwrap();
        let whole = std::fs::read_to_string(&path).unwrap();
        assert_eq!(Lexicon::read(&path).unwrap().len(), 3);
        let lines: Vec<&str> = whole.lines().collect();
        // Cut at a line boundary (the trailer kept from a longer file), mid-line, and
        // without a trailer mid-line: refused. A whole file without a trailer: read.
        let cases = [
            (format!("{}\n{}\n", lines[0], lines[3]), false),
            (whole[..whole.len() / 2].to_owned(), false),
            (format!("{}\n{}", lines[0], &lines[1][..4]), false),
            (format!("{}\n{}\n", lines[0], lines[1]), true),
        ];
        for (text, ok) in cases {
            std::fs::write(&path, &text).unwrap();
            assert_eq!(Lexicon::read(&path).is_ok(), ok, "{text:?}");
        }
    }
}
