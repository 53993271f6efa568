//! The concept index: what retrieval needs of each concept (its neighbourhood, its degree
//! and its first definitions), computed once per store generation at load time and kept
//! in a file beside the lexicon, so that a cold concept costs one lookup instead of
//! several SPARQL queries.
//!
//! The index is built from one scan of the store: retrieval's own queries (`kg/queries/`)
//! answered for every concept at once, each row going through the same rules that
//! [`crate::kg::retrieve::Retriever`] applies to one concept's rows
//! ([`crate::kg::neighbourhood::Neighbourhood`]), so both give the same edges, degrees and
//! definitions (tested on every concept of a store).
//!
//! File layout (little-endian), read in place through a memory map:
//!
//! ```text
//! "KGQAIDX2"  strings u64  concepts u64  edges u64  definitions u64
//! string offsets   (strings + 1) x u64, into the text blob
//! concepts         concepts x 32 bytes: iri u32, degree u32, first edge u64,
//!                  edges u32, first definition u32, definitions u32, 0 u32
//!                  (sorted by IRI)
//! edges            edges x 16 bytes: neighbour u32, relation u32 (top bit: the edge
//!                  leaves the concept), weight f64
//! definitions      definitions x u32 string ids
//! text blob        UTF-8
//! checksum         u64 over every byte before it (see [`checksum`])
//! "KGQAEND1"
//! ```

use std::path::{Path, PathBuf};

use crate::kg::error::{Error, Result};
use crate::kg::paths::Edge;

mod build;
pub use build::build;

const MAGIC: &[u8; 8] = b"KGQAIDX2";
const END: &[u8; 8] = b"KGQAEND1";
const HEADER: usize = 40;
/// Checksum and end mark.
const TRAILER: usize = 16;
const CONCEPT: usize = 32;
const EDGE: usize = 16;
const OUTGOING: u32 = 1 << 31;

/// Definitions kept per concept (retrieval asks for more only through its queries).
pub const DEFINITIONS: usize = 3;

/// A concept index, read in place.
pub struct ConceptIndex {
    bytes: Bytes,
    path: PathBuf,
    strings: usize,
    concepts: usize,
    edges: usize,
    definitions: usize,
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// What one concept holds in the index.
struct Record {
    degree: u32,
    first_edge: usize,
    edges: usize,
    first_definition: usize,
    definitions: usize,
}

impl ConceptIndex {
    /// Opens the index file at `path` (memory-mapped: a store generation's files are never
    /// changed once written). A damaged or truncated file is refused.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file belongs to a store generation, written whole before the
        // generation went live and never modified afterwards (a load writes a new one).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::new(Bytes::Mapped(map), path)
    }

