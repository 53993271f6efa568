//! The multiple-choice formats `kgqa bench` reads, each turned into [`Item`]s:
//!
//! - CommonsenseQA / OpenBookQA JSONL ([`super::dataset::read_csqa`]; OpenBookQA's `fact1`
//!   is not used: the graph supplies the facts).
//! - PIQA: `{"goal", "sol1", "sol2", "id"?}` per line, the answers (0 or 1) one per line in
//!   a separate labels file. The goal is the question, the two solutions the choices.
//! - Social IQa: `{"context", "question", "answerA", "answerB", "answerC", "correct"?}`;
//!   the question is the context followed by the question.
//! - WinoGrande: `{"sentence", "option1", "option2", "answer"?, "qID"?}`, or the answers
//!   (1 or 2) in a labels file. The sentence, blank (`_`) and all, is the question and the
//!   two options the choices.
//!
//! Ids default to `line-N` where a format has none. Errors name the file, the line and the
//! field.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use super::dataset::{Item, read_csqa, read_lines};
use crate::eval::error::{Error, Result};

/// A question-set format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CommonsenseQA or OpenBookQA JSONL.
    Csqa,
    /// PIQA JSONL (answers in a labels file).
    Piqa,
    /// Social IQa JSONL.
    Siqa,
    /// WinoGrande JSONL.
    Winogrande,
}

impl Format {
    /// The format's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csqa => "csqa",
            Format::Piqa => "piqa",
            Format::Siqa => "siqa",
            Format::Winogrande => "winogrande",
        }
    }
}

