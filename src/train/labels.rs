//! Teacher label files (`kgqa distill --export-labels FILE`, `--teacher-labels FILE`): the
//! teachers' mean logits for every question of a distillation's transfer set (the
//! training questions and their labelled variants), keyed by a hash of what the teachers
//! read, without the questions' text. A student can then be distilled on another machine
//! or in another session without the teachers: a 110 M teacher's labels are a few
//! megabytes where the teacher is hundreds.
//!
//! The format is JSON lines, gzip-compressed when the name ends in `.gz`: a [`Header`],
//! then one `{"key": KEY, "logits": [...]}` per question, `KEY` being [`key`] of it.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::eval::batch::Example;
use crate::model::fusion::Fusion;
use crate::model::head::MultipleChoice;
use crate::train::augment::labelled::to_line;
use crate::train::distill::mean_teacher_logits;
use crate::train::error::{Error, Result};
use crate::train::io;

/// The run folder's file that keeps the labelling of the training questions as it goes
/// (`--export-labels`), so that a killed labelling resumes.
pub const TRAIN_PARTIAL: &str = "train-labels.jsonl.partial";

/// The `format` field every label file starts with.
pub const FORMAT: &str = "kgqa-teacher-labels/1";

/// The first line of a label file: what the logits come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The teacher folders, as given when labelling (their names, for the record).
    pub teachers: Vec<String>,
    /// The fusion of the questions the teachers read: with input fusion the key covers
    /// each choice's facts too, and `facts` names the cache they came from.
    pub fusion: Fusion,
    /// The `--facts` cache the teachers read, by content (`sha256:HEX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<String>,
    /// The command line that labelled them.
    pub command: String,
}

/// One labelled question.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    key: String,
    logits: Vec<f32>,
}

/// A label file in memory: its header and the logits by key.
#[derive(Debug)]
pub struct TeacherLabels {
    /// Where it was read from (named in errors).
    pub path: PathBuf,
    /// What the logits come from.
    pub header: Header,
    logits: HashMap<String, Vec<f32>>,
}

/// The key of a question: the first 16 bytes (hex) of the SHA-256 of its text and its
/// choices' (and with `reads_facts` its choices' facts), each field ended by a separator
/// no text holds, so that no two questions share an encoding.
pub fn key(example: &Example, reads_facts: bool) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(example.question.as_bytes());
    h.update([0x1f]);
    for c in &example.choices {
        h.update(c.as_bytes());
        h.update([0x1e]);
    }
    if reads_facts {
        for facts in &example.facts {
            h.update([0x1d]);
            for f in facts {
                h.update(f.as_bytes());
                h.update([0x1e]);
            }
        }
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl TeacherLabels {
    /// The labels of `path`; a line that is not a header or an entry is an error naming
    /// the file and line.
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(io(path))?;
        let reader: Box<dyn BufRead> = if is_gzip(path) {
            Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(file)))
        } else {
            Box::new(std::io::BufReader::new(file))
        };
        let mut lines = reader.lines();
        let bad = |line: usize, message: String| Error::RunFile {
            file: path.to_path_buf(),
            line: line as u64,
            message,
        };
        let first = lines.next().transpose().map_err(io(path))?.unwrap_or_default();
        let header: Header = serde_json::from_str(&first)
            .map_err(|e| bad(1, format!("not a teacher label header: {e}")))?;
        if header.format != FORMAT {
            return Err(bad(1, format!("format {:?}, expected {FORMAT:?}", header.format)));
        }
        let mut logits = HashMap::new();
        for (i, line) in lines.enumerate() {
            let line = line.map_err(io(path))?;
            let entry: Entry = serde_json::from_str(&line)
                .map_err(|e| bad(i + 2, format!("not a labelled question: {e}")))?;
            if entry.logits.is_empty() || entry.logits.iter().any(|l| !l.is_finite()) {
                return Err(bad(i + 2, "logits must be finite numbers, one per choice".into()));
            }
            logits.insert(entry.key, entry.logits);
        }
        Ok(TeacherLabels { path: path.to_path_buf(), header, logits })
    }

    /// How many questions it labels.
    pub fn len(&self) -> usize {
        self.logits.len()
    }

    /// Whether it labels none.
    pub fn is_empty(&self) -> bool {
        self.logits.is_empty()
    }

    /// The teachers' logits for `example`, if labelled (and with one logit per choice).
    pub fn get(&self, example: &Example) -> Option<&[f32]> {
        let logits = self.logits.get(&key(example, self.header.fusion.input))?;
        (logits.len() == example.choices.len()).then_some(logits.as_slice())
    }

    /// The logits of every example of `batch`, or `None` when one is not labelled.
    pub fn batch(&self, batch: &[&Example]) -> Option<Vec<Vec<f32>>> {
        batch.iter().map(|e| self.get(e).map(<[f32]>::to_vec)).collect()
    }
}

