//! Real-data tier: our encoder against PyTorch + transformers reference outputs for
//! all-MiniLM-L6-v2 (`../shared/fixtures/minilm-parity/`) and all-mpnet-base-v2
//! (`tests/data/mpnet-parity/`). Runs when `KGQA_REAL_DATA=1`; the models come from
//! `scripts/fetch-model.sh` (or `KGQA_BASE_MODEL`, `KGQA_MPNET_MODEL`).

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use kgqa::model::bert::{l2_normalize, mean_pool};
use kgqa::model::tokenize::PairEncoder;
use kgqa::model::{Collect, Inputs, device, load_bert};

use common::enabled;

fn model_dir() -> PathBuf {
    let dir = std::env::var_os("KGQA_BASE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(kgqa::model::default_base_model);
    assert!(
        dir.join("model.safetensors").is_file(),
        "no base model at {} (run scripts/fetch-model.sh)",
        dir.display()
    );
    dir
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/minilm-parity")
}

/// Largest absolute difference over the rows where `mask` (`[batch, seq]`) is 1; `a` and
/// `b` are `[batch, seq, ...]`.
fn max_diff_masked(a: &Tensor, b: &Tensor, mask: &Tensor) -> f32 {
    let mut m = mask.to_dtype(DType::F32).unwrap();
    while m.rank() < a.rank() {
        m = m.unsqueeze(m.rank()).unwrap();
    }
    let d = (a - b).unwrap().abs().unwrap().broadcast_mul(&m).unwrap();
    d.flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn minilm_matches_pytorch() {
    if !enabled() {
        return;
    }
    let dev = device();
    let reference =
        candle_core::safetensors::load(fixtures().join("reference.safetensors"), &dev).unwrap();
    let inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("inputs.json")).unwrap())
            .unwrap();
    let pairs: Vec<(String, String)> = inputs["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (p["text"].as_str().unwrap().to_owned(), p["text_pair"].as_str().unwrap().to_owned())
        })
        .collect();
    let dir = model_dir();
    let encoder = PairEncoder::from_file(&dir.join("tokenizer.json"), 64).unwrap();
    let batch = encoder.encode(&pairs, &dev).unwrap();

    let ids = |name: &str| reference[name].to_dtype(DType::U32).unwrap().to_vec2::<u32>().unwrap();
    assert_eq!(batch.input_ids.to_vec2::<u32>().unwrap(), ids("input_ids"));
    assert_eq!(batch.token_type_ids.to_vec2::<u32>().unwrap(), ids("token_type_ids"));
    assert_eq!(batch.attention_mask.to_vec2::<u32>().unwrap(), ids("attention_mask"));

    let bert = load_bert(&dir, &dev).unwrap();
    let inputs = Inputs {
        input_ids: &batch.input_ids,
        token_type_ids: &batch.token_type_ids,
        attention_mask: &batch.attention_mask,
        extra_embeddings: None,
    };
    // Without attentions to collect, inference takes its fastest path (the fused layer
    // with `--features blas`): it must agree with the reference just as well.
    let fast = bert.forward(
        &inputs,
        Collect { hidden_states: true, attentions: false, ..Collect::default() },
        false,
    );
    for (i, h) in fast.unwrap().hidden_states.iter().enumerate() {
        let d =
            max_diff_masked(h, &reference[&format!("hidden_states.{i}")], &batch.attention_mask);
        assert!(d < 1e-4, "inference path, hidden_states.{i}: max |diff| {d}");
    }
    // The [CLS]-only last layer (what a CLS-pooling head asks for) gives position 0 of
    // the reference's last layer, `[batch, 1, hidden]`.
    let first =
        bert.forward(&inputs, Collect { first_token_only: true, ..Collect::default() }, false);
    let first = first.unwrap().last_hidden_state;
    let want = reference["hidden_states.6"].narrow(1, 0, 1).unwrap();
    assert_eq!(first.dims(), want.dims());
    let d = (first - want).unwrap().abs().unwrap().flatten_all().unwrap();
    let d = d.max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(d < 1e-4, "first-token last layer: max |diff| {d}");
    let out = bert
        .forward(
            &inputs,
            Collect { hidden_states: true, attentions: true, ..Collect::default() },
            false,
        )
        .unwrap();
    assert_eq!(out.hidden_states.len(), 7);
    assert_eq!(out.attention_probs.len(), 6);
    let mut worst = 0f32;
    for (i, h) in out.hidden_states.iter().enumerate() {
        let d =
            max_diff_masked(h, &reference[&format!("hidden_states.{i}")], &batch.attention_mask);
        assert!(d < 1e-4, "hidden_states.{i}: max |diff| {d}");
        worst = worst.max(d);
    }
    for (i, p) in out.attention_probs.iter().enumerate() {
        // Compare every head's rows for real query tokens: [batch, heads, seq, seq].
        let p = p.transpose(1, 2).unwrap();
        let r = reference[&format!("attentions.{i}")].transpose(1, 2).unwrap();
        let d = max_diff_masked(&p, &r, &batch.attention_mask);
        assert!(d < 1e-4, "attentions.{i}: max |diff| {d}");
        worst = worst.max(d);
    }
    let pooled =
        l2_normalize(&mean_pool(&out.last_hidden_state, &batch.attention_mask).unwrap()).unwrap();
    let d = (pooled - &reference["mean_pooled_normalized"]).unwrap().abs().unwrap();
    let d = d.flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(d < 1e-4, "mean_pooled_normalized: max |diff| {d}");
    eprintln!("parity: worst max |diff| over hidden states and attentions {worst:e}; pooled {d:e}");
    assert_eq!(out.attention_scores[0].dims(), [5, 12, 44, 44]);
}

