//! Distillation on tiny random BERTs (with the tiny tokenizer of `tests/data/tokenizer/`): student construction (layer copy, narrow with a projection), the
//! student moving towards its teacher, the teacher-logit cache, bad settings; the
//! augmentation's tests are in `augment.rs`.

mod common;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use common::training::*;
use kgqa::eval::batch::{Example, batch_logits};
use kgqa::model::head::MultipleChoice;
use kgqa::model::{Bert, Config};
use kgqa::train::distill::NarrowInit;
use kgqa::train::{self, TrainConfig};

#[test]
fn students_copy_layers_or_start_narrow_with_a_projection() {
    use kgqa::train::distill::{PROJECTION, build_student};
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("teacher");
    tiny_model(&teacher, 0.0);
    // Same width: layers 1 and 0 of the teacher become layers 0 and 1.
    let copy = dir.path().join("copy");
    build_student(&teacher, &copy, &[1, 0], None, 0, NarrowInit::Select).unwrap();
    let (t, s) = (tensors(&teacher), tensors(&copy));
    let name = |l: usize| format!("encoder.layer.{l}.attention.self.query.weight");
    assert_eq!(s[&name(0)].to_vec2::<f32>().unwrap(), t[&name(1)].to_vec2::<f32>().unwrap());
    assert_eq!(s[&name(1)].to_vec2::<f32>().unwrap(), t[&name(0)].to_vec2::<f32>().unwrap());
    assert!(!s.contains_key(&name(2)));
    let config = Config::read(&copy.join("config.json")).unwrap();
    assert_eq!((config.num_hidden_layers, config.hidden_size), (2, 32));
    assert!(
        build_student(&teacher, &dir.path().join("bad"), &[5], None, 0, NarrowInit::Select)
            .is_err()
    );
    assert!(
        build_student(&teacher, &dir.path().join("bad"), &[0], Some(24), 0, NarrowInit::Random)
            .is_err()
    );
    // Narrower: a teacher of width 64 and a one-layer student of width 32; the projection
    // maps the student's 32 dimensions to the teacher's 64.
    let wide = dir.path().join("wide");
    {
        let config = serde_json::json!({
            "vocab_size": vocab_size(), "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 128
        });
        std::fs::create_dir_all(&wide).unwrap();
        std::fs::write(wide.join("config.json"), config.to_string()).unwrap();
        std::fs::copy(base().join("tokenizer.json"), wide.join("tokenizer.json")).unwrap();
        let cfg: Config = serde_json::from_value(config).unwrap();
        let varmap = VarMap::new();
        Bert::load(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu), &cfg).unwrap();
        seeded_init(&varmap);
        varmap.save(wide.join("model.safetensors")).unwrap();
    }
    let narrow = dir.path().join("narrow");
    build_student(&wide, &narrow, &[0], Some(32), 0, NarrowInit::Random).unwrap();
    let n = tensors(&narrow);
    assert_eq!(n[PROJECTION].dims(), [64, 32]);
    assert_eq!(n["embeddings.word_embeddings.weight"].dims(), [vocab_size(), 32]);
    let config = Config::read(&narrow.join("config.json")).unwrap();
    assert_eq!(
        (config.num_hidden_layers, config.hidden_size, config.num_attention_heads),
        (1, 32, 1)
    );
    // Started from the teacher's weights, a student keeps whole heads: with two heads of
    // 32, a width of 48 is refused by name.
    let two_heads = dir.path().join("two-heads");
    std::fs::create_dir_all(&two_heads).unwrap();
    for file in ["model.safetensors", "tokenizer.json", "kgqa.json"] {
        if wide.join(file).is_file() {
            std::fs::copy(wide.join(file), two_heads.join(file)).unwrap();
        }
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wide.join("config.json")).unwrap()).unwrap();
    config["num_attention_heads"] = 2.into();
    std::fs::write(two_heads.join("config.json"), config.to_string()).unwrap();
    let err =
        build_student(&two_heads, &dir.path().join("x"), &[0], Some(48), 0, NarrowInit::Select)
            .unwrap_err()
            .to_string();
    assert!(err.contains("student_hidden") && err.contains("32-wide attention heads"), "{err}");
    build_student(&two_heads, &dir.path().join("y"), &[0], Some(32), 0, NarrowInit::Select)
        .unwrap();
    // Its random start comes from the seed: the same seed, the same student.
    let (again, other) = (dir.path().join("again"), dir.path().join("other"));
    build_student(&wide, &again, &[0], Some(32), 0, NarrowInit::Random).unwrap();
    build_student(&wide, &other, &[0], Some(32), 1, NarrowInit::Random).unwrap();
    assert_same_weights(&narrow, &again, "the same seed");
    let name = "encoder.layer.0.attention.self.query.weight";
    assert!(max_diff(&n[name], &tensors(&other)[name]) > 0.0, "another seed, the same student");
    assert_eq!(
        n["encoder.layer.0.attention.self.query.bias"]
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap(),
        0.0
    );
}