/// The teachers' mean logits for each question of `batch`: from `labels` when it labels
/// the question, else from running `teachers` on it alone (a batch would be padded to its
/// longest question, which costs more than the larger products save); an error naming
/// the question when there are no teachers to run.
pub fn label_batch(
    teachers: &[MultipleChoice],
    labels: Option<&TeacherLabels>,
    batch: &[&Example],
) -> Result<Vec<Vec<f32>>> {
    let label = |e: &Example| match labels.and_then(|l| l.get(e)) {
        Some(found) => Ok(found.to_vec()),
        None if teachers.is_empty() => {
            let file = labels.map_or("no label file".into(), |l| l.path.display().to_string());
            let message = format!(
                "{file} has no logits for {:?} and no --teacher was given to label it \
                 (label files fit only the questions, variants and seed they were made with)",
                e.question
            );
            Err(Error::Invalid { field: "teacher_labels", message })
        }
        None => mean_teacher_logits(teachers, e),
    };
    batch.iter().map(|e| label(e)).collect()
}

/// Writes `entries` (questions and their teachers' logits) under `header` to `path`, whole
/// under a temporary name and then renamed; a question met twice is written once.
pub fn write<'a>(
    path: &Path,
    header: &Header,
    entries: impl IntoIterator<Item = (&'a Example, &'a [f32])>,
) -> Result<usize> {
    let tmp = path.with_extension("partial");
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut w: Box<dyn Write> = if is_gzip(path) {
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        Box::new(std::io::BufWriter::new(gz))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    writeln!(w, "{}", to_line(header)).map_err(io(&tmp))?;
    let mut seen = std::collections::HashSet::new();
    for (example, logits) in entries {
        let key = key(example, header.fusion.input);
        if seen.insert(key.clone()) {
            let entry = Entry { key, logits: logits.to_vec() };
            writeln!(w, "{}", to_line(&entry)).map_err(io(&tmp))?;
        }
    }
    w.flush().map_err(io(&tmp))?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(seen.len())
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(question: &str, choices: &[&str]) -> Example {
        Example {
            question: question.into(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            facts: vec![vec!["a fact".into()]; choices.len()],
            ..Example::default()
        }
    }

    fn header(reads_facts: bool) -> Header {
        Header {
            format: FORMAT.into(),
            teachers: vec!["runs/t/best".into()],
            fusion: Fusion { input: reads_facts, ..Fusion::default() },
            facts: None,
            command: "kgqa distill".into(),
        }
    }

    /// Keys tell apart what the teachers read (and only that): the question, the choices
    /// and their order, and the facts only when the teachers read them.
    #[test]
    fn keys_cover_what_the_teachers_read() {
        let a = example("what did we dig with?", &["trowel", "soil"]);
        let swapped = example("what did we dig with?", &["soil", "trowel"]);
        let joined = example("what did we dig with?", &["trowelsoil", ""]);
        let mut other_facts = a.clone();
        other_facts.facts[0][0] = "another fact".into();
        assert_ne!(key(&a, false), key(&swapped, false));
        assert_ne!(key(&a, false), key(&joined, false));
        assert_eq!(key(&a, false), key(&other_facts, false));
        assert_ne!(key(&a, true), key(&other_facts, true));
        assert_eq!(key(&a, false).len(), 32);
    }

    /// Written and read back, plain and gzip: the same logits by question, duplicates
    /// once, unlabelled questions absent.
    #[test]
    fn labels_round_trip_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let a = example("q1", &["x", "y"]);
        let b = example("q2", &["x", "y", "z"]);
        let (la, lb) = (vec![0.5f32, -1.25], vec![1e-7f32, 2.0, -3.5]);
        for name in ["labels.jsonl", "labels.jsonl.gz"] {
            let path = dir.path().join(name);
            let entries = [(&a, &la[..]), (&b, &lb[..]), (&a, &la[..])];
            assert_eq!(write(&path, &header(false), entries).unwrap(), 2);
            let read = TeacherLabels::read(&path).unwrap();
            assert_eq!(read.header, header(false));
            assert_eq!(read.len(), 2);
            assert_eq!(read.get(&a), Some(&la[..]));
            assert_eq!(read.batch(&[&b, &a]), Some(vec![lb.clone(), la.clone()]));
            assert_eq!(read.batch(&[&a, &example("q3", &["x", "y"])]), None);
        }
        let gz = std::fs::read(dir.path().join("labels.jsonl.gz")).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    }

    /// A damaged file is refused with its file and line; nothing is half read.
    #[test]
    fn bad_label_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        let head = serde_json::to_string(&header(false)).unwrap();
        let cases = [
            ("{\"format\": 1}\n".to_string(), ":1: not a teacher label header"),
            (head.replace(FORMAT, "other/9") + "\n", ":1: format \"other/9\""),
            (format!("{head}\n{{\"key\":\"ab\",\"logits\":[1.0]}}\n{{\"key\":3}}\n"), ":3: not a"),
            (format!("{head}\n{{\"key\":\"ab\",\"logits\":[]}}\n"), ":2: logits must be"),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, text).unwrap();
            let err = TeacherLabels::read(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("labels.jsonl{expected}")), "{err}");
        }
    }
}
