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
use kgqa::eval::bench::{load_model, peak_rss_mib};
use kgqa::eval::formats::Format;
use kgqa::eval::report::Report;
use kgqa::eval::suite::{LazyGraph, Observer, SetSpec, Settings, run_set};

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
    let mut graph = LazyGraph::new(|| {
        super::open_graph(graph_args).map_err(|e| kgqa::eval::Error::OpenGraph(format!("{e:#}")))
    });
    let settings = Settings { threads: args.threads, batch: args.batch };
    let mut reports = Vec::new();
    for k in 0..args.datasets.len() {
        let models = (&model, baseline.as_ref().map(|(m, _)| m));
        reports.push(run_set(&set_spec(args, k), settings, models, &mut graph, &Bars::default())?);
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

/// Progress bars for the benchmark's stages.
#[derive(Default)]
struct Bars(std::sync::Mutex<Option<ProgressBar>>);

impl Observer for Bars {
    fn start(&self, what: &str, len: usize) {
        let bar = ProgressBar::new(len as u64);
        let template = format!("{what} {{bar:30}} {{pos}}/{{len}} questions, eta {{eta}}");
        bar.set_style(ProgressStyle::with_template(&template).expect("static template"));
        *self.0.lock().expect("bars") = Some(bar);
    }

    fn tick(&self) {
        if let Some(bar) = &*self.0.lock().expect("bars") {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.lock().expect("bars").take() {
            bar.finish_and_clear();
        }
    }

    fn note(&self, message: &str) {
        eprintln!("{message}");
    }
}

/// The library's description of the `k`th `--dataset`.
fn set_spec(args: &BenchArgs, k: usize) -> SetSpec {
    let format = match args.format {
        FormatArg::Auto => None,
        FormatArg::Csqa => Some(Format::Csqa),
        FormatArg::Piqa => Some(Format::Piqa),
        FormatArg::Siqa => Some(Format::Siqa),
        FormatArg::Winogrande => Some(Format::Winogrande),
    };
    SetSpec {
        path: args.datasets[k].clone(),
        format,
        labels: args.labels.get(k).cloned(),
        ids: args.ids.clone(),
        limit: args.limit,
        facts: args.facts.get(k).cloned(),
    }
}
