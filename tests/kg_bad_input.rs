//! Bad input: the error names the file and line, and the store stays exactly as it was.
#![cfg(feature = "rocksdb")] // on-disk stores

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, options, snapshot};
use kgqa::kg::Graph;
use kgqa::kg::load::Format;
use kgqa::kg::store::load_into_dir;

/// A store holding the TSV and Turtle fixtures.
fn seeded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    load_into_dir(
        &dir.path().join("store"),
        &[fixture("sample.tsv"), fixture("sample.ttl")],
        &options(),
    )
    .unwrap();
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Loads `bad` into a seeded store, expects an error containing every `expected` piece,
/// and checks the store's contents and lexicon did not change.
fn check(name: &str, bytes: &[u8], format: Option<Format>, expected: &[&str]) {
    let dir = seeded();
    let store = dir.path().join("store");
    let before = snapshot(&Graph::open(&store).unwrap());
    let lexicon_before = Graph::open(&store).unwrap().lexicon().len();
    let bad = write(dir.path(), name, bytes);
    let mut opts = options();
    opts.format = format;
    let err = load_into_dir(&store, &[fixture("sample.nt"), bad], &opts).unwrap_err().to_string();
    for piece in expected {
        assert!(err.contains(piece), "{name}: error {err:?} lacks {piece:?}");
    }
    let graph = Graph::open(&store).unwrap();
    assert_eq!(snapshot(&graph), before, "{name}: the store changed");
    assert_eq!(graph.lexicon().len(), lexicon_before, "{name}: the lexicon changed");
    // Only the live generation's folder, lexicon and concept index, the pointer and the lock.
    let mut leftovers: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    leftovers.sort();
    let live = ["concepts-1.idx", "gen-1", "kgqa-current", "kgqa.lock", "lexicon-1.tsv"];
    assert_eq!(leftovers, live, "{name}");
}

#[test]
fn truncated_lines() {
    check("t.tsv", b"UsedFor\ttrowel\tdig\nAtLocation\tbook", None, &["t.tsv:2:", "3 or 4"]);
    check(
        "t.nt",
        b"<http://a.example/s> <http://a.example/p> <http://a.example/o> .\n<http://a.example/s> <http://a.example/p>",
        None,
        &["t.nt:2:"],
    );
    check(
        "t.csv",
        b"/a/x\t/r/IsA\t/c/en/a\t/c/en/b\t{\"weight\": 1.0",
        None,
        &["t.csv:1:", "invalid JSON"],
    );
}

#[test]
fn wrong_column_counts() {
    check("c.tsv", b"UsedFor\ttrowel\n", None, &["c.tsv:1:", "found 2"]);
    check("c.tsv", b"UsedFor\ttrowel\tdig\t1\textra\n", None, &["c.tsv:1:", "found 5"]);
    check("c.csv", b"/a/x\t/r/IsA\t/c/en/a\n", None, &["c.csv:1:", "expected 5", "found 3"]);
}

#[test]
fn invalid_iris() {
    check(
        "i.nt",
        b"<http://a.example/s> <http://a.example/p> <http://a.example/o> .\n<http://a example/s> <http://a.example/p> \"x\" .\n",
        None,
        &["i.nt:2:"],
    );
    check("i.tsv", b"UsedFor\ta\tb\nUsed For\ta\tb\n", None, &["i.tsv:2:", "invalid relation"]);
    check("i.tsv", b"<not an iri>\ta\tb\n", None, &["i.tsv:1:", "invalid relation IRI"]);
    check(
        "i.ttl",
        b"@prefix c: <http://a.example/> .\nc:a c:b <http://bad iri> .\n",
        None,
        &["i.ttl:2:"],
    );
}

#[test]
fn invalid_utf8() {
    check(
        "u.tsv",
        b"UsedFor\ttrowel\tdig\nUsedFor\ttro\xffwel\tdig\n",
        None,
        &["u.tsv:2:", "invalid UTF-8"],
    );
    check(
        "u.csv",
        b"/a/x\t/r/IsA\t/c/en/\xfe\t/c/en/b\t{}\n",
        None,
        &["u.csv:1:", "invalid UTF-8"],
    );
    check("u.nt", b"<http://a.example/s> <http://a.example/p> \"\xff\" .\n", None, &["u.nt"]);
}

#[test]
fn non_numeric_weights() {
    check("w.tsv", b"UsedFor\ttrowel\tdig\theavy\n", None, &["w.tsv:1:", "weight", "heavy"]);
    check("w.tsv", b"UsedFor\ttrowel\tdig\tNaN\n", None, &["w.tsv:1:", "finite"]);
    check(
        "w.csv",
        b"/a/x\t/r/IsA\t/c/en/a\t/c/en/b\t{\"weight\": \"1.0\"}\n",
        None,
        &["w.csv:1:", "not a number"],
    );
}

#[test]
fn empty_files() {
    check("e.tsv", b"", None, &["e.tsv", "empty"]);
    check("e.nt", b"", None, &["e.nt", "empty"]);
    check("e.ttl", b"# only a comment\n", None, &["e.ttl", "empty"]);
}

