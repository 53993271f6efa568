//! Where a command's questions come from (`--dataset`, `--ids`, `--facts`, `--limit`),
//! shared by `train`, `distill`, `eval` and the augmentation steps.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use kgqa::engine::Knowledge;
use kgqa::engine::dataset::{self, Item, Split};
use kgqa::model::fusion::Fusion;
use kgqa::train::data::Example;

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

/// The questions of `data` in `split` of its id list, at most `--limit` of them.
pub(super) fn load_items(data: &DataArgs, split: Split) -> anyhow::Result<Vec<Item>> {
    let items = dataset::read_csqa(&data.dataset)?;
    let mut items = match &data.ids {
        Some(ids) => dataset::select(items, &dataset::read_ids(ids)?, split),
        None => items,
    };
    if let Some(n) = data.limit {
        items.truncate(n);
    }
    Ok(items)
}

/// The questions as training examples, with their facts when `fusion` reads them.
pub(super) fn examples(
    data: &DataArgs,
    items: &[Item],
    fusion: Fusion,
) -> anyhow::Result<Vec<Example>> {
    let facts: HashMap<String, Knowledge> = match (&data.facts, fusion.reads_facts()) {
        (Some(path), true) => dataset::read_facts(path)?,
        (None, true) => {
            anyhow::bail!(
                "--facts: a model with {} fusion reads retrieved facts; give the cache \
                 `kgqa retrieve --out FACTS.jsonl` writes",
                fusion.name()
            )
        }
        _ => HashMap::new(),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let knowledge = facts.get(&item.id);
        if fusion.reads_facts() && knowledge.is_none() {
            anyhow::bail!(
                "{}: no facts for question {:?}",
                data.facts.as_ref().unwrap().display(),
                item.id
            );
        }
        match Example::new(item, knowledge, fusion) {
            Some(e) => out.push(e),
            None => anyhow::bail!("question {:?} has no answerKey", item.id),
        }
    }
    Ok(out)
}
