//! `kgqa distill`'s transfer set beyond the training questions, on tiny random BERTs
//! (with the tiny tokenizer of `tests/data/tokenizer/`): synonym variants
//! (`--augment`), choice-set variants (`--augment-choices`) and questions of another file
//! (`--transfer`), each labelled by the teachers and kept in the run folder.

mod common;

use common::training::*;
use kgqa::eval::batch::Example;

/// `kgqa distill --augment 1`: synonym variants from the store's WordNet senses, labelled
/// by the teacher and kept in the run folder; started again, the run reads them back
/// instead of labelling anew; other settings on the same folder are refused.
#[test]
fn cli_distill_keeps_its_augmented_questions() {
    use std::process::Command;
    let kgqa = || Command::new(env!("CARGO_BIN_EXE_kgqa"));
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("teacher");
    tiny_model(&teacher, 0.0);
    let questions = dir.path().join("q.jsonl");
    write_questions(&questions);
    let ttl = dir.path().join("senses.ttl");
    std::fs::write(
        &ttl,
        "@prefix c: <http://conceptnet.io/c/en/> .\n\
         @prefix kgqa: <http://kgqa.dev/ns#> .\n\
         @prefix wnid: <http://wordnet-rdf.princeton.edu/id/> .\n\
         c:dig kgqa:sense wnid:1-v . c:excavate kgqa:sense wnid:1-v .\n\
         c:tool kgqa:sense wnid:2-n . c:instrument kgqa:sense wnid:2-n .\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let load = kgqa().arg("load").arg(&ttl).arg("--store").arg(&store).output().unwrap();
    assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
    let run = dir.path().join("student");
    let distill = |augment: &str| {
        let mut c = kgqa();
        c.arg("--store").arg(&store).arg("distill").arg("--teacher").arg(&teacher);
        c.arg("--dataset").arg(&questions).arg("--run").arg(&run);
        c.args(["--student-layers", "1", "--epochs", "1", "--batch-size", "4"]);
        c.args(["--held-out", "3", "--max-length", "32", "--augment", augment]);
        c.output().unwrap()
    };
    let first = distill("1");
    let stderr = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(first.status.success(), "{stderr}");
    assert!(stderr.contains("labelled by the teachers"), "{stderr}");
    let file = run.join("augmented.jsonl");
    let written = std::fs::read_to_string(&file).unwrap();
    let originals: Vec<String> = examples().into_iter().map(|e| e.question).collect();
    let variants: Vec<Example> =
        written.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    // Each keeps the teachers' mean logits that labelled it; its answer is their argmax.
    for (line, v) in written.lines().skip(1).zip(&variants) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let logits: Vec<f32> = serde_json::from_value(value["teacher_logits"].clone()).unwrap();
        assert_eq!(logits.len(), v.choices.len());
        assert!(logits.iter().all(|l| *l <= logits[v.answer]), "{line}");
    }
    assert!(stderr.contains(&format!("{} variants' teacher logits reused", variants.len())));
    // Only "dig" and "tool" have synonyms: 9 of the 16 questions have one or both, and
    // each variant is one of them with the synonyms put in.
    assert!(!variants.is_empty() && variants.len() <= 9, "{variants:?}");
    for v in &variants {
        assert!(!originals.contains(&v.question), "{}", v.question);
        let back = v.question.replace("excavate", "dig").replace("instrument", "tool");
        assert!(originals.contains(&back), "{}", v.question);
        assert!(v.answer < v.choices.len());
    }
    let again = distill("1");
    let stderr = String::from_utf8_lossy(&again.stderr).to_string();
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("read from"), "{stderr}");
    assert!(stderr.contains(&format!("{} variants' teacher logits reused", variants.len())));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
    let other = distill("2");
    let stderr = String::from_utf8_lossy(&other.stderr).to_string();
    assert!(!other.status.success());
    assert!(stderr.contains("augmented.jsonl:1"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
}

/// `kgqa distill --augment-choices 2`: each question whose concept another training
/// question shares gets variants with distractors from those questions, the gold answer
/// kept as the label and the teachers' logits kept for the soft targets; a question with a
/// concept of its own gets none.
#[test]
fn cli_distill_makes_choice_set_variants() {
    let (dir, teacher) = tiny_base(0.0);
    let questions = CHOICE_SET_QUESTIONS;
    let file = write_choice_set_questions(dir.path());
    let run = dir.path().join("student");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .arg("distill")
        .arg("--teacher")
        .arg(&teacher)
        .arg("--dataset")
        .arg(&file)
        .arg("--run")
        .arg(&run)
        .args(["--student-layers", "1", "--epochs", "1", "--batch-size", "4", "--held-out", "0"])
        .args(["--max-length", "32", "--augment-choices", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let written = std::fs::read_to_string(run.join("augmented.jsonl")).unwrap();
    let settings: serde_json::Value =
        serde_json::from_str(written.lines().next().unwrap()).unwrap();
    assert_eq!(settings["choice_sets"], 2);
    let variants: Vec<(Example, Vec<f32>)> = written
        .lines()
        .skip(1)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                serde_json::from_value(v.clone()).unwrap(),
                serde_json::from_value(v["teacher_logits"].clone()).unwrap(),
            )
        })
        .collect();
    // Two each for the five questions that share a concept, none for the sea question.
    assert_eq!(variants.len(), 10, "{written}");
    assert!(stderr.contains("10 variants' teacher logits reused"), "{stderr}");
    for (v, logits) in &variants {
        let (concept, _, choices) =
            questions.iter().find(|q| q.1 == v.question).expect("an original question");
        assert_ne!(*concept, "sea");
        assert_eq!(v.choices[v.answer], choices[0], "the gold answer stays the label");
        assert_eq!(logits.len(), 4);
        let pool: Vec<&str> = questions
            .iter()
            .filter(|q| q.0 == *concept)
            .flat_map(|q| q.2.iter().copied())
            .collect();
        assert!(v.choices.iter().all(|c| pool.contains(&c.as_str())), "{v:?}");
        assert!(v.choices.iter().any(|c| !choices.contains(&c.as_str())), "{v:?}");
        assert!(!(v.choices[v.answer] == "trowel" && v.choices.iter().any(|c| c == "Trowel")));
    }
}

