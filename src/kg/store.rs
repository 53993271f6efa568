//! The graph store: one type over oxigraph, in memory (the embedded default graph, tests)
//! or on disk (RocksDB), with the grounding lexicon that belongs to its contents.
//!
//! An on-disk store is a folder of generations:
//!
//! ```text
//! DIR/kgqa-current        "3\n": the live generation
//! DIR/gen-3/              oxigraph RocksDB database
//! DIR/lexicon-3.tsv       grounding lexicon built from gen-3
//! DIR/concepts-3.idx      concept index built from gen-3 (crate::kg::index)
//! DIR/kgqa.lock           held (flock) while a load runs
//! ```
//!
//! A load copies the live generation (RocksDB checkpoint: hard links, cheap), bulk-loads
//! into the copy, builds its lexicon, and only then switches `kgqa-current` by an atomic
//! rename. A failed or killed load leaves the live generation untouched; its leftovers are
//! removed by the next load.

// Without the `rocksdb` feature only the embedded in-memory graph exists; the on-disk
// generation helpers below are compiled but unused.
#![cfg_attr(not(feature = "rocksdb"), allow(dead_code, unused_imports))]

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use oxigraph::store::Store;

use crate::kg::endpoint::Endpoint;
use crate::kg::error::{Error, Result};
use crate::kg::ground::Grounder;
use crate::kg::index::{self, ConceptIndex};
use crate::kg::lemma::Lemmatizer;
use crate::kg::lexicon::Lexicon;
use crate::kg::load::{self, LoadOptions, LoadStats};

const CURRENT: &str = "kgqa-current";
const LOCK: &str = "kgqa.lock";

/// The embedded default graph (Turtle), compiled into the binary.
pub const DEFAULT_GRAPH: &str = include_str!("../../kg/default.ttl");

/// A knowledge graph: where its SPARQL runs, plus its grounding lexicon and, for an
/// on-disk store, its concept index.
pub struct Graph {
    source: Source,
    lexicon: Lexicon,
    index: Option<ConceptIndex>,
    lemmatizer: Lemmatizer,
    location: Option<PathBuf>,
}

/// Where a graph's queries run: every SPARQL query of the engine (retrieval, `kgqa query`,
/// `/sparql`) goes to one of these, and nothing else touches the graph's contents.
pub enum Source {
    /// An oxigraph store in this process (in memory or on disk).
    Store(Store),
    /// A remote SPARQL 1.1 endpoint.
    Endpoint(Endpoint),
}

/// What a load into an on-disk store did.
#[derive(Debug, serde::Serialize)]
pub struct LoadReport {
    /// Parse and bulk-load statistics.
    #[serde(flatten)]
    pub stats: LoadStats,
    /// Statements in the store before the load.
    pub statements_before: u64,
    /// Statements in the store after the load.
    pub statements_after: u64,
    /// Statements the load added (duplicates of stored ones are not counted).
    pub statements_added: u64,
    /// Entries of the rebuilt lexicon.
    pub lexicon_entries: u64,
    /// Seconds spent counting the statements after the load.
    pub count_seconds: f64,
    /// Seconds spent rebuilding and writing the lexicon.
    pub lexicon_seconds: f64,
    /// Concepts in the rebuilt concept index.
    pub index_concepts: u64,
    /// Size of the concept index file.
    pub index_bytes: u64,
    /// Seconds spent building and writing the concept index.
    pub index_seconds: f64,
    /// Wall time of the whole load, in seconds.
    pub total_seconds: f64,
}

impl std::fmt::Display for LoadReport {
    /// One line per file (format, statements, edges, what was filtered or skipped and why)
    /// and a summary line: what `kgqa load` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for file in &self.stats.files {
            write!(
                f,
                "{}: {:?}, {} statements, {} edges",
                file.path.display(),
                file.format,
                file.statements,
                file.edges
            )?;
            if file.filtered > 0 {
                write!(f, ", {} filtered by language", file.filtered)?;
            }
            if file.skipped > 0 {
                write!(f, ", {} invalid records skipped", file.skipped)?;
            }
            writeln!(f)?;
            for reason in &file.skip_reasons {
                writeln!(f, "  skipped: {reason}")?;
            }
        }
        let s = &self.stats;
        write!(
            f,
            "loaded {} statements ({} new in the store, {} in all), {} concepts, {} relations \
             in {:.2} s ({:.0} statements/s); lexicon: {} forms; concept index: {} concepts, \
             {:.1} MB in {:.1} s",
            s.statements,
            self.statements_added,
            self.statements_after,
            s.concepts,
            s.relations,
            self.total_seconds,
            s.statements as f64 / self.total_seconds.max(1e-9),
            self.lexicon_entries,
            self.index_concepts,
            self.index_bytes as f64 / 1e6,
            self.index_seconds,
        )
    }
}

