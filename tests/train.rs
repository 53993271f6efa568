//! Training on a tiny random BERT (with the tiny tokenizer of `tests/data/tokenizer/`):
//! the training path has gradients everywhere and they match finite differences, a tiny
//! model overfits 16 questions, a run stopped half-way and resumed ends with the same
//! weights as an uninterrupted one, and export (half precision, 8-bit codes, no pooler).

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use common::training::*;
use kgqa::eval::batch::{Example, accuracy, batch_logits};
use kgqa::model::head::MultipleChoice;
use kgqa::train::{self, TrainConfig, TrainState};

#[test]
fn gradients_match_finite_differences() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), 0.0);
    let (model, vars) =
        MultipleChoice::load_trainable(dir.path(), &Device::Cpu, 0, |_| {}).unwrap();
    let e = &examples()[0];
    let loss_of = || {
        let logits = batch_logits(&model, &[e], true).unwrap();
        train::cross_entropy(&logits, &[e.answer]).unwrap()
    };
    let grads = loss_of().backward().unwrap();
    // Every parameter on the path gets a gradient (not the unused pooler).
    for (name, var) in &vars {
        let used = !name.starts_with("pooler") && !name.ends_with("position_ids");
        assert_eq!(grads.get(var.as_tensor()).is_some(), used, "{name}");
    }
    // Central differences on a few weights of different kinds (f32: loose tolerance).
    for name in [
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.1.output.LayerNorm.weight",
        "encoder.layer.0.intermediate.dense.bias",
        "classifier.weight",
    ] {
        let var = &vars.iter().find(|(n, _)| n == name).unwrap().1;
        let analytic = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap();
        let original = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let shape = var.as_tensor().shape().clone();
        for index in [0usize, 5] {
            let h = 1e-2f32;
            let mut bumped = original.clone();
            bumped[index] += h;
            var.set(&Tensor::from_vec(bumped.clone(), shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let up = loss_of().to_scalar::<f32>().unwrap();
            bumped[index] -= 2.0 * h;
            var.set(&Tensor::from_vec(bumped, shape.clone(), &Device::Cpu).unwrap()).unwrap();
            let down = loss_of().to_scalar::<f32>().unwrap();
            var.set(&Tensor::from_vec(original.clone(), shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let numeric = (up - down) / (2.0 * h);
            let a = analytic.get(index).unwrap().to_scalar::<f32>().unwrap();
            assert!(
                (numeric - a).abs() <= 2e-3 + 0.05 * a.abs(),
                "{name}[{index}]: analytic {a}, numeric {numeric}"
            );
        }
    }
}

#[test]
fn a_tiny_model_overfits_sixteen_questions() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(&dir.path().join("base"), 0.0);
    let data = examples();
    let run = dir.path().join("run");
    let state = train::train(
        &run,
        &config(&dir.path().join("base"), 60, 3e-3, 1),
        &data,
        &data,
        None,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(state.epoch, 60);
    let best = MultipleChoice::load(&run.join("best"), &Device::Cpu).unwrap();
    assert!(best.head().trained);
    assert_eq!(accuracy(&best, &data, 8).unwrap(), 1.0);
}

#[test]
fn resume_equals_uninterrupted() {
    let (dir, base_dir) = tiny_base(0.1);
    let data = examples();
    let (train_set, held_out) = data.split_at(12);
    let cfg = config(&base_dir, 2, 1e-3, 7);
    let whole = dir.path().join("whole");
    train::train(&whole, &cfg, train_set, held_out, None, &mut |_, _, _| {}).unwrap();
    // Stopped after 2 steps (mid-epoch, between checkpoints), then after 4, then to the end.
    let parts = dir.path().join("parts");
    let s = train::train(&parts, &cfg, train_set, held_out, Some(2), &mut |_, _, _| {}).unwrap();
    assert_eq!((s.step, s.epoch), (2, 0));
    let s = train::train(&parts, &cfg, train_set, held_out, Some(4), &mut |_, _, _| {}).unwrap();
    assert_eq!((s.step, s.epoch), (4, 1));
    train::train(&parts, &cfg, train_set, held_out, None, &mut |_, _, _| {}).unwrap();
    assert_same_weights(&whole.join("checkpoint"), &parts.join("checkpoint"), "resumed");
    // Another config in the same run folder is refused.
    let other = TrainConfig { lr: 1.0, ..cfg };
    let err = train::train(&parts, &other, train_set, held_out, None, &mut |_, _, _| {});
    assert!(err.unwrap_err().to_string().contains("other settings"));
}

/// `kgqa train` killed with SIGKILL mid-run and started again ends with the same weights
/// and log as an uninterrupted run; `kgqa eval` reads the result.
#[test]
fn cli_train_survives_sigkill_and_eval_reports() {
    use std::process::Command;
    let (dir, base_dir) = tiny_base(0.1);
    let questions = dir.path().join("q.jsonl");
    write_questions(&questions);
    let train = |run: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
        c.arg("train").arg("--base").arg(&base_dir).arg("--dataset").arg(&questions);
        c.arg("--run").arg(run);
        c.args(["--epochs", "8", "--batch-size", "4", "--held-out", "3", "--lr", "1e-3"]);
        c.args(["--checkpoint-every", "1", "--max-length", "32"]);
        c
    };
    let whole = dir.path().join("whole");
    assert!(train(&whole).output().unwrap().status.success());
    let killed = dir.path().join("killed");
    let mut child = train(&killed).stderr(std::process::Stdio::null()).spawn().unwrap();
    let state = killed.join("checkpoint/state.json");
    let start = std::time::Instant::now();
    loop {
        let step = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["step"].as_u64())
            .unwrap_or(0);
        if step >= 6 || start.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run must still be going when killed");
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = train(&killed).output().unwrap();
    let said = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{said}");
    // The resumed start reports its memory once, after its first step.
    let memory: Vec<&str> = said.lines().filter(|l| l.starts_with("memory: ")).collect();
    assert_eq!(memory.len(), 1, "{said}");
    assert!(memory[0].contains(" GiB resident") && memory[0].ends_with(" GiB still available"));
    let checkpoint = |run: &Path| run.join("checkpoint");
    assert_same_weights(&checkpoint(&whole), &checkpoint(&killed), "after SIGKILL + resume");
    let log = |run: &Path| -> Vec<(u64, f64)> {
        std::fs::read_to_string(run.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["epoch"].as_u64().unwrap(), v["accuracy"].as_f64().unwrap()))
            .collect()
    };
    assert_eq!(log(&whole), log(&killed));
    assert_eq!(log(&whole).len(), 8);
    let predictions = dir.path().join("predictions.jsonl");
    let eval = Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["eval", "--json", "--model"])
        .arg(whole.join("best"))
        .arg("--dataset")
        .arg(&questions)
        .arg("--predictions")
        .arg(&predictions)
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(v["questions"], 16);
    let accuracy = v["accuracy"].as_f64().unwrap();
    let ci = (v["accuracy_ci95"][0].as_f64().unwrap(), v["accuracy_ci95"][1].as_f64().unwrap());
    assert!(ci.0 <= accuracy && accuracy <= ci.1 && ci.1 - ci.0 > 0.2, "{ci:?} around {accuracy}");
    // The tiny model: about 89 K parameters, most of them its 2,109 x 32 word embeddings.
    assert!(v["parameters"].as_u64().unwrap() > 80_000);
    // One line per question, in order, agreeing with the reported accuracy.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 16);
    let mut right = 0;
    for (i, (l, e)) in lines.iter().zip(examples()).enumerate() {
        assert_eq!(l["id"], format!("q{i}"));
        assert_eq!(l["answer"], e.answer);
        let p: Vec<f64> = serde_json::from_value(l["probabilities"].clone()).unwrap();
        assert_eq!(p.len(), e.choices.len());
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(l["predicted"], best);
        right += usize::from(best == e.answer);
    }
    assert_eq!(right, v["correct"].as_u64().unwrap() as usize);
}

