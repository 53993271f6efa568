//! Where a command's questions come from (`--dataset`, `--ids`, `--facts`, `--limit`),
//! shared by `train`, `distill` and `eval`: the library's [`DataSpec`] as arguments.

use std::path::PathBuf;

use clap::Args;
use kgqa::train::data::DataSpec;

/// Where the questions come from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// A CommonsenseQA-format JSONL file.
    #[arg(long)]
    pub dataset: PathBuf,
    /// A file of question ids: `kgqa train` trains on the listed ones, `kgqa eval` tests on
    /// the unlisted ones (the CommonsenseQA in-house split).
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// The retrieval cache (`kgqa retrieve`), needed for input or entity fusion.
    #[arg(long)]
    pub facts: Option<PathBuf>,
    /// Use only the first N questions (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
}

impl DataArgs {
    /// The library's description of the same questions.
    pub fn spec(&self) -> DataSpec {
        DataSpec {
            dataset: self.dataset.clone(),
            ids: self.ids.clone(),
            facts: self.facts.clone(),
            limit: self.limit,
        }
    }
}
