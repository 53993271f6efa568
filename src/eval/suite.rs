//! *"How good and how fast is this model, with and without the graph, on this set?"* One
//! question set of a benchmark run: its questions, their facts (from a cache or retrieved
//! and timed), the model with the facts and with them withheld, an optional baseline
//! model, each paired with an exact McNemar test, latencies and batched throughput.
//! `kgqa bench` runs one per `--dataset` and prints the [`Report`](super::report::Report).

use std::path::{Path, PathBuf};

use crate::eval::bench::{coverage, examples, labels_of, paired, questions, score, throughput};
use crate::eval::dataset::{self, Item};
use crate::eval::error::{Error, Result};
use crate::eval::formats::{self, Format};
use crate::eval::report::{DatasetReport, Latency, Run};
use crate::kg::Graph;
use crate::kg::retrieve::{Options, Retriever};
use crate::knowledge::Knowledge;
use crate::model::head::MultipleChoice;

/// One question set and how to read it.
#[derive(Clone, Debug, Default)]
pub struct SetSpec {
    /// The questions (CommonsenseQA/OpenBookQA, PIQA, Social IQa or WinoGrande JSONL).
    pub path: PathBuf,
    /// Its format; `None`: told from the first line.
    pub format: Option<Format>,
    /// Answers in a separate file (else `<name>-labels.lst` beside the set, if any).
    pub labels: Option<PathBuf>,
    /// Leave out the questions this file lists.
    pub ids: Option<PathBuf>,
    /// Only the first N questions.
    pub limit: Option<usize>,
    /// The facts cache: read when it exists, else written after retrieval.
    pub facts: Option<PathBuf>,
}

/// Settings shared by every set of a run.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Retrieval worker threads.
    pub threads: usize,
    /// Questions per batch for the throughput figure.
    pub batch: usize,
}

/// What a benchmark reports as it goes: each stage over the questions (`retrieving`,
/// `with the graph`, `graph withheld`, `baseline`) starts, advances one question at a
/// time (from several threads while retrieving) and ends.
pub trait Observer: Sync {
    /// A stage of `len` questions starts.
    fn start(&self, what: &str, len: usize);
    /// One more question is done.
    fn tick(&self);
    /// The stage is over.
    fn finish(&self);
    /// A note for the user (a cache written).
    fn note(&self, message: &str);
}

/// The graph of a run, opened the first time a set needs facts retrieved.
pub struct LazyGraph<'a> {
    graph: Option<Graph>,
    open: Box<dyn FnMut() -> Result<Graph> + 'a>,
}

impl<'a> LazyGraph<'a> {
    /// A graph that `open` gives when first needed.
    pub fn new(open: impl FnMut() -> Result<Graph> + 'a) -> Self {
        LazyGraph { graph: None, open: Box::new(open) }
    }

    fn get(&mut self) -> Result<&Graph> {
        if self.graph.is_none() {
            self.graph = Some((self.open)()?);
        }
        Ok(self.graph.as_ref().expect("opened above"))
    }
}