#[test]
fn half_precision_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    tiny_model(&full, 0.0);
    let model = MultipleChoice::load(&full, &Device::Cpu).unwrap();
    let half = dir.path().join("half");
    model.save_as(&half, &full.join("tokenizer.json"), &[], DType::F16, &[]).unwrap();
    let size = |d: &Path| std::fs::metadata(d.join("model.safetensors")).unwrap().len();
    assert!(size(&half) * 10 < size(&full) * 6, "{} vs {}", size(&half), size(&full));
    let loaded = MultipleChoice::load(&half, &Device::Cpu).unwrap();
    let data = examples();
    let refs: Vec<&Example> = data.iter().collect();
    let a = batch_logits(&model, &refs, false).unwrap();
    let b = batch_logits(&loaded, &refs, false).unwrap();
    assert!(max_diff(&a, &b) < 1e-2);
    // Word embeddings as 8-bit codes: smaller still, scores still close.
    let small = dir.path().join("small");
    let int8 = ["embeddings.word_embeddings.weight"];
    model.save_as(&small, &full.join("tokenizer.json"), &[], DType::F16, &int8).unwrap();
    assert!(size(&small) * 10 < size(&half) * 7, "{} vs {}", size(&small), size(&half));
    let loaded = MultipleChoice::load(&small, &Device::Cpu).unwrap();
    let c = batch_logits(&loaded, &refs, false).unwrap();
    assert!(max_diff(&a, &c) < 2e-2);
}