impl Graph {
    /// The embedded default graph, in memory.
    pub fn embedded() -> Result<Self> {
        let store = Store::new()?;
        store.load_from_reader(oxigraph::io::RdfFormat::Turtle, DEFAULT_GRAPH.as_bytes()).map_err(
            |e| Error::Invalid { file: "kg/default.ttl".into(), message: e.to_string() },
        )?;
        Self::from_store(store)
    }

    /// Wraps an in-memory store (tests, embedding), building its lexicon.
    pub fn from_store(store: Store) -> Result<Self> {
        let lexicon = Lexicon::build(&store)?;
        Ok(Graph {
            source: Source::Store(store),
            lexicon,
            index: None,
            lemmatizer: Lemmatizer::new(),
            location: None,
        })
    }

    /// The graph behind the SPARQL 1.1 endpoint at `url`; each request may take at most
    /// `timeout`. The grounding lexicon is read from the file `lexicon` when it exists;
    /// else it is fetched from the endpoint now, a page of labels and concept IRIs at a
    /// time ([`Lexicon::fetch`]), and written to `lexicon` when given.
    pub fn remote(url: &str, timeout: std::time::Duration, lexicon: Option<&Path>) -> Result<Self> {
        let endpoint = Endpoint::new(url, timeout)?;
        let lexicon = match lexicon {
            Some(path) if path.is_file() => Lexicon::read(path)?,
            _ => {
                let fetched = Lexicon::fetch(&endpoint, crate::kg::lexicon::FETCH_PAGE)?;
                if let Some(path) = lexicon {
                    // Written whole, then renamed: a killed start leaves no half file.
                    let tmp = path.with_extension("tsv.tmp");
                    fetched.write(&tmp)?;
                    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
                }
                fetched
            }
        };
        Ok(Graph {
            source: Source::Endpoint(endpoint),
            lexicon,
            index: None,
            lemmatizer: Lemmatizer::new(),
            location: None,
        })
    }

    /// Opens an on-disk store read-only.
    #[cfg(feature = "rocksdb")]
    pub fn open(dir: &Path) -> Result<Self> {
        let (generation, store) = open_live(dir)?;
        let lexicon = Lexicon::read(&dir.join(lexicon_name(generation)))?;
        // Stores loaded before the index existed have none: retrieval runs its queries.
        let index_path = dir.join(index_name(generation));
        let index = index_path.is_file().then(|| ConceptIndex::open(&index_path)).transpose()?;
        Ok(Graph {
            source: Source::Store(store),
            lexicon,
            index,
            lemmatizer: Lemmatizer::new(),
            location: Some(dir.to_path_buf()),
        })
    }

    /// Opens an on-disk store's statements read-only, without its grounding lexicon (for
    /// SPARQL alone: the server's query workers, which must start fast).
    #[cfg(feature = "rocksdb")]
    pub fn open_statements(dir: &Path) -> Result<Self> {
        let (_, store) = open_live(dir)?;
        Ok(Graph {
            source: Source::Store(store),
            lexicon: Lexicon::default(),
            index: None,
            lemmatizer: Lemmatizer::new(),
            location: Some(dir.to_path_buf()),
        })
    }

    /// The concept index retrieval reads instead of its per-concept queries, if the
    /// graph has one.
    pub fn concept_index(&self) -> Option<&ConceptIndex> {
        self.index.as_ref()
    }

    /// The graph with a concept index built now, in memory (an in-memory store; a remote
    /// endpoint is left as it is).
    pub fn with_concept_index(mut self) -> Result<Self> {
        if let Source::Store(store) = &self.source {
            self.index = Some(ConceptIndex::from_bytes(index::build(store)?)?);
        }
        Ok(self)
    }

    /// The graph without its concept index: retrieval runs its queries (to compare both).
    pub fn without_concept_index(mut self) -> Self {
        self.index = None;
        self
    }

