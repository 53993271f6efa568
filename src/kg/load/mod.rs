//! Bulk loading of graph dumps into an oxigraph store: format detection, streaming input
//! (`.gz` included), the bad-record policy, statistics and progress.
//!
//! Each format module turns its input into quads and pushes them into a [`Sink`], which
//! batches them into oxigraph's bulk loader. Atomicity against the previous contents of an
//! on-disk store is the job of [`crate::kg::store`], which loads into a fresh generation.

mod conceptnet;
mod edge;
mod rdf;
mod tsv;
pub mod wordnet;

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use oxigraph::model::{NamedNode, Quad};
use oxigraph::store::{BulkLoader, Store};
use serde::Serialize;

use crate::kg::error::{Error, Result};
use crate::kg::lexicon::Lexicon;

/// An input format `kgqa load` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// N-Triples (`.nt`).
    NTriples,
    /// N-Quads (`.nq`).
    NQuads,
    /// Turtle (`.ttl`).
    Turtle,
    /// TriG (`.trig`).
    TriG,
    /// RDF/XML (`.rdf`, `.owl`, `.xml`).
    RdfXml,
    /// A ConceptNet 5 assertions dump (`.csv`, tab-separated, five columns).
    ConceptNet,
    /// `Relation<TAB>head<TAB>tail[<TAB>weight]` lines (`.tsv`, `.txt`).
    Tsv,
    /// A WordNet 3.0 database folder (`data.noun`, `data.verb`, ...).
    WordNet,
}

impl Format {
    /// The names accepted by `--format`.
    pub const NAMES: &'static str =
        "ntriples, nquads, turtle, trig, rdfxml, conceptnet, tsv, wordnet";

    /// Parses a `--format` name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ntriples" | "nt" => Format::NTriples,
            "nquads" | "nq" => Format::NQuads,
            "turtle" | "ttl" => Format::Turtle,
            "trig" => Format::TriG,
            "rdfxml" | "rdf" | "xml" => Format::RdfXml,
            "conceptnet" | "csv" => Format::ConceptNet,
            "tsv" | "txt" => Format::Tsv,
            "wordnet" | "wn" => Format::WordNet,
            _ => return None,
        })
    }

    /// Tells the format from a path: a folder is WordNet, otherwise the extension
    /// (after stripping `.gz`) decides.
    pub fn detect(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Ok(Format::WordNet);
        }
        let name =
            path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
        Ok(match ext {
            "nt" => Format::NTriples,
            "nq" => Format::NQuads,
            "ttl" => Format::Turtle,
            "trig" => Format::TriG,
            "rdf" | "owl" | "xml" => Format::RdfXml,
            "csv" => Format::ConceptNet,
            "tsv" | "txt" => Format::Tsv,
            _ => {
                return Err(Error::UnknownFormat { path: path.to_path_buf(), known: Self::NAMES });
            }
        })
    }
}

/// Which languages of a multilingual dump to keep.
#[derive(Clone, Debug)]
pub enum Languages {
    /// Every language.
    All,
    /// Only these language codes (edges whose both ends are in the set).
    Only(Vec<String>),
}

impl Languages {
    /// Parses `en`, `en,fr` or `all`/`*`.
    pub fn parse(spec: &str) -> Self {
        if spec == "all" || spec == "*" {
            Languages::All
        } else {
            Languages::Only(spec.split(',').map(|s| s.trim().to_owned()).collect())
        }
    }

    fn keeps(&self, lang: &str) -> bool {
        match self {
            Languages::All => true,
            Languages::Only(list) => list.iter().any(|l| l == lang),
        }
    }
}

/// What `kgqa load` was asked to do, independent of the command line.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Force this format for every input instead of detecting it.
    pub format: Option<Format>,
    /// Languages to keep from ConceptNet 5 dumps.
    pub languages: Languages,
    /// Skip malformed records instead of aborting.
    pub skip_invalid: bool,
    /// Provenance name recorded on edges of inputs that carry none (default: file stem).
    pub dataset: Option<String>,
    /// Draw a progress bar on standard error.
    pub progress: bool,
}

/// What one input contributed.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// The input.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Statements produced (before de-duplication by the store).
    pub statements: u64,
    /// Edges (relation statements between concepts) produced.
    pub edges: u64,
    /// Records left out by the language filter.
    pub filtered: u64,
    /// Malformed records skipped (only with `skip_invalid`).
    pub skipped: u64,
    /// The first reasons records were skipped.
    pub skip_reasons: Vec<String>,
}

/// Totals of a load.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadStats {
    /// Per input.
    pub files: Vec<FileReport>,
    /// Statements produced over all inputs.
    pub statements: u64,
    /// Edges produced over all inputs.
    pub edges: u64,
    /// Distinct concepts (nodes at either end of an edge) seen in the inputs.
    pub concepts: u64,
    /// Distinct relations seen in the inputs.
    pub relations: u64,
    /// Wall time of the parse and bulk load, in seconds.
    pub seconds: f64,
}

