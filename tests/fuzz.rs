//! Fuzzing on stable Rust, over everything that reads untrusted bytes: the TSV, ConceptNet
//! CSV and WordNet readers, grounding and lemmatization, `/ask` request validation and
//! `/sparql` request handling (the nesting check and the parser).
//!
//! Each target mutates a small corpus of valid inputs (bit flips, inserted and deleted
//! bytes, spliced pieces of other inputs, runs of delimiters, brackets and odd characters)
//! with a seeded generator and runs it; a panic is a crash. Errors are fine: the readers
//! must refuse bad input with an error, never panic. Crashing inputs are written to
//! `target/fuzz-crashes/` and fail the test; each becomes a regression case below.
//!
//! CI runs every target for a few seconds (`KGQA_FUZZ_SECONDS`, default 3). For a long
//! run: `KGQA_FUZZ_SECONDS=1800 KGQA_FUZZ_SEED=7 cargo test --release --test fuzz --
//! --nocapture --test-threads 1` (executions, time and crashes are printed per target).

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kgqa::kg::load::{LoadOptions, load_files};
use kgqa::kg::{Graph, lexicon::Lexicon};

/// The seeded generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        kgqa::model::rng::splitmix64(&mut self.0)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the readers: delimiters, quotes, brackets, escapes, multi-byte
/// and invalid UTF-8.
const SPICE: &[&[u8]] = &[
    b"\t",
    b",",
    b"\"",
    b"'",
    b"\n",
    b"\r\n",
    b"(",
    b")",
    b"{",
    b"}",
    b"[",
    b"]",
    b"<",
    b">",
    b"/",
    b"\\",
    b"|",
    b"#",
    b"@",
    b"^^",
    b"_:",
    b"0",
    b"-1",
    b"1e309",
    b"NaN",
    b" ",
    b"\0",
    "é".as_bytes(),
    "𝔸".as_bytes(),
    b"\xff\xfe",
    b"\xc3",
    b"/c/en/",
    b"/r/IsA",
    b"%",
    b"+",
];

/// One mutation of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let spice = SPICE[rng.below(SPICE.len())];
                out.splice(at..at, spice.iter().copied());
            }
            2 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(64)).min(other.len());
                out.splice(at..at, other[start..end].iter().copied());
            }
            4 => {
                let spice = SPICE[rng.below(SPICE.len())];
                let run: Vec<u8> = spice.repeat(1 + rng.below(300));
                out.splice(at..at, run);
            }
            5 if !out.is_empty() => {
                let end = (at + 1 + rng.below(32)).min(out.len());
                let piece = out[at.min(end)..end].to_vec();
                out.splice(at..at, piece);
            }
            _ => out.push(rng.next() as u8),
        }
    }
    out
}

/// Runs `target` on mutations of `corpus` for the configured time, writes each crashing
/// input to `target/fuzz-crashes/NAME-N.bin`, prints the figures and fails on a crash.
fn fuzz(name: &str, corpus: &[Vec<u8>], target: impl FnMut(&[u8])) {
    let seconds: f64 =
        std::env::var("KGQA_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let crashes = run(name, corpus, Duration::from_secs_f64(seconds), target);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    for (i, crash) in crashes.iter().enumerate() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{name}-{i}.bin")), crash);
    }
    assert!(crashes.is_empty(), "{name}: {} crashing inputs in {}", crashes.len(), dir.display());
}

/// The fuzzing loop: the crashing inputs found in `limit`.
fn run(
    name: &str,
    corpus: &[Vec<u8>],
    limit: Duration,
    mut target: impl FnMut(&[u8]),
) -> Vec<Vec<u8>> {
    let seed: u64 = std::env::var("KGQA_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng(name.bytes().fold(seed, |h, b| h.rotate_left(5) ^ u64::from(b)));
    let start = Instant::now();
    let (mut runs, mut crashes) = (0u64, Vec::new());
    // Quiet panics: a crash is reported once, with its input, below.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    while start.elapsed() < limit {
        let input = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let mutated = mutate(&mut rng, input, other);
        if catch_unwind(AssertUnwindSafe(|| target(&mutated))).is_err() {
            crashes.push(mutated);
        }
        runs += 1;
    }
    std::panic::set_hook(hook);
    eprintln!(
        "fuzz {name}: {runs} executions in {:.1} s, {} crashes",
        start.elapsed().as_secs_f64(),
        crashes.len()
    );
    crashes
}

/// The harness finds a planted crash (so a quiet run means something).
#[test]
fn the_harness_finds_a_planted_crash() {
    let corpus = vec![b"abc".to_vec()];
    let crashes = run("planted", &corpus, Duration::from_millis(300), |bytes| {
        assert!(!bytes.contains(&b'('), "planted");
    });
    assert!(!crashes.is_empty());
    assert!(crashes.iter().all(|c| c.contains(&b'(')));
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).unwrap()
}