/// Save -> load keeps every weight: the same scores, bit for bit.
#[test]
fn multiple_choice_save_load_round_trip() {
    use kgqa::model::head::{MultipleChoice, Question};
    if !enabled() {
        return;
    }
    let dev = device();
    let dir = model_dir();
    let mut model = MultipleChoice::load(&dir, &dev).unwrap();
    let choices: Vec<String> = ["garden shed", "kitchen", "ocean"].map(String::from).to_vec();
    let q = Question {
        question: "Where would you find a trowel?",
        passage: None,
        choices: &choices,
        facts: &[],
        concept_texts: &[],
        mentions: &[],
    };
    // The untrained head scores every choice alike.
    let uniform = model.score(&q).unwrap();
    assert!(uniform.iter().all(|p| (p - 1.0 / 3.0).abs() < 1e-6), "{uniform:?}");
    let w = Tensor::randn(0f32, 0.5, (1, 384), &dev).unwrap();
    let b = Tensor::new(&[0.1f32], &dev).unwrap();
    model.set_classifier(w, b).unwrap();
    let before = model.score(&q).unwrap();
    assert!((before.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let saved = tempfile::tempdir().unwrap();
    model.save(saved.path(), &dir.join("tokenizer.json")).unwrap();
    let loaded = MultipleChoice::load(saved.path(), &dev).unwrap();
    assert_eq!(loaded.score(&q).unwrap(), before);
    // Facts go into the second segment and change the scores of a model with input
    // fusion; a model without it (this one) does not read them.
    let facts = vec![vec!["trowel is used for dig".to_owned()], vec![], vec![]];
    let with_facts = Question { facts: &facts, ..q };
    assert_eq!(loaded.score(&with_facts).unwrap(), before);
    let (input, _) =
        MultipleChoice::load_trainable(saved.path(), &dev, 0, |h| h.fusion.input = true).unwrap();
    // (Trainable weights take the composed path: equal within float error.)
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(close(&input.score(&q).unwrap(), &before));
    assert!(!close(&input.score(&with_facts).unwrap(), &before));
}

/// `kgqa ask --json` with the base encoder answers with one probability per choice.
#[test]
fn ask_cli_json() {
    if !enabled() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["ask", "--json", "We dug the ground to plant flowers. What did we dig with?"])
        .args(["--choices", "trowel, excavator,spoon"])
        .arg("--model")
        .arg(model_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    assert_eq!(choices[1]["text"], "excavator");
    assert_eq!(v["answer"], "trowel"); // untrained head: uniform, the first wins ties
    assert_eq!(v["trained_head"], false);
    // Explained: facts per choice, grounded concepts, per-stage timings.
    assert_eq!(choices[0]["facts"][0]["text"], "trowel is used for dig");
    assert_eq!(v["question_concepts"][0]["form"], "dig");
    for stage in ["ground_ms", "retrieve_ms", "fuse_ms", "score_ms", "total_ms"] {
        assert!(v["timings"][stage].as_f64().is_some(), "{stage}");
    }
    let no_kg = std::process::Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["ask", "--json", "--no-kg", "What did we dig with?", "--choices", "trowel,spoon"])
        .arg("--model")
        .arg(model_dir())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&no_kg.stdout).unwrap();
    assert_eq!(v["used_kg"], false);
    assert_eq!(v["choices"][0]["facts"].as_array().unwrap().len(), 0);
    let err = std::process::Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["ask", "Q?", "--choices", "only one", "--model"])
        .arg(model_dir())
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("at least two"));
}

