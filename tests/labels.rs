//! Teacher label files (`kgqa distill --export-labels FILE`, then `--teacher-labels FILE`
//! without the teacher), on tiny random BERTs: the file holds every question of the
//! transfer set and no question text, and a student distilled from it learns what one
//! distilled from the teacher itself learns.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::training::*;
use kgqa::eval::batch::Example;
use kgqa::model::head::MultipleChoice;

/// A tiny teacher trained on [`examples`] (30 epochs under `dir`): its logits on other
/// questions are far from uniform, so soft targets from wrong logits would show.
fn trained_teacher(dir: &Path) -> PathBuf {
    let base_dir = dir.join("teacher-base");
    tiny_model(&base_dir, 0.0);
    let data = examples();
    let run = dir.join("teacher");
    let cfg = config(&base_dir, 30, 2e-3, 1);
    kgqa::train::train(&run, &cfg, &data, &data, None, &mut |_, _, _| {}).unwrap();
    run.join("best")
}

/// The six questions as the distillation reads them (no facts).
fn originals() -> Vec<Example> {
    CHOICE_SET_QUESTIONS
        .iter()
        .map(|(_, stem, choices)| Example {
            question: stem.to_string(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            ..Example::default()
        })
        .collect()
}

/// `kgqa distill` on the questions with two choice-set variants each, a one-layer student
/// from `student_from`, and `args` (the teacher or the label file, the run, ...).
fn distill(questions: &Path, student_from: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
    c.arg("distill").arg("--dataset").arg(questions).arg("--student-from").arg(student_from);
    c.args(["--layers", "0", "--epochs", "1", "--batch-size", "4", "--held-out", "0"]);
    c.args(["--max-length", "32", "--augment-choices", "2", "--alpha", "0.9", "--lr", "1e-3"]);
    c.args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn refused(out: Output) -> String {
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The teacher's labels exported (gzip), then a student distilled from them alone: the
/// file holds the 6 questions and their 10 variants by key only, with the teacher's own
/// logits, and the student comes out as the one distilled from the teacher itself (the
/// same logits, up to the padding of the batches they were computed in).
#[test]
fn a_student_distils_from_exported_labels_as_from_its_teacher() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = trained_teacher(dir.path());
    let student_from = dir.path().join("student-from");
    tiny_model(&student_from, 0.0);
    let q = write_choice_set_questions(dir.path());
    let labels = dir.path().join("labels.jsonl.gz");
    let (t, l) = (teacher.to_str().unwrap(), labels.to_str().unwrap());
    let export_run = dir.path().join("export");
    let stderr = ok(distill(
        &q,
        &student_from,
        &["--teacher", t, "--run", export_run.to_str().unwrap(), "--export-labels", l],
    ));
    assert!(stderr.contains("teacher labels: 16 questions written"), "{stderr}");
    assert!(!export_run.join("best").exists(), "exporting trains nothing");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&labels).unwrap()),
        &mut text,
    )
    .unwrap();
    assert_eq!(text.lines().count(), 17);
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "kgqa-teacher-labels/1");
    assert!(!text.contains("garden") && !text.contains("trowel"), "no question text");
    let read = kgqa::train::labels::TeacherLabels::read(&labels).unwrap();
    let model = MultipleChoice::load(&teacher, &candle_core::Device::Cpu).unwrap();
    let questions = originals();
    let refs: Vec<&Example> = questions.iter().collect();
    let expected = kgqa::train::distill::mean_teacher_logits_many(&[model], &refs, None).unwrap();
    for (e, want) in questions.iter().zip(&expected) {
        let got = read.get(e).expect("every question is labelled");
        let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-5, "{}: {got:?} against {want:?}", e.question);
    }
    let spread = expected.iter().flatten().fold(0f32, |m, l| m.max(l.abs()));
    assert!(spread > 0.1, "a teacher with something to teach ({spread})");

    let with_teacher = dir.path().join("with-teacher");
    ok(distill(&q, &student_from, &["--teacher", t, "--run", with_teacher.to_str().unwrap()]));
    let from_labels = dir.path().join("from-labels");
    let stderr = ok(distill(
        &q,
        &student_from,
        &["--teacher-labels", l, "--run", from_labels.to_str().unwrap()],
    ));
    assert!(stderr.contains("10 variants' teacher logits reused"), "{stderr}");
    // Adam moves every weight by about the learning rate, also those whose gradient is
    // rounding noise, so the students are compared by their answers' logits.
    let logits = |model: &Path| {
        let m = MultipleChoice::load(model, &candle_core::Device::Cpu).unwrap();
        kgqa::train::distill::mean_teacher_logits_many(&[m], &refs, None).unwrap()
    };
    let (a, b, start) = (
        logits(&with_teacher.join("best")),
        logits(&from_labels.join("best")),
        logits(&student_from),
    );
    let max_diff = |x: &[Vec<f32>], y: &[Vec<f32>]| {
        x.iter().flatten().zip(y.iter().flatten()).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max)
    };
    let (apart, moved) = (max_diff(&a, &b), max_diff(&a, &start));
    assert!(apart < 0.01 * moved, "the two students differ by {apart}; training moved {moved}");
    assert!(moved > 1e-2, "the students trained ({moved})");
}

