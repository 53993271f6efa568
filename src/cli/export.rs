//! `kgqa export`: a model folder stored again in a smaller form (F16 weights, 8-bit word
//! embeddings), the way the shipped student is made.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kgqa::model::head::MultipleChoice;

/// Arguments of `kgqa export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the exported folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Store the weights in half precision (half the size; computed in F32).
    #[arg(long)]
    pub fp16: bool,
    /// Store the word embeddings as row-wise 8-bit codes (a quarter of their F32 size).
    #[arg(long)]
    pub int8_embeddings: bool,
    /// Store the encoder layers' matrices as row-wise 8-bit codes too: the codes the int8
    /// products (`--precision int8`, the default on CPUs with AVX-512 VNNI) run on, so
    /// the folder answers as the int8 path of the original does; the f32 path reads them
    /// back as F32.
    #[arg(long)]
    pub int8: bool,
}

/// Runs `kgqa export`.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let model = MultipleChoice::load(&args.model, &kgqa::model::device())
        .with_context(|| format!("loading {}", args.model.display()))?;
    let storage = if args.fp16 { candle_core::DType::F16 } else { candle_core::DType::F32 };
    let mut int8: Vec<&str> = Vec::new();
    if args.int8_embeddings {
        int8.push("embeddings.word_embeddings.weight");
    }
    if args.int8 {
        int8.extend(model.layer_matrices());
    }
    model.save_as(&args.out, &args.model.join("tokenizer.json"), &[], storage, &int8)?;
    let bytes: u64 = std::fs::read_dir(&args.out)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{} -> {} ({:.1} MB, {} parameters)",
        args.model.display(),
        args.out.display(),
        bytes as f64 / 1e6,
        model.parameters()
    );
    Ok(())
}