/// Loads every input into `store` with its bulk loader and commits; the labels and
/// ConceptNet concepts met are added to `lexicon` (call [`Lexicon::finish`] after).
pub fn load_files(
    store: &Store,
    paths: &[PathBuf],
    options: &LoadOptions,
    lexicon: &mut Lexicon,
) -> Result<LoadStats> {
    let start = Instant::now();
    let mut sink = Sink::new(store, lexicon);
    let mut stats = LoadStats::default();
    for path in paths {
        let format = match options.format {
            Some(format) => format,
            None => Format::detect(path)?,
        };
        let mut ctx = FileCtx::new(path, format, options)?;
        let before = (sink.statements, sink.edges);
        match format {
            Format::WordNet => wordnet::load(&mut ctx, &mut sink)?,
            Format::ConceptNet => conceptnet::load(&mut ctx, &mut sink)?,
            Format::Tsv => tsv::load(&mut ctx, &mut sink)?,
            rdf_format => rdf::load(&mut ctx, &mut sink, rdf_format)?,
        }
        ctx.progress.finish_and_clear();
        let statements = sink.statements - before.0;
        if statements == 0 && ctx.skipped == 0 && ctx.filtered == 0 {
            ctx.issue(Error::Empty(path.clone()))?;
        }
        stats.files.push(FileReport {
            path: path.clone(),
            format,
            statements,
            edges: sink.edges - before.1,
            filtered: ctx.filtered,
            skipped: ctx.skipped,
            skip_reasons: ctx.reasons,
        });
    }
    stats.statements = sink.statements;
    stats.edges = sink.edges;
    stats.concepts = sink.concepts.len() as u64;
    stats.relations = sink.relations.len() as u64;
    sink.commit()?;
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}

/// Per-input state: the path for error messages, the bad-record policy and progress.
pub(crate) struct FileCtx<'o> {
    pub path: PathBuf,
    pub options: &'o LoadOptions,
    pub skipped: u64,
    pub filtered: u64,
    pub reasons: Vec<String>,
    pub progress: ProgressBar,
    /// Provenance recorded for edges that carry none.
    pub dataset: String,
}

const MAX_REASONS: usize = 5;

impl<'o> FileCtx<'o> {
    fn new(path: &Path, format: Format, options: &'o LoadOptions) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let progress = if options.progress {
            let bar = ProgressBar::new(if format == Format::WordNet { 0 } else { meta.len() });
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})",
                )
                .expect("static template"),
            );
            bar.set_message(path.display().to_string());
            bar
        } else {
            ProgressBar::hidden()
        };
        let stem = path.file_name().and_then(|n| n.to_str()).unwrap_or("input");
        let stem = stem.split('.').next().unwrap_or(stem).to_owned();
        Ok(FileCtx {
            path: path.to_path_buf(),
            options,
            skipped: 0,
            filtered: 0,
            reasons: Vec::new(),
            progress,
            dataset: options.dataset.clone().unwrap_or(stem),
        })
    }

    /// A `FILE:LINE: message` error.
    pub fn error(&self, line: u64, message: impl Into<String>) -> Error {
        Error::Parse { file: self.path.clone(), line, message: message.into() }
    }

    /// Applies the policy to a bad record: abort with `err`, or count and remember it.
    pub fn issue(&mut self, err: Error) -> Result<()> {
        if !self.options.skip_invalid {
            return Err(err);
        }
        self.skipped += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(err.to_string());
        }
        Ok(())
    }

    /// Opens the input as a buffered byte stream, decompressing `.gz`, with progress.
    pub fn open(&self) -> Result<Box<dyn BufRead>> {
        open_with_progress(&self.path, self.progress.clone())
    }
}

/// Opens `path` for streaming (gunzipping `*.gz`); read bytes advance `progress`.
fn open_with_progress(path: &Path, progress: ProgressBar) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let counted = progress.wrap_read(file);
    const BUF: usize = 1 << 20;
    if path.extension().is_some_and(|e| e == "gz") {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUF, counted));
        Ok(Box::new(BufReader::with_capacity(BUF, gz)))
    } else {
        Ok(Box::new(BufReader::with_capacity(BUF, counted)))
    }
}

/// Reads one `\n`-terminated line into `buf` (without the terminator); `false` at the end.
pub(crate) fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>, path: &Path) -> Result<bool> {
    buf.clear();
    let n = reader.read_until(b'\n', buf).map_err(|e| Error::io(path, e))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(true)
}

/// Checks that a line is UTF-8, naming the byte where it is not.
pub(crate) fn utf8(bytes: &[u8]) -> std::result::Result<&str, String> {
    std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1))
}

