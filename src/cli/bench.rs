//! `kgqa bench`: a model and a graph on one or more multiple-choice question sets
//! (CommonsenseQA/OpenBookQA, PIQA, Social IQa, WinoGrande): accuracy with its 95%
//! interval, the graph's gain (the same model with the facts withheld, and optionally an
//! LM-only baseline model, each paired with an exact McNemar test), latency per question
//! (retrieval and model), batched throughput, peak memory and model size; as a Markdown
//! table, JSON and an SVG plot.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kgqa::engine::dataset::{self, Item};
use kgqa::engine::formats::{self, Format};
use kgqa::engine::knowledge::Knowledge;
use kgqa::eval::bench::{
    coverage, examples, labels_of, load_model, paired, peak_rss_mib, questions, throughput,
};
use kgqa::kg::retrieve::{Options, Retriever};
use kgqa::model::head::MultipleChoice;

use kgqa::eval::report::{DatasetReport, Latency, ModelInfo, Report, Run};

/// A question-set format on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Told from each file's first line.
    Auto,
    /// CommonsenseQA or OpenBookQA JSONL.
    Csqa,
    /// PIQA JSONL (answers in `--labels`).
    Piqa,
    /// Social IQa JSONL.
    Siqa,
    /// WinoGrande JSONL.
    Winogrande,
}

/// Arguments of `kgqa bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A question set (repeat for several): CommonsenseQA/OpenBookQA, PIQA, Social IQa or
    /// WinoGrande JSONL.
    #[arg(long = "dataset", required = true)]
    pub datasets: Vec<PathBuf>,
    /// The files' format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Answers in a separate file, one per line (PIQA, WinoGrande), for each `--dataset`
    /// in order (`-` for a set with its answers inside). Without `--labels`, a file
    /// `<name>-labels.lst` beside a set (as PIQA and WinoGrande ship them) is used.
    #[arg(long)]
    pub labels: Vec<PathBuf>,
    /// Leave out the questions whose ids this file lists (for CommonsenseQA's in-house
    /// test: the in-house training ids, as `kgqa eval` does).
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// Use only the first N questions of each set.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The model folder (default: the shipped student).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A second model, usually LM-only, to compare with (paired) on the same questions.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// The facts cache of each `--dataset` in order: read when the file exists (it must
    /// cover the questions), else retrieved from the graph and written there.
    #[arg(long)]
    pub facts: Vec<PathBuf>,
    /// Questions per batch for the throughput figure.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Retrieval worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// JSON on standard output instead of the Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Also draw the accuracies and latencies as an SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Runs `kgqa bench`.
