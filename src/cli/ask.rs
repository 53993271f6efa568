//! `kgqa ask QUESTION [--choices a,b,c]`: answers with the engine and explains the answer.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kgqa::engine::{Engine, Options, Request, Response};
use kgqa::model::head::MultipleChoice;
use kgqa::model::kernels::Precision;

/// Arguments of `kgqa ask`.
#[derive(Args, Debug)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// The candidate answers, comma-separated. Without them the graph proposes candidates
    /// and the model re-ranks them.
    #[arg(long, value_delimiter = ',')]
    pub choices: Vec<String>,
    /// Context put before the question.
    #[arg(long)]
    pub passage: Option<String>,
    /// A model folder (config.json, tokenizer.json, model.safetensors[, kgqa.json]). By
    /// default the shipped student: `data/models/student` in the current directory, above
    /// the executable or in the source tree it was built from; else the base encoder
    /// fetched by scripts/fetch-model.sh. `--json` output names the folder used.
    #[arg(long, env = "KGQA_MODEL")]
    pub model: Option<PathBuf>,
    /// Answer with the language model alone (no graph).
    #[arg(long)]
    pub no_kg: bool,
    /// Facts kept per choice.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Candidates proposed for open-ended questions.
    #[arg(long, default_value_t = 10)]
    pub candidates: usize,
    /// JSON output (everything, with per-stage timings).
    #[arg(long)]
    pub json: bool,
}

/// Loads the model folder `dir`, or `None` when it is absent and `optional` is set.
pub fn load_model(
    dir: &Path,
    optional: bool,
    precision: Precision,
) -> anyhow::Result<Option<(PathBuf, MultipleChoice)>> {
    if !dir.join("model.safetensors").is_file() {
        if optional {
            return Ok(None);
        }
        anyhow::bail!(
            "no model at {} (run scripts/fetch-model.sh for the base encoder, or pass --model DIR)",
            dir.display()
        );
    }
    let mut model = MultipleChoice::load(dir, &kgqa::model::device())
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    model.set_precision(precision).context("choosing the products' precision")?;
    Ok(Some((dir.to_path_buf(), model)))
}

/// Runs `kgqa ask`.
pub fn run(
    graph_args: &super::GraphArgs,
    args: &AskArgs,
    precision: Precision,
) -> anyhow::Result<()> {
    let choices: Vec<String> =
        args.choices.iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
    let dir = args.model.clone().unwrap_or_else(kgqa::model::default_model);
    // Open-ended questions can be answered from the graph alone. The model loads while
    // the graph opens (a one-off question waits for the slower of the two).
    let optional = choices.is_empty() && args.model.is_none();
    let (model, graph) = std::thread::scope(|s| {
        let model = s.spawn(|| load_model(&dir, optional, precision));
        let graph = super::open_graph(graph_args);
        (model.join().expect("model loading panicked"), graph)
    });
    let (model, graph) = (model?, graph?);
    let mut options = Options::default();
    options.retrieve.top_k = args.top_k;
    options.candidates = args.candidates;
    let engine = Engine::new(graph, model, options)?;
    let response = engine.ask(&Request {
        question: args.question.clone(),
        passage: args.passage.clone(),
        choices,
        no_kg: args.no_kg,
    })?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&response)?)?;
        return Ok(());
    }
    write_text(&response, &mut out)?;
    Ok(())
}

fn write_text(r: &Response, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "answer: {}", r.answer)?;
    let concepts: Vec<&str> = r.question_concepts.iter().map(|m| m.form.as_str()).collect();
    writeln!(out, "question concepts: {}", concepts.join(", "))?;
    for c in &r.choices {
        match c.graph_score {
            Some(s) => writeln!(
                out,
                "  {:>6.2}%  {}  (graph score {s:.3})",
                c.probability * 100.0,
                c.text
            )?,
            None => writeln!(out, "  {:>6.2}%  {}", c.probability * 100.0, c.text)?,
        }
        for f in &c.facts {
            writeln!(out, "            - {} ({:.3})", f.text, f.score)?;
        }
        for d in c.definitions.iter().take(1) {
            writeln!(out, "            = {}", d.text)?;
        }
    }
    if r.model.is_none() {
        writeln!(out, "(no model: candidates ranked by the graph alone)")?;
    } else if !r.trained_head {
        writeln!(out, "(untrained answer head: the probabilities mean nothing yet)")?;
    }
    Ok(())
}
