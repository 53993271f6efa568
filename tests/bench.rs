//! `kgqa bench` end to end, with the shipped student and the embedded default graph: every
//! format, the JSON's figures against each other, the plot, the facts cache against
//! `kgqa retrieve` and the accuracy against `kgqa eval`, and bad input.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{fails, ok};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn shipped() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models/student");
    dir.join("model.safetensors").is_file().then_some(dir)
}

const CSQA: &str = r#"{"id":"c1","answerKey":"A","question":{"stem":"We dug the ground to plant flowers. What did we dig with?","choices":[{"label":"A","text":"trowel"},{"label":"B","text":"excavator"},{"label":"C","text":"spoon"}]}}
{"id":"c2","answerKey":"B","question":{"stem":"We dug the ground to build a house. What did we dig with?","choices":[{"label":"A","text":"trowel"},{"label":"B","text":"excavator"},{"label":"C","text":"spoon"}]}}
{"id":"c3","answerKey":"C","question":{"stem":"Where would you keep milk cold?","choices":[{"label":"A","text":"oven"},{"label":"B","text":"desert"},{"label":"C","text":"refrigerator"},{"label":"D","text":"sun"}]}}
{"id":"c4","answerKey":"A","question":{"stem":"What do you use to cut paper?","choices":[{"label":"A","text":"scissors"},{"label":"B","text":"pillow"},{"label":"C","text":"soup"}]}}
"#;

const PIQA: &str = r#"{"goal": "To dig a hole in the garden for flowers,", "sol1": "use a trowel.", "sol2": "use a spoon made of ice."}
{"goal": "To keep food cold,", "sol1": "put it in the oven.", "sol2": "put it in the refrigerator."}
{"goal": "To cut paper,", "sol1": "use scissors.", "sol2": "use a pillow."}
"#;

const SIQA: &str = r#"{"context": "Tracy wanted to plant flowers in the garden.", "question": "What does Tracy need to do first?", "answerA": "dig a hole", "answerB": "go to sleep", "answerC": "buy a car", "correct": "A"}
{"context": "Jordan was very hungry after work.", "question": "What will Jordan want to do next?", "answerA": "eat dinner", "answerB": "run a marathon", "answerC": "paint the fence", "correct": "A"}
"#;

const WINO: &str = r#"{"qID": "w1", "sentence": "We dug the hole with the trowel instead of the spoon because the _ was made for digging.", "option1": "trowel", "option2": "spoon", "answer": "1"}
{"qID": "w2", "sentence": "The ice melted in the sun but not in the freezer because the _ was warm.", "option1": "sun", "option2": "freezer", "answer": "1"}
"#;

/// Four sets in four formats (PIQA's answers found beside it), the student as its own
/// baseline: each set's figures agree with each other and the plot draws every run.
#[test]
fn every_format_with_consistent_figures_and_a_plot() {
    let Some(model) = shipped() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sets = [
        write(d, "csqa.jsonl", CSQA),
        write(d, "piqa.jsonl", PIQA),
        write(d, "siqa.jsonl", SIQA),
        write(d, "wino.jsonl", WINO),
    ];
    write(d, "piqa-labels.lst", "0\n1\n0\n");
    let plot = d.join("bench.svg");
    let model = model.to_str().unwrap();
    let mut args = vec!["bench", "--json", "--baseline", model, "--plot", plot.to_str().unwrap()];
    for s in &sets {
        args.extend(["--dataset", s]);
    }
    let v: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert!(v["model"]["parameters"].as_u64().unwrap() > 1_000_000);
    assert!(v["model"]["bytes_on_disk"].as_u64().unwrap() > 1_000_000);
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 10.0);
    let reports = v["datasets"].as_array().unwrap();
    let expected =
        [("csqa", 4, 0.3125), ("piqa", 3, 0.5), ("siqa", 2, 1.0 / 3.0), ("winogrande", 2, 0.5)];
    for (r, (format, n, chance)) in reports.iter().zip(expected) {
        assert_eq!(r["format"], format);
        assert_eq!(r["questions"], n);
        assert!((r["chance"].as_f64().unwrap() - chance).abs() < 1e-12, "{r}");
        let with = &r["with_graph"];
        let correct = with["correct"].as_i64().unwrap();
        let accuracy = with["accuracy"].as_f64().unwrap();
        assert!((accuracy - correct as f64 / n as f64).abs() < 1e-12);
        let [low, high] = [&with["ci95"][0], &with["ci95"][1]].map(|x| x.as_f64().unwrap());
        assert!(low <= accuracy && accuracy <= high, "{r}");
        // The pairing: A's lead over B is the difference of their correct counts.
        let gain = &r["graph_gain"];
        let withheld = r["without_graph"]["correct"].as_i64().unwrap();
        assert_eq!(
            gain["only_a"].as_i64().unwrap() - gain["only_b"].as_i64().unwrap(),
            correct - withheld
        );
        // The same model as baseline agrees on every question.
        assert_eq!(r["baseline"]["correct"], with["correct"]);
        assert_eq!(
            (r["baseline_gain"]["only_a"].as_i64(), r["baseline_gain"]["only_b"].as_i64()),
            (Some(0), Some(0))
        );
        assert!(r["retrieval"]["p50_ms"].as_f64().unwrap() >= 0.0);
        assert!(r["throughput_qps"].as_f64().unwrap() > 0.0);
        assert!(with["latency"]["p95_ms"].as_f64() >= with["latency"]["p50_ms"].as_f64());
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg.matches("class=\"bar\"").count(), 12, "three runs of four sets");
    assert_eq!(svg.matches("class=\"latency\"").count(), 12, "model, retrieval, baseline x 4");
    // The Markdown table: a row per set.
    let mut args = vec!["bench"];
    for s in &sets[1..] {
        args.extend(["--dataset", s]);
    }
    let md = ok(&args);
    for name in ["| piqa | piqa | 3 |", "| siqa | siqa | 2 |", "| wino | winogrande | 2 |"] {
        assert!(md.contains(name), "{md}");
    }
}