/// A narrower student started from its teacher (weight selection): every tensor is the
/// teacher layer's at evenly spaced channels, whole heads and units, the projection puts
/// each channel back in its place, and it starts nearer the teacher's answers than a
/// random start of the same shape.
#[test]
fn a_narrow_student_starts_from_its_teachers_weights() {
    use kgqa::train::distill::{PROJECTION, build_student};
    use kgqa::train::losses::soft_target_loss;
    use kgqa::train::student::evenly_spaced;
    let dir = tempfile::tempdir().unwrap();
    // Width 32, four heads of 8, 64 units; the student: width 16, two heads, 32 units.
    let teacher_dir = trained_teacher(dir.path());
    let (select, random) = (dir.path().join("select"), dir.path().join("random"));
    build_student(&teacher_dir, &select, &[1, 0], Some(16), 0, NarrowInit::Select).unwrap();
    build_student(&teacher_dir, &random, &[1, 0], Some(16), 0, NarrowInit::Random).unwrap();
    let config = Config::read(&select.join("config.json")).unwrap();
    assert_eq!(
        (config.hidden_size, config.num_attention_heads, config.intermediate_size),
        (16, 2, 32)
    );
    let (t, s) = (tensors(&teacher_dir), tensors(&select));
    let channels = evenly_spaced(32, 16);
    assert_eq!(channels[..3], [0, 2, 4]);
    let words = t["embeddings.word_embeddings.weight"].to_vec2::<f32>().unwrap();
    let student_words = s["embeddings.word_embeddings.weight"].to_vec2::<f32>().unwrap();
    for (j, &c) in channels.iter().enumerate() {
        assert_eq!(student_words[7][j], words[7][c]);
    }
    // Student layer 0 is teacher layer 1; heads 0 and 2 (dimensions 0-7 and 16-23).
    let query = t["encoder.layer.1.attention.self.query.weight"].to_vec2::<f32>().unwrap();
    let student_query = s["encoder.layer.0.attention.self.query.weight"].to_vec2::<f32>().unwrap();
    assert_eq!(student_query[9][3], query[17][channels[3]]);
    let up = t["encoder.layer.0.intermediate.dense.weight"].to_vec2::<f32>().unwrap();
    let student_up = s["encoder.layer.1.intermediate.dense.weight"].to_vec2::<f32>().unwrap();
    assert_eq!(student_up[5][1], up[evenly_spaced(64, 32)[5]][channels[1]]);
    let projection = s[PROJECTION].to_vec2::<f32>().unwrap();
    assert_eq!((projection.len(), projection[0].len()), (32, 16));
    assert_eq!((projection[6][3], projection[6][2], projection[7][3]), (1.0, 0.0, 0.0));
    let data = examples();
    let refs: Vec<&Example> = data.iter().collect();
    let teacher = MultipleChoice::load(&teacher_dir, &Device::Cpu).unwrap();
    let target = batch_logits(&teacher, &refs, false).unwrap();
    let kl = |student: &std::path::Path| {
        let student = MultipleChoice::load(student, &Device::Cpu).unwrap();
        let logits = batch_logits(&student, &refs, false).unwrap();
        soft_target_loss(&logits, &target, 1.0).unwrap().to_scalar::<f32>().unwrap()
    };
    let (selected, drawn) = (kl(&select), kl(&random));
    assert!(selected < drawn, "KL to the teacher: selected {selected}, random {drawn}");
}