/// `kgqa distill --transfer FILE`: questions of another file join the transfer set,
/// labelled by the teachers (the teachers' choice is the answer of one without
/// `answerKey`, the given answer stays the label of one with it); a bad line there is
/// refused by file and line before anything is labelled.
#[test]
fn cli_distill_learns_from_transfer_questions_too() {
    let (dir, teacher) = tiny_base(0.0);
    let train = dir.path().join("q.jsonl");
    write_questions(&train);
    let four = ["mole", "cloud", "spoon", "song"];
    let mut unlabelled: serde_json::Value =
        serde_json::from_str(&csqa_line("t0", "what digs holes?", None, &four, 0)).unwrap();
    unlabelled.as_object_mut().unwrap().remove("answerKey");
    let transfer = dir.path().join("transfer.jsonl");
    let lines = [
        unlabelled.to_string(),
        csqa_line("t1", "what cuts wood?", None, &["saw", "soup", "sky", "ink"], 2),
    ];
    std::fs::write(&transfer, lines.join("\n")).unwrap();
    let distill = |run: &std::path::Path, transfer: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kgqa"))
            .arg("distill")
            .arg("--teacher")
            .arg(&teacher)
            .arg("--dataset")
            .arg(&train)
            .arg("--run")
            .arg(run)
            .arg("--transfer")
            .arg(transfer)
            .args(["--student-layers", "1", "--epochs", "1", "--batch-size", "4"])
            .args(["--held-out", "3", "--max-length", "32"])
            .output()
            .unwrap()
    };
    let run = dir.path().join("student");
    let out = distill(&run, &transfer);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2 variants' teacher logits reused"), "{stderr}");
    let written = std::fs::read_to_string(run.join("augmented.jsonl")).unwrap();
    let mut lines = written.lines();
    let settings: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert!(settings["transfer"].as_str().unwrap().starts_with("sha256:"), "{settings}");
    let labelled: Vec<serde_json::Value> =
        lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(labelled.len(), 2, "{written}");
    let logits: Vec<f32> = serde_json::from_value(labelled[0]["teacher_logits"].clone()).unwrap();
    let answer = labelled[0]["answer"].as_u64().unwrap() as usize;
    assert_eq!(labelled[0]["question"], "what digs holes?");
    assert!(logits.iter().all(|l| *l <= logits[answer]), "the teachers' choice: {logits:?}");
    assert_eq!(
        (labelled[1]["question"].as_str(), labelled[1]["answer"].as_u64()),
        (Some("what cuts wood?"), Some(2))
    );
    // The same run with the file edited in place: its labels no longer fit, so it stops.
    let kept = std::fs::read_to_string(run.join("augmented.jsonl")).unwrap();
    let edited = std::fs::read_to_string(&transfer).unwrap().replace("wood", "metal");
    std::fs::write(&transfer, edited).unwrap();
    let out = distill(&run, &transfer);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(stderr.contains("augmented.jsonl:1"), "{stderr}");
    assert_eq!(std::fs::read_to_string(run.join("augmented.jsonl")).unwrap(), kept);
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n{{\"id\": 3}}\n", lines_first(&transfer))).unwrap();
    let out = distill(&dir.path().join("other"), &bad);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(stderr.contains("bad.jsonl:2"), "{stderr}");
    assert!(!dir.path().join("other/augmented.jsonl").exists());
    // Another number of choices than the training questions' cannot share their batches.
    std::fs::write(&bad, csqa_line("t2", "what flies?", None, &["bird", "rock"], 0)).unwrap();
    let out = distill(&dir.path().join("other"), &bad);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(stderr.contains("question \"t2\" has 2 choices, the training questions 4"), "{stderr}");
}

