//! Question sets and the retrieval cache.
//!
//! - CommonsenseQA / OpenBookQA JSONL: `{"id", "answerKey", "question": {"stem", "choices":
//!   [{"label", "text"}], "question_concept"?}}`; the in-house split is a file of ids.
//! - The facts cache (`kgqa retrieve --out FACTS.jsonl`): one `{"id", ...Knowledge}` line
//!   per question, written to a temporary file and renamed, so a killed run leaves no
//!   half-written cache.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::eval::error::{Error, Result};
use crate::kg::Graph;
use crate::kg::retrieve::Retriever;
use crate::knowledge::Knowledge;

/// One multiple-choice question.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The question id.
    pub id: String,
    /// The question text (the stem).
    pub question: String,
    /// The choice texts, in label order as given.
    pub choices: Vec<String>,
    /// The choice labels (`A`..`E`).
    pub labels: Vec<String>,
    /// Index of the correct choice, when the file has answers.
    pub answer: Option<usize>,
    /// The ConceptNet concept the question was written from (CommonsenseQA), if given.
    pub question_concept: Option<String>,
}

#[derive(Deserialize)]
struct RawChoice {
    label: String,
    text: String,
}

#[derive(Deserialize)]
struct RawQuestion {
    stem: String,
    choices: Vec<RawChoice>,
    #[serde(default)]
    question_concept: Option<String>,
}

#[derive(Deserialize)]
struct RawItem {
    id: String,
    #[serde(default, rename = "answerKey")]
    answer_key: Option<String>,
    question: RawQuestion,
}

/// Reads a CommonsenseQA-format JSONL file. Errors name the file, the line and the field.
pub fn read_csqa(path: &Path) -> Result<Vec<Item>> {
    read_lines(path, |line, _| {
        let raw: RawItem = serde_json::from_str(line)?;
        if raw.question.choices.len() < 2 {
            return Err("question.choices: fewer than two choices".to_owned().into());
        }
        let labels: Vec<String> = raw.question.choices.iter().map(|c| c.label.clone()).collect();
        let answer = match &raw.answer_key {
            Some(key) => Some(labels.iter().position(|l| l == key).ok_or_else(|| {
                format!("answerKey: {key:?} is not one of the labels {labels:?}")
            })?),
            None => None,
        };
        Ok(Item {
            id: raw.id,
            question: raw.question.stem,
            choices: raw.question.choices.into_iter().map(|c| c.text).collect(),
            labels,
            answer,
            question_concept: raw.question.question_concept,
        })
    })
}

/// Reads a file of ids, one per line.
pub fn read_ids(path: &Path) -> Result<HashSet<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

/// Which part of a file to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Every question.
    All,
    /// Only the ids listed.
    Listed,
    /// Every question but the ids listed.
    Unlisted,
}

/// Keeps the items of `split` given the listed `ids`.
pub fn select(items: Vec<Item>, ids: &HashSet<String>, split: Split) -> Vec<Item> {
    items
        .into_iter()
        .filter(|item| match split {
            Split::All => true,
            Split::Listed => ids.contains(&item.id),
            Split::Unlisted => !ids.contains(&item.id),
        })
        .collect()
}

/// One line of the facts cache.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CachedKnowledge {
    /// The question id.
    pub id: String,
    /// What retrieval found.
    #[serde(flatten)]
    pub knowledge: Knowledge,
}

/// Retrieves the knowledge of every item on `threads` threads (same order as `items`);
/// `progress` is called once per finished question.
pub fn retrieve_all(
    graph: &Graph,
    retriever: &Retriever,
    items: &[Item],
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Knowledge>> {
    let timed = retrieve_all_timed(graph, retriever, items, threads, progress)?;
    Ok(timed.into_iter().map(|(k, _)| k).collect())
}

/// [`retrieve_all`], with each question's retrieval time in milliseconds (what
/// `kgqa bench` reports as retrieval latency).
pub fn retrieve_all_timed(
    graph: &Graph,
    retriever: &Retriever,
    items: &[Item],
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<(Knowledge, f64)>> {
    let threads = threads.max(1);
    let chunk = items.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<(Knowledge, f64)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|item| {
                            let start = std::time::Instant::now();
                            let choices: Vec<(String, Option<String>)> =
                                item.choices.iter().map(|c| (c.clone(), None)).collect();
                            let k = Knowledge::gather(
                                graph,
                                retriever,
                                &item.question,
                                None,
                                &choices,
                                true,
                            )?;
                            progress();
                            Ok((k, start.elapsed().as_secs_f64() * 1e3))
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("retrieval thread panicked")).collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in results {
        out.extend(part?);
    }
    Ok(out)
}

/// Writes the facts cache atomically (temporary file, sync, rename).
pub fn write_facts(path: &Path, items: &[Item], knowledge: &[Knowledge]) -> Result<()> {
    let tmp = path.with_extension("jsonl.tmp");
    let io = |source| Error::Io { path: tmp.clone(), source };
    let file = File::create(&tmp).map_err(io)?;
    let mut out = BufWriter::new(file);
    for (item, k) in items.iter().zip(knowledge) {
        let line = CachedKnowledge { id: item.id.clone(), knowledge: k.clone() };
        serde_json::to_writer(&mut out, &line).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io { path: path.into(), source })?;
    Ok(())
}

/// Reads a facts cache into a map from question id to knowledge.
pub fn read_facts(path: &Path) -> Result<HashMap<String, Knowledge>> {
    let file = File::open(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let mut out = HashMap::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Io { path: path.into(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let cached: CachedKnowledge = serde_json::from_str(&line).map_err(|e| Error::Dataset {
            file: path.into(),
            line: i as u64 + 1,
            message: e.to_string(),
        })?;
        out.insert(cached.id, cached.knowledge);
    }
    Ok(out)
}
/// Parses each non-empty line of `path` with `parse` (given the 1-based line number);
/// duplicate ids are an error. Errors name the file and the line.
pub(crate) fn read_lines(
    path: &Path,
    parse: impl Fn(&str, usize) -> std::result::Result<Item, ParseError>,
) -> Result<Vec<Item>> {
    let file = File::open(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Io { path: path.into(), source })?;
        let bad =
            |message: String| Error::Dataset { file: path.into(), line: i as u64 + 1, message };
        if line.trim().is_empty() {
            continue;
        }
        let item = parse(&line, i + 1).map_err(|e| bad(e.0))?;
        if !seen.insert(item.id.clone()) {
            return Err(bad(format!("id: {:?} appears twice", item.id)));
        }
        items.push(item);
    }
    Ok(items)
}

/// A line's parse error, as text.
pub(crate) struct ParseError(String);

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        ParseError(e.to_string())
    }
}

impl From<String> for ParseError {
    fn from(e: String) -> Self {
        ParseError(e)
    }
}
