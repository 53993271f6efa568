//! The `kgqa` binary end to end: load, query, concept, exit codes, and a load killed
//! with SIGKILL half-way.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{fails, ok, top};
use common::fixture;

#[test]
fn load_prints_a_summary_and_query_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let store = store.to_str().unwrap();
    let out = ok(&["load", "-q", fixture("sample.tsv").to_str().unwrap(), "--store", store]);
    assert!(
        out.contains("loaded 23 statements") && out.contains("5 concepts, 3 relations"),
        "{out}"
    );
    let json = ok(&["load", "--json", fixture("sample.ttl").to_str().unwrap(), "--store", store]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["statements_added"], 3);
    assert_eq!(v["statements_after"], 26);

    let table = ok(&["query", "SELECT ?t WHERE { cn:trowel r:UsedFor ?t }", "--store", store]);
    assert!(table.contains("cn:dig") && table.contains("(1 rows)"), "{table}");
    let json = ok(&[
        "query",
        "--json",
        "SELECT ?t WHERE { cn:excavator r:UsedFor ?t } ORDER BY ?t",
        "--store",
        store,
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let values: Vec<&str> = v["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["t"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["http://conceptnet.io/c/en/build_house", "http://conceptnet.io/c/en/dig"]);
    assert_eq!(
        ok(&["query", "ASK { cn:trowel r:UsedFor cn:dig }", "--store", store]).trim(),
        "true"
    );
    assert_eq!(
        ok(&["query", "--json", "ASK { cn:trowel r:UsedFor cn:nothing }", "--store", store]).trim(),
        r#"{"head":{},"boolean":false}"#
    );
    let nt = ok(&[
        "query",
        "CONSTRUCT { ?s r:UsedFor ?o } WHERE { ?s r:UsedFor ?o . FILTER(?s = cn:excavator) }",
        "--store",
        store,
    ]);
    assert_eq!(nt.lines().count(), 2);
    assert!(nt.contains("<http://conceptnet.io/c/en/excavator> <http://conceptnet.io/r/UsedFor> <http://conceptnet.io/c/en/dig> ."));
    let described = ok(&["query", "DESCRIBE cn:excavator", "--store", store]);
    assert_eq!(described.lines().count(), 3, "{described}");
}

#[test]
fn updates_and_bad_queries_are_refused() {
    let err = fails(&["query", "INSERT DATA { cn:a r:IsA cn:b }"]);
    assert!(err.contains("updates are refused"), "{err}");
    let err = fails(&["query", "DELETE WHERE { ?s ?p ?o }"]);
    assert!(err.contains("updates are refused"), "{err}");
    let err = fails(&["query", "SELECT ?x WHERE { ?x"]);
    assert!(err.contains("SPARQL syntax error"), "{err}");
}

#[test]
fn query_reads_from_a_file_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.rq");
    std::fs::write(&q, "ASK { cn:trowel r:UsedFor cn:dig }").unwrap();
    assert_eq!(ok(&["query", &format!("@{}", q.display())]).trim(), "true");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["query", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"ASK { cn:excavator r:UsedFor cn:dig }").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "true");
}

#[test]
fn embedded_graph_answers_without_a_store() {
    let n = ok(&["query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"]);
    let count: u64 = n
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .trim_matches('"')
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 300, "the default graph has {count} triples");
    let out = ok(&["concept", "trowel"]);
    assert!(
        out.contains("--UsedFor--> dig") && out.contains("definition: a small hand tool"),
        "{out}"
    );
}