/// A tiny teacher that knows the answers of [`examples`] (30 epochs under `dir`); its
/// best checkpoint's folder.
fn trained_teacher(dir: &std::path::Path) -> std::path::PathBuf {
    let base_dir = dir.join("base");
    tiny_model(&base_dir, 0.0);
    let data = examples();
    let run = dir.join("teacher");
    let cfg = config(&base_dir, 30, 2e-3, 1);
    train::train(&run, &cfg, &data, &data, None, &mut |_, _, _| {}).unwrap();
    run.join("best")
}

#[test]
fn distillation_moves_the_student_towards_the_teacher() {
    use kgqa::train::distill::{Distill, DistillConfig, PROJECTION, build_student};
    use kgqa::train::losses::soft_target_loss;
    let dir = tempfile::tempdir().unwrap();
    let data = examples();
    let teacher_dir = trained_teacher(dir.path());
    let kl_to_teacher = |student: &MultipleChoice, teacher: &MultipleChoice| {
        let refs: Vec<&Example> = data.iter().collect();
        let s = batch_logits(student, &refs, false).unwrap();
        let t = batch_logits(teacher, &refs, false).unwrap();
        soft_target_loss(&s, &t, 1.0).unwrap().to_scalar::<f32>().unwrap()
    };
    let teacher = MultipleChoice::load(&teacher_dir, &Device::Cpu).unwrap();
    // A narrower one-layer student with every loss on.
    let init = dir.path().join("init");
    build_student(&teacher_dir, &init, &[1], Some(16), 0, NarrowInit::Random).unwrap();
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
    use kgqa::train::Objective;
    use kgqa::train::distill::{Distill, DistillConfig, build_student, mean_teacher_logits};
    let dir = tempfile::tempdir().unwrap();
    let data = examples();
    let teacher_dir = trained_teacher(dir.path());
    let init = dir.path().join("init");
    build_student(&teacher_dir, &init, &[1], None, 0, NarrowInit::Select).unwrap();
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

/// Two teachers' mean logits computed as one batch equal the per-question ones, and with
/// the cosine loss on (the first teacher's forward pass then gives its logits too, for
/// the questions of the batch not cached yet: here the second and fourth) the soft targets
/// are still the true ones.
#[test]
fn batched_and_reused_teacher_logits_equal_the_per_question_ones() {
    use kgqa::train::Objective;
    use kgqa::train::distill::{
        Distill, DistillConfig, build_student, mean_teacher_logits, mean_teacher_logits_many,
    };
    let dir = tempfile::tempdir().unwrap();
    let data = examples();
    let teacher_dir = trained_teacher(dir.path());
    let other_dir = dir.path().join("other");
    tiny_model(&other_dir, 0.0);
    let teachers = || {
        let load = |d: &std::path::Path| MultipleChoice::load(d, &Device::Cpu).unwrap();
        vec![load(&teacher_dir), load(&other_dir)]
    };
    let refs: Vec<&Example> = data.iter().take(6).collect();
    let batched = mean_teacher_logits_many(&teachers(), &refs, None).unwrap();
    for (e, b) in refs.iter().zip(&batched) {
        let single = mean_teacher_logits(&teachers(), e).unwrap();
        assert!(single.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5), "{single:?} vs {b:?}");
    }
    let init = dir.path().join("init");
    build_student(&teacher_dir, &init, &[1], None, 0, NarrowInit::Select).unwrap();
    let student = MultipleChoice::load(&init, &Device::Cpu).unwrap();
    let config = DistillConfig {
        alpha: 1.0,
        temperature: 2.0,
        cosine: 1.0,
        tinybert: false,
        intermediate_epochs: 0,
    };
    let batch: Vec<(usize, &Example)> = data.iter().take(4).enumerate().collect();
    let loss = |objective: &Distill| {
        objective.loss(&student, &batch, 0).unwrap().to_scalar::<f32>().unwrap()
    };
    let truth = batch.iter().map(|(i, e)| (*i, mean_teacher_logits(&teachers(), e).unwrap()));
    let seeded = loss(&Distill::new(teachers(), config.clone()).with_cached_logits(truth));
    let half =
        batch.iter().step_by(2).map(|(i, e)| (*i, mean_teacher_logits(&teachers(), e).unwrap()));
    let reused = Distill::new(teachers(), config).with_cached_logits(half);
    assert!((loss(&reused) - seeded).abs() < 1e-5, "{} vs {seeded}", loss(&reused));
    assert_eq!(reused.cached_logits(), 4);
}