/// Without a teacher: a label file exported for seed 1 from seed 0's file (and the
/// teacher) covers seed 1's run; seed 0's file alone, made with other settings (another
/// seed's variants), is refused before training, naming the file and a question; the imitation losses and a
/// student without `--student-from` are refused by field; no label file and no teacher
/// is a usage error.
#[test]
fn labels_without_a_teacher_must_cover_the_run() {
    let (dir, teacher) = tiny_base(0.0);
    let q = write_choice_set_questions(dir.path());
    let labels = dir.path().join("labels.jsonl");
    let l = labels.to_str().unwrap();
    let export_run = dir.path().join("export");
    ok(distill(
        &q,
        &teacher,
        &[
            "--teacher",
            teacher.to_str().unwrap(),
            "--run",
            export_run.to_str().unwrap(),
            "--export-labels",
            l,
        ],
    ));
    let run = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    // Another seed's file, exported with the teacher and the first file together: it
    // holds the first file's logits for the training questions and covers seed 1's run.
    let seed1 = dir.path().join("labels-seed1.jsonl");
    let (t, s1) = (teacher.to_str().unwrap(), seed1.to_str().unwrap());
    let export1 = run("export1");
    let both = ["--teacher", t, "--teacher-labels", l, "--seed", "1", "--run", &export1];
    let stderr = ok(distill(&q, &teacher, &[&both[..], &["--export-labels", s1]].concat()));
    assert!(stderr.contains("teacher labels: 16 questions written"), "{stderr}");
    let (first, second) = (
        kgqa::train::labels::TeacherLabels::read(&labels).unwrap(),
        kgqa::train::labels::TeacherLabels::read(&seed1).unwrap(),
    );
    for e in originals() {
        assert_eq!(first.get(&e), second.get(&e), "{}", e.question);
    }
    ok(distill(&q, &teacher, &["--teacher-labels", s1, "--run", &run("from1"), "--seed", "1"]));
    let other_seed = refused(distill(
        &q,
        &teacher,
        &["--teacher-labels", l, "--run", &run("seed1"), "--seed", "1"],
    ));
    assert!(other_seed.contains("teacher_labels:"), "{other_seed}");
    assert!(other_seed.contains("labels.jsonl has no logits for"), "{other_seed}");
    assert!(!dir.path().join("seed1/best").exists());
    let cosine = refused(distill(
        &q,
        &teacher,
        &["--teacher-labels", l, "--run", &run("cosine"), "--cosine", "1"],
    ));
    assert!(cosine.contains("teacher: the cosine and TinyBERT losses"), "{cosine}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
    c.args(["distill", "--teacher-labels", l, "--run", &run("nofrom"), "--dataset"]).arg(&q);
    let no_from = refused(c.output().unwrap());
    assert!(no_from.contains("student_from:"), "{no_from}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
    c.args(["distill", "--run", &run("none"), "--dataset"]).arg(&q);
    let neither = refused(c.output().unwrap());
    assert!(neither.contains("--teacher"), "{neither}");
}
