//! `kgqa distill --augment N` and `--augment-choices N`: synonym and choice-set variants of
//! the training questions, labelled by the teachers, kept in the run folder so that a
//! resumed run trains on the very same set without labelling it again.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use kgqa::model::head::MultipleChoice;
use kgqa::train::data::Example;
use kgqa::train::distill::mean_teacher_logits_many;
use serde::{Deserialize, Serialize};

/// The file in the run folder: one line of [`Settings`], then one [`Labelled`] per line.
pub const FILE: &str = "augmented.jsonl";

/// Variants the teachers label per batch.
const LABEL_BATCH: usize = 16;

/// A variant and the teachers' mean logits that labelled it (kept so that the soft
/// targets need not compute them again; absent in files from before they were kept).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Labelled {
    /// The variant; a synonym variant's answer is the argmax of `teacher_logits`, a
    /// choice-set variant's the gold answer.
    #[serde(flatten)]
    pub example: Example,
    /// The teachers' logits averaged in logit space
    /// ([`kgqa::train::distill::mean_teacher_logits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_logits: Option<Vec<f32>>,
}

/// What the variants depend on; a run folder's file is reused only when they match.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Synonym variants per training question (`--augment`).
    pub per_question: usize,
    /// Choice-set variants per training question (`--augment-choices`; absent, i.e. 0, in
    /// files from before they existed).
    #[serde(default)]
    pub choice_sets: usize,
    /// The run's seed (which words are replaced and by what; which distractors are drawn).
    pub seed: u64,
    /// The teacher folders that label them.
    pub teachers: Vec<String>,
    /// How many training questions they were made from.
    pub questions: usize,
}

/// The labelled variants of `train_set`: read from `run/augmented.jsonl` when an earlier
/// start of the run wrote it with the same settings, else made now (variants from the
/// graph of `store`, each labelled with the argmax of the teachers' mean logits, which it
/// keeps; choice-set variants keep the gold answer and the logits) and written there. A
/// file with other settings is an error, not silently replaced.
pub fn labelled_variants(
    run: &Path,
    store: Option<&Path>,
    teachers: &[MultipleChoice],
    train: (&[Example], &[Option<String>]),
    settings: &Settings,
) -> anyhow::Result<Vec<Labelled>> {
    let path = run.join(FILE);
    if path.is_file() {
        let extra = read(&path, settings)?;
        eprintln!("augmentation: {} variants read from {}", extra.len(), path.display());
        return Ok(extra);
    }
    let extra = make(store, teachers, train, settings)?;
    write(&path, settings, &extra)?;
    eprintln!(
        "augmentation: {} variants labelled by the teachers, kept in {}",
        extra.len(),
        path.display()
    );
    Ok(extra)
}

fn make(
    store: Option<&Path>,
    teachers: &[MultipleChoice],
    (train_set, concepts): (&[Example], &[Option<String>]),
    settings: &Settings,
) -> anyhow::Result<Vec<Labelled>> {
    // Each variant with whether the teachers' argmax is its answer (synonym variants) or
    // the gold answer stays (choice-set variants).
    let mut variants: Vec<(Example, bool)> = Vec::new();
    if settings.per_question > 0 {
        let graph = super::open_graph(store)?;
        let retriever = kgqa::kg::retrieve::Retriever::new(Default::default())?;
        for (i, e) in train_set.iter().enumerate() {
            let questions = kgqa::train::augment::synonym_variants(
                &graph,
                &retriever,
                &e.question,
                settings.per_question,
                settings.seed ^ (i as u64).wrapping_mul(0x9E37_79B9),
            )?;
            variants.extend(
                questions.into_iter().map(|question| (Example { question, ..e.clone() }, true)),
            );
        }
    }
    if settings.choice_sets > 0 {
        let sets = kgqa::train::augment::choice_variants(
            train_set,
            concepts,
            settings.choice_sets,
            settings.seed,
        );
        variants.extend(sets.into_iter().map(|e| (e, false)));
    }
    // Labelled in batches of questions with the same number of choices, in order.
    let bar = ProgressBar::new(variants.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("labelling {bar:30} {pos}/{len} variants, eta {eta}")
            .expect("static template"),
    );
    let mut out = Vec::with_capacity(variants.len());
    for group in variants.chunk_by(|a, b| a.0.choices.len() == b.0.choices.len()) {
        for chunk in group.chunks(LABEL_BATCH) {
            let refs: Vec<&Example> = chunk.iter().map(|(e, _)| e).collect();
            let means = mean_teacher_logits_many(teachers, &refs, None)?;
            for ((e, relabel), logits) in chunk.iter().zip(means) {
                let answer = if *relabel {
                    logits
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(i, _)| i)
                        .context("a question without choices")?
                } else {
                    e.answer
                };
                let example = Example { answer, ..e.clone() };
                out.push(Labelled { example, teacher_logits: Some(logits) });
            }
            bar.inc(chunk.len() as u64);
            if bar.is_hidden() && out.len() / 500 != (out.len() - chunk.len()) / 500 {
                eprintln!("labelling: {}/{} variants", out.len(), variants.len());
            }
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Writes the file whole under a temporary name, then renames it: a run killed while
/// writing leaves no half file behind.
fn write(path: &Path, settings: &Settings, extra: &[Labelled]) -> anyhow::Result<()> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    writeln!(w, "{}", serde_json::to_string(settings)?)?;
    for e in extra {
        writeln!(w, "{}", serde_json::to_string(e)?)?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn read(path: &Path, settings: &Settings) -> anyhow::Result<Vec<Labelled>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    let found: Settings = serde_json::from_str(&first)
        .with_context(|| format!("{}:1: not augmentation settings", path.display()))?;
    if &found != settings {
        anyhow::bail!(
            "{}:1: made with {found:?}, this run asks for {settings:?}; use another --run \
             folder (or delete the file to label the variants again)",
            path.display()
        );
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line?;
        let e: Labelled = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not an example", path.display(), i + 2))?;
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines written before the logits were kept still read (without logits), and new
    /// lines keep the logits exactly.
    #[test]
    fn lines_with_and_without_teacher_logits_read() {
        let example = Example {
            question: "what did we dig with?".into(),
            choices: vec!["trowel".into(), "soil".into()],
            answer: 0,
            ..Example::default()
        };
        let old = serde_json::to_string(&example).unwrap();
        let read: Labelled = serde_json::from_str(&old).unwrap();
        assert_eq!(read, Labelled { example: example.clone(), teacher_logits: None });
        let new = Labelled { example, teacher_logits: Some(vec![0.123_456_79, -2.5e-7]) };
        let line = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Labelled>(&line).unwrap(), new);
    }
}
