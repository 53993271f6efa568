//! Labelled variants for distillation (`kgqa distill --augment N`, `--augment-choices N`,
//! `--transfer FILE`): synonym and choice-set variants of the training questions, and
//! questions from another file, labelled by the teachers and kept in the run folder
//! (`augmented.jsonl`), so that a resumed run trains on the very same set without labelling
//! it again; labelling itself resumes where a killed start stopped.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::eval::batch::Example;
use crate::kg::Graph;
use crate::kg::retrieve::Retriever;
use crate::model::head::MultipleChoice;
use crate::train::error::{Error, Result};
use crate::train::io;
use crate::train::labels::{TeacherLabels, label_batch};

/// The file in the run folder: one line of [`Settings`], then one [`Labelled`] per line.
pub const FILE: &str = "augmented.jsonl";

/// Variants per labelling batch: the unit appended to the partial file and kept on resume.
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
    /// ([`crate::train::distill::mean_teacher_logits`]).
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
    /// The `--transfer` questions that follow the variants, by content (`sha256:HEX`, so
    /// that an edited file is labelled again and a moved one is not; absent in files from
    /// before it existed, or without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<String>,
    /// Their own `--transfer-facts` cache, by content (`sha256:HEX`). Older files hold it
    /// inside `transfer` as `sha256:Q facts sha256:F`; [`read`] still takes those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_facts: Option<String>,
    /// The `--facts` cache the variants carry and the teachers read, by content
    /// (`sha256:HEX`): other facts give other labels. Absent without `--facts` or when the
    /// model reads no facts (fusion none), and in files from before it was recorded (which
    /// a run with `--facts` therefore refuses, naming the file: delete it to label again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<String>,
}

impl Settings {
    /// The settings line of an `augmented.jsonl`, with the older form of the transfer
    /// facts (`"transfer": "sha256:Q facts sha256:F"`) read as the two fields it meant.
    fn parse(line: &str) -> serde_json::Result<Self> {
        let mut settings: Settings = serde_json::from_str(line)?;
        if settings.transfer_facts.is_none() {
            let split = settings.transfer.as_deref().and_then(|t| t.split_once(" facts "));
            if let Some((questions, facts)) = split.map(|(q, f)| (q.to_owned(), f.to_owned())) {
                settings.transfer = Some(questions);
                settings.transfer_facts = Some(facts);
            }
        }
        Ok(settings)
    }
}

/// What labelling reports as it goes: variants labelled (or kept from a killed start) so
/// far, of how many.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// What is being labelled and from what.
pub struct Sources<'a> {
    /// The graph synonym variants are drawn from (needed when `per_question` > 0).
    pub graph: Option<&'a Graph>,
    /// The teachers whose mean logits label the variants.
    pub teachers: &'a [MultipleChoice],
    /// Logits labelled earlier (`--teacher-labels`), used for every batch they cover.
    pub labels: Option<&'a TeacherLabels>,
    /// The training questions and their question concepts (choice-set variants).
    pub train: (&'a [Example], &'a [Option<String>]),
    /// Further questions (`--transfer`), each with whether the teachers' argmax becomes its
    /// answer; they follow the variants.
    pub transfer: Vec<(Example, bool)>,
}

/// The labelled variants of `sources.train` and whether they were read from the run
/// folder: read from `run/augmented.jsonl` when an earlier start of the run wrote it with
/// the same settings, else made now (each synonym variant labelled with the argmax of the
/// teachers' mean logits, which it keeps; choice-set variants keep the gold answer and
/// the logits) and written there. A file with other settings is an error, not silently
/// replaced.
///
/// Labelling takes tens of minutes, so it is kept as it goes in `run/augmented.jsonl.partial`
/// (see [`label_resumably`]): a run killed while labelling labels only the rest when
/// started again, and ends with the very file an uninterrupted run writes.
pub fn labelled_variants(
    run: &Path,
    sources: Sources<'_>,
    settings: &Settings,
    progress: Progress<'_>,
) -> Result<(Vec<Labelled>, bool)> {
    let path = run.join(FILE);
    if path.is_file() {
        return Ok((read(&path, settings)?, true));
    }
    let mut variants = variants(sources.graph, sources.train, settings)?;
    variants.extend(sources.transfer);
    let partial = run.join(PARTIAL);
    let (teachers, labels) = (sources.teachers, sources.labels);
    let extra = label_resumably(&partial, settings, &variants, progress, |refs| {
        label_batch(teachers, labels, refs)
    })?;
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    Ok((extra, false))
}

fn run_file(path: &Path, line: usize, message: String) -> Error {
    Error::RunFile { file: path.to_path_buf(), line: line as u64, message }
}

