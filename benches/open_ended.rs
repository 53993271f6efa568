//! Open-ended answering on held-out CommonsenseQA questions: the question alone goes to
//! the engine, which proposes candidates from the graph and ranks them; a question counts
//! when its gold answer is among the candidates and is ranked first. Prints, for several
//! values of `Options::model_weight` (graph score x model probability^w), how often the
//! gold answer comes first, so that the engine's default can be chosen on data the model
//! never trained on: the 500 training-file questions `kgqa train`/`distill` hold out
//! (same permutation, seed 0x5EED), never the in-house test split.
//!
//! Usage: cargo bench --bench open_ended -- STORE MODEL [QUESTIONS]
//! (`bash scripts/train-all.sh store` builds `runs/store`.)

use std::path::PathBuf;

use kgqa::engine::{Engine, Options, Request, mix};
use kgqa::eval::dataset::{self, Split};
use kgqa::kg::Graph;
use kgqa::model::head::MultipleChoice;

const WEIGHTS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

fn normalize(text: &str) -> String {
    let t = text.trim().to_lowercase();
    let t = t.strip_prefix("a ").or_else(|| t.strip_prefix("the ")).unwrap_or(&t);
    t.replace(['-', '_'], " ")
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let usage = "usage: open_ended STORE MODEL [QUESTIONS]";
    let store = PathBuf::from(args.get(1).expect(usage));
    let model_dir = PathBuf::from(args.get(2).expect(usage));
    let limit: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(500);
    let data = PathBuf::from(
        std::env::var("KGQA_DATASETS").unwrap_or_else(|_| "../shared/datasets".into()),
    )
    .join("commonsenseqa");
    let items = dataset::read_csqa(&data.join("train_rand_split.jsonl")).expect("dataset");
    let ids = dataset::read_ids(&data.join("inhouse_split_qids.txt")).expect("ids");
    let items = dataset::select(items, &ids, Split::Listed);
    let order = kgqa::train::data::permutation(items.len(), 0x5EED);
    let held_out = 500.min(items.len() / 5);
    let graph = Graph::open(&store).expect("store opens");
    let model = MultipleChoice::load(&model_dir, &kgqa::model::device()).expect("model loads");
    let options = Options { model_weight: 1.0, ..Options::default() };
    let engine = Engine::new(graph, Some((model_dir, model)), options).expect("engine");
    let (mut asked, mut covered) = (0usize, 0usize);
    let mut first = [0usize; WEIGHTS.len()];
    for &i in order[..held_out].iter().take(limit) {
        let item = &items[i];
        let Some(answer) = item.answer else { continue };
        let request = Request { question: item.question.clone(), ..Request::default() };
        let Ok(response) = engine.ask(&request) else { continue };
        asked += 1;
        let gold = normalize(&item.choices[answer]);
        let Some(g) = response.choices.iter().position(|c| normalize(&c.text) == gold) else {
            continue;
        };
        covered += 1;
        // With w = 1 the engine returned p_i * s_i / Z; the model's own probability is
        // proportional to that over the graph score s_i. Re-mix it at each weight.
        let scores: Vec<f64> =
            response.choices.iter().map(|c| c.graph_score.unwrap_or(0.0)).collect();
        let model: Vec<f32> = response
            .choices
            .iter()
            .zip(&scores)
            .map(|(c, &s)| if s > 0.0 { (f64::from(c.probability) / s) as f32 } else { 0.0 })
            .collect();
        for (k, &w) in WEIGHTS.iter().enumerate() {
            let mixed = mix(&model, &scores, w);
            let best = (0..mixed.len()).fold(0, |b, j| if mixed[j] > mixed[b] { j } else { b });
            first[k] += usize::from(best == g);
        }
    }
    println!(
        "held-out questions asked {asked}, gold answer among the candidates {covered} ({:.1}%)",
        100.0 * covered as f64 / asked.max(1) as f64
    );
    for (k, w) in WEIGHTS.iter().enumerate() {
        println!(
            "model_weight={w} gold_first={} of_covered={:.1}% of_asked={:.1}%",
            first[k],
            100.0 * first[k] as f64 / covered.max(1) as f64,
            100.0 * first[k] as f64 / asked.max(1) as f64
        );
    }
}
