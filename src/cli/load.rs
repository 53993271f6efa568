//! `kgqa load FILE... --store DIR` and `kgqa load --check --store DIR`.

#[cfg(feature = "rocksdb")]
use std::path::{Path, PathBuf};

use clap::Args;
use kgqa::kg::load::{Format, Languages, LoadOptions};

/// Arguments of `kgqa load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Input files (`.gz` is read as it streams) or WordNet database folders.
    #[arg(required_unless_present = "check")]
    pub files: Vec<PathBuf>,
    /// Load nothing: read the store's live generation whole (every statement and index of
    /// the database, the lexicon, the concept index) and report whether it is intact.
    #[arg(long, conflicts_with = "files")]
    pub check: bool,
    /// Force the format of every input: ntriples, nquads, turtle, trig, rdfxml, conceptnet,
    /// tsv, wordnet. By default it is told from the file name.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Languages kept from ConceptNet 5 dumps: a code, a comma-separated list, or `all`.
    #[arg(long, default_value = "en")]
    pub lang: String,
    /// Skip malformed records (and report how many and why) instead of aborting.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Provenance name recorded on edges of inputs that carry none (default: file stem).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name)
        .ok_or_else(|| format!("unknown format {name:?}; expected one of {}", Format::NAMES))
}

/// Runs `kgqa load`.
pub fn run(graph_args: &super::GraphArgs, args: &LoadArgs) -> anyhow::Result<()> {
    if graph_args.lexicon.is_some() {
        anyhow::bail!("--lexicon: kgqa load builds the store's own lexicon");
    }
    let Some(store) = graph_args.store.as_deref() else {
        anyhow::bail!("kgqa load needs --store DIR (the embedded default graph is read-only)");
    };
    if super::endpoint_url(store).is_some() {
        anyhow::bail!(
            "--store {}: kgqa load writes to a store folder; a SPARQL endpoint is read-only \
             here (load into the endpoint with its own tools)",
            store.display()
        );
    }
    let options = LoadOptions {
        format: args.format,
        languages: Languages::parse(&args.lang),
        skip_invalid: args.skip_invalid,
        dataset: args.dataset.clone(),
        progress: !args.quiet && !args.json,
    };
    if args.check {
        return check_dir(store, args.json);
    }
    load_dir(store, &args.files, &options, args.json)
}

#[cfg(feature = "rocksdb")]
fn check_dir(store: &Path, json: bool) -> anyhow::Result<()> {
    let report = kgqa::kg::store::check(store)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: generation {} is intact: {} statements, {} lexicon forms, {} indexed concepts \
             (checked in {:.1} s)",
            store.display(),
            report.generation,
            report.statements,
            report.lexicon_entries,
            report.index_concepts.map_or("no".into(), |n| n.to_string()),
            report.seconds
        );
    }
    Ok(())
}

#[cfg(not(feature = "rocksdb"))]
fn check_dir(store: &Path, _: bool) -> anyhow::Result<()> {
    anyhow::bail!("{}: on-disk stores need the `rocksdb` feature", store.display())
}

#[cfg(feature = "rocksdb")]
fn load_dir(
    store: &Path,
    files: &[PathBuf],
    options: &LoadOptions,
    json: bool,
) -> anyhow::Result<()> {
    let report = kgqa::kg::store::load_into_dir(store, files, options)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

#[cfg(not(feature = "rocksdb"))]
fn load_dir(store: &Path, _: &[PathBuf], _: &LoadOptions, _: bool) -> anyhow::Result<()> {
    anyhow::bail!("{}: on-disk stores need the `rocksdb` feature", store.display())
}
