//! `kgqa average`: the average of the weights of several models of one shape, uniform or
//! weighted.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kgqa::model::head::MultipleChoice;

/// Arguments of `kgqa average`.
#[derive(Args, Debug)]
pub struct AverageArgs {
    /// A model folder; repeat for each model to average (same configuration and head,
    /// e.g. the `evaluations/step-*` folders of a run with `--keep-evaluations`).
    #[arg(long, required = true)]
    pub model: Vec<PathBuf>,
    /// Each model's weight in the average, in the order of `--model` (one per model;
    /// default: all equal). They need not sum to 1: the average divides by their sum.
    #[arg(long)]
    pub weight: Vec<f64>,
    /// The folder to write the averaged model to (F32 weights).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `kgqa average`.
pub fn run(args: &AverageArgs) -> anyhow::Result<()> {
    if args.model.iter().any(|m| m == &args.out) {
        anyhow::bail!("out: {} is also one of the models", args.out.display());
    }
    if !args.weight.is_empty() && args.weight.len() != args.model.len() {
        anyhow::bail!(
            "weight: {} weights for {} models (give one per --model, or none)",
            args.weight.len(),
            args.model.len()
        );
    }
    let weight = |i: usize| args.weight.get(i).copied().unwrap_or(1.0);
    let members: Vec<(&std::path::Path, f64)> =
        args.model.iter().enumerate().map(|(i, m)| (m.as_path(), weight(i))).collect();
    let model = MultipleChoice::average_weighted(&members, &kgqa::model::device())
        .context("averaging the models")?;
    model
        .save(&args.out, &args.model[0].join("tokenizer.json"))
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{} models averaged -> {}", args.model.len(), args.out.display());
    Ok(())
}
