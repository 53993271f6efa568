//! Retrieval latency per 5-choice question (a bench command, not a test): grounding,
//! neighbourhoods, paths, scoring and definitions for every question of a CommonsenseQA
//! file, on an on-disk store. Reports p50/p90/p99/mean per question in three settings:
//! `cold` (a fresh retriever, its per-concept cache empty at the first question: a server
//! just started), `warm` (the cache first filled by retrieving the *other* questions of the
//! file, e.g. the training split: a server that has been answering for a while; the
//! measured questions are never retrieved twice), and `no-cache` (every concept queried
//! every time). Each setting runs twice, side by side: reading the store's concept index
//! (`index`, what the engine does) and running the per-concept queries (`queries`, a store
//! without an index, or a remote endpoint); the two must give the same facts.
//!
//! Usage: `cargo bench --bench retrieval -- STORE_DIR QUESTIONS.jsonl [IDS_FILE]`
//! (with `IDS_FILE`, the questions whose ids are *not* listed: the in-house test split).

use std::path::PathBuf;
use std::time::Instant;

use kgqa::eval::dataset::{self, Split};
use kgqa::kg::Graph;
use kgqa::kg::retrieve::{Options, Retriever};
use kgqa::knowledge::Knowledge;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let usage = "usage: retrieval STORE_DIR QUESTIONS.jsonl [IDS_FILE]";
    let store = PathBuf::from(args.get(1).expect(usage));
    let file = PathBuf::from(args.get(2).expect(usage));
    let all = dataset::read_csqa(&file).expect("questions");
    let (items, others) = match args.get(3) {
        Some(ids) => {
            let ids = dataset::read_ids(&PathBuf::from(ids)).expect("ids");
            (
                dataset::select(all.clone(), &ids, Split::Unlisted),
                dataset::select(all, &ids, Split::Listed),
            )
        }
        None => (all, Vec::new()),
    };
    let indexed = Graph::open(&store).expect("store opens");
    assert!(
        indexed.concept_index().is_some(),
        "{} has no concept index: load it again",
        store.display()
    );
    let plain = Graph::open(&store).expect("store opens").without_concept_index();
    // KGQA_BENCH_MODES=cold,warm,no-cache (the default) picks the settings to run.
    let modes = std::env::var("KGQA_BENCH_MODES").unwrap_or_else(|_| "cold,warm,no-cache".into());
    let cache = Options::default().cache;
    let settings = [("cold", cache, false), ("warm", cache, true), ("no-cache", 0, false)];
    for (name, cache, warm) in settings {
        if !modes.split(',').any(|m| m == name) || (warm && others.is_empty()) {
            continue;
        }
        let mut answers = Vec::new();
        for (source, graph) in [("index", &indexed), ("queries", &plain)] {
            answers.push(measure(graph, (name, source), cache, warm, (&items, &others)));
        }
        assert!(
            answers[0] == answers[1],
            "{name}: the index and the queries retrieved different facts"
        );
    }
}

/// Retrieves every question of `items` once, timing each, and prints the percentiles.
fn measure(
    graph: &Graph,
    (name, source): (&str, &str),
    cache: usize,
    warm: bool,
    (items, others): (&[dataset::Item], &[dataset::Item]),
) -> Vec<Knowledge> {
    let retriever = Retriever::new(Options { cache, ..Options::default() }).expect("queries");
    if warm {
        dataset::retrieve_all(graph, &retriever, others, 2, &|| ()).expect("warm-up");
    }
    let mut ms = Vec::with_capacity(items.len());
    let mut facts = 0usize;
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        let choices: Vec<(String, Option<String>)> =
            item.choices.iter().map(|c| (c.clone(), None)).collect();
        let t = Instant::now();
        let k = Knowledge::gather(graph, &retriever, &item.question, None, &choices, false)
            .expect("retrieval");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        facts += k.choices.iter().map(|c| c.facts.len()).sum::<usize>();
        answers.push(k);
    }
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    ms.sort_by(f64::total_cmp);
    println!(
        "retrieval {name} {source} questions={} p50_ms={:.2} p90_ms={:.2} p95_ms={:.2} p99_ms={:.2} max_ms={:.2} mean_ms={:.2} facts={facts}",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.9),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        ms[ms.len() - 1],
        mean,
    );
    answers
}
