//! Real-data tier: entity-embedding fusion with the base model and the embedded graph. The
//! vectors added to the encoder's input land exactly on the word pieces of the grounded
//! mentions, and change the embedding output there and nowhere else.

mod common;

use candle_core::{DType, Device, Tensor};
use kgqa::kg::Graph;
use kgqa::kg::retrieve::{Options, Retriever};
use kgqa::knowledge::Knowledge;
use kgqa::model::fusion::Segment;
use kgqa::model::head::{MultipleChoice, Question};
use kgqa::model::{Collect, Inputs};

use common::enabled;

fn model_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("KGQA_BASE_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(kgqa::model::default_base_model);
    assert!(dir.join("model.safetensors").is_file(), "no base model at {}", dir.display());
    dir
}

/// `[rows, seq]`: 1.0 where the row's vector at that position is not all zero.
fn nonzero_positions(t: &Tensor) -> Vec<Vec<bool>> {
    let sums = t.abs().unwrap().sum(2).unwrap().to_vec2::<f32>().unwrap();
    sums.into_iter().map(|r| r.into_iter().map(|s| s > 1e-6).collect()).collect()
}

#[test]
fn fusion_changes_the_input_exactly_at_mentions() {
    if !enabled() {
        return;
    }
    let device = Device::Cpu;
    let mut model = MultipleChoice::load(&model_dir(), &device).unwrap();
    let h = model.bert().config().hidden_size;
    model.set_entity_projection(
        Tensor::eye(h, DType::F32, &device).unwrap(),
        Tensor::zeros(h, DType::F32, &device).unwrap(),
    );
    let graph = Graph::embedded().unwrap();
    let retriever = Retriever::new(Options::default()).unwrap();
    let question = "We dug the ground to plant flowers. What did we dig with?";
    let choices = ["trowel".to_string(), "big spoon".to_string()];
    let pairs: Vec<(String, Option<String>)> = choices.iter().map(|c| (c.clone(), None)).collect();
    let k = Knowledge::gather(&graph, &retriever, question, None, &pairs, true).unwrap();
    let (texts, mentions) = k.entity_inputs();
    assert!(texts.iter().any(|t| t.starts_with("trowel: a small hand tool")), "{texts:?}");
    let q = Question {
        question,
        passage: None,
        choices: &choices,
        facts: &[],
        concept_texts: &texts,
        mentions: &mentions,
    };
    let encoded = model.encode(&q).unwrap();
    let extra = encoded.extra.as_ref().expect("entity fusion is on");
    let got = nonzero_positions(extra);
    for (row, pieces) in encoded.batch.pieces.iter().enumerate() {
        for (position, p) in pieces.iter().enumerate() {
            let inside = mentions[row].iter().any(|m| {
                let sequence = if m.segment == Segment::Question { 0 } else { 1 };
                p.sequence == Some(sequence) && p.start < m.end && m.start < p.end
            });
            assert_eq!(got[row][position], inside, "row {row} piece {position} {p:?}");
        }
    }
    // "dug" (question) and "trowel" (choice) are fused; "big spoon" grounds to nothing here.
    assert!(got[0].iter().filter(|&&b| b).count() >= 5);
    let question_only = got[1].iter().filter(|&&b| b).count();
    let with_choice = got[0].iter().filter(|&&b| b).count();
    assert!(with_choice > question_only);

    // The embedding output changes exactly where the vectors were added.
    let batch = &encoded.batch;
    let forward = |extra: Option<&Tensor>| {
        model
            .bert()
            .forward(
                &Inputs {
                    input_ids: &batch.input_ids,
                    token_type_ids: &batch.token_type_ids,
                    attention_mask: &batch.attention_mask,
                    extra_embeddings: extra,
                },
                Collect { hidden_states: true, attentions: false, ..Collect::default() },
                false,
            )
            .unwrap()
    };
    let plain = forward(None);
    let fused = forward(Some(extra));
    let diff = (&fused.hidden_states[0] - &plain.hidden_states[0]).unwrap();
    assert_eq!(nonzero_positions(&diff), got);
    // Through attention, every position of the last layer feels it.
    let last = (&fused.last_hidden_state - &plain.last_hidden_state).unwrap();
    assert!(nonzero_positions(&last)[0].iter().all(|&b| b));

    // Saved and loaded, the (frozen) model caches concept vectors: same scores, with the
    // second question's concepts read from the cache.
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path(), &model_dir().join("tokenizer.json")).unwrap();
    let loaded = MultipleChoice::load(dir.path(), &device).unwrap();
    let uncached = model.score(&q).unwrap();
    for _ in 0..2 {
        let cached = loaded.score(&q).unwrap();
        for (a, b) in cached.iter().zip(&uncached) {
            assert!((a - b).abs() < 1e-5, "{cached:?} vs {uncached:?}");
        }
    }
    let distinct: std::collections::HashSet<&String> = texts.iter().collect();
    assert_eq!(loaded.cached_concepts(), distinct.len());
    assert_eq!(model.cached_concepts(), 0);
}

/// The engine feeds an entity-fusion model its concept texts and mentions (and an
/// input-fusion model its facts) and answers.
#[test]
fn engine_runs_models_of_each_fusion() {
    if !enabled() {
        return;
    }
    use kgqa::engine::{Engine, Options, Request};
    for fusion in
        [r#"{"fusion": {"entity": true}}"#, r#"{"fusion": {"input": true, "entity": true}}"#]
    {
        let dir = tempfile::tempdir().unwrap();
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::copy(model_dir().join(file), dir.path().join(file)).unwrap();
        }
        std::fs::write(dir.path().join("kgqa.json"), fusion).unwrap();
        let model = MultipleChoice::load(dir.path(), &Device::Cpu).unwrap();
        assert!(model.head().fusion.entity);
        let engine = Engine::new(
            Graph::embedded().unwrap(),
            Some((dir.path().into(), model)),
            Options::default(),
        )
        .unwrap();
        let r = engine
            .ask(&Request {
                question: "We dug the ground to plant flowers. What did we dig with?".into(),
                choices: vec!["trowel".into(), "excavator".into()],
                ..Request::default()
            })
            .unwrap();
        assert_eq!(r.choices.len(), 2);
        assert!(r.timings.fuse_ms > 0.0);
        assert_eq!(r.choices[0].facts[0].text, "trowel is used for dig");
    }
}

/// Open-ended questions with a trained model rank the graph's candidates by the graph
/// score times the model's probability to a power (`engine::mix`). With a head that scores every candidate alike, that
/// is the graph's own order, and the probabilities are the graph scores normalized.
#[test]
fn open_ended_answers_weigh_the_model_by_the_graph() {
    if !enabled() {
        return;
    }
    use kgqa::engine::{Engine, Options, Request};
    let mut model = MultipleChoice::load(&model_dir(), &Device::Cpu).unwrap();
    model.set_trained(true); // a zero classifier: the model is uniform over candidates
    let engine =
        Engine::new(Graph::embedded().unwrap(), Some((model_dir(), model)), Options::default())
            .unwrap();
    let r = engine
        .ask(&Request {
            question: "We dug the ground to plant flowers. What did we dig with?".into(),
            ..Request::default()
        })
        .unwrap();
    assert!(r.open_ended && r.trained_head);
    assert_eq!(r.answer, "trowel");
    let scores: Vec<f64> = r.choices.iter().map(|c| c.graph_score.unwrap()).collect();
    let total: f64 = scores.iter().sum();
    for (c, s) in r.choices.iter().zip(&scores) {
        assert!((f64::from(c.probability) - s / total).abs() < 1e-5, "{}", c.text);
    }
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}