    /// An index held in memory (built by [`build`] for an in-memory store).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::new(Bytes::Owned(bytes), Path::new("<memory>"))
    }

    fn new(bytes: Bytes, path: &Path) -> Result<Self> {
        let invalid = |message: String| Error::Invalid { file: path.to_path_buf(), message };
        if bytes.len() < HEADER + TRAILER || &bytes[..8] != MAGIC {
            return Err(invalid("not a kgqa concept index".into()));
        }
        let count = |i: usize| u64_at(&bytes, 8 + 8 * i) as usize;
        let (strings, concepts, edges, definitions) = (count(0), count(1), count(2), count(3));
        let fixed = [(strings + 1, 8), (concepts, CONCEPT), (edges, EDGE), (definitions, 4)];
        let mut size = HEADER;
        for (n, width) in fixed {
            size = n.checked_mul(width).and_then(|b| size.checked_add(b)).ok_or_else(|| {
                invalid("its counts do not fit in memory: the file is damaged".into())
            })?;
        }
        let index =
            ConceptIndex { bytes, path: path.to_path_buf(), strings, concepts, edges, definitions };
        let blob = index.string_offset(strings);
        let total = size.checked_add(blob).and_then(|s| s.checked_add(TRAILER));
        let len = index.bytes.len();
        if total != Some(len) || &index.bytes[len - END.len()..] != END {
            return Err(invalid(format!(
                "{len} bytes, the header describes {}: the file is cut short or damaged",
                total.map_or("more".into(), |t| t.to_string())
            )));
        }
        if checksum(&index.bytes[..len - TRAILER]) != u64_at(&index.bytes, len - TRAILER) {
            return Err(invalid("its checksum does not match: the file is damaged".into()));
        }
        Ok(index)
    }

    /// The index as the bytes of its file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Concepts in the index.
    pub fn len(&self) -> usize {
        self.concepts
    }

    /// Whether the index holds no concept.
    pub fn is_empty(&self) -> bool {
        self.concepts == 0
    }

    /// The IRI of the `i`-th concept (in IRI order).
    pub fn concept(&self, i: usize) -> Result<&str> {
        if i >= self.concepts {
            return Err(self.damaged(format!("concept {i} of {}", self.concepts)));
        }
        self.string(self.u32_in(self.concepts_start(), i, CONCEPT)? as usize)
    }

    /// Every edge at `concept`, as [`crate::kg::retrieve::Retriever::neighbourhood`] gives
    /// them (empty for a concept the store does not mention).
    pub fn neighbourhood(&self, concept: &str) -> Result<Vec<Edge>> {
        let Some(r) = self.find(concept)? else { return Ok(Vec::new()) };
        (r.first_edge..r.first_edge + r.edges).map(|e| self.edge(concept, e)).collect()
    }

    /// How many statements mention `concept` with an IRI at the other end.
    pub fn degree(&self, concept: &str) -> Result<u32> {
        Ok(self.find(concept)?.map_or(0, |r| r.degree))
    }

    /// The first `n` definitions of `concept` (its own, then its senses'), or `None` when
    /// `n` is more than the index keeps.
    pub fn definitions(&self, concept: &str, n: usize) -> Result<Option<Vec<String>>> {
        if n > DEFINITIONS {
            return Ok(None);
        }
        let Some(r) = self.find(concept)? else { return Ok(Some(Vec::new())) };
        let ids = r.first_definition..r.first_definition + r.definitions.min(n);
        ids.map(|d| self.string(self.u32_in(self.definitions_start(), d, 4)? as usize))
            .map(|s| s.map(str::to_owned))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn damaged(&self, what: String) -> Error {
        Error::Invalid { file: self.path.clone(), message: format!("{what}: the index is damaged") }
    }

    fn string_offset(&self, i: usize) -> usize {
        u64_at(&self.bytes, HEADER + 8 * i) as usize
    }

    fn string(&self, i: usize) -> Result<&str> {
        if i >= self.strings {
            return Err(self.damaged(format!("string {i} of {}", self.strings)));
        }
        let base = self.blob_start();
        let (start, end) = (self.string_offset(i), self.string_offset(i + 1));
        let bytes = (start <= end)
            .then(|| self.bytes.get(base + start..base + end))
            .flatten()
            .ok_or_else(|| self.damaged(format!("string {i} out of bounds")))?;
        std::str::from_utf8(bytes).map_err(|_| self.damaged(format!("string {i} is not UTF-8")))
    }

    fn concepts_start(&self) -> usize {
        HEADER + 8 * (self.strings + 1)
    }

    fn edges_start(&self) -> usize {
        self.concepts_start() + CONCEPT * self.concepts
    }

    fn definitions_start(&self) -> usize {
        self.edges_start() + EDGE * self.edges
    }

    fn blob_start(&self) -> usize {
        self.definitions_start() + 4 * self.definitions
    }

    fn u32_in(&self, start: usize, i: usize, width: usize) -> Result<u32> {
        let at = start + i * width;
        self.bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| self.damaged(format!("entry {i} out of bounds")))
    }

    /// Binary search over the concepts, sorted by IRI.
    fn find(&self, concept: &str) -> Result<Option<Record>> {
        let (mut lo, mut hi) = (0, self.concepts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let iri = self.string(self.u32_in(self.concepts_start(), mid, CONCEPT)? as usize)?;
            match iri.cmp(concept) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.record(mid).map(Some),
            }
        }
        Ok(None)
    }

    fn record(&self, i: usize) -> Result<Record> {
        let at = self.concepts_start() + i * CONCEPT;
        let field = |k: usize| self.u32_in(at + 4 * k, 0, 0).map(|v| v as usize);
        let r = Record {
            degree: field(1)? as u32,
            first_edge: u64_at(&self.bytes, at + 8) as usize,
            edges: field(4)?,
            first_definition: field(5)?,
            definitions: field(6)?,
        };
        let edges_fit = r.first_edge.checked_add(r.edges).is_some_and(|e| e <= self.edges);
        let defs_fit = r.first_definition + r.definitions <= self.definitions;
        if !edges_fit || !defs_fit {
            return Err(self.damaged(format!("concept {i} points past the end")));
        }
        Ok(r)
    }

    fn edge(&self, concept: &str, e: usize) -> Result<Edge> {
        let at = self.edges_start() + e * EDGE;
        let neighbour = self.string(self.u32_in(at, 0, 0)? as usize)?.to_owned();
        let relation = self.u32_in(at + 4, 0, 0)?;
        let weight = f64::from_le_bytes(self.bytes[at + 8..at + 16].try_into().expect("8 bytes"));
        let rel = self.string((relation & !OUTGOING) as usize)?.to_owned();
        let (head, tail) = if relation & OUTGOING != 0 {
            (concept.to_owned(), neighbour)
        } else {
            (neighbour, concept.to_owned())
        };
        Ok(Edge { head, relation: rel, tail, weight })
    }
}