#[test]
fn missing_file() {
    let dir = seeded();
    let store = dir.path().join("store");
    let before = snapshot(&Graph::open(&store).unwrap());
    let err =
        load_into_dir(&store, &[dir.path().join("nope.nt")], &options()).unwrap_err().to_string();
    assert!(err.contains("nope.nt") && err.contains("No such file"), "{err}");
    assert_eq!(snapshot(&Graph::open(&store).unwrap()), before);
}

#[test]
fn folder_that_is_not_wordnet() {
    let dir = seeded();
    let store = dir.path().join("store");
    let before = snapshot(&Graph::open(&store).unwrap());
    let folder = dir.path().join("notwordnet");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("data.noun"), "").unwrap();
    let err = load_into_dir(&store, &[folder], &options()).unwrap_err().to_string();
    assert!(
        err.contains("notwordnet") && err.contains("not a WordNet") && err.contains("data.verb"),
        "{err}"
    );
    assert_eq!(snapshot(&Graph::open(&store).unwrap()), before);
}

/// A seeded store and a copy of the WordNet fixture with `line` added to `data.noun`:
/// the temporary folder, the store and the WordNet folder.
fn wordnet_with_line(line: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = seeded();
    let store = dir.path().join("store");
    let wn = dir.path().join("wn");
    std::fs::create_dir(&wn).unwrap();
    for f in ["data.noun", "data.verb", "data.adj", "data.adv"] {
        std::fs::copy(fixture("wordnet").join(f), wn.join(f)).unwrap();
    }
    let mut noun = std::fs::read_to_string(wn.join("data.noun")).unwrap();
    noun.push_str(line);
    std::fs::write(wn.join("data.noun"), noun).unwrap();
    (dir, store, wn)
}

#[test]
fn malformed_wordnet_line_names_the_data_file() {
    let (_dir, store, wn) = wordnet_with_line("00000900 06 n 01 spade 0 001 @ 00000200\n");
    let before = snapshot(&Graph::open(&store).unwrap());
    let err = load_into_dir(&store, &[wn], &options()).unwrap_err().to_string();
    assert!(err.contains("data.noun:6:") && err.contains("truncated"), "{err}");
    assert_eq!(snapshot(&Graph::open(&store).unwrap()), before);
}

#[test]
fn skip_invalid_reports_and_keeps_the_good_lines() {
    let dir = seeded();
    let store = dir.path().join("store");
    let bad = write(
        dir.path(),
        "mixed.tsv",
        b"UsedFor\tspade\tdig\nUsedFor\tspade\nIsA\tspade\ttool\tlots\nAtLocation\tspade\tshed\n",
    );
    let mut opts = options();
    opts.skip_invalid = true;
    let report = load_into_dir(&store, &[bad], &opts).unwrap();
    let file = &report.stats.files[0];
    assert_eq!((file.skipped, file.edges), (2, 2));
    assert!(file.skip_reasons[0].contains("mixed.tsv:2:"), "{:?}", file.skip_reasons);
    assert!(file.skip_reasons[1].contains("mixed.tsv:3:"), "{:?}", file.skip_reasons);
    let g = Graph::open(&store).unwrap();
    assert!(common::ask(&g, "ASK { cn:spade r:UsedFor cn:dig . cn:spade r:AtLocation cn:shed }"));
}

#[test]
fn skip_invalid_in_rdf() {
    let dir = seeded();
    let store = dir.path().join("store");
    let bad = write(
        dir.path(),
        "mixed.nt",
        b"<http://a.example/s> <http://a.example/p> <http://a.example/o> .\n<http://a.example/s> <http://a.example/p>\n<http://a.example/s> <http://a.example/p> <http://a.example/o2> .\n",
    );
    let mut opts = options();
    opts.skip_invalid = true;
    let report = load_into_dir(&store, &[bad], &opts).unwrap();
    assert_eq!(report.stats.files[0].skipped, 1);
    assert_eq!(report.stats.files[0].statements, 2);
}

/// Regression (found by `tests/fuzz.rs`): a forged word or pointer count once made the
/// WordNet reader reserve memory for it up front (2^32 words: 64 GB, an abort). Now the
/// line is refused as truncated and the store is unchanged.
#[test]
fn forged_wordnet_counts_are_refused_not_allocated() {
    for line in [
        "00000900 06 n ffffffff spade 0 001 @ 00000200 n 0000 | x\n",
        "00000900 06 n 01 spade 0 999999999999 @ 00000200 n 0000 | x\n",
    ] {
        let (_dir, store, wn) = wordnet_with_line(line);
        let before = snapshot(&Graph::open(&store).unwrap());
        let err = load_into_dir(&store, &[wn], &options()).unwrap_err().to_string();
        assert!(err.contains("data.noun:6:"), "{err}");
        assert_eq!(snapshot(&Graph::open(&store).unwrap()), before);
    }
}
