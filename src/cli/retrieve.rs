//! `kgqa retrieve --dataset FILE --out FACTS.jsonl`: the facts of every question of a
//! dataset, computed once so that training and benchmarks never query the graph.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kgqa::eval::dataset::{self, Split};
use kgqa::kg::retrieve::{Options, Retriever};

/// Which questions of the dataset to keep.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SplitArg {
    /// All of them.
    All,
    /// Only those whose ids are in `--ids`.
    Listed,
    /// All but those whose ids are in `--ids`.
    Unlisted,
}

/// Arguments of `kgqa retrieve`.
#[derive(Args, Debug)]
pub struct RetrieveArgs {
    /// A CommonsenseQA-format JSONL file.
    #[arg(long)]
    pub dataset: PathBuf,
    /// Where to write the facts (JSON lines, one per question).
    #[arg(long)]
    pub out: PathBuf,
    /// A file of question ids (e.g. inhouse_split_qids.txt) for `--split`.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// Which questions to keep.
    #[arg(long, value_enum, default_value = "all")]
    pub split: SplitArg,
    /// Facts kept per choice.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Direct facts only (no 2-hop paths through an intermediate concept).
    #[arg(long)]
    pub one_hop: bool,
    /// Definitions kept per choice concept.
    #[arg(long, default_value_t = Options::default().definitions)]
    pub definitions: usize,
    /// Degree at which the hub penalty halves a concept's weight in a path's score.
    #[arg(long, default_value_t = Options::default().hub_degree)]
    pub hub_degree: f64,
    /// Factor on a path's score per hop beyond the first.
    #[arg(long, default_value_t = Options::default().hop_decay)]
    pub hop_decay: f64,
    /// Curated knowledge: 2-hop paths only where they say something, and each choice
    /// defined by the sense the question speaks of (for models trained with `--curated`).
    #[arg(long)]
    pub curated: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kgqa retrieve`.
pub fn run(graph_args: &super::GraphArgs, args: &RetrieveArgs) -> anyhow::Result<()> {
    if !(args.hub_degree.is_finite() && args.hub_degree > 0.0) {
        anyhow::bail!("--hub-degree must be a positive number, got {}", args.hub_degree);
    }
    if !(args.hop_decay > 0.0 && args.hop_decay <= 1.0) {
        anyhow::bail!("--hop-decay must be in (0, 1], got {}", args.hop_decay);
    }
    let start = Instant::now();
    let items = dataset::read_csqa(&args.dataset)?;
    let split = match args.split {
        SplitArg::All => Split::All,
        SplitArg::Listed => Split::Listed,
        SplitArg::Unlisted => Split::Unlisted,
    };
    let ids = match (&args.ids, split) {
        (Some(path), _) => dataset::read_ids(path)?,
        (None, Split::All) => Default::default(),
        (None, _) => anyhow::bail!("--split listed/unlisted needs --ids FILE"),
    };
    let items = dataset::select(items, &ids, split);
    let graph = super::open_graph(graph_args)?;
    let retriever = Retriever::new(Options {
        top_k: args.top_k,
        two_hop: !args.one_hop,
        definitions: args.definitions,
        hub_degree: args.hub_degree,
        hop_decay: args.hop_decay,
        curated: args.curated,
        ..Options::default()
    })?;
    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} questions, {per_sec}, eta {eta}")
            .expect("static template"),
    );
    let done = AtomicU64::new(0);
    let progress = || {
        done.fetch_add(1, Ordering::Relaxed);
        bar.inc(1);
    };
    let knowledge = dataset::retrieve_all(&graph, &retriever, &items, args.threads, &progress)?;
    bar.finish_and_clear();
    dataset::write_facts(&args.out, &items, &knowledge)?;
    let choices: usize = knowledge.iter().map(|k| k.choices.len()).sum();
    let facts: usize = knowledge.iter().flat_map(|k| &k.choices).map(|c| c.facts.len()).sum();
    let seconds = start.elapsed().as_secs_f64();
    let summary = serde_json::json!({
        "questions": items.len(),
        "choices": choices,
        "facts": facts,
        "facts_per_choice": facts as f64 / choices.max(1) as f64,
        "seconds": seconds,
        "out": args.out.display().to_string(),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{} questions, {choices} choices, {facts} facts ({:.2} per choice) in {seconds:.1} s -> {}",
            items.len(),
            facts as f64 / choices.max(1) as f64,
            args.out.display()
        );
    }
    Ok(())
}
