//! `kgqa average`: the uniform average of the weights of several models of one shape.

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
    /// The folder to write the averaged model to (F32 weights).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `kgqa average`.
pub fn run(args: &AverageArgs) -> anyhow::Result<()> {
    if args.model.iter().any(|m| m == &args.out) {
        anyhow::bail!("out: {} is also one of the models", args.out.display());
    }
    let dirs: Vec<&std::path::Path> = args.model.iter().map(|m| m.as_path()).collect();
    let model =
        MultipleChoice::average(&dirs, &kgqa::model::device()).context("averaging the models")?;
    model
        .save(&args.out, &args.model[0].join("tokenizer.json"))
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{} models averaged -> {}", args.model.len(), args.out.display());
    Ok(())
}