/// The labelling kept so far, beside [`FILE`] in the run folder: the same format, complete
/// up to its last whole batch.
pub const PARTIAL: &str = "augmented.jsonl.partial";

/// Each variant with whether the teachers' argmax becomes its answer (synonym variants) or
/// it keeps the gold answer (choice-set variants). Deterministic for given settings.
fn variants(
    graph: Option<&Graph>,
    (train_set, concepts): (&[Example], &[Option<String>]),
    settings: &Settings,
) -> Result<Vec<(Example, bool)>> {
    let mut variants: Vec<(Example, bool)> = Vec::new();
    if settings.per_question > 0 {
        let graph = graph.ok_or_else(|| Error::Invalid {
            field: "augment",
            message: "synonym variants are drawn from a graph; none was given".into(),
        })?;
        let retriever = Retriever::new(Default::default())?;
        for (i, e) in train_set.iter().enumerate() {
            let questions = super::synonym_variants(
                graph,
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
        let sets = super::choice_variants(train_set, concepts, settings.choice_sets, settings.seed);
        variants.extend(sets.into_iter().map(|e| (e, false)));
    }
    Ok(variants)
}

/// The labelling batches: runs of variants with the same number of choices, cut into
/// batches of [`LABEL_BATCH`], as index ranges in order.
fn batches(variants: &[(Example, bool)]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for group in variants.chunk_by(|a, b| a.0.choices.len() == b.0.choices.len()) {
        for chunk in group.chunks(LABEL_BATCH) {
            out.push(start..start + chunk.len());
            start += chunk.len();
        }
    }
    out
}

/// Labels `variants` with `label` (mean logits per variant of a batch), appending each
/// batch to `partial` as it is done (also the training questions themselves, for
/// `--export-labels`, each as a variant that keeps its answer). When `partial` exists from a killed start with the
/// same settings, its whole batches are kept (each checked against the variant it should
/// be) and only the rest is labelled; a torn last line or a half-written batch is labelled
/// again, in the same batches as an uninterrupted run, so the result is the same.
pub(crate) fn label_resumably(
    partial: &Path,
    settings: &Settings,
    variants: &[(Example, bool)],
    progress: Progress<'_>,
    mut label: impl FnMut(&[&Example]) -> Result<Vec<Vec<f32>>>,
) -> Result<Vec<Labelled>> {
    let mut done = if partial.is_file() { read(partial, settings)? } else { Vec::new() };
    for (i, (found, (variant, relabel))) in done.iter().zip(variants).enumerate() {
        let same = if *relabel {
            Example { answer: variant.answer, ..found.example.clone() } == *variant
        } else {
            found.example == *variant
        };
        if !same || found.teacher_logits.is_none() {
            let message = "not the variant this run makes there; delete the file to label \
                           the variants again";
            return Err(run_file(partial, i + 2, message.into()));
        }
    }
    let batches = batches(variants);
    let keep = batches.iter().map(|b| b.end).take_while(|&end| end <= done.len()).last();
    done.truncate(keep.unwrap_or(0));
    // Rewritten without what is dropped, then appended to batch by batch.
    write(partial, settings, &done)?;
    progress(done.len(), variants.len());
    let file = std::fs::OpenOptions::new().append(true).open(partial).map_err(io(partial))?;
    let mut w = std::io::BufWriter::new(file);
    let kept = done.len();
    for range in batches.into_iter().filter(|b| b.start >= kept) {
        let chunk = &variants[range];
        let refs: Vec<&Example> = chunk.iter().map(|(e, _)| e).collect();
        let means = label(&refs)?;
        if means.len() != chunk.len() {
            let message = format!("{} logits for a batch of {}", means.len(), chunk.len());
            return Err(Error::Invalid { field: "teacher", message });
        }
        for ((e, relabel), logits) in chunk.iter().zip(means) {
            let argmax = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
            let answer = match (relabel, argmax) {
                (false, _) => e.answer,
                (true, Some((i, _))) => i,
                (true, None) => {
                    let message = format!("{:?} has no choices", e.question);
                    return Err(Error::Invalid { field: "choices", message });
                }
            };
            let example = Example { answer, ..e.clone() };
            let labelled = Labelled { example, teacher_logits: Some(logits) };
            writeln!(w, "{}", to_line(&labelled)).map_err(io(partial))?;
            done.push(labelled);
        }
        w.flush().map_err(io(partial))?;
        progress(done.len(), variants.len());
    }
    let file =
        w.into_inner().map_err(|e| Error::Io { path: partial.into(), source: e.into_error() })?;
    file.sync_all().map_err(io(partial))?;
    Ok(done)
}

/// Writes the file whole under a temporary name, then renames it: a run killed while
/// writing leaves no half file behind.
fn write(path: &Path, settings: &Settings, extra: &[Labelled]) -> Result<()> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
    writeln!(w, "{}", to_line(settings)).map_err(io(&tmp))?;
    for e in extra {
        writeln!(w, "{}", to_line(e)).map_err(io(&tmp))?;
    }
    let file =
        w.into_inner().map_err(|e| Error::Io { path: tmp.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// One JSON line (the types written here always serialize: strings, numbers, lists).
pub(crate) fn to_line(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"unserializable\":\"{e}\"}}"))
}

/// The labelled variants in `path`, which must have been made with `settings`. A last line
/// that does not parse is dropped when `path` is the partial file (a start killed while
/// appending it); anywhere else it is an error.
fn read(path: &Path, settings: &Settings) -> Result<Vec<Labelled>> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let torn_tail_allowed = path.file_name().is_some_and(|n| n == PARTIAL);
    let mut lines = std::io::BufReader::new(file).lines().peekable();
    let first = lines.next().transpose().map_err(io(path))?.unwrap_or_default();
    let found = Settings::parse(&first)
        .map_err(|e| run_file(path, 1, format!("not augmentation settings: {e}")))?;
    if &found != settings {
        let message = format!(
            "made with {found:?}, this run asks for {settings:?}; use another --run folder \
             (or delete the file to label the variants again)"
        );
        return Err(run_file(path, 1, message));
    }
    let mut out = Vec::new();
    let mut i = 2;
    while let Some(line) = lines.next() {
        // A torn line may also end inside a multi-byte character.
        let parsed = line
            .map_err(|e| e.to_string())
            .and_then(|l| serde_json::from_str::<Labelled>(&l).map_err(|e| e.to_string()));
        match parsed {
            Ok(e) => out.push(e),
            Err(_) if torn_tail_allowed && lines.peek().is_none() => break,
            Err(e) => return Err(run_file(path, i, format!("not an example: {e}"))),
        }
        i += 1;
    }
    Ok(out)
}

/// `sha256:HEX` of a file's bytes, read in pieces (a facts cache can be gigabytes).
pub fn content_hash(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest = hasher.finalize();
    Ok(format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash read in pieces is the file's sha256 (FIPS 180-2's "abc" vector), across
    /// piece boundaries too.
    #[test]
    fn content_hash_is_the_files_sha256() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("abc");
        std::fs::write(&small, "abc").unwrap();
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(content_hash(&small).unwrap(), format!("sha256:{expected}"));
        let bytes: Vec<u8> = (0..(5usize << 19) + 7).map(|i| (i * 31 % 251) as u8).collect();
        let big = dir.path().join("big");
        std::fs::write(&big, &bytes).unwrap();
        let whole: String =
            sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(content_hash(&big).unwrap(), format!("sha256:{whole}"));
        assert!(content_hash(&dir.path().join("none")).unwrap_err().to_string().contains("none"));
    }

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

    /// Variants in three labelling groups (3, 5 and again 3 choices; synonym variants are
    /// relabelled, choice-set variants keep their answer): 37 variants in 4 batches.
    fn some_variants() -> Vec<(Example, bool)> {
        let make = |i: usize, n: usize| Example {
            question: format!("question {i} é"),
            choices: (0..n).map(|c| format!("choice {c} of {i}")).collect(),
            answer: i % n,
            ..Example::default()
        };
        let mut v: Vec<(Example, bool)> = (0..20).map(|i| (make(i, 3), true)).collect();
        v.extend((20..30).map(|i| (make(i, 5), false)));
        v.extend((30..37).map(|i| (make(i, 3), true)));
        v
    }

    /// A stand-in for the teachers (the resumption, not the model, is under test): logits
    /// that depend on each variant's text alone, so any batch gives the same ones.
    fn fake_logits(batch: &[&Example]) -> Vec<Vec<f32>> {
        let score = |t: &str| t.bytes().map(f32::from).sum::<f32>() / 97.0 % 3.0 - 1.5;
        batch
            .iter()
            .map(|e| e.choices.iter().map(|c| score(&format!("{}{c}", e.question))).collect())
            .collect()
    }

    fn settings() -> Settings {
        Settings {
            per_question: 1,
            choice_sets: 1,
            seed: 3,
            teachers: vec!["t".into()],
            questions: 37,
            transfer: None,
            transfer_facts: None,
            facts: None,
        }
    }

    /// Older files hold the transfer facts' hash inside `transfer`; such a file still matches
    /// a run of the same settings, and the same line in today's form reads alike.
    #[test]
    fn settings_read_the_older_transfer_form() {
        let line = r#"{"per_question":1,"seed":3,"teachers":["t"],"questions":37,"transfer":"sha256:aa facts sha256:bb"}"#;
        let expected = Settings {
            choice_sets: 0,
            transfer: Some("sha256:aa".into()),
            transfer_facts: Some("sha256:bb".into()),
            ..settings()
        };
        assert_eq!(Settings::parse(line).unwrap(), expected);
        let today = serde_json::to_string(&expected).unwrap();
        assert!(today.contains(r#""transfer":"sha256:aa","transfer_facts":"sha256:bb""#));
        assert_eq!(Settings::parse(&today).unwrap(), expected);
        let without = Settings { transfer_facts: None, ..expected };
        let line = serde_json::to_string(&without).unwrap();
        assert_eq!(Settings::parse(&line).unwrap(), without);
    }

    #[test]
    fn batches_follow_the_groups() {
        let b = batches(&some_variants());
        assert_eq!(b, vec![0..16, 16..20, 20..30, 30..37]);
    }

    /// A start killed after two batches, with a torn line after them, labels only the rest
    /// (the torn batch again) and ends with the same variants and the same file bytes as
    /// an uninterrupted run.
    #[test]
    fn a_killed_labelling_resumes_to_the_same_file() {
        let variants = some_variants();
        let whole = tempfile::tempdir().unwrap();
        let whole_path = whole.path().join(PARTIAL);
        let expected = label_resumably(&whole_path, &settings(), &variants, &mut |_, _| (), |b| {
            Ok(fake_logits(b))
        })
        .unwrap();
        assert_eq!(expected.len(), 37);
        // Synonym variants take the labeller's argmax, choice-set variants keep the gold.
        assert_eq!(expected[25].example.answer, 25 % 5);
        let logits0 = expected[0].teacher_logits.clone().unwrap();
        let argmax = (0..3).max_by(|&a, &b| logits0[a].total_cmp(&logits0[b])).unwrap();
        assert_eq!(expected[0].example.answer, argmax);

        let killed = tempfile::tempdir().unwrap();
        let path = killed.path().join(PARTIAL);
        let mut calls = 0;
        let err = label_resumably(&path, &settings(), &variants, &mut |_, _| (), |b| {
            calls += 1;
            if calls > 2 {
                return Err(Error::Invalid { field: "test", message: "killed".into() });
            }
            Ok(fake_logits(b))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "test: killed");
        // Half of the third batch's first line, as a kill while appending leaves it.
        let third = serde_json::to_string(&expected[20]).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&third.as_bytes()[..third.len() / 2]).unwrap();
        drop(f);

        let mut labelled = 0;
        let resumed = label_resumably(&path, &settings(), &variants, &mut |_, _| (), |b| {
            labelled += b.len();
            Ok(fake_logits(b))
        })
        .unwrap();
        assert_eq!(labelled, 17, "only the last two batches are labelled again");
        assert_eq!(resumed, expected);
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&whole_path).unwrap());
        // A complete partial file is kept whole and labels nothing.
        let again = label_resumably(&path, &settings(), &variants, &mut |_, _| (), |_| {
            Err(Error::Invalid { field: "test", message: "called".into() })
        });
        assert_eq!(again.unwrap(), expected);
    }

    /// A partial file of half a batch is labelled again whole; one of other settings or
    /// of other variants is an error that names the file and line.
    #[test]
    fn a_partial_file_that_does_not_match_is_an_error() {
        let variants = some_variants();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PARTIAL);
        let all =
            label_resumably(&path, &settings(), &variants, &mut |_, _| (), |b| Ok(fake_logits(b)))
                .unwrap();
        write(&path, &settings(), &all[..5]).unwrap();
        let mut labelled = 0;
        label_resumably(&path, &settings(), &variants, &mut |_, _| (), |b| {
            labelled += b.len();
            Ok(fake_logits(b))
        })
        .unwrap();
        assert_eq!(labelled, 37);

        let other = Settings { seed: 4, ..settings() };
        let err = label_resumably(&path, &other, &variants, &mut |_, _| (), |b| Ok(fake_logits(b)))
            .unwrap_err();
        assert!(err.to_string().contains(&format!("{}:1: made with", path.display())), "{err}");

        let mut changed = variants.clone();
        changed[3].0.question = "another question".into();
        let err =
            label_resumably(&path, &settings(), &changed, &mut |_, _| (), |b| Ok(fake_logits(b)))
                .unwrap_err();
        assert!(
            err.to_string().contains(&format!("{}:5: not the variant", path.display())),
            "{err}"
        );
        // Nothing stored was lost by the refusal.
        assert_eq!(read(&path, &settings()).unwrap(), all);
    }
}
