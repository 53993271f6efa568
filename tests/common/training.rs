//! Helpers of the training tests (`tests/train.rs`, `tests/distill.rs`, `tests/augment.rs`,
//! `tests/labels.rs`): a tiny random BERT with the tiny tokenizer of `tests/data/tokenizer/`
//! (written by `scripts/tiny-tokenizer.py`), 16 toy questions, six questions with shared
//! concepts for choice-set variants and a training config. They need no real data, so they
//! run under a plain `cargo test`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kgqa::eval::batch::Example;
use kgqa::model::fusion::Fusion;
use kgqa::model::{Bert, Config};
use kgqa::train::TrainConfig;

/// The folder of the tiny tokenizer (`tokenizer.json`).
pub fn base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tokenizer")
}

/// The tiny tokenizer's vocabulary size, the tiny models' `vocab_size`.
pub fn vocab_size() -> usize {
    let text = std::fs::read_to_string(base().join("tokenizer.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["model"]["vocab"].as_object().unwrap().len()
}

/// A temporary folder holding a tiny random model in `base/` (see [`tiny_model`]), and
/// that model's path: the start of most training tests.
pub fn tiny_base(dropout: f64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    tiny_model(&base, dropout);
    (dir, base)
}

/// A tiny random model folder (dropout 0 so that finite differences are exact).
pub fn tiny_model(dir: &Path, dropout: f64) {
    let config = serde_json::json!({
        "vocab_size": vocab_size(), "hidden_size": 32, "num_hidden_layers": 2,
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
pub fn seeded_init(varmap: &VarMap) {
    let data = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut state = 42u64;
    let mut unit = || {
        let r = kgqa::model::rng::splitmix64(&mut state);
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

/// 16 toy questions (4 choices) where the verb decides the tool.
pub fn examples() -> Vec<Example> {
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
pub fn write_questions(path: &Path) {
    let lines: Vec<String> = examples()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let choices: Vec<&str> = e.choices.iter().map(String::as_str).collect();
            csqa_line(&format!("q{i}"), &e.question, None, &choices, e.answer)
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// Six questions, five of them sharing a concept with others (so choice-set variants
/// exist; "Trowel" tests that a variant never pairs a choice with its own other case).
pub const CHOICE_SET_QUESTIONS: [(&str, &str, [&str; 4]); 6] = [
    ("dig", "what did we dig the garden with?", ["trowel", "soil", "seed", "water"]),
    ("dig", "what digs the ground for a house?", ["excavator", "crane", "drill", "Trowel"]),
    ("dig", "where do dogs dig?", ["yard", "sky", "ocean", "cloud"]),
    ("tool", "what tool cuts wood?", ["saw", "spoon", "cup", "pillow"]),
    ("tool", "what tool drives nails?", ["hammer", "sock", "leaf", "bread"]),
    ("sea", "what lives in the sea?", ["fish", "lion", "cow", "horse"]),
];

/// [`CHOICE_SET_QUESTIONS`] as a CommonsenseQA file `q.jsonl` in `dir` (ids `q0`...,
/// the first choice right, `question_concept` the first field).
pub fn write_choice_set_questions(dir: &Path) -> PathBuf {
    let lines: Vec<String> = CHOICE_SET_QUESTIONS
        .iter()
        .enumerate()
        .map(|(i, (concept, stem, choices))| {
            csqa_line(&format!("q{i}"), stem, Some(concept), choices, 0)
        })
        .collect();
    let file = dir.join("q.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    file
}

/// One CommonsenseQA-format line (labels A, B, ...; `question_concept` when given).
pub fn csqa_line(
    id: &str,
    stem: &str,
    concept: Option<&str>,
    choices: &[&str],
    answer: usize,
) -> String {
    let labels = ["A", "B", "C", "D", "E"];
    let choices: Vec<serde_json::Value> = choices
        .iter()
        .zip(labels)
        .map(|(c, l)| serde_json::json!({"label": l, "text": c}))
        .collect();
    let mut question = serde_json::json!({"stem": stem, "choices": choices});
    if let Some(c) = concept {
        question["question_concept"] = c.into();
    }
    serde_json::json!({"id": id, "answerKey": labels[answer], "question": question}).to_string()
}

/// A training config for the tiny model: length 32, batch 4, checkpoints every 3 steps.
pub fn config(dir: &Path, epochs: usize, lr: f64, dropout_seed: u64) -> TrainConfig {
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
        eval_every: 0,
        keep_evaluations: false,
        keep: Default::default(),
        freeze_layers: 0,
        command: String::new(),
    }
}

/// The tensors of a model folder's `model.safetensors`.
pub fn tensors(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap()
}

/// The largest absolute difference between two tensors of one shape.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let d = (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
    d.to_scalar::<f32>().unwrap()
}

/// Asserts that two model folders hold the same tensors, each within 1e-6.
pub fn assert_same_weights(a: &Path, b: &Path, what: &str) {
    let (a, b) = (tensors(a), tensors(b));
    assert_eq!(a.len(), b.len(), "{what}: other tensors");
    for (name, t) in &a {
        assert!(max_diff(t, &b[name]) < 1e-6, "{name} differs: {what}");
    }
}