/// A teacher trained without input fusion scores a question the same with or without
/// facts in it: in an ensemble with an input-fusion teacher (the examples then carry
/// facts) it still gets the input it was trained on.
#[test]
fn teachers_read_only_their_own_fusion_input() {
    use kgqa::train::distill::mean_teacher_logits;
    let dir = tempfile::tempdir().unwrap();
    let teacher = vec![MultipleChoice::load(&trained_teacher(dir.path()), &Device::Cpu).unwrap()];
    assert!(!teacher[0].head().fusion.input);
    for plain in examples().into_iter().take(4) {
        let with_facts = Example {
            facts: plain.choices.iter().map(|c| vec![format!("{c} is used for nothing")]).collect(),
            ..plain.clone()
        };
        assert_eq!(
            mean_teacher_logits(&teacher, &with_facts).unwrap(),
            mean_teacher_logits(&teacher, &plain).unwrap()
        );
    }
}

/// Bad settings of `kgqa train` and `kgqa distill` are refused with the field and the
/// value, before a teacher is loaded or a run folder is written.
#[test]
fn bad_settings_are_refused_by_name_before_anything_is_written() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("teacher");
    tiny_model(&teacher, 0.0);
    let questions = dir.path().join("q.jsonl");
    write_questions(&questions);
    let run = dir.path().join("run");
    // The model given as `--base` or `--teacher`.
    let refused_with = |model: &std::path::Path, command: &str, extra: &[&str], field: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
        c.arg(command).arg("--dataset").arg(&questions).arg("--run").arg(&run);
        match command {
            "train" => c.arg("--base").arg(model),
            _ => c.arg("--teacher").arg(model),
        };
        c.args(["--held-out", "3"]).args(extra);
        for (flag, value) in [("--epochs", "1"), ("--max-length", "32")] {
            if !extra.contains(&flag) {
                c.args([flag, value]);
            }
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{command} {extra:?} was accepted");
        assert!(stderr.contains(&format!("{field}:")), "{command} {extra:?}: {stderr}");
        assert!(!run.exists(), "{command} {extra:?} wrote {}", run.display());
    };
    let refused =
        |command: &str, extra: &[&str], field: &str| refused_with(&teacher, command, extra, field);
    refused("train", &["--batch-size", "0"], "batch_size");
    refused("train", &["--lr=-1e-4"], "lr");
    refused("train", &["--lr", "inf"], "lr");
    refused("train", &["--warmup", "1.5"], "warmup");
    refused("train", &["--clip", "0"], "clip");
    refused("train", &["--weight-decay=-0.1"], "weight_decay");
    refused("train", &["--max-length", "4"], "max_length");
    refused("train", &["--fusion", "input"], "facts");
    refused("distill", &["--epochs", "0"], "epochs");
    refused("distill", &["--alpha", "2"], "alpha");
    refused("distill", &["--temperature", "0"], "temperature");
    refused("distill", &["--cosine=-1"], "cosine");
    // TinyBERT's default intermediate epoch would fill this one-epoch run.
    refused("distill", &["--tinybert"], "intermediate_epochs");
    // The tiny teacher has 2 layers.
    refused("distill", &["--student-layers", "3"], "student_layers");
    refused("distill", &["--student-layers", "0"], "student_layers");
    // Choice-set variants cannot carry an entity-fusion teacher's mentions across questions.
    let entity = dir.path().join("entity");
    tiny_model(&entity, 0.0);
    std::fs::write(entity.join("kgqa.json"), r#"{"pooling": "mean", "fusion": {"entity": true}}"#)
        .unwrap();
    refused_with(&entity, "distill", &["--augment-choices", "1"], "augment_choices");
    // Longer inputs than the model has positions for (the tiny model has 128).
    let mut c = Command::new(env!("CARGO_BIN_EXE_kgqa"));
    c.arg("train").arg("--dataset").arg(&questions).arg("--run").arg(&run);
    c.arg("--base").arg(&teacher).args(["--epochs", "1", "--max-length", "200"]);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("max_length: 200"), "{stderr}");
}