    /// Where the graph's queries run.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The oxigraph store, unless the graph is a remote endpoint.
    pub fn store(&self) -> Option<&Store> {
        match &self.source {
            Source::Store(store) => Some(store),
            Source::Endpoint(_) => None,
        }
    }

    /// The grounding lexicon.
    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// The lemmatizer grounding uses.
    pub fn lemmatizer(&self) -> &Lemmatizer {
        &self.lemmatizer
    }

    /// A grounder over this graph's lexicon.
    pub fn grounder(&self) -> Grounder<'_> {
        Grounder::new(&self.lexicon, &self.lemmatizer)
    }

    /// Where the store lives on disk, if it does.
    pub fn location(&self) -> Option<&Path> {
        self.location.as_deref()
    }
}

/// Loads `paths` into the on-disk store at `dir` (created if needed), atomically: either
/// every input is loaded and the new contents become live, or the store is left as it was.
#[cfg(feature = "rocksdb")]
pub fn load_into_dir(dir: &Path, paths: &[PathBuf], options: &LoadOptions) -> Result<LoadReport> {
    let start = Instant::now();
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if dir.join("CURRENT").exists() || dir.join("OPTIONS").exists() {
        return Err(Error::Store {
            path: dir.to_path_buf(),
            message: "this folder holds a bare RocksDB/oxigraph database, not a kgqa store".into(),
        });
    }
    let lock = File::create(dir.join(LOCK)).map_err(|e| Error::io(dir.join(LOCK), e))?;
    lock.try_lock().map_err(|_| Error::Store {
        path: dir.to_path_buf(),
        message: "another load is running on this store".into(),
    })?;
    let live = current_generation(dir)?;
    remove_leftovers(dir, live)?;
    let next = live.map_or(1, |g| g + 1);
    let next_dir = dir.join(gen_name(next));
    let result = (|| {
        let (before, previous) = match live {
            Some(g) => {
                let old = Store::open(dir.join(gen_name(g)))?;
                let before = old.len()? as u64;
                old.backup(&next_dir)?;
                (before, Some(Lexicon::read(&dir.join(lexicon_name(g)))?))
            }
            None => (0, None),
        };
        let store = Store::open(&next_dir)?;
        let mut lexicon = previous.unwrap_or_default();
        let stats = load::load_files(&store, paths, options, &mut lexicon)?;
        // Sorting and writing the lexicon overlaps with counting and flushing the store.
        let lexicon_path = dir.join(lexicon_name(next));
        let (after, count_seconds, flushed, lexicon) = std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                let t = Instant::now();
                lexicon.finish();
                lexicon.write(&lexicon_path).map(|()| (lexicon.len() as u64, t.elapsed()))
            });
            let t = Instant::now();
            let after = store.len();
            let count_seconds = t.elapsed().as_secs_f64();
            let flushed = store.flush();
            (after, count_seconds, flushed, writer.join().expect("lexicon writer panicked"))
        });
        let after = after? as u64;
        flushed?;
        let (lexicon_entries, lexicon_time) = lexicon?;
        let lexicon_seconds = lexicon_time.as_secs_f64();
        let index = write_index(&store, &dir.join(index_name(next)))?;
        drop(store);
        Ok((stats, before, after, lexicon_entries, count_seconds, lexicon_seconds, index))
    })();
    let (stats, before, after, lexicon_entries, count_seconds, lexicon_seconds, index) =
        match result {
            Ok(r) => r,
            Err(e) => {
                let _ = fs::remove_dir_all(&next_dir);
                let _ = fs::remove_file(dir.join(lexicon_name(next)));
                let _ = fs::remove_file(dir.join(index_name(next)));
                return Err(e);
            }
        };
    switch_generation(dir, next)?;
    remove_leftovers(dir, Some(next))?;
    Ok(LoadReport {
        stats,
        statements_before: before,
        statements_after: after,
        statements_added: after.saturating_sub(before),
        lexicon_entries,
        count_seconds,
        lexicon_seconds,
        index_concepts: index.0,
        index_bytes: index.1,
        index_seconds: index.2,
        total_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Builds the concept index of `store` into the file `path` (synced): its concepts, bytes
/// and seconds.
#[cfg(feature = "rocksdb")]
fn write_index(store: &Store, path: &Path) -> Result<(u64, u64, f64)> {
    let t = Instant::now();
    let bytes = index::build(store)?;
    let concepts = ConceptIndex::from_bytes(bytes)?;
    let mut file = File::create(path).map_err(|e| Error::io(path, e))?;
    let bytes = concepts.bytes();
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| Error::io(path, e))?;
    Ok((concepts.len() as u64, bytes.len() as u64, t.elapsed().as_secs_f64()))
}

fn gen_name(generation: u64) -> String {
    format!("gen-{generation}")
}

fn lexicon_name(generation: u64) -> String {
    format!("lexicon-{generation}.tsv")
}

fn index_name(generation: u64) -> String {
    format!("concepts-{generation}.idx")
}

/// The live generation of the store at `dir` and its statements, opened read-only.
#[cfg(feature = "rocksdb")]
fn open_live(dir: &Path) -> Result<(u64, Store)> {
    let Some(generation) = current_generation(dir)? else {
        return Err(Error::Store {
            path: dir.to_path_buf(),
            message: "no kgqa store here (create one with `kgqa load FILE --store DIR`)".into(),
        });
    };
    let path = dir.join(gen_name(generation));
    if !path.is_dir() {
        return Err(Error::Store {
            path: dir.to_path_buf(),
            message: format!(
                "generation {generation} named by {CURRENT} is missing ({}): the store is \
                 damaged (load the graph again into a new folder)",
                path.display()
            ),
        });
    }
    let store = Store::open_read_only(&path).map_err(|e| damaged(&path, generation, &e))?;
    Ok((generation, store))
}

fn damaged(path: &Path, generation: u64, e: &dyn std::fmt::Display) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        message: format!("generation {generation} cannot be read, it is damaged: {e}"),
    }
}