pub fn run(
    graph_args: &super::GraphArgs,
    args: &BenchArgs,
    precision: kgqa::model::kernels::Precision,
) -> anyhow::Result<()> {
    for (flag, n) in [("--labels", args.labels.len()), ("--facts", args.facts.len())] {
        if n != 0 && n != args.datasets.len() {
            anyhow::bail!(
                "{flag}: give one per --dataset ({} given for {})",
                n,
                args.datasets.len()
            );
        }
    }
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let started = Instant::now();
    let dir = args.model.clone().unwrap_or_else(kgqa::model::default_model);
    let load = |dir: &Path| {
        load_model(dir, precision)
            .with_context(|| format!("loading the model in {}", dir.display()))
    };
    let (model, info) = load(&dir)?;
    let baseline = args.baseline.as_deref().map(load).transpose()?;
    // The graph is opened only when some question's facts must be retrieved.
    let mut graph = None;
    let mut reports = Vec::new();
    for (k, path) in args.datasets.iter().enumerate() {
        let set = Set { path, k, graph_args };
        reports.push(dataset_report(&set, args, (&model, baseline.as_ref()), &mut graph)?);
    }
    let report = Report {
        model: info,
        baseline: baseline.map(|(_, i)| i),
        graph: graph_args
            .store
            .as_ref()
            .map_or_else(|| "embedded default graph".into(), |s| s.display().to_string()),
        datasets: reports,
        kernels: kgqa::model::kernels::path().clone(),
        peak_rss_mib: peak_rss_mib(),
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(plot) = &args.plot {
        std::fs::write(plot, report.svg())
            .with_context(|| format!("writing {}", plot.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

/// One `--dataset` of the run: its path, its position (for `--labels` and `--facts`) and
/// the graph its facts come from.
struct Set<'a> {
    path: &'a PathBuf,
    k: usize,
    graph_args: &'a super::GraphArgs,
}

/// The report of one set: the model with its facts, with them withheld, the baseline,
/// latencies and throughput.
fn dataset_report(
    set: &Set<'_>,
    args: &BenchArgs,
    (model, baseline): (&MultipleChoice, Option<&(MultipleChoice, ModelInfo)>),
    graph: &mut Option<kgqa::kg::Graph>,
) -> anyhow::Result<DatasetReport> {
    let (path, k) = (set.path, set.k);
    let format = match args.format {
        FormatArg::Auto => formats::detect(path)?,
        FormatArg::Csqa => Format::Csqa,
        FormatArg::Piqa => Format::Piqa,
        FormatArg::Siqa => Format::Siqa,
        FormatArg::Winogrande => Format::Winogrande,
    };
    let labels = labels_of(path, args.labels.get(k));
    let (ids, limit) = (args.ids.as_deref(), args.limit);
    let items = questions(path, format, labels.as_deref(), ids, limit)?;
    let fusion = model.head().fusion;
    let uses_graph = fusion.reads_facts();
    let needs_facts = uses_graph || baseline.is_some_and(|(m, _)| m.head().fusion.reads_facts());
    let (knowledge, retrieval) = if needs_facts {
        facts(set.graph_args, graph, &items, args.facts.get(k), (args.threads, fusion.curated))?
    } else {
        (vec![None; items.len()], None)
    };
    let mut report = DatasetReport::new(path, format.name(), &items);
    report.facts_coverage = coverage(&knowledge);
    let with = examples(&items, &knowledge, fusion)?;
    let (run_with, right_with, model_ms) = score(model, &with, "with the graph")?;
    if let Some(ms) = retrieval {
        // End to end: the question's own retrieval, then its encoding and scoring.
        let total = ms.iter().zip(&model_ms).map(|(r, m)| r + m).collect();
        report.end_to_end = Some(Latency::of(total));
        report.retrieval = Some(Latency::of(ms));
    }
    if uses_graph {
        let none = vec![None; items.len()];
        let without = examples(&items, &none, fusion)?;
        let (run, right, _) = score(model, &without, "graph withheld")?;
        report.graph_gain = Some(paired(&right_with, &right));
        report.without_graph = Some(run);
    }
    if let Some((b, _)) = baseline {
        let bx = examples(&items, &knowledge, b.head().fusion)?;
        let (run, right, _) = score(b, &bx, "baseline")?;
        report.baseline_gain = Some(paired(&right_with, &right));
        report.baseline = Some(run);
    }
    report.with_graph = run_with;
    report.throughput_qps = throughput(model, &with, args.batch)?;
    report.batch = args.batch;
    Ok(report)
}

/// Each question's knowledge, from the cache `cache` when it exists, else retrieved from
/// the graph (and written to `cache` when given; curated for a model trained on curated
/// knowledge), with the retrieval latency measured.
fn facts(
    graph_args: &super::GraphArgs,
    graph: &mut Option<kgqa::kg::Graph>,
    items: &[Item],
    cache: Option<&PathBuf>,
    (threads, curated): (usize, bool),
) -> anyhow::Result<Facts> {
    if let Some(path) = cache.filter(|p| p.is_file()) {
        let mut cached = dataset::read_facts(path)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let k = cached.remove(&item.id).with_context(|| {
                format!("{}: no facts for question {:?}", path.display(), item.id)
            })?;
            anyhow::ensure!(
                k.choices.len() == item.choices.len(),
                "{}: question {:?} has facts for {} choices, the set {}",
                path.display(),
                item.id,
                k.choices.len(),
                item.choices.len()
            );
            out.push(Some(k));
        }
        return Ok((out, None));
    }
    if graph.is_none() {
        *graph = Some(super::open_graph(graph_args)?);
    }
    let graph = graph.as_ref().expect("opened above");
    let retriever = Retriever::new(Options { curated, ..Options::default() })?;
    let bar = bar(items.len(), "retrieving");
    let timed = dataset::retrieve_all_timed(graph, &retriever, items, threads, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let (knowledge, ms): (Vec<Knowledge>, Vec<f64>) = timed.into_iter().unzip();
    if let Some(path) = cache {
        dataset::write_facts(path, items, &knowledge)?;
        eprintln!("facts of {} questions written to {}", items.len(), path.display());
    }
    Ok((knowledge.into_iter().map(Some).collect(), Some(ms)))
}

/// Every question's facts, and each question's retrieval time in ms when they were
/// retrieved in this run (not read from a cache).
type Facts = (Vec<Option<Knowledge>>, Option<Vec<f64>>);

/// [`kgqa::eval::bench::score`] with a progress bar.
fn score(
    model: &MultipleChoice,
    examples: &[kgqa::train::data::Example],
    what: &str,
) -> anyhow::Result<(Run, Vec<bool>, Vec<f64>)> {
    let bar = bar(examples.len(), what);
    let scored = kgqa::eval::bench::score(model, examples, &|| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(scored)
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    let template = format!("{what} {{bar:30}} {{pos}}/{{len}} questions, eta {{eta}}");
    bar.set_style(ProgressStyle::with_template(&template).expect("static template"));
    bar
}