/// Parses an edge weight: a finite number.
pub(crate) fn parse_weight(text: &str) -> std::result::Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(w) if w.is_finite() => Ok(w),
        _ => Err(format!("weight {text:?} is not a finite number")),
    }
}

/// Reads a whole file into memory (WordNet data files).
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut out)).map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// Batches quads into the bulk loader; its [`Tally`] keeps the statistics and feeds the
/// lexicon.
pub(crate) struct Sink<'s> {
    loader: BulkLoader<'s>,
    batch: Vec<Quad>,
    tally: Tally<'s>,
}

/// What a load has seen so far.
pub(crate) struct Tally<'s> {
    lexicon: &'s mut Lexicon,
    statements: u64,
    edges: u64,
    concepts: HashSet<u64, BuildHasherDefault<IdHasher>>,
    relations: HashSet<u64, BuildHasherDefault<IdHasher>>,
    unlabeled_seen: HashSet<u64, BuildHasherDefault<IdHasher>>,
}

const BATCH: usize = 1_000_000;
const CN_EN: &str = "http://conceptnet.io/c/en/";

impl<'s> Sink<'s> {
    fn new(store: &'s Store, lexicon: &'s mut Lexicon) -> Self {
        Sink {
            loader: store.bulk_loader(),
            batch: Vec::with_capacity(BATCH),
            tally: Tally {
                lexicon,
                statements: 0,
                edges: 0,
                concepts: HashSet::default(),
                relations: HashSet::default(),
                unlabeled_seen: HashSet::default(),
            },
        }
    }

    /// Adds one statement.
    pub fn push(&mut self, quad: Quad) -> Result<()> {
        self.tally.statement(&quad);
        self.batch.push(quad);
        if self.batch.len() >= BATCH {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            self.loader.load_quads(batch)?;
        }
        Ok(())
    }

    /// Streams statements straight into the bulk loader, without a batch of our own;
    /// `inspect` sees each one first. The first error from `quads` aborts the load.
    pub fn stream(
        &mut self,
        quads: impl Iterator<Item = Result<Quad>>,
        mut inspect: impl FnMut(&mut Tally<'s>, &Quad),
    ) -> Result<()> {
        self.flush_batch()?;
        let tally = &mut self.tally;
        self.loader.load_ok_quads::<Error, Error>(quads.map(|quad| {
            let quad = quad?;
            tally.statement(&quad);
            inspect(tally, &quad);
            Ok(quad)
        }))
    }

    fn flush_batch(&mut self) -> Result<()> {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.loader.load_quads(batch)?;
        }
        Ok(())
    }

    fn commit(mut self) -> Result<()> {
        self.flush_batch()?;
        self.loader.commit()?;
        Ok(())
    }
}

impl<'s> std::ops::Deref for Sink<'s> {
    type Target = Tally<'s>;
    fn deref(&self) -> &Tally<'s> {
        &self.tally
    }
}

impl<'s> std::ops::DerefMut for Sink<'s> {
    fn deref_mut(&mut self) -> &mut Tally<'s> {
        &mut self.tally
    }
}

impl Tally<'_> {
    fn statement(&mut self, quad: &Quad) {
        self.statements += 1;
        self.lexicon.add_from_quad(quad);
    }

    /// Records a concept; `true` the first time it is seen in this load.
    pub fn concept(&mut self, node: &NamedNode) -> bool {
        self.concepts.insert(fast_hash(node.as_str()))
    }

    /// Records a node of an RDF input (IRI or blank node label); an English ConceptNet
    /// IRI seen for the first time also enters the lexicon under its term.
    pub fn rdf_node(&mut self, text: &str) {
        if self.concepts.insert(fast_hash(text)) && text.starts_with(CN_EN) {
            self.lexicon.add_concept_iri(text);
        }
    }

    /// Records an IRI that may be an English ConceptNet concept without a label.
    pub fn maybe_unlabeled(&mut self, iri: &str) {
        if iri.starts_with(CN_EN) && self.unlabeled_seen.insert(fast_hash(iri)) {
            self.lexicon.add_concept_iri(iri);
        }
    }

    /// Records a relation and counts an edge.
    pub fn edge(&mut self, relation: &NamedNode) {
        self.edges += 1;
        self.relations.insert(fast_hash(relation.as_str()));
    }
}

/// The 64-bit hash of the load statistics' sets (SipHash-1-3 with fixed keys: fast on
/// long IRIs and well mixed, so distinct terms do not collide in practice).
fn fast_hash(text: &str) -> u64 {
    use std::hash::Hasher as _;
    let mut h = std::hash::DefaultHasher::new();
    h.write(text.as_bytes());
    h.finish()
}

/// FNV-1a, 64 bits: stable identifiers for minted edge IRIs (their format must not change).
pub(crate) fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