/// The format of `path`, told from the keys of its first non-empty line.
pub fn detect(path: &Path) -> Result<Format> {
    let file = File::open(path).map_err(|source| Error::Io { path: path.into(), source })?;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Io { path: path.into(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad =
            |message: String| Error::Dataset { file: path.into(), line: i as u64 + 1, message };
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let has = |key: &str| value.get(key).is_some();
        return if value.get("question").is_some_and(|q| q.get("stem").is_some()) {
            Ok(Format::Csqa)
        } else if has("goal") {
            Ok(Format::Piqa)
        } else if has("answerA") {
            Ok(Format::Siqa)
        } else if has("option1") {
            Ok(Format::Winogrande)
        } else {
            Err(bad("not a known format: expected the keys of CommonsenseQA/OpenBookQA \
                 (question.stem), PIQA (goal), Social IQa (answerA) or WinoGrande (option1)"
                .into()))
        };
    }
    Err(Error::Dataset { file: path.into(), line: 1, message: "no questions".into() })
}

#[derive(Deserialize)]
struct Piqa {
    #[serde(default)]
    id: Option<String>,
    goal: String,
    sol1: String,
    sol2: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Siqa {
    context: String,
    question: String,
    answer_a: String,
    answer_b: String,
    answer_c: String,
    #[serde(default)]
    correct: Option<String>,
}

#[derive(Deserialize)]
struct Winogrande {
    #[serde(default, rename = "qID")]
    id: Option<String>,
    sentence: String,
    option1: String,
    option2: String,
    #[serde(default)]
    answer: Option<String>,
}

/// Reads `path` in `format`; `labels` is a file of answers, one per question and line, as
/// the format writes them (PIQA 0/1, WinoGrande 1/2, Social IQa A/B/C or 1/2/3), which
/// replaces answers in the file itself.
pub fn read(path: &Path, format: Format, labels: Option<&Path>) -> Result<Vec<Item>> {
    let mut items = match format {
        Format::Csqa => read_csqa(path)?,
        Format::Piqa => read_lines(path, |line, n| {
            let r: Piqa = serde_json::from_str(line)?;
            Ok(item(r.id, n, r.goal, vec![r.sol1, r.sol2], &["0", "1"]))
        })?,
        Format::Siqa => read_lines(path, |line, n| {
            let r: Siqa = serde_json::from_str(line)?;
            let question = format!("{} {}", r.context.trim(), r.question.trim());
            let mut item =
                item(None, n, question, vec![r.answer_a, r.answer_b, r.answer_c], &["A", "B", "C"]);
            item.answer = r.correct.map(|c| answer_of(&item.labels, &c)).transpose()?;
            Ok(item)
        })?,
        Format::Winogrande => read_lines(path, |line, n| {
            let r: Winogrande = serde_json::from_str(line)?;
            let mut item = item(r.id, n, r.sentence, vec![r.option1, r.option2], &["1", "2"]);
            item.answer = r.answer.map(|a| answer_of(&item.labels, &a)).transpose()?;
            Ok(item)
        })?,
    };
    if let Some(labels) = labels {
        let text = std::fs::read_to_string(labels)
            .map_err(|source| Error::Io { path: labels.into(), source })?;
        let answers: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if answers.len() != items.len() {
            return Err(Error::Dataset {
                file: labels.into(),
                line: answers.len() as u64,
                message: format!(
                    "{} answers for the {} questions of {}",
                    answers.len(),
                    items.len(),
                    path.display()
                ),
            });
        }
        for (item, (line, answer)) in items.iter_mut().zip(answers) {
            item.answer = Some(answer_of(&item.labels, answer).map_err(|e| Error::Dataset {
                file: labels.into(),
                line: line as u64,
                message: e,
            })?);
        }
    }
    Ok(items)
}

/// The index of `answer` among `labels`; Social IQa's numeric answers (1-based) count too.
fn answer_of(labels: &[String], answer: &str) -> Result<usize, String> {
    let answer = answer.trim();
    if let Some(i) = labels.iter().position(|l| l == answer) {
        return Ok(i);
    }
    match answer.parse::<usize>() {
        Ok(n) if labels.first().is_some_and(|l| l == "A") && (1..=labels.len()).contains(&n) => {
            Ok(n - 1)
        }
        _ => Err(format!("answer: {answer:?} is not one of {labels:?}")),
    }
}

fn item(
    id: Option<String>,
    line: usize,
    question: String,
    choices: Vec<String>,
    labels: &[&str],
) -> Item {
    Item {
        id: id.unwrap_or_else(|| format!("line-{line}")),
        question,
        choices,
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        answer: None,
        question_concept: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn each_format_reads_and_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let csqa = file(
            dir.path(),
            "c.jsonl",
            r#"{"id":"q1","answerKey":"B","question":{"stem":"dig?","choices":[{"label":"A","text":"sky"},{"label":"B","text":"trowel"}]},"fact1":"x"}"#,
        );
        let piqa = file(
            dir.path(),
            "p.jsonl",
            "{\"goal\":\"open a jar\",\"sol1\":\"twist the lid\",\"sol2\":\"eat the lid\"}\n\n{\"id\":\"p2\",\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\"}\n",
        );
        let piqa_labels = file(dir.path(), "p.lst", "0\n1\n");
        let siqa = file(
            dir.path(),
            "s.jsonl",
            r#"{"context":"Tracy dug a hole.","question":"What did Tracy use?","answerA":"a trowel","answerB":"a cloud","answerC":"a song","correct":"A"}"#,
        );
        let wino = file(
            dir.path(),
            "w.jsonl",
            r#"{"qID":"w1","sentence":"The trowel dug better than the spoon because the _ was sharp.","option1":"trowel","option2":"spoon","answer":"1"}"#,
        );
        for (path, format) in [
            (&csqa, Format::Csqa),
            (&piqa, Format::Piqa),
            (&siqa, Format::Siqa),
            (&wino, Format::Winogrande),
        ] {
            assert_eq!(detect(path).unwrap(), format);
        }
        let c = read(&csqa, Format::Csqa, None).unwrap();
        assert_eq!((c[0].choices[1].as_str(), c[0].answer), ("trowel", Some(1)));
        let p = read(&piqa, Format::Piqa, Some(&piqa_labels)).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].id.as_str(), p[0].question.as_str(), p[0].answer),
            ("line-1", "open a jar", Some(0))
        );
        assert_eq!((p[1].id.as_str(), p[1].answer), ("p2", Some(1)));
        assert_eq!(read(&piqa, Format::Piqa, None).unwrap()[0].answer, None);
        let s = read(&siqa, Format::Siqa, None).unwrap();
        assert_eq!(s[0].question, "Tracy dug a hole. What did Tracy use?");
        assert_eq!((s[0].choices.len(), s[0].answer), (3, Some(0)));
        let w = read(&wino, Format::Winogrande, None).unwrap();
        assert_eq!(
            (w[0].id.as_str(), w[0].choices[1].as_str(), w[0].answer),
            ("w1", "spoon", Some(0))
        );
        // A labels file replaces the file's answers; Social IQa takes 1-based numbers.
        let two = file(dir.path(), "two.lst", "2\n");
        assert_eq!(read(&wino, Format::Winogrande, Some(&two)).unwrap()[0].answer, Some(1));
        assert_eq!(read(&siqa, Format::Siqa, Some(&two)).unwrap()[0].answer, Some(1));
    }

    #[test]
    fn bad_input_names_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let piqa = file(
            dir.path(),
            "p.jsonl",
            "{\"goal\":\"a\",\"sol1\":\"b\",\"sol2\":\"c\"}\n{\"goal\":\"a\",\"sol1\":\"b\"}\n",
        );
        let err = read(&piqa, Format::Piqa, None).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:2: missing field `sol2`", piqa.display())), "{err}");

        let one = file(dir.path(), "one.jsonl", "{\"goal\":\"a\",\"sol1\":\"b\",\"sol2\":\"c\"}\n");
        let labels = file(dir.path(), "l.lst", "0\n1\n");
        let err = read(&one, Format::Piqa, Some(&labels)).unwrap_err().to_string();
        assert!(err.contains("l.lst:2: 2 answers for the 1 questions"), "{err}");
        let labels = file(dir.path(), "l2.lst", "\n7\n");
        let err = read(&one, Format::Piqa, Some(&labels)).unwrap_err().to_string();
        assert!(err.contains("l2.lst:2: answer: \"7\" is not one of"), "{err}");

        let wino = file(
            dir.path(),
            "w.jsonl",
            "{\"sentence\":\"a _\",\"option1\":\"x\",\"option2\":\"y\",\"answer\":\"3\"}\n",
        );
        let err = read(&wino, Format::Winogrande, None).unwrap_err().to_string();
        assert!(err.contains("w.jsonl:1: answer: \"3\" is not one of"), "{err}");

        let dup = file(
            dir.path(),
            "d.jsonl",
            "{\"id\":\"x\",\"goal\":\"a\",\"sol1\":\"b\",\"sol2\":\"c\"}\n{\"id\":\"x\",\"goal\":\"a\",\"sol1\":\"b\",\"sol2\":\"c\"}\n",
        );
        let err = read(&dup, Format::Piqa, None).unwrap_err().to_string();
        assert!(err.contains("d.jsonl:2: id: \"x\" appears twice"), "{err}");

        let unknown = file(dir.path(), "u.jsonl", "\n{\"text\":\"?\"}\n");
        let err = detect(&unknown).unwrap_err().to_string();
        assert!(err.contains("u.jsonl:2: not a known format"), "{err}");
        let empty = file(dir.path(), "e.jsonl", "\n");
        assert!(detect(&empty).unwrap_err().to_string().contains("no questions"));
        let broken = file(dir.path(), "b.jsonl", "{\"goal\": \n");
        assert!(detect(&broken).unwrap_err().to_string().contains("b.jsonl:1: EOF"));
    }
}
