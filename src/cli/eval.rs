//! `kgqa eval`: accuracy (with its 95% interval) and per-question latency of a model on a
//! CommonsenseQA-format question set, as a table or JSON, and optionally each question's
//! prediction.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kgqa::eval::dataset::Split;
use kgqa::model::head::MultipleChoice;

use super::data::DataArgs;

/// Arguments of `kgqa eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Also write one JSON line per question (id, gold answer, predicted choice, choice
    /// probabilities) to this file: what `scripts/compare-predictions.py` pairs up.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Score every question with its facts withheld (the model alone, for a model that
    /// reads them): with `--predictions`, what the graph changes, question by question.
    #[arg(long)]
    pub withhold_facts: bool,
}

/// Runs `kgqa eval`.
pub fn eval(args: &EvalArgs, precision: kgqa::model::kernels::Precision) -> anyhow::Result<()> {
    let mut model = MultipleChoice::load(&args.model, &kgqa::model::device())
        .with_context(|| format!("loading {}", args.model.display()))?;
    model.set_precision(precision).context("choosing the products' precision")?;
    let fusion = model.head().fusion;
    let data = args.data.spec();
    let items = data.items(Split::Unlisted)?;
    let examples = if args.withhold_facts {
        let bare = |i: &kgqa::eval::dataset::Item| kgqa::eval::batch::Example::new(i, None, fusion);
        let examples: Option<Vec<_>> = items.iter().map(bare).collect();
        examples.context("every question needs its answerKey")?
    } else {
        data.examples(&items, fusion)?
    };
    let predicted = kgqa::eval::batch::predict(&model, &items, &examples)?;
    let correct = predicted.iter().filter(|(p, _)| p.predicted == p.answer).count();
    let mut ms: Vec<f64> = predicted.iter().map(|(_, ms)| *ms).collect();
    if let Some(path) = &args.predictions {
        let lines: Vec<String> =
            predicted.iter().map(|(p, _)| serde_json::to_string(p)).collect::<Result<_, _>>()?;
        std::fs::write(path, lines.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let n = examples.len().max(1);
    let mean = ms.iter().sum::<f64>() / n as f64;
    ms.sort_by(f64::total_cmp);
    let p50 = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    let parameters = model.parameters();
    let (low, high) = kgqa::eval::stats::wilson_interval(correct, examples.len());
    let report = serde_json::json!({
        "model": args.model.display().to_string(),
        "fusion": fusion.name(),
        "questions": examples.len(),
        "correct": correct,
        "accuracy": correct as f64 / n as f64,
        "accuracy_ci95": [low, high],
        "parameters": parameters,
        "ms_per_question_mean": mean,
        "ms_per_question_p50": p50,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "| model | fusion | accuracy (95% interval) | parameters | ms per question (mean, p50) |\n|---|---|---|---|---|\n| {} | {} | {:.2}% ({correct}/{}; {:.1}-{:.1}%) | {:.1}M | {mean:.1}, {p50:.1} |",
            args.model.display(),
            fusion.name(),
            100.0 * correct as f64 / n as f64,
            examples.len(),
            100.0 * low,
            100.0 * high,
            parameters as f64 / 1e6
        );
    }
    Ok(())
}
