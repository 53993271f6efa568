//! Batch scoring for `kgqa bench` and evaluation: each question scored alone (as a user's
//! question is) with its encoding and scoring times, paired comparisons, batched
//! throughput, facts coverage and peak memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::eval::batch::Example;
use crate::eval::dataset::{self, Item, Split};
use crate::eval::error::{Error, Result};
use crate::eval::formats::{self, Format};
use crate::eval::report::{Latency, ModelInfo, Paired, Run};
use crate::eval::stats::{mcnemar_exact, wilson_interval};
use crate::knowledge::Knowledge;
use crate::model::head::MultipleChoice;
use crate::model::kernels::Precision;

/// Scores each question alone (batch 1, as a user's question is): the run's figures,
/// which questions it got right and each question's model time (encoding + scoring).
/// Encoding: tokenizing the question with each choice (and its facts) and building the
/// model's inputs; scoring: the forward pass to the choices' probabilities.
pub fn score(
    model: &MultipleChoice,
    examples: &[Example],
    progress: &dyn Fn(),
) -> Result<(Run, Vec<bool>, Vec<f64>)> {
    let mut right = Vec::with_capacity(examples.len());
    let (mut encode_ms, mut score_ms, mut ms) = (Vec::new(), Vec::new(), Vec::new());
    for e in examples {
        let t = Instant::now();
        let encoded = model.encode_many(&[e.question()])?;
        let encoded_at = t.elapsed().as_secs_f64() * 1e3;
        let logits = model.logits(&encoded, false)?;
        let logits = logits.to_vec1::<f32>().map_err(crate::model::Error::from)?;
        let total = t.elapsed().as_secs_f64() * 1e3;
        // The first of the highest, as `argmax` picks.
        let best = (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
        encode_ms.push(encoded_at);
        score_ms.push(total - encoded_at);
        ms.push(total);
        right.push(best == e.answer);
        progress();
    }
    let correct = right.iter().filter(|r| **r).count();
    let (low, high) = wilson_interval(correct, right.len());
    let run = Run {
        correct,
        accuracy: correct as f64 / right.len() as f64,
        ci95: [low, high],
        latency: Latency::of(ms.clone()),
        encoding: Latency::of(encode_ms),
        scoring: Latency::of(score_ms),
    };
    Ok((run, right, ms))
}

/// A against B on the same questions.
pub fn paired(a: &[bool], b: &[bool]) -> Paired {
    let only_a = a.iter().zip(b).filter(|(x, y)| **x && !**y).count();
    let only_b = a.iter().zip(b).filter(|(x, y)| !**x && **y).count();
    Paired {
        difference: (only_a as f64 - only_b as f64) / a.len().max(1) as f64,
        only_a,
        only_b,
        p_value: mcnemar_exact(only_a, only_b),
    }
}

/// Questions per second scored in batches of `batch` (questions with the same number of
/// choices together), over at most 512 questions.
pub fn throughput(model: &MultipleChoice, examples: &[Example], batch: usize) -> Result<f64> {
    let sample = &examples[..examples.len().min(512)];
    let mut by_choices: HashMap<usize, Vec<&Example>> = HashMap::new();
    for e in sample {
        by_choices.entry(e.choices.len()).or_default().push(e);
    }
    let t = Instant::now();
    for group in by_choices.values() {
        for chunk in group.chunks(batch) {
            crate::eval::batch::batch_logits(model, chunk, false)?;
        }
    }
    Ok(sample.len() as f64 / t.elapsed().as_secs_f64().max(1e-9))
}

/// The questions as examples for a model with `fusion`, with their knowledge where given.
/// Every question must have an answer.
pub fn examples(
    items: &[Item],
    knowledge: &[Option<Knowledge>],
    fusion: crate::model::fusion::Fusion,
) -> Result<Vec<Example>> {
    items
        .iter()
        .zip(knowledge)
        .map(|(item, k)| {
            Example::new(item, k.as_ref(), fusion).ok_or_else(|| Error::Invalid {
                field: "answerKey",
                message: format!("question {:?} has no answer", item.id),
            })
        })
        .collect()
}

/// The share of choices with at least one fact.
pub fn coverage(knowledge: &[Option<Knowledge>]) -> Option<f64> {
    let (mut with, mut all) = (0usize, 0usize);
    for k in knowledge.iter().flatten() {
        all += k.choices.len();
        with += k.choices.iter().filter(|c| !c.facts.is_empty()).count();
    }
    (all > 0).then(|| with as f64 / all as f64)
}

/// The process's peak resident memory (Linux's `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    proc_mib("/proc/self/status", "VmHWM:")
}

/// Memory the system could still give processes without swapping (Linux's
/// `MemAvailable`), in MiB.
pub fn available_mib() -> Option<f64> {
    proc_mib("/proc/meminfo", "MemAvailable:")
}

/// The `key   N kB` line of a `/proc` file, in MiB.
fn proc_mib(file: &str, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The model in `dir` with its products at `precision`, and what the report says of it.
pub fn load_model(dir: &Path, precision: Precision) -> Result<(MultipleChoice, ModelInfo)> {
    let mut model = MultipleChoice::load(dir, &crate::model::device())?;
    model.set_precision(precision)?;
    let bytes = std::fs::read_dir(dir)
        .map_err(|source| Error::Io { path: dir.to_path_buf(), source })?
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let info = ModelInfo {
        path: dir.display().to_string(),
        fusion: model.head().fusion.name().to_owned(),
        parameters: model.parameters(),
        bytes_on_disk: bytes,
        precision: model.bert().precision().name().to_owned(),
    };
    Ok((model, info))
}

/// The labels file of the set `path`: the one given (none for `-`), else
/// `<name>-labels.lst` beside it when that exists.
pub fn labels_of(path: &Path, given: Option<&PathBuf>) -> Option<PathBuf> {
    match given {
        Some(l) if l.as_os_str() == "-" => None,
        Some(l) => Some(l.clone()),
        None => {
            let stem = path.file_stem()?.to_string_lossy();
            Some(path.with_file_name(format!("{stem}-labels.lst"))).filter(|l| l.is_file())
        }
    }
}

/// The questions of one set in `format` (answers from `labels` where the format keeps
/// them apart), without those `ids` lists, at most `limit`: every one must have an answer.
pub fn questions(
    path: &Path,
    format: Format,
    labels: Option<&Path>,
    ids: Option<&Path>,
    limit: Option<usize>,
) -> Result<Vec<Item>> {
    let items = formats::read(path, format, labels)?;
    let mut items = match ids {
        Some(ids) => dataset::select(items, &dataset::read_ids(ids)?, Split::Unlisted),
        None => items,
    };
    if let Some(n) = limit {
        items.truncate(n);
    }
    let invalid = |message: String| Error::Invalid { field: "dataset", message };
    if items.is_empty() {
        return Err(invalid(format!("{}: no questions to score", path.display())));
    }
    if let Some(item) = items.iter().find(|i| i.answer.is_none()) {
        return Err(invalid(format!(
            "{}: question {:?} has no answer (give the answers with --labels FILE)",
            path.display(),
            item.id
        )));
    }
    Ok(items)
}
