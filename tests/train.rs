//! Training on a tiny random BERT (real-data tier: it borrows the base model's
//! `tokenizer.json`): the training path has gradients everywhere and they match finite
//! differences, a tiny model overfits 16 questions, and a run stopped half-way and resumed
//! ends with the same weights as an uninterrupted one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kgqa::model::fusion::Fusion;
use kgqa::model::head::MultipleChoice;
use kgqa::model::{Bert, Config};
use kgqa::train::data::Example;
use kgqa::train::{self, TrainConfig};

fn enabled() -> bool {
    std::env::var("KGQA_REAL_DATA").is_ok_and(|v| v == "1")
}

fn base() -> PathBuf {
    let dir = std::env::var_os("KGQA_BASE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(kgqa::model::default_base_model);
    assert!(dir.join("tokenizer.json").is_file(), "no base model at {}", dir.display());
    dir
}

/// A tiny random model folder (dropout 0 so that finite differences are exact).
fn tiny_model(dir: &Path, dropout: f64) {
    let config = serde_json::json!({
        "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 128,
        "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout
    });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(base().join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let cfg: Config = serde_json::from_value(config).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Bert::load(vb, &cfg).unwrap();
    seeded_init(&varmap);
    varmap.save(dir.join("model.safetensors")).unwrap();
    // Mean pooling: a randomly initialized [CLS] needs far more steps to learn to attend.
    std::fs::write(dir.join("kgqa.json"), r#"{"pooling": "mean"}"#).unwrap();
}

/// BERT's initialization from a fixed seed (candle's own initializers draw from an unseeded
/// generator): N(0, 0.02²) matrices and embeddings, LayerNorm weights 1, biases 0.
fn seeded_init(varmap: &VarMap) {
    let data = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut state = 42u64;
    let mut unit = || {
        let r = kgqa::model::bert::splitmix64(&mut state);
        ((r >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    for name in names {
        let var = &data[name];
        let shape = var.as_tensor().shape().clone();
        let n = shape.elem_count();
        let values: Vec<f32> = if name.ends_with("bias") {
            vec![0.0; n]
        } else if name.contains("LayerNorm") {
            vec![1.0; n]
        } else {
            (0..n)
                .map(|_| {
                    let (u1, u2) = (unit(), unit());
                    (0.02 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
                })
                .collect()
        };
        var.set(&Tensor::from_vec(values, shape, &Device::Cpu).unwrap()).unwrap();
    }
}

fn examples() -> Vec<Example> {
    let tools = ["trowel", "shovel", "spoon", "hammer", "saw", "needle", "brush", "knife"];
    let verbs = ["dig", "plant", "eat", "build", "cut", "sew", "paint", "slice"];
    (0..16)
        .map(|i| {
            // The verb decides the tool; the distractors and the wording vary.
            let a = i % 8;
            let choices: Vec<String> = (0..4)
                .map(|k| tools[(a + k * 3 + usize::from(k > 0) * (i / 8)) % 8].to_string())
                .collect();
            let answer = (i * 5) % 4;
            let mut choices = choices;
            choices.swap(0, answer);
            Example {
                question: if i < 8 {
                    format!("What do you {} with?", verbs[a])
                } else {
                    format!("Which tool would you use to {}?", verbs[a])
                },
                choices,
                answer,
                ..Example::default()
            }
        })
        .collect()
}

/// [`examples`] as a CommonsenseQA-format file.
fn write_questions(path: &Path) {
    let labels = ["A", "B", "C", "D"];
    let lines: Vec<String> = examples()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let choices: Vec<serde_json::Value> = e
                .choices
                .iter()
                .zip(labels)
                .map(|(c, l)| serde_json::json!({"label": l, "text": c}))
                .collect();
            serde_json::json!({"id": format!("q{i}"), "answerKey": labels[e.answer],
                "question": {"stem": e.question, "choices": choices}})
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

fn config(dir: &Path, epochs: usize, lr: f64, dropout_seed: u64) -> TrainConfig {
    TrainConfig {
        base: dir.to_path_buf(),
        fusion: Fusion::default(),
        max_length: 32,
        epochs,
        batch_size: 4,
        lr,
        warmup: 0.1,
        weight_decay: 0.01,
        clip: 1.0,
        seed: dropout_seed,
        checkpoint_every: 3,
        command: String::new(),
    }
}

fn tensors(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap()
}

#[test]
fn gradients_match_finite_differences() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), 0.0);
    let (model, vars) =
        MultipleChoice::load_trainable(dir.path(), &Device::Cpu, 0, |_| {}).unwrap();
    let e = &examples()[0];
    let loss_of = || {
        let logits = train::batch_logits(&model, &[e], true).unwrap();
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
    if !enabled() {
        return;
    }
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
    assert_eq!(train::accuracy(&best, &data, 8).unwrap(), 1.0);
}

#[test]
fn resume_equals_uninterrupted() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    tiny_model(&base_dir, 0.1);
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
    let (a, b) = (tensors(&whole.join("checkpoint")), tensors(&parts.join("checkpoint")));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let d = (t - &b[name]).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-6, "{name} differs");
    }
    // Another config in the same run folder is refused.
    let other = TrainConfig { lr: 1.0, ..cfg };
    let err = train::train(&parts, &other, train_set, held_out, None, &mut |_, _, _| {});
    assert!(err.unwrap_err().to_string().contains("other settings"));
}

#[test]
fn students_copy_layers_or_start_narrow_with_a_projection() {
    if !enabled() {
        return;
    }
    use kgqa::train::distill::{PROJECTION, build_student};
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("teacher");
    tiny_model(&teacher, 0.0);
    // Same width: layers 1 and 0 of the teacher become layers 0 and 1.
    let copy = dir.path().join("copy");
    build_student(&teacher, &copy, &[1, 0], None).unwrap();
    let (t, s) = (tensors(&teacher), tensors(&copy));
    let name = |l: usize| format!("encoder.layer.{l}.attention.self.query.weight");
    assert_eq!(s[&name(0)].to_vec2::<f32>().unwrap(), t[&name(1)].to_vec2::<f32>().unwrap());
    assert_eq!(s[&name(1)].to_vec2::<f32>().unwrap(), t[&name(0)].to_vec2::<f32>().unwrap());
    assert!(!s.contains_key(&name(2)));
    let config = Config::read(&copy.join("config.json")).unwrap();
    assert_eq!((config.num_hidden_layers, config.hidden_size), (2, 32));
    assert!(build_student(&teacher, &dir.path().join("bad"), &[5], None).is_err());
    assert!(build_student(&teacher, &dir.path().join("bad"), &[0], Some(24)).is_err());
    // Narrower: a teacher of width 64 and a one-layer student of width 32; the projection
    // maps the student's 32 dimensions to the teacher's 64.
    let wide = dir.path().join("wide");
    {
        let config = serde_json::json!({
            "vocab_size": 30522, "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 128
        });
        std::fs::create_dir_all(&wide).unwrap();
        std::fs::write(wide.join("config.json"), config.to_string()).unwrap();
        std::fs::copy(base().join("tokenizer.json"), wide.join("tokenizer.json")).unwrap();
        let cfg: Config = serde_json::from_value(config).unwrap();
        let varmap = VarMap::new();
        Bert::load(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu), &cfg).unwrap();
        varmap.save(wide.join("model.safetensors")).unwrap();
    }
    let narrow = dir.path().join("narrow");
    build_student(&wide, &narrow, &[0], Some(32)).unwrap();
    let n = tensors(&narrow);
    assert_eq!(n[PROJECTION].dims(), [64, 32]);
    assert_eq!(n["embeddings.word_embeddings.weight"].dims(), [30522, 32]);
    let config = Config::read(&narrow.join("config.json")).unwrap();
    assert_eq!(
        (config.num_hidden_layers, config.hidden_size, config.num_attention_heads),
        (1, 32, 1)
    );
}

#[test]
fn distillation_moves_the_student_towards_the_teacher() {
    if !enabled() {
        return;
    }
    use kgqa::train::distill::{Distill, DistillConfig, PROJECTION, build_student};
    use kgqa::train::losses::soft_target_loss;
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    tiny_model(&base_dir, 0.0);
    let data = examples();
    // A teacher that knows the answers.
    let teacher_run = dir.path().join("teacher");
    train::train(
        &teacher_run,
        &config(&base_dir, 30, 2e-3, 1),
        &data,
        &data,
        None,
        &mut |_, _, _| {},
    )
    .unwrap();
    let teacher_dir = teacher_run.join("best");
    let kl_to_teacher = |student: &MultipleChoice, teacher: &MultipleChoice| {
        let refs: Vec<&Example> = data.iter().collect();
        let s = train::batch_logits(student, &refs, false).unwrap();
        let t = train::batch_logits(teacher, &refs, false).unwrap();
        soft_target_loss(&s, &t, 1.0).unwrap().to_scalar::<f32>().unwrap()
    };
    let teacher = MultipleChoice::load(&teacher_dir, &Device::Cpu).unwrap();
    // A narrower one-layer student with every loss on.
    let init = dir.path().join("init");
    build_student(&teacher_dir, &init, &[1], Some(16)).unwrap();
    let before = kl_to_teacher(&MultipleChoice::load(&init, &Device::Cpu).unwrap(), &teacher);
    let objective = Distill::new(
        vec![MultipleChoice::load(&teacher_dir, &Device::Cpu).unwrap()],
        DistillConfig {
            alpha: 0.9,
            temperature: 2.0,
            cosine: 0.5,
            tinybert: true,
            intermediate_epochs: 2,
        },
    );
    let run = dir.path().join("student");
    let cfg = TrainConfig { base: init.clone(), ..config(&init, 12, 2e-3, 3) };
    train::train_with(&run, &cfg, &data, &data, None, &objective, &[PROJECTION], &mut |_, _, _| {})
        .unwrap();
    // The last checkpoint (best/ may be from an intermediate-only epoch).
    let student = MultipleChoice::load(&run.join("checkpoint"), &Device::Cpu).unwrap();
    let after = kl_to_teacher(&student, &teacher);
    assert!(after < before, "KL to the teacher {before} -> {after}");
    assert!(!tensors(&run.join("best")).contains_key(PROJECTION), "the projection is not shipped");
}

/// Teacher logits handed to the distillation objective in advance (the augmentation's)
/// are the ones its soft targets use: the true ones give the same loss as computing them,
/// other ones a different loss (so the cache is read, not bypassed).
#[test]
fn seeded_teacher_logits_are_used() {
    if !enabled() {
        return;
    }
    use kgqa::train::Objective;
    use kgqa::train::distill::{Distill, DistillConfig, build_student, mean_teacher_logits};
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    tiny_model(&base_dir, 0.0);
    let data = examples();
    let teacher_run = dir.path().join("teacher");
    let cfg = config(&base_dir, 8, 2e-3, 1);
    train::train(&teacher_run, &cfg, &data, &data, None, &mut |_, _, _| {}).unwrap();
    let teacher_dir = teacher_run.join("best");
    let init = dir.path().join("init");
    build_student(&teacher_dir, &init, &[1], None).unwrap();
    let student = MultipleChoice::load(&init, &Device::Cpu).unwrap();
    let teachers = || vec![MultipleChoice::load(&teacher_dir, &Device::Cpu).unwrap()];
    let soft_only = DistillConfig {
        alpha: 1.0,
        temperature: 2.0,
        cosine: 0.0,
        tinybert: false,
        intermediate_epochs: 0,
    };
    let batch: Vec<(usize, &Example)> = data.iter().take(4).enumerate().collect();
    let loss = |objective: &Distill| {
        objective.loss(&student, &batch, 0).unwrap().to_scalar::<f32>().unwrap()
    };
    let computed = loss(&Distill::new(teachers(), soft_only.clone()));
    let true_logits: Vec<(usize, Vec<f32>)> =
        batch.iter().map(|(i, e)| (*i, mean_teacher_logits(&teachers(), e).unwrap())).collect();
    assert!(true_logits.iter().any(|(_, l)| l.iter().any(|v| v.abs() > 1e-4)), "{true_logits:?}");
    let seeded = Distill::new(teachers(), soft_only.clone()).with_cached_logits(true_logits);
    assert_eq!(seeded.cached_logits(), 4);
    assert!((loss(&seeded) - computed).abs() < 1e-6, "{} vs {computed}", loss(&seeded));
    let other = batch.iter().map(|(i, e)| {
        let mut l = vec![0.0; e.choices.len()];
        l[0] = 4.0;
        (*i, l)
    });
    let wrong = Distill::new(teachers(), soft_only).with_cached_logits(other);
    assert!((loss(&wrong) - computed).abs() > 1e-3, "{} vs {computed}", loss(&wrong));
}

/// `kgqa train` killed with SIGKILL mid-run and started again ends with the same weights
/// and log as an uninterrupted run; `kgqa eval` reads the result.
#[test]
fn cli_train_survives_sigkill_and_eval_reports() {
    if !enabled() {
        return;
    }
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    tiny_model(&base_dir, 0.1);
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
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let (a, b) = (tensors(&whole.join("checkpoint")), tensors(&killed.join("checkpoint")));
    for (name, t) in &a {
        let d = (t - &b[name]).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-6, "{name} differs after SIGKILL + resume");
    }
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
    assert!(v["accuracy"].as_f64().unwrap() >= 0.0);
    assert!(v["parameters"].as_u64().unwrap() > 900_000);
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
    if !enabled() {
        return;
    }
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
    let a = train::batch_logits(&model, &refs, false).unwrap();
    let b = train::batch_logits(&loaded, &refs, false).unwrap();
    let d = (&a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
    assert!(d.to_scalar::<f32>().unwrap() < 1e-2);
    // Word embeddings as 8-bit codes: smaller still, scores still close.
    let small = dir.path().join("small");
    let int8 = ["embeddings.word_embeddings.weight"];
    model.save_as(&small, &full.join("tokenizer.json"), &[], DType::F16, &int8).unwrap();
    assert!(size(&small) * 10 < size(&half) * 7, "{} vs {}", size(&small), size(&half));
    let loaded = MultipleChoice::load(&small, &Device::Cpu).unwrap();
    let c = train::batch_logits(&loaded, &refs, false).unwrap();
    let d = (&a - c).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
    assert!(d.to_scalar::<f32>().unwrap() < 2e-2);
}

/// `kgqa distill --augment 1`: synonym variants from the store's WordNet senses, labelled
/// by the teacher and kept in the run folder; started again, the run reads them back
/// instead of labelling anew; other settings on the same folder are refused.
#[test]
fn cli_distill_keeps_its_augmented_questions() {
    if !enabled() {
        return;
    }
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