/// The index's checksum of `bytes`: a multiply-rotate hash over little-endian words
/// (about 10 ms for the 86 MB index of ConceptNet-100K + WordNet), so that a damaged file
/// is refused when it is opened rather than half-read.
fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut words = bytes.chunks_exact(8);
    let mut h = K ^ bytes.len() as u64;
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("8"))).wrapping_mul(K).rotate_left(31);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K).rotate_left(31);
    }
    h
}

/// Ends `bytes` (a whole index up to its text blob) with its checksum and end mark.
fn seal(mut bytes: Vec<u8>) -> Vec<u8> {
    let sum = checksum(&bytes);
    bytes.extend(sum.to_le_bytes());
    bytes.extend(END);
    bytes
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).map_or(u64::MAX, |b| u64::from_le_bytes(b.try_into().expect("8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kg::Graph;
    use crate::kg::retrieve::{Options, Retriever};

    fn embedded_index() -> Vec<u8> {
        let graph = Graph::embedded().unwrap();
        build(graph.store().unwrap()).unwrap()
    }

    #[test]
    fn the_index_answers_as_the_queries_do() {
        let plain = Graph::embedded().unwrap();
        let indexed = Graph::embedded().unwrap().with_concept_index().unwrap();
        let index = indexed.concept_index().unwrap();
        assert!(index.len() > 100, "{} concepts", index.len());
        let retriever = Retriever::new(Options { cache: 0, ..Options::default() }).unwrap();
        let mut concepts: Vec<String> =
            (0..index.len()).map(|i| index.concept(i).unwrap().to_owned()).collect();
        concepts.push("http://conceptnet.io/c/en/no_such_concept".into());
        let (mut edges, mut defined) = (0, 0);
        for c in &concepts {
            let hood = retriever.neighbourhood(&indexed, c).unwrap();
            assert_eq!(hood, retriever.neighbourhood(&plain, c).unwrap(), "{c}");
            let degree = retriever.degree(&indexed, c).unwrap();
            assert_eq!(degree, retriever.degree(&plain, c).unwrap(), "{c}");
            for n in 0..=DEFINITIONS + 1 {
                let d = retriever.definitions(&indexed, c, n).unwrap();
                assert_eq!(d, retriever.definitions(&plain, c, n).unwrap(), "{c} {n}");
            }
            edges += hood.len();
            defined += usize::from(!retriever.definitions(&plain, c, 1).unwrap().is_empty());
        }
        assert!(edges > 500 && defined >= 4, "{edges} edges, {defined} defined");
        let bad = retriever.neighbourhood(&indexed, "not an iri");
        assert!(matches!(bad, Err(Error::InvalidIri { .. })), "{bad:?}");
    }

    #[test]
    fn a_damaged_index_is_refused_or_answers_with_errors_never_panics() {
        let bytes = embedded_index();
        let index = ConceptIndex::from_bytes(bytes.clone()).unwrap();
        let some: Vec<String> =
            (0..index.len()).step_by(7).map(|i| index.concept(i).unwrap().into()).collect();
        for cut in [0, 7, 39, 40, bytes.len() / 2, bytes.len() - 9, bytes.len() - 1] {
            let e = ConceptIndex::from_bytes(bytes[..cut].to_vec()).err().expect("refused");
            assert!(e.to_string().contains("<memory>"), "{e}");
        }
        // Any flipped bit is caught by the checksum; the damage below is then resealed,
        // as a consistent-looking but wrong file, to show reading never panics either.
        let body = bytes.len() - TRAILER;
        for at in [8, HEADER, HEADER + 100, body / 2, body - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 4;
            let e = ConceptIndex::from_bytes(flipped).err().expect("refused");
            assert!(e.to_string().contains("damaged"), "{e}");
        }
        let mut state = 0x1D3Au64;
        for _ in 0..300 {
            let mut damaged = bytes.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let r = state as usize;
                damaged[r % body] ^= 1 << ((r >> 32) % 8);
            }
            damaged.truncate(body);
            let Ok(index) = ConceptIndex::from_bytes(seal(damaged)) else { continue };
            for c in &some {
                let _ = index.neighbourhood(c);
                let _ = index.degree(c);
                let _ = index.definitions(c, DEFINITIONS);
            }
        }
    }
}