/// Loads `bytes` as the file `name` into a fresh in-memory store, as `kgqa load` would
/// (malformed records refused with an error, or skipped with `skip_invalid`).
fn load_bytes(dir: &Path, name: &str, bytes: &[u8], skip_invalid: bool) {
    let path = dir.join(name);
    std::fs::File::create(&path).and_then(|mut f| f.write_all(bytes)).unwrap();
    load_path(&path, skip_invalid);
}

fn load_path(path: &Path, skip_invalid: bool) {
    let store = oxigraph::store::Store::new().unwrap();
    let options = LoadOptions {
        format: None,
        languages: kgqa::kg::load::Languages::All,
        skip_invalid,
        dataset: None,
        progress: false,
    };
    let mut lexicon = Lexicon::default();
    let _ = load_files(&store, &[path.to_path_buf()], &options, &mut lexicon);
}

#[test]
fn fuzz_tsv_reader() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = vec![data("sample.tsv"), b"IsA\tdog\tanimal\t0.9\n".to_vec()];
    let mut flip = false;
    fuzz("tsv", &corpus, |bytes| {
        flip = !flip;
        load_bytes(dir.path(), "input.tsv", bytes, flip);
    });
}

#[test]
fn fuzz_conceptnet_csv_reader() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = vec![data("sample.csv")];
    let mut flip = false;
    fuzz("conceptnet_csv", &corpus, |bytes| {
        flip = !flip;
        load_bytes(dir.path(), "input.csv", bytes, flip);
    });
}

#[test]
fn fuzz_wordnet_reader() {
    let dir = tempfile::tempdir().unwrap();
    let wordnet = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wordnet");
    let files: Vec<PathBuf> =
        std::fs::read_dir(&wordnet).unwrap().map(|e| e.unwrap().path()).collect();
    for f in &files {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    let corpus: Vec<Vec<u8>> =
        ["data.noun", "data.verb"].iter().map(|n| data(&format!("wordnet/{n}"))).collect();
    let mut round = 0usize;
    fuzz("wordnet", &corpus, |bytes| {
        round += 1;
        let victim = ["data.noun", "data.verb", "data.adj", "verb.exc"][round % 4];
        std::fs::write(dir.path().join(victim), bytes).unwrap();
        load_path(dir.path(), round.is_multiple_of(2));
        // Restore for the next round.
        std::fs::copy(wordnet.join(victim), dir.path().join(victim)).unwrap();
    });
}

#[test]
fn fuzz_grounding_and_lemmatization() {
    let graph = Graph::embedded().unwrap();
    let lemmatizer = kgqa::kg::lemma::Lemmatizer::new();
    let corpus: Vec<Vec<u8>> = [
        "We dug the ground to plant flowers. What did we dig with?",
        "Where would you find magazines along side many other printed works?",
        "The children's toys were running, ran, runs; geese and mice!",
        "a trowel's handle — bulldozers' wheels",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("grounding", &corpus, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let _ = graph.grounder().ground(&text);
        for word in text.split_whitespace().take(20) {
            let _ = lemmatizer.candidates(word);
            let _ = lemmatizer.bases(word, true);
        }
    });
}

#[test]
fn fuzz_ask_request_validation() {
    let graph = Graph::embedded().unwrap();
    let engine = kgqa::engine::Engine::new(graph, None, Default::default()).unwrap();
    let corpus: Vec<Vec<u8>> = [
        r#"{"question": "What did we dig with?", "choices": ["trowel", "excavator"]}"#,
        r#"{"question": "q", "passage": "p", "choices": [], "no_kg": false, "top_k": 3}"#,
        r#"{"question": "x", "choices": ["a", "b", "c", "d", "e"]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("ask_request", &corpus, |bytes| {
        if let Ok(request) = serde_json::from_slice::<kgqa::engine::Request>(bytes) {
            let _ = engine.validate(&request);
        }
    });
}

#[test]
fn fuzz_sparql_request_handling() {
    let corpus: Vec<Vec<u8>> = [
        "SELECT ?o WHERE { <http://conceptnet.io/c/en/trowel> ?p ?o } LIMIT 3",
        "PREFIX c: <http://conceptnet.io/c/en/> ASK { c:trowel ?p \"x\"@en FILTER(STRLEN(\"a\") > 0) }",
        "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } OPTIONAL { ?s ?q [ ?r ?t ] } } ORDER BY ?s",
        "SELECT * WHERE { VALUES ?x { 1 2 } BIND(CONCAT(STR(?x), '''a''') AS ?y) }",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("sparql", &corpus, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        if kgqa::kg::guard::check_nesting(&text, kgqa::kg::guard::MAX_NESTING).is_ok() {
            let _ = oxigraph::sparql::SparqlEvaluator::new().parse_query(&text);
        }
    });
}