/// A facts cache `kgqa bench` writes is the very file `kgqa retrieve` writes, is read (not
/// retrieved again) the second time, and gives the accuracy `kgqa eval` gives.
#[test]
fn the_facts_cache_and_the_accuracy_match_retrieve_and_eval() {
    let Some(model) = shipped() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = write(dir.path(), "csqa.jsonl", CSQA);
    let ours = dir.path().join("bench-facts.jsonl");
    let theirs = dir.path().join("retrieve-facts.jsonl");
    let (ours_s, theirs_s) = (ours.to_str().unwrap(), theirs.to_str().unwrap());
    let bench = |facts: &str| -> serde_json::Value {
        let out = ok(&["bench", "--json", "--dataset", &set, "--facts", facts]);
        serde_json::from_str(&out).unwrap()
    };
    let first = bench(ours_s);
    assert!(first["datasets"][0]["retrieval"].is_object());
    ok(&["retrieve", "--dataset", &set, "--out", theirs_s]);
    assert_eq!(std::fs::read(&ours).unwrap(), std::fs::read(&theirs).unwrap());
    let second = bench(ours_s);
    assert!(second["datasets"][0]["retrieval"].is_null(), "read from the cache");
    let eval = ok(&[
        "eval",
        "--json",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        &set,
        "--facts",
        theirs_s,
    ]);
    let eval: serde_json::Value = serde_json::from_str(&eval).unwrap();
    for run in [&first, &second] {
        assert_eq!(run["datasets"][0]["with_graph"]["correct"], eval["correct"]);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    if shipped().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let piqa = write(d, "p.jsonl", PIQA);
    let err = fails(&["bench", "--dataset", &piqa]);
    assert!(err.contains("has no answer (give the answers with --labels FILE)"), "{err}");
    let short = write(d, "short.lst", "0\n1\n");
    let err = fails(&["bench", "--dataset", &piqa, "--labels", &short]);
    assert!(err.contains("short.lst:2: 2 answers for the 3 questions"), "{err}");
    let broken = write(d, "b.jsonl", "{\"goal\": \"x\", \"sol1\": \"a\"}\n");
    let err = fails(&["bench", "--dataset", &broken, "--labels", &short]);
    assert!(err.contains("b.jsonl:1: missing field `sol2`"), "{err}");
    let unknown = write(d, "u.jsonl", "{\"text\": \"?\"}\n");
    let err = fails(&["bench", "--dataset", &unknown]);
    assert!(err.contains("u.jsonl:1: not a known format"), "{err}");
    let err = fails(&["bench", "--dataset", &piqa, "--dataset", &unknown, "--facts", "f.jsonl"]);
    assert!(err.contains("--facts: give one per --dataset (1 given for 2)"), "{err}");
    // A cache that lacks a question is refused, and left as it was.
    let csqa = write(d, "c.jsonl", CSQA);
    let cache = write(d, "facts.jsonl", "");
    let err = fails(&["bench", "--dataset", &csqa, "--facts", &cache]);
    assert!(err.contains("facts.jsonl: no facts for question \"c1\""), "{err}");
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), "");
}
