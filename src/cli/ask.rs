//! `kgqa ask QUESTION --choices a,b,c`: scores each choice with a multiple-choice model.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use kgqa::model::head::{MultipleChoice, Question};
use serde::Serialize;

/// Arguments of `kgqa ask`.
#[derive(Args, Debug)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// The candidate answers, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub choices: Vec<String>,
    /// Context put before the question.
    #[arg(long)]
    pub passage: Option<String>,
    /// A model folder (config.json, tokenizer.json, model.safetensors[, kgqa.json]). By
    /// default the base encoder fetched by scripts/fetch-model.sh.
    #[arg(long, env = "KGQA_MODEL")]
    pub model: Option<PathBuf>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Choice<'a> {
    text: &'a str,
    probability: f32,
}

#[derive(Serialize)]
struct Answer<'a> {
    question: &'a str,
    answer: &'a str,
    choices: Vec<Choice<'a>>,
    model: String,
    trained_head: bool,
    load_ms: f64,
    score_ms: f64,
}

/// Runs `kgqa ask`.
pub fn run(_store: Option<&Path>, args: &AskArgs) -> anyhow::Result<()> {
    let choices: Vec<String> =
        args.choices.iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
    if choices.len() < 2 {
        anyhow::bail!("--choices needs at least two non-empty answers, comma-separated");
    }
    let dir = args.model.clone().unwrap_or_else(kgqa::model::default_base_model);
    if !dir.join("model.safetensors").is_file() {
        anyhow::bail!(
            "no model at {} (run scripts/fetch-model.sh for the base encoder, or pass --model DIR)",
            dir.display()
        );
    }
    let t = Instant::now();
    let model = MultipleChoice::load(&dir, &kgqa::model::device())
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let probs = model.score(&Question {
        question: &args.question,
        passage: args.passage.as_deref(),
        choices: &choices,
        facts: &[],
    })?;
    let score_ms = t.elapsed().as_secs_f64() * 1e3;
    // The first of the most probable choices.
    let best = (0..probs.len()).fold(0, |best, i| if probs[i] > probs[best] { i } else { best });
    let answer = Answer {
        question: &args.question,
        answer: &choices[best],
        choices: choices
            .iter()
            .zip(&probs)
            .map(|(c, p)| Choice { text: c, probability: *p })
            .collect(),
        model: dir.display().to_string(),
        trained_head: model.head().trained,
        load_ms,
        score_ms,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
        return Ok(());
    }
    writeln!(out, "answer: {}", answer.answer)?;
    for c in &answer.choices {
        writeln!(out, "  {:>6.2}%  {}", c.probability * 100.0, c.text)?;
    }
    if !answer.trained_head {
        writeln!(out, "(untrained answer head: the probabilities mean nothing yet)")?;
    }
    Ok(())
}
