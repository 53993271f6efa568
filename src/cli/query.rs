//! `kgqa query 'SPARQL'`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kgqa::kg::query;

/// Arguments of `kgqa query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The query text, `-` to read it from standard input, or `@FILE`. Prefixes rdf, rdfs,
    /// xsd, skos, cn (English ConceptNet concepts), r (relations), kgqa, wn and wnid are
    /// predeclared.
    pub sparql: String,
    /// SPARQL 1.1 JSON results instead of a table (graphs stay N-Triples).
    #[arg(long)]
    pub json: bool,
}

/// Runs `kgqa query`.
pub fn run(graph_args: &super::GraphArgs, args: &QueryArgs) -> anyhow::Result<()> {
    let text = if args.sparql == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading the query from standard input")?;
        s
    } else if let Some(path) = args.sparql.strip_prefix('@') {
        let path = PathBuf::from(path);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
    } else {
        args.sparql.clone()
    };
    let graph = super::open_graph(graph_args)?;
    let answer = query::run(&graph, &text)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        query::write_json(&answer, &mut out)?;
    } else {
        query::write_text(&answer, &mut out)?;
    }
    Ok(())
}