/// A checkpoint's pooler (`pooler.dense.*`, which no score reads) is dropped on load: the
/// scores do not change and a saved or exported folder does not carry it.
#[test]
fn the_unread_pooler_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    tiny_model(&plain, 0.0);
    let with_pooler = dir.path().join("pooler");
    tiny_model(&with_pooler, 0.0);
    let file = with_pooler.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let weight = Tensor::ones((32, 32), DType::F32, &Device::Cpu).unwrap();
    tensors.insert("pooler.dense.weight".into(), weight);
    tensors.insert("pooler.dense.bias".into(), Tensor::ones(32, DType::F32, &Device::Cpu).unwrap());
    candle_core::safetensors::save(&tensors, &file).unwrap();
    let model = MultipleChoice::load(&with_pooler, &Device::Cpu).unwrap();
    assert_eq!(model.tensor("pooler.dense.weight").map(|t| t.dims().to_vec()), None);
    let refs_data = examples();
    let refs: Vec<&Example> = refs_data.iter().collect();
    let plain_scores =
        batch_logits(&MultipleChoice::load(&plain, &Device::Cpu).unwrap(), &refs, false);
    let scores = batch_logits(&model, &refs, false).unwrap();
    assert_eq!(max_diff(&plain_scores.unwrap(), &scores), 0.0);
    let out = dir.path().join("out");
    model.save_as(&out, &with_pooler.join("tokenizer.json"), &[], DType::F16, &[]).unwrap();
    let saved =
        candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(saved.keys().all(|n| !n.contains("pooler")), "{:?}", saved.keys());
    assert!(saved.contains_key("classifier.weight"));
}

/// `kgqa export --int8` stores the layers' matrices as the int8 products' own codes: the
/// exported folder scores in int8 exactly as the original does in int8, and its f32 path
/// (reading the codes back) stays close to the original's.
#[test]
fn int8_export_keeps_the_int8_products() {
    use kgqa::model::kernels::Precision;
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    tiny_model(&full, 0.0);
    let mut model = MultipleChoice::load(&full, &Device::Cpu).unwrap();
    // A classifier that reads every feature (a fresh head's is zero: all scores equal).
    let w = Tensor::arange(0f32, 32.0, &Device::Cpu).unwrap().affine(1.0 / 32.0, -0.5).unwrap();
    let b = Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap();
    model.set_classifier(w.reshape((1, 32)).unwrap(), b).unwrap();
    let matrices = model.layer_matrices();
    assert!(matrices.iter().any(|n| n.ends_with("intermediate.dense.weight")), "{matrices:?}");
    assert!(matrices.iter().all(|n| !n.contains("LayerNorm")), "{matrices:?}");
    let small = dir.path().join("int8");
    model.save_as(&small, &full.join("tokenizer.json"), &[], DType::F32, &matrices).unwrap();
    let size = |d: &Path| std::fs::metadata(d.join("model.safetensors")).unwrap().len();
    assert!(size(&small) < size(&full), "{} vs {}", size(&small), size(&full));
    let data = examples();
    let refs: Vec<&Example> = data.iter().collect();
    let f32_scores = batch_logits(&model, &refs, false).unwrap();
    model.set_precision(Precision::Int8).unwrap();
    let int8_scores = batch_logits(&model, &refs, false).unwrap();
    let mut exported = MultipleChoice::load(&small, &Device::Cpu).unwrap();
    let exported_f32 = batch_logits(&exported, &refs, false).unwrap();
    exported.set_precision(Precision::Int8).unwrap();
    let exported_int8 = batch_logits(&exported, &refs, false).unwrap();
    assert!(max_diff(&int8_scores, &exported_int8) < 1e-4, "same codes, same int8 scores");
    assert!(max_diff(&f32_scores, &exported_f32) < 5e-2);
    let gap = max_diff(&f32_scores, &int8_scores);
    assert!(gap > 0.0 && gap < 5e-2, "int8 ran, close to f32: {gap}");
}