fn lines_first(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap().lines().next().unwrap().to_owned()
}

/// The labels kept in the run folder depend on the facts the teachers read: a start with
/// an edited `--facts` or `--transfer-facts` cache (same paths) is refused instead of
/// training on labels made from the old facts, and the kept file is left as it was; a
/// teacher without fusion records neither cache.
#[test]
fn cli_distill_refuses_labels_made_from_other_facts() {
    use std::process::Command;
    let kgqa = || Command::new(env!("CARGO_BIN_EXE_kgqa"));
    let (dir, teacher) = tiny_base(0.0);
    std::fs::write(teacher.join("kgqa.json"), r#"{"pooling": "mean", "fusion": {"input": true}}"#)
        .unwrap();
    let questions = dir.path().join("q.jsonl");
    write_questions(&questions);
    let ttl = dir.path().join("g.ttl");
    std::fs::write(
        &ttl,
        "@prefix c: <http://conceptnet.io/c/en/> .\n@prefix r: <http://conceptnet.io/r/> .\n\
         c:trowel r:UsedFor c:dig . c:excavator r:UsedFor c:dig .\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let load = kgqa().arg("load").arg(&ttl).arg("--store").arg(&store).output().unwrap();
    assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
    let facts = dir.path().join("facts.jsonl");
    let retrieve = kgqa()
        .arg("--store")
        .arg(&store)
        .arg("retrieve")
        .arg("--dataset")
        .arg(&questions)
        .arg("--out")
        .arg(&facts)
        .output()
        .unwrap();
    assert!(retrieve.status.success(), "{}", String::from_utf8_lossy(&retrieve.stderr));
    let original = std::fs::read_to_string(&facts).unwrap();
    assert!(original.contains("trowel is used for dig"), "{original}");
    let transfer_facts = dir.path().join("transfer-facts.jsonl");
    std::fs::write(&transfer_facts, &original).unwrap();
    let run = dir.path().join("student");
    let distill = || {
        let mut c = kgqa();
        c.arg("distill").arg("--teacher").arg(&teacher).arg("--dataset").arg(&questions);
        c.arg("--facts").arg(&facts).arg("--run").arg(&run);
        // The training questions again as unlabelled transfer questions, with their own cache.
        c.arg("--transfer").arg(&questions).arg("--transfer-facts").arg(&transfer_facts);
        c.args(["--student-layers", "1", "--epochs", "1", "--batch-size", "4"]);
        c.args(["--held-out", "3", "--max-length", "32"]);
        c.output().unwrap()
    };
    let first = distill();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let file = run.join("augmented.jsonl");
    let kept = std::fs::read_to_string(&file).unwrap();
    let settings: serde_json::Value = serde_json::from_str(kept.lines().next().unwrap()).unwrap();
    assert!(settings["facts"].as_str().unwrap().starts_with("sha256:"), "{settings}");
    for field in ["transfer", "transfer_facts"] {
        let hash = settings[field].as_str().unwrap();
        assert!(hash.starts_with("sha256:") && hash.len() == 71, "{settings}");
    }
    let again = distill();
    let stderr = String::from_utf8_lossy(&again.stderr).to_string();
    assert!(again.status.success() && stderr.contains("read from"), "{stderr}");
    let edited = original.replace("trowel is used for dig", "trowel is used for cake");
    assert_ne!(edited, original);
    for (path, contents) in [(&transfer_facts, &edited), (&facts, &edited)] {
        std::fs::write(&facts, &original).unwrap();
        std::fs::write(&transfer_facts, &original).unwrap();
        std::fs::write(path, contents).unwrap();
        let out = distill();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{}: {stderr}", path.display());
        assert!(stderr.contains("augmented.jsonl:1"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), kept);
    }
    // A teacher that reads no facts: its labels do not depend on them, so neither cache is
    // recorded and an edited one does not make the run label again.
    std::fs::write(teacher.join("kgqa.json"), r#"{"pooling": "mean"}"#).unwrap();
    std::fs::remove_dir_all(&run).unwrap();
    let out = distill();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = std::fs::read_to_string(&file).unwrap();
    let settings: serde_json::Value = serde_json::from_str(kept.lines().next().unwrap()).unwrap();
    assert!(settings.get("facts").is_none() && settings.get("transfer_facts").is_none());
    assert!(settings["transfer"].as_str().unwrap().starts_with("sha256:"), "{settings}");
    std::fs::write(&facts, &original).unwrap();
    let out = distill();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success() && stderr.contains("read from"), "{stderr}");
}