/// The first teacher's last hidden states kept from one batch serve later batches of other
/// orders and paddings with the same loss as running the teacher again (a batch partly
/// kept runs the teacher on the rest only), and a two-epoch run with the cache ends with
/// the weights of one without it, the teacher run for the first epoch only.
#[test]
fn cached_teacher_hidden_states_give_the_same_losses_and_weights() {
    use kgqa::train::Objective;
    use kgqa::train::distill::{Distill, DistillConfig, build_student};
    let dir = tempfile::tempdir().unwrap();
    let data = examples();
    let teacher_dir = trained_teacher(dir.path());
    let teachers = || vec![MultipleChoice::load(&teacher_dir, &Device::Cpu).unwrap()];
    let init = dir.path().join("init");
    build_student(&teacher_dir, &init, &[1], None, 0, NarrowInit::Select).unwrap();
    let student = MultipleChoice::load(&init, &Device::Cpu).unwrap();
    let recipe = DistillConfig {
        alpha: 0.5,
        temperature: 2.0,
        cosine: 1.0,
        tinybert: false,
        intermediate_epochs: 0,
    };
    // Short ("What do you dig with?") and long questions: batch `a` pads the short ones,
    // batch `b` (short ones only, other order) is shorter than `a`.
    let batch = |ids: &[usize]| ids.iter().map(|&i| (i, &data[i])).collect::<Vec<_>>();
    let (a, b) = (batch(&[0, 8, 3, 12]), batch(&[3, 0]));
    let loss = |o: &Distill, batch: &[(usize, &Example)]| {
        o.loss(&student, batch, 0).unwrap().to_scalar::<f32>().unwrap()
    };
    let cached = Distill::new(teachers(), recipe.clone()).with_hidden_cache(1 << 30);
    let first = loss(&cached, &a);
    assert_eq!((cached.cached_hidden().0, cached.teacher_passes()), (4, 1));
    for batch in [&a, &b] {
        let fresh = loss(&Distill::new(teachers(), recipe.clone()), batch);
        let kept = loss(&cached, batch);
        assert!((kept - fresh).abs() < 1e-5, "cached {kept} vs computed {fresh}");
    }
    assert_eq!(cached.teacher_passes(), 1, "the kept batches ran the teacher again");
    assert!((loss(&cached, &a) - first).abs() < 1e-6);
    // A batch with one question not kept (5): the teacher runs on that one alone.
    let c = batch(&[3, 5, 0]);
    let fresh = loss(&Distill::new(teachers(), recipe.clone()), &c);
    let mixed = loss(&cached, &c);
    assert!((mixed - fresh).abs() < 1e-5, "partly cached {mixed} vs computed {fresh}");
    assert_eq!((cached.cached_hidden().0, cached.teacher_passes()), (5, 2));
    // A budget smaller than one question keeps nothing, and the teacher runs each time.
    let none = Distill::new(teachers(), recipe.clone()).with_hidden_cache(1000);
    loss(&none, &a);
    loss(&none, &a);
    assert_eq!((none.cached_hidden().0, none.teacher_passes()), (0, 2));
    // Two epochs of training, with and without the cache.
    let train = |objective: &Distill, name: &str| {
        let run = dir.path().join(name);
        let cfg = config(&init, 2, 1e-3, 4);
        let sets = (&data[..12], &data[12..]);
        train::train_with(&run, &cfg, sets.0, sets.1, None, objective, &[], &mut |_, _, _| {})
            .unwrap();
        run.join("checkpoint")
    };
    let with = Distill::new(teachers(), recipe.clone()).with_hidden_cache(1 << 30);
    let without = Distill::new(teachers(), recipe);
    let (kept, computed) = (train(&with, "kept"), train(&without, "computed"));
    assert_eq!(with.cached_hidden().0, 12);
    // 3 steps per epoch: the teacher ran in the first epoch only.
    assert_eq!((with.teacher_passes(), without.teacher_passes()), (3, 6));
    let (k, c) = (tensors(&kept), tensors(&computed));
    for (name, t) in &c {
        assert!(max_diff(t, &k[name]) < 1e-4, "{name}: {}", max_diff(t, &k[name]));
    }
}