/// Without a held-out slice (`--held-out 0`, or a set too small to spare one) every epoch
/// scores the same, so the last epoch is the one kept as `best/`.
#[test]
fn without_a_held_out_slice_the_last_epoch_is_kept() {
    let (dir, base_dir) = tiny_base(0.0);
    let run = dir.path().join("run");
    let cfg = config(&base_dir, 3, 1e-3, 1);
    train::train(&run, &cfg, &examples(), &[], None, &mut |_, _, _| {}).unwrap();
    let (last, best) = (tensors(&run.join("checkpoint")), tensors(&run.join("best")));
    let first = tensors(&base_dir);
    let name = "encoder.layer.0.attention.self.query.weight";
    assert!(max_diff(&first[name], &last[name]) > 0.0, "training moved nothing");
    for (k, t) in &best {
        assert_eq!(max_diff(t, &last[k]), 0.0, "{k}: best/ is not the last epoch");
    }
}

/// `eval_every`: held-out evaluations inside epochs too, each able to become `best/`; a
/// run stopped right after one and resumed logs the same evaluations as an uninterrupted
/// run, and `best/` holds the model of the best one.
#[test]
fn evaluations_inside_epochs_are_logged_kept_and_resumed() {
    let (dir, base_dir) = tiny_base(0.1);
    let data = examples();
    let (train_set, held_out) = data.split_at(12);
    // 3 steps per epoch: evaluations at steps 2 (inside epoch 1), 3 (its end), 4 (inside
    // epoch 2) and 6 (its end; not twice).
    let cfg = TrainConfig { eval_every: 2, ..config(&base_dir, 2, 1e-3, 5) };
    // Every evaluated model kept too (`--keep-evaluations`).
    let keep_all = TrainConfig { keep_evaluations: true, ..cfg.clone() };
    let whole = dir.path().join("whole");
    let state =
        train::train(&whole, &keep_all, train_set, held_out, None, &mut |_, _, _| {}).unwrap();
    let kept_steps = |run: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(run.join("evaluations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(kept_steps(&whole), ["step-000002", "step-000003", "step-000004", "step-000006"]);
    let steps: Vec<(usize, u64)> = state.history.iter().map(|l| (l.epoch, l.step)).collect();
    assert_eq!(steps, [(1, 2), (1, 3), (2, 4), (2, 6)]);
    let best = state.history.iter().map(|l| l.accuracy).fold(f64::MIN, f64::max);
    assert_eq!(state.best_accuracy, Some(best));
    let kept = MultipleChoice::load(&whole.join("best"), &Device::Cpu).unwrap();
    assert_eq!(accuracy(&kept, held_out, 16).unwrap(), best);
    // best/ is the model of the first evaluation that reached the best accuracy: the same
    // weights as a run stopped at that step.
    let at = state.history.iter().find(|l| l.accuracy == best).unwrap().step;
    // Stopping at an epoch's last step stops there, after its evaluation.
    let end = dir.path().join("end");
    let s = train::train(&end, &cfg, train_set, held_out, Some(3), &mut |_, _, _| {}).unwrap();
    assert_eq!((s.step, s.epoch, s.history.len()), (3, 1, 2));
    let stopped = dir.path().join("stopped");
    train::train(&stopped, &cfg, train_set, held_out, Some(at), &mut |_, _, _| {}).unwrap();
    let what = format!("best/ is not step {at}'s model");
    assert_same_weights(&whole.join("best"), &stopped.join("checkpoint"), &what);
    let snapshot = whole.join("evaluations").join(format!("step-{at:06}"));
    assert_same_weights(&snapshot, &whole.join("best"), "the kept evaluation is not best/");
    let log = std::fs::read_to_string(whole.join("log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4, "{log}");
    // Stopped right after the evaluation at step 2, then resumed.
    let parts = dir.path().join("parts");
    train::train(&parts, &cfg, train_set, held_out, Some(2), &mut |_, _, _| {}).unwrap();
    // Keeping evaluations changes no weight: the run resumes with it switched on.
    let resumed =
        train::train(&parts, &keep_all, train_set, held_out, None, &mut |_, _, _| {}).unwrap();
    assert_eq!(kept_steps(&parts), ["step-000003", "step-000004", "step-000006"]);
    let strip = |s: &TrainState| -> Vec<(usize, u64, f64)> {
        s.history.iter().map(|l| (l.epoch, l.step, l.accuracy)).collect()
    };
    assert_eq!(strip(&resumed), strip(&state));
    // `--keep last`: best/ is the last evaluated model, whatever the most accurate one was
    // (here step {at}'s); a run cannot resume under the other rule.
    assert_ne!(at, 6, "pick a run whose best evaluation is not its last");
    let last_cfg = TrainConfig { keep: train::KeepRule::Last, ..cfg.clone() };
    let last = dir.path().join("last");
    train::train(&last, &last_cfg, train_set, held_out, Some(4), &mut |_, _, _| {}).unwrap();
    let refused = train::train(&last, &cfg, train_set, held_out, None, &mut |_, _, _| {});
    assert!(refused.unwrap_err().to_string().contains("other settings"));
    let s = train::train(&last, &last_cfg, train_set, held_out, None, &mut |_, _, _| {}).unwrap();
    assert_eq!(s.best_accuracy, Some(s.history.last().unwrap().accuracy));
    let final_model = whole.join("evaluations").join("step-000006");
    assert_same_weights(&last.join("best"), &final_model, "best/ is not the last model");
}

/// Two models of one shape that differ: the evaluations kept at steps 3 and 6 of a tiny run
/// (in the returned folder).
fn two_kept_evaluations() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, base_dir) = tiny_base(0.1);
    let data = examples();
    let (train_set, held_out) = data.split_at(12);
    let cfg = TrainConfig { keep_evaluations: true, ..config(&base_dir, 2, 1e-3, 5) };
    let run = dir.path().join("run");
    train::train(&run, &cfg, train_set, held_out, None, &mut |_, _, _| {}).unwrap();
    (dir, run.join("evaluations/step-000003"), run.join("evaluations/step-000006"))
}

/// `kgqa average`: every tensor of the result is the mean of the models' (here two kept
/// evaluations of one run); one model averages to itself; a model of another shape is
/// refused with its folder and the difference named, and nothing is written.
#[test]
fn averaged_models_hold_the_mean_weights() {
    use std::process::Command;
    let (dir, a, b) = two_kept_evaluations();
    let average = |models: &[&Path], out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
        c.arg("average");
        for m in models {
            c.arg("--model").arg(m);
        }
        c.arg("--out").arg(out).output().unwrap()
    };
    let soup = dir.path().join("soup");
    let out = average(&[&a, &b], &soup);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (ta, tb, ts) = (tensors(&a), tensors(&b), tensors(&soup));
    assert_eq!(ts.len(), ta.len());
    let name = "encoder.layer.0.attention.self.query.weight";
    assert!(max_diff(&ta[name], &tb[name]) > 0.0, "the two evaluations are the same model");
    for (k, t) in &ts {
        let mean = ((&ta[k] + &tb[k]).unwrap() / 2.0).unwrap();
        assert!(max_diff(t, &mean) < 1e-7, "{k}: not the mean");
    }
    // The averaged folder is a model: it loads and scores.
    let model = MultipleChoice::load(&soup, &Device::Cpu).unwrap();
    assert!(model.head().trained);
    assert!(accuracy(&model, &examples()[12..], 8).is_ok());
    let one = dir.path().join("one");
    assert!(average(&[&a], &one).status.success());
    assert_same_weights(&one, &a, "one model's average");
    // A one-layer model of the same width: refused, naming it; no folder written.
    let shallow = dir.path().join("shallow");
    kgqa::train::distill::build_student(&a, &shallow, &[0], None, 0, Default::default()).unwrap();
    let bad = dir.path().join("bad");
    let out = average(&[&a, &shallow], &bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("shallow") && err.contains("settings"), "{err}");
    assert!(!bad.exists());
}

#[test]
fn a_model_trained_on_curated_facts_gets_curated_retrieval() {
    let (_dir, base) = tiny_base(0.0);
    let engine_for = |head: &str| {
        std::fs::write(base.join("kgqa.json"), head).unwrap();
        let model = MultipleChoice::load(&base, &Device::Cpu).unwrap();
        let graph = kgqa::kg::Graph::embedded().unwrap();
        let engine =
            kgqa::engine::Engine::new(graph, Some((base.clone(), model)), Default::default());
        engine.unwrap().retriever().options().curated
    };
    assert!(!engine_for(r#"{"pooling": "mean", "fusion": {"input": true}}"#));
    assert!(engine_for(r#"{"pooling": "mean", "fusion": {"input": true, "curated": true}}"#));
}

/// `kgqa average --weight`: each tensor is the weighted mean (weights 1 and 3: a quarter of
/// the first model, three quarters of the second); a weight count that does not match the
/// models, or a negative weight, is refused by name and writes nothing.
#[test]
fn weighted_averages_lean_towards_the_heavier_model() {
    use std::process::Command;
    let (dir, a, b) = two_kept_evaluations();
    let average = |weights: &[&str], out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
        c.args(["average", "--model"]).arg(&a).arg("--model").arg(&b);
        for w in weights {
            c.args(["--weight", w]);
        }
        c.arg("--out").arg(out).output().unwrap()
    };
    let soup = dir.path().join("soup");
    let out = average(&["1", "3"], &soup);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (ta, tb, ts) = (tensors(&a), tensors(&b), tensors(&soup));
    let name = "encoder.layer.0.attention.self.query.weight";
    assert!(max_diff(&ta[name], &tb[name]) > 0.0, "the two evaluations are the same model");
    for (k, t) in &ts {
        let mean = ((&ta[k] * 0.25).unwrap() + (&tb[k] * 0.75).unwrap()).unwrap();
        assert!(max_diff(t, &mean) < 1e-6, "{k}: not the weighted mean");
    }
    for (weights, says) in [(&["1"][..], "1 weights for 2 models"), (&["1", "-1"][..], "-1")] {
        let bad = dir.path().join("bad");
        let out = average(weights, &bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{weights:?}: {err}");
        assert!(!bad.exists(), "{weights:?}: a folder was written");
    }
}

/// `freeze_layers`: the embeddings and the first layer keep their loaded weights exactly,
/// while the second layer and the classifier learn; the run's checkpoint holds them all
/// and resumes. More layers than the model has is refused by the field's name.
#[test]
fn frozen_layers_keep_their_weights() {
    let (dir, base_dir) = tiny_base(0.1);
    let data = examples();
    let (train_set, held_out) = data.split_at(12);
    let cfg = TrainConfig { freeze_layers: 1, ..config(&base_dir, 1, 1e-3, 5) };
    let run = dir.path().join("run");
    train::train(&run, &cfg, train_set, held_out, Some(2), &mut |_, _, _| {}).unwrap();
    train::train(&run, &cfg, train_set, held_out, None, &mut |_, _, _| {}).unwrap();
    let (before, after) = (tensors(&base_dir), tensors(&run.join("checkpoint")));
    for (name, t) in &after {
        let Some(old) = before.get(name) else { continue };
        let moved = max_diff(t, old) > 0.0;
        let frozen = name.starts_with("embeddings.") || name.starts_with("encoder.layer.0.");
        assert_eq!(moved, !frozen, "{name}: moved {moved}, frozen {frozen}");
    }
    assert!(after.contains_key("classifier.weight"));
    let too_many = TrainConfig { freeze_layers: 3, ..cfg };
    let err = train::train(
        &dir.path().join("bad"),
        &too_many,
        train_set,
        held_out,
        None,
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("freeze_layers"), "{err}");
}

#[test]
fn frozen_names_cover_the_embeddings_and_the_lower_layers() {
    use kgqa::train::frozen_below;
    for name in ["embeddings.word_embeddings.weight", "mpnet.encoder.layer.1.output.dense.weight"] {
        assert!(frozen_below(name, 2), "{name}");
    }
    assert!(frozen_below("encoder.relative_attention_bias.weight", 1));
    for name in ["encoder.layer.2.output.dense.weight", "classifier.weight", "encoder.layer.10.x"] {
        assert!(!frozen_below(name, 2), "{name}");
    }
    assert!(!frozen_below("embeddings.word_embeddings.weight", 0));
}