/// What [`check`] found in a store's live generation.
#[derive(Debug, serde::Serialize)]
pub struct CheckReport {
    /// The live generation.
    pub generation: u64,
    /// Statements in it.
    pub statements: usize,
    /// Forms in its lexicon.
    pub lexicon_entries: usize,
    /// Concepts in its concept index (none for stores loaded without one).
    pub index_concepts: Option<usize>,
    /// Wall time of the check, in seconds.
    pub seconds: f64,
}

/// Reads the live generation of the store at `dir` whole: every statement in every index
/// of the database (their block checksums and their agreement), the lexicon (its trailer)
/// and the concept index (its checksum). Opening a store checks only what is cheap; this
/// is the check to run after a disk fault or a copy.
#[cfg(feature = "rocksdb")]
pub fn check(dir: &Path) -> Result<CheckReport> {
    let start = Instant::now();
    let graph = Graph::open(dir)?;
    let generation = current_generation(dir)?.unwrap_or_default();
    let path = dir.join(gen_name(generation));
    let Source::Store(store) = &graph.source else {
        return Err(Error::Store { path, message: "not an on-disk store".into() });
    };
    store.validate().map_err(|e| damaged(&path, generation, &e))?;
    let statements = store.len().map_err(|e| damaged(&path, generation, &e))?;
    Ok(CheckReport {
        generation,
        statements,
        lexicon_entries: graph.lexicon.len(),
        index_concepts: graph.index.as_ref().map(ConceptIndex::len),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The live generation of the store at `dir`, if there is one.
fn current_generation(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(CURRENT);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| Error::Store {
            path: dir.to_path_buf(),
            message: format!("{CURRENT} holds {text:?}, not a generation number"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Makes `generation` live: write a temporary pointer, sync it, rename it over the old one,
/// sync the folder.
fn switch_generation(dir: &Path, generation: u64) -> Result<()> {
    let tmp = dir.join(format!("{CURRENT}.tmp"));
    let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    writeln!(file, "{generation}")
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, dir.join(CURRENT)).map_err(|e| Error::io(dir.join(CURRENT), e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Removes every generation, lexicon and index but the live one (left by killed or older loads).
fn remove_leftovers(dir: &Path, live: Option<u64>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let generation = name
            .strip_prefix("gen-")
            .or_else(|| name.strip_prefix("lexicon-").and_then(|n| n.strip_suffix(".tsv")))
            .or_else(|| name.strip_prefix("concepts-").and_then(|n| n.strip_suffix(".idx")))
            .and_then(|g| g.parse::<u64>().ok());
        if let Some(g) = generation
            && Some(g) != live
        {
            let path = entry.path();
            let removed =
                if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            removed.map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