#[test]
fn concept_json_lists_mentions_neighbours_and_misses() {
    let out =
        ok(&["concept", "--json", "I dug holes in the garden to plant flowers with a zorblat"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let forms: Vec<&str> =
        v["mentions"].as_array().unwrap().iter().map(|m| m["form"].as_str().unwrap()).collect();
    assert_eq!(forms, ["dig", "hole", "garden", "plant", "flower"]);
    let dig = &v["mentions"][0]["concepts"][0];
    assert_eq!(dig["iri"], "http://conceptnet.io/c/en/dig");
    assert!(
        dig["neighbours"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["label"] == "trowel" && n["outgoing"] == false)
    );
    assert_eq!(v["diagnostics"][0]["word"], "zorblat");
}

#[test]
fn load_errors_exit_nonzero_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "UsedFor\ta\tb\nUsedFor\ta\n").unwrap();
    let store = dir.path().join("s");
    let err = fails(&["load", bad.to_str().unwrap(), "--store", store.to_str().unwrap()]);
    assert!(err.contains("bad.tsv:2:"), "{err}");
    let out = ok(&[
        "load",
        "--skip-invalid",
        "-q",
        bad.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(out.contains("1 invalid records skipped") && out.contains("bad.tsv:2:"), "{out}");
    let err = fails(&["load", bad.to_str().unwrap()]);
    assert!(err.contains("--store"), "{err}");
    let err = fails(&["load", bad.to_str().unwrap(), "--format", "jsonld", "--store", "x"]);
    assert!(err.contains("unknown format"), "{err}");
    let err = fails(&["query", "ASK {}", "--store", dir.path().join("none").to_str().unwrap()]);
    assert!(err.contains("no kgqa store here"), "{err}");
}

/// A load killed with SIGKILL leaves the previous store openable and unchanged, and the
/// next load cleans up after it.
#[test]
fn load_killed_midway_leaves_the_store_intact() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ok(&[
        "load",
        "-q",
        fixture("sample.tsv").to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    let before = ok(&[
        "query",
        "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o",
        "--store",
        store.to_str().unwrap(),
    ]);

    let big = dir.path().join("big.tsv");
    let mut text = String::with_capacity(40 << 20);
    for i in 0..600_000 {
        text.push_str(&format!(
            "RelatedTo\tconcept number {i}\tother concept {}\t{}\n",
            i * 7 % 1000,
            i % 5
        ));
    }
    std::fs::write(&big, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["load", "-q", big.to_str().unwrap(), "--store", store.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the new generation exists and data is flowing into it, then kill.
    let start = Instant::now();
    while !store.join("gen-2").exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "the load never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the load finished before it could be killed");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let after = ok(&[
        "query",
        "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(before, after);
    assert!(store.join("gen-2").exists(), "the killed load's leftovers are expected here");
    assert_eq!(std::fs::read_to_string(store.join("kgqa-current")).unwrap().trim(), "1");
    // The next load replaces the leftovers with its own generation 2.
    ok(&[
        "load",
        "-q",
        fixture("sample.ttl").to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(store.join("kgqa-current")).unwrap().trim(), "2");
    assert!(!store.join("gen-1").exists());
    assert_eq!(
        ok(&[
            "query",
            "ASK { cn:excavator r:UsedFor cn:dig . cn:trowel r:UsedFor cn:dig }",
            "--store",
            store.to_str().unwrap()
        ])
        .trim(),
        "true"
    );
}

#[test]
fn help_lists_the_subcommands() {
    let out = ok(&["--help"]);
    // DESIGN.md's command line, each with its own --help.
    for sub in ["load", "query", "concept", "ask", "serve", "train", "distill", "bench", "eval"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(sub)), "{sub}: {out}");
        let help = ok(&[sub, "--help"]);
        assert!(help.contains("Usage: kgqa") && help.contains(sub), "{help}");
    }
    for global in ["--store", "--lexicon", "--endpoint-timeout"] {
        assert!(out.contains(global), "{global}: {out}");
    }
}

#[test]
fn ask_open_ended_on_the_embedded_graph() {
    let out = ok(&["ask", "--json", "We dug the ground to plant flowers. What did we dig with?"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["open_ended"], true);
    let top3 = top(&v, 3);
    assert!(top3.contains(&"trowel"), "{top3:?}");
    let text = ok(&["ask", "We dug the ground to build a house. What did we dig with?"]);
    assert!(text.contains("excavator is used for build house"), "{text}");
}

#[test]
fn retrieve_caches_facts_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let questions = dir.path().join("q.jsonl");
    let line = |id: &str, stem: &str| {
        serde_json::json!({"id": id, "answerKey": "A", "question": {"stem": stem, "choices": [
            {"label": "A", "text": "trowel"}, {"label": "B", "text": "excavator"}]}})
        .to_string()
    };
    let good = format!(
        "{}\n{}\n",
        line("q1", "We dug the ground to plant flowers. What did we dig with?"),
        line("q2", "Where would you keep a trowel?")
    );
    std::fs::write(&questions, &good).unwrap();
    let out = dir.path().join("facts.jsonl");
    let (q, o) = (questions.to_str().unwrap(), out.to_str().unwrap());
    let summary = ok(&["retrieve", "--dataset", q, "--out", o, "--json"]);
    let s: serde_json::Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(s["questions"], 2);
    let cached = kgqa::eval::dataset::read_facts(&out).unwrap();
    assert_eq!(cached["q1"].choices[0].facts[0].text, "trowel is used for dig");
    // The cache is reproducible byte for byte.
    let first = std::fs::read(&out).unwrap();
    ok(&["retrieve", "--dataset", q, "--out", o, "--threads", "1"]);
    assert_eq!(std::fs::read(&out).unwrap(), first);
    // Retrieval options: direct facts only, no definitions; bad values are refused by name.
    let narrow = dir.path().join("narrow.jsonl");
    let n = narrow.to_str().unwrap();
    ok(&["retrieve", "--dataset", q, "--out", n, "--one-hop", "--definitions", "0"]);
    let cached = kgqa::eval::dataset::read_facts(&narrow).unwrap();
    let choices = cached.values().flat_map(|k| &k.choices);
    assert!(choices.clone().all(|c| c.definitions.is_empty()));
    assert!(choices.clone().flat_map(|c| &c.facts).all(|f| f.edges.len() == 1));
    assert!(choices.flat_map(|c| &c.facts).count() > 0);
    let err = fails(&["retrieve", "--dataset", q, "--out", n, "--hub-degree", "0"]);
    assert!(err.contains("--hub-degree"), "{err}");
    let err = fails(&["retrieve", "--dataset", q, "--out", n, "--hop-decay", "1.5"]);
    assert!(err.contains("--hop-decay"), "{err}");
    // A malformed line: file, line and field; the old cache is left alone.
    std::fs::write(&questions, format!("{good}{{\"id\": \"q3\", \"question\": {{}}}}\n")).unwrap();
    let err = fails(&["retrieve", "--dataset", q, "--out", o]);
    assert!(err.contains("q.jsonl:3:") && err.contains("stem"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), first);
    std::fs::write(
        &questions,
        line("q1", "x").replace("\"answerKey\":\"A\"", "\"answerKey\":\"Z\""),
    )
    .unwrap();
    let err = fails(&["retrieve", "--dataset", q, "--out", o]);
    assert!(err.contains("q.jsonl:1: answerKey"), "{err}");
}