/// The report of one set: `model` with its facts and with them withheld, the baseline
/// when given, latencies and throughput.
pub fn run_set(
    set: &SetSpec,
    settings: Settings,
    (model, baseline): (&MultipleChoice, Option<&MultipleChoice>),
    graph: &mut LazyGraph<'_>,
    observer: &dyn Observer,
) -> Result<DatasetReport> {
    let format = match set.format {
        Some(f) => f,
        None => formats::detect(&set.path)?,
    };
    let labels = labels_of(&set.path, set.labels.as_ref());
    let items = questions(&set.path, format, labels.as_deref(), set.ids.as_deref(), set.limit)?;
    let fusion = model.head().fusion;
    let uses_graph = fusion.reads_facts();
    let needs_facts = uses_graph || baseline.is_some_and(|b| b.head().fusion.reads_facts());
    let (knowledge, retrieval) = if needs_facts {
        let cache = set.facts.as_deref();
        facts(graph, &items, cache, (settings.threads, fusion.curated), observer)?
    } else {
        (vec![None; items.len()], None)
    };
    let mut report = DatasetReport::new(&set.path, format.name(), &items);
    report.facts_coverage = coverage(&knowledge);
    let with = examples(&items, &knowledge, fusion)?;
    let (run_with, right_with, model_ms) = observed(model, &with, "with the graph", observer)?;
    if let Some(ms) = retrieval {
        // End to end: the question's own retrieval, then its encoding and scoring.
        let total = ms.iter().zip(&model_ms).map(|(r, m)| r + m).collect();
        report.end_to_end = Some(Latency::of(total));
        report.retrieval = Some(Latency::of(ms));
    }
    if uses_graph {
        let without = examples(&items, &vec![None; items.len()], fusion)?;
        let (run, right, _) = observed(model, &without, "graph withheld", observer)?;
        report.graph_gain = Some(paired(&right_with, &right));
        report.without_graph = Some(run);
    }
    if let Some(b) = baseline {
        let bx = examples(&items, &knowledge, b.head().fusion)?;
        let (run, right, _) = observed(b, &bx, "baseline", observer)?;
        report.baseline_gain = Some(paired(&right_with, &right));
        report.baseline = Some(run);
    }
    report.with_graph = run_with;
    report.throughput_qps = throughput(model, &with, settings.batch)?;
    report.batch = settings.batch;
    Ok(report)
}

/// Every question's facts, and each question's retrieval time in ms when they were
/// retrieved in this run (not read from a cache).
type Facts = (Vec<Option<Knowledge>>, Option<Vec<f64>>);

/// Each question's knowledge, from `cache` when it exists, else retrieved from the graph
/// (and written to `cache` when given; curated for a model trained on curated knowledge),
/// with the retrieval latency measured.
fn facts(
    graph: &mut LazyGraph<'_>,
    items: &[Item],
    cache: Option<&Path>,
    (threads, curated): (usize, bool),
    observer: &dyn Observer,
) -> Result<Facts> {
    if let Some(path) = cache.filter(|p| p.is_file()) {
        return Ok((cached(path, items)?, None));
    }
    let graph = graph.get()?;
    let retriever = Retriever::new(Options { curated, ..Options::default() })?;
    observer.start("retrieving", items.len());
    let timed =
        dataset::retrieve_all_timed(graph, &retriever, items, threads, &|| observer.tick())?;
    observer.finish();
    let (knowledge, ms): (Vec<Knowledge>, Vec<f64>) = timed.into_iter().unzip();
    if let Some(path) = cache {
        dataset::write_facts(path, items, &knowledge)?;
        observer.note(&format!("facts of {} questions written to {}", items.len(), path.display()));
    }
    Ok((knowledge.into_iter().map(Some).collect(), Some(ms)))
}

/// The facts of `items` from the cache at `path`, which must cover each of them.
fn cached(path: &Path, items: &[Item]) -> Result<Vec<Option<Knowledge>>> {
    let mut cached = dataset::read_facts(path)?;
    let invalid = |message: String| Error::Invalid { field: "facts", message };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let k = cached.remove(&item.id).ok_or_else(|| {
            invalid(format!("{}: no facts for question {:?}", path.display(), item.id))
        })?;
        if k.choices.len() != item.choices.len() {
            return Err(invalid(format!(
                "{}: question {:?} has facts for {} choices, the set {}",
                path.display(),
                item.id,
                k.choices.len(),
                item.choices.len()
            )));
        }
        out.push(Some(k));
    }
    Ok(out)
}

/// [`score`] as an observed stage.
fn observed(
    model: &MultipleChoice,
    examples: &[crate::eval::batch::Example],
    what: &str,
    observer: &dyn Observer,
) -> Result<(Run, Vec<bool>, Vec<f64>)> {
    observer.start(what, examples.len());
    let scored = score(model, examples, &|| observer.tick())?;
    observer.finish();
    Ok(scored)
}