/// all-mpnet-base-v2 (`scripts/fetch-model.sh all-mpnet-base-v2`, or `KGQA_MPNET_MODEL`)
/// against Hugging Face's PyTorch MPNet (`tests/data/mpnet-parity/`, written by
/// `scripts/mpnet-parity-fixture.py`): the tokenizer's `<s> A </s></s> B </s>` pairs, the
/// relative position buckets, and hidden states and attentions within 1e-4 on both
/// inference paths.
#[test]
fn mpnet_matches_pytorch() {
    if !enabled() {
        return;
    }
    let dev = device();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mpnet-parity");
    let reference =
        candle_core::safetensors::load(fixture.join("reference.safetensors"), &dev).unwrap();
    let dir = std::env::var_os("KGQA_MPNET_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| kgqa::model::default_base_model().with_file_name("all-mpnet-base-v2"));
    assert!(
        dir.join("model.safetensors").is_file(),
        "no MPNet at {} (run scripts/fetch-model.sh all-mpnet-base-v2)",
        dir.display()
    );
    let buckets = reference["buckets"].to_vec1::<i64>().unwrap();
    for (i, want) in buckets.iter().enumerate() {
        let relative = i as i64 - 600;
        assert_eq!(kgqa::model::mpnet::bucket(relative, 32) as i64, *want, "bucket of {relative}");
    }
    let inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("inputs.json")).unwrap())
            .unwrap();
    let pairs: Vec<(String, String)> = inputs["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["text"].as_str().unwrap().into(), p["text_pair"].as_str().unwrap().into()))
        .collect();
    let encoder = PairEncoder::from_file(&dir.join("tokenizer.json"), 64).unwrap();
    let batch = encoder.encode(&pairs, &dev).unwrap();
    let ids = |name: &str| reference[name].to_dtype(DType::U32).unwrap().to_vec2::<u32>().unwrap();
    assert_eq!(batch.input_ids.to_vec2::<u32>().unwrap(), ids("input_ids"));
    assert_eq!(batch.attention_mask.to_vec2::<u32>().unwrap(), ids("attention_mask"));

    let model = load_bert(&dir, &dev).unwrap();
    let inputs = Inputs {
        input_ids: &batch.input_ids,
        token_type_ids: &batch.token_type_ids,
        attention_mask: &batch.attention_mask,
        extra_embeddings: None,
    };
    let mut worst = 0f32;
    for attentions in [false, true] {
        let collect = Collect { hidden_states: true, attentions, ..Collect::default() };
        let out = model.forward(&inputs, collect, false).unwrap();
        assert_eq!(out.hidden_states.len(), 13);
        for i in [0, 6, 12] {
            let want = &reference[&format!("hidden_states.{i}")];
            let d = max_diff_masked(&out.hidden_states[i], want, &batch.attention_mask);
            assert!(d < 1e-4, "attentions {attentions}, hidden_states.{i}: max |diff| {d}");
            worst = worst.max(d);
        }
        if attentions {
            let p = out.attention_probs[11].transpose(1, 2).unwrap();
            let r = reference["attentions.11"].transpose(1, 2).unwrap();
            let d = max_diff_masked(&p, &r, &batch.attention_mask);
            assert!(d < 1e-4, "attentions.11: max |diff| {d}");
        }
    }
    let first = Collect { first_token_only: true, ..Collect::default() };
    let first = model.forward(&inputs, first, false).unwrap().last_hidden_state;
    let want = reference["hidden_states.12"].narrow(1, 0, 1).unwrap();
    let d = (first - want).unwrap().abs().unwrap().flatten_all().unwrap();
    let d = d.max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(d < 1e-4, "first-token last layer: max |diff| {d}");
    eprintln!("mpnet parity: worst max |diff| over hidden states {worst:e}");
}
