//! `kgqa concept TEXT`: what a phrase grounds to, and the graph around it.

use std::io::Write;

use clap::Args;
use kgqa::kg::query;

/// Arguments of `kgqa concept`.
#[derive(Args, Debug)]
pub struct ConceptArgs {
    /// A word, phrase or sentence.
    pub text: String,
    /// Neighbours shown per concept and direction.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Concepts shown per mention.
    #[arg(long, default_value_t = 3)]
    pub senses: usize,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kgqa concept`.
pub fn run(graph_args: &super::GraphArgs, args: &ConceptArgs) -> anyhow::Result<()> {
    let graph = super::open_graph(graph_args)?;
    let retriever = kgqa::kg::retrieve::Retriever::new(Default::default())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let found = query::look_up(&graph, &retriever, &args.text, args.senses, args.limit)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?;
        return Ok(());
    }
    let (views, diagnostics) = (&found.mentions, &found.diagnostics);
    if views.is_empty() {
        writeln!(out, "no concept found in {:?}", args.text)?;
    }
    for m in views {
        writeln!(out, "{:?} -> {}", m.text, m.form)?;
        for c in &m.concepts {
            writeln!(out, "  {}", c.iri)?;
            for d in &c.definitions {
                writeln!(out, "    definition: {d}")?;
            }
            for n in &c.neighbours {
                let rel = kgqa::kg::vocab::local_name(&n.relation);
                if n.outgoing {
                    writeln!(out, "    --{rel}--> {} ({:.2})", n.label, n.weight)?;
                } else {
                    writeln!(out, "    <--{rel}-- {} ({:.2})", n.label, n.weight)?;
                }
            }
        }
    }
    for d in diagnostics {
        writeln!(out, "(not grounded: {:?} at byte {}: {})", d.word, d.start, d.message)?;
    }
    Ok(())
}
