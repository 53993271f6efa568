//! `kgqa train` (fine-tune a multiple-choice teacher) and `kgqa distill` (train a smaller
//! student from one or more teachers).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kgqa::engine::dataset::Split;
use kgqa::model::fusion::Fusion;
use kgqa::model::head::MultipleChoice;
use kgqa::train::data::{Example, permutation};
use kgqa::train::distill::{self, Distill, DistillConfig, NarrowInit, build_student};
use kgqa::train::losses::every_other;
use kgqa::train::{self as trainer, TrainConfig};

use super::data::{DataArgs, examples, load_items};

/// How a narrower student starts (`kgqa distill --narrow-init`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NarrowStart {
    /// The teacher layers' weights at evenly spaced channels, heads and units.
    Select,
    /// BERT's random initialisation, drawn from the seed.
    Random,
}

impl From<NarrowStart> for NarrowInit {
    fn from(start: NarrowStart) -> Self {
        match start {
            NarrowStart::Select => NarrowInit::Select,
            NarrowStart::Random => NarrowInit::Random,
        }
    }
}

/// Which knowledge a model gets.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FusionArg {
    /// The language model alone.
    None,
    /// Facts and definitions appended to the choice segment.
    Input,
    /// Concept embeddings added at the mentions.
    Entity,
    /// Both.
    Both,
}

impl From<FusionArg> for Fusion {
    fn from(f: FusionArg) -> Self {
        match f {
            FusionArg::None => Fusion { input: false, entity: false },
            FusionArg::Input => Fusion { input: true, entity: false },
            FusionArg::Entity => Fusion { input: false, entity: true },
            FusionArg::Both => Fusion { input: true, entity: true },
        }
    }
}

/// Optimization settings shared by `train` and `distill`.
#[derive(Args, Debug)]
pub struct HyperArgs {
    /// The run folder (checkpoints, best model, log); an existing run resumes.
    #[arg(long)]
    pub run: PathBuf,
    /// Training questions held out to pick the best epoch (never the test split); with
    /// none (0, or fewer than 5 questions in all) the last epoch is kept.
    #[arg(long, default_value_t = 500)]
    pub held_out: usize,
    #[arg(long, default_value_t = 2)]
    /// Epochs.
    pub epochs: usize,
    /// Questions per step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    /// Share of steps warming up.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Gradient clipping norm.
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Longest input in word pieces.
    #[arg(long, default_value_t = 64)]
    pub max_length: usize,
    /// Seed (data order, dropout).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: u64,
    /// Steps between held-out evaluations inside an epoch, each able to become the kept
    /// best model (0: at epoch ends only).
    #[arg(long, default_value_t = 0)]
    pub eval_every: u64,
    /// Also keep every evaluated model in `RUN/evaluations/step-NNNNNN/` (to average them
    /// with `kgqa average`).
    #[arg(long)]
    pub keep_evaluations: bool,
    /// Which evaluated model becomes `RUN/best`: the most accurate on the held-out slice,
    /// or the last one (no pick, so its held-out figure is not biased by the pick).
    #[arg(long, value_enum, default_value_t = Keep::Best)]
    pub keep: Keep,
    /// Checkpoint and stop once this many steps are done (run again to resume).
    #[arg(long)]
    pub stop_at: Option<u64>,
}

/// `--keep`: which evaluated model a run keeps ([`kgqa::train::KeepRule`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Keep {
    /// The most accurate on the held-out slice.
    Best,
    /// The last evaluated.
    Last,
}

impl From<Keep> for kgqa::train::KeepRule {
    fn from(keep: Keep) -> Self {
        match keep {
            Keep::Best => kgqa::train::KeepRule::Best,
            Keep::Last => kgqa::train::KeepRule::Last,
        }
    }
}

/// Arguments of `kgqa train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// The starting model folder (default: the base encoder).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Knowledge fusion.
    #[arg(long, value_enum, default_value = "none")]
    pub fusion: FusionArg,
}

/// Arguments of `kgqa distill`.
#[derive(Args, Debug)]
pub struct DistillArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// Teacher model folder; repeat for an ensemble (averaged in logit space). The first
    /// one also gives the hidden states and attentions to imitate.
    #[arg(long, required = true)]
    pub teacher: Vec<PathBuf>,
    /// Student depth (layers copied: every other teacher layer).
    #[arg(long, default_value_t = 3)]
    pub student_layers: usize,
    /// Teacher layers (0-based) the student copies, e.g. `0,2,4` (overrides the default).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Student width (default: the teacher's); narrower students imitate the teacher
    /// through a learned projection.
    #[arg(long)]
    pub student_hidden: Option<usize>,
    /// How a narrower student starts: `select` copies the teacher layers' weights at evenly
    /// spaced channels, heads and units (weight selection); `random` is BERT's random
    /// initialisation from the seed.
    #[arg(long, value_enum, default_value_t = NarrowStart::Select)]
    pub narrow_init: NarrowStart,
    /// Weight of the soft targets against the hard labels (0: hard labels only).
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// Soft-target temperature.
    #[arg(long, default_value_t = 2.0)]
    pub temperature: f64,
    /// Weight of DistilBERT's cosine loss on the last hidden states.
    #[arg(long, default_value_t = 0.0)]
    pub cosine: f64,
    /// TinyBERT's intermediate losses (embeddings, attention scores, hidden states).
    #[arg(long)]
    pub tinybert: bool,
    /// Epochs of intermediate losses alone before prediction distillation (with --tinybert).
    #[arg(long, default_value_t = 1)]
    pub intermediate_epochs: usize,
    /// Variants per training question with words replaced by graph synonyms (WordNet
    /// senses), labelled by the teachers. Uses the graph of `--store` (or the embedded one).
    #[arg(long, default_value_t = 0)]
    pub augment: usize,
    /// Choice-set variants per training question: the same question and answer, the other
    /// choices drawn from the choices (and facts) of training questions written from the
    /// same concept (CommonsenseQA's `question_concept`); the teachers' soft targets label
    /// them, the gold answer stays their hard label. Not with entity fusion.
    #[arg(long, default_value_t = 0)]
    pub augment_choices: usize,
    /// More questions for the transfer set (CommonsenseQA JSONL, `answerKey` optional),
    /// e.g. unlabelled questions of your own domain: labelled by the teachers (their
    /// soft targets; the teachers' choice is the hard label of a question without one) and
    /// kept with the variants. Never part of the held-out slice.
    #[arg(long)]
    pub transfer: Option<PathBuf>,
    /// The retrieval cache of the `--transfer` questions (`kgqa retrieve --dataset FILE`);
    /// default `--facts`.
    #[arg(long, requires = "transfer")]
    pub transfer_facts: Option<PathBuf>,
    /// Memory (MiB) for the first teacher's last hidden states, kept from the first epoch
    /// so later epochs do not run it (cosine loss; about 0.5 MB per question at length 64;
    /// questions beyond it are recomputed at each step; 0: keep none).
    #[arg(long, default_value_t = 4096)]
    pub teacher_cache_mb: usize,
}

/// The training questions and the held-out slice: a fixed, seed-independent split (the
/// same for any list of one value per question, so lists stay aligned).
fn split_examples<T: Clone>(all: Vec<T>, held_out: usize) -> (Vec<T>, Vec<T>) {
    let order = permutation(all.len(), 0x5EED);
    let held = held_out.min(all.len() / 5);
    let held_out: Vec<T> = order[..held].iter().map(|&i| all[i].clone()).collect();
    let train_set: Vec<T> = order[held..].iter().map(|&i| all[i].clone()).collect();
    (train_set, held_out)
}

fn train_config(h: &HyperArgs, base: PathBuf, fusion: Fusion) -> anyhow::Result<TrainConfig> {
    let base = std::fs::canonicalize(&base).with_context(|| format!("{}", base.display()))?;
    Ok(settings(h, base, fusion))
}

/// The run's settings as given (the base path not resolved): what is checked before any
/// model or dataset is read.
fn settings(h: &HyperArgs, base: PathBuf, fusion: Fusion) -> TrainConfig {
    TrainConfig {
        base,
        fusion,
        max_length: h.max_length,
        epochs: h.epochs,
        batch_size: h.batch_size,
        lr: h.lr,
        warmup: h.warmup,
        weight_decay: h.weight_decay,
        clip: h.clip,
        seed: h.seed,
        checkpoint_every: h.checkpoint_every,
        eval_every: h.eval_every,
        keep_evaluations: h.keep_evaluations,
        keep: h.keep.into(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

/// Runs a training loop with a progress bar and prints the summary.
fn run_training(
    h: &HyperArgs,
    config: &TrainConfig,
    sets: (&[Example], &[Example]),
    objective: &dyn trainer::Objective,
    training_only: &[&str],
) -> anyhow::Result<()> {
    let (train_set, held_out) = sets;
    eprintln!(
        "training on {} questions, {} held out, fusion {}, run {}",
        train_set.len(),
        held_out.len(),
        config.fusion.name(),
        h.run.display()
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  epoch {msg}  eta {eta}")
            .expect("static template"),
    );
    let started = Instant::now();
    let mut first_step: Option<u64> = None;
    let batch = h.batch_size as f64;
    let mut evaluations = None;
    let mut progress = |s: &trainer::TrainState, total: u64, loss: f64| {
        // Evaluations made since the last call (reported at the next step).
        let seen = *evaluations.get_or_insert(s.history.len());
        for l in s.history.iter().skip(seen) {
            let line = format!(
                "held-out accuracy {:.4} at step {} (epoch {}, loss {:.4})",
                l.accuracy, l.step, l.epoch, l.loss
            );
            // A hidden bar (output not a terminal) prints nothing of its own.
            if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
        }
        evaluations = Some(s.history.len());
        bar.set_length(total);
        bar.set_position(s.step);
        let first = *first_step.get_or_insert(s.step.saturating_sub(1));
        let qps = (s.step - first) as f64 * batch / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{}  loss {loss:.4}  {qps:.1} questions/s", s.epoch + 1));
        if bar.is_hidden() && s.step.is_multiple_of(10) {
            let eta = eta(total.saturating_sub(s.step) as f64 * batch / qps.max(1e-9));
            let epoch = s.epoch + 1;
            eprintln!(
                "step {}/{total} epoch {epoch} loss {loss:.4} {qps:.1} q/s eta {eta}",
                s.step
            );
        }
    };
    let state = trainer::train_with(
        &h.run,
        config,
        train_set,
        held_out,
        h.stop_at,
        objective,
        training_only,
        &mut progress,
    )?;
    bar.finish_and_clear();
    let status = if state.epoch >= config.epochs { "done" } else { "stopped" };
    match state.best_accuracy {
        Some(best) => println!(
            "{status}: {} epochs, {} steps, kept model's held-out accuracy {best:.4}, {:.0} s; kept in {}",
            state.epoch,
            state.step,
            state.seconds,
            h.run.join("best").display()
        ),
        None => println!(
            "{status}: {} steps, {:.0} s, no held-out evaluation yet; run the same command again to resume",
            state.step, state.seconds
        ),
    }
    Ok(())
}

/// Runs `kgqa train`.
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let base = args.base.clone().unwrap_or_else(kgqa::model::default_base_model);
    let fusion: Fusion = args.fusion.into();
    settings(&args.hyper, base.clone(), fusion).validate()?;
    let items = load_items(&args.data, Split::Listed)?;
    let (train_set, held_out) =
        split_examples(examples(&args.data, &items, fusion)?, args.hyper.held_out);
    let config = train_config(&args.hyper, base, fusion)?;
    run_training(&args.hyper, &config, (&train_set, &held_out), &trainer::HardLabels, &[])
}

/// Runs `kgqa distill`.
pub fn distill(graph_args: &super::GraphArgs, args: &DistillArgs) -> anyhow::Result<()> {
    // Settings first: a bad value fails before teachers load or augmentation runs.
    let distill_config = DistillConfig {
        alpha: args.alpha,
        temperature: args.temperature,
        cosine: args.cosine,
        tinybert: args.tinybert,
        intermediate_epochs: if args.tinybert { args.intermediate_epochs } else { 0 },
    };
    distill_config.validate(args.hyper.epochs)?;
    settings(&args.hyper, PathBuf::new(), Fusion::default()).validate()?;
    let device = kgqa::model::device();
    let teachers = args
        .teacher
        .iter()
        .map(|t| {
            MultipleChoice::load(t, &device)
                .with_context(|| format!("loading teacher {}", t.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fusion = teachers[0].head().fusion;
    if fusion.entity && args.augment_choices > 0 {
        anyhow::bail!(
            "--augment-choices: with entity fusion a choice's mentions point into its own \
             question's concept list, so choices cannot move between questions; use --augment"
        );
    }
    let teacher_layers = teachers[0].bert().config().num_hidden_layers;
    let layers = if args.layers.is_empty() {
        if !(1..=teacher_layers).contains(&args.student_layers) {
            anyhow::bail!(
                "student_layers: a student has 1 to {teacher_layers} layers (its teacher's), got {}",
                args.student_layers
            );
        }
        every_other(args.student_layers, teacher_layers)
    } else {
        args.layers.clone()
    };
    let init = args.hyper.run.join("student-init");
    if !init.join("model.safetensors").is_file() {
        std::fs::create_dir_all(&args.hyper.run)?;
        let (hidden, seed) = (args.student_hidden, args.hyper.seed);
        build_student(&args.teacher[0], &init, &layers, hidden, seed, args.narrow_init.into())?;
    }
    let items = load_items(&args.data, Split::Listed)?;
    let (mut train_set, held_out) =
        split_examples(examples(&args.data, &items, fusion)?, args.hyper.held_out);
    let mut cached_logits = Vec::new();
    if args.augment > 0 || args.augment_choices > 0 || args.transfer.is_some() {
        let concepts = split_examples(
            items.iter().map(|i| i.question_concept.clone()).collect(),
            args.hyper.held_out,
        )
        .0;
        let reads_facts = fusion.reads_facts();
        let hash =
            |path: Option<&std::path::Path>| path.map(super::augment::content_hash).transpose();
        let settings = super::augment::Settings {
            per_question: args.augment,
            choice_sets: args.augment_choices,
            seed: args.hyper.seed,
            teachers: args.teacher.iter().map(|t| t.display().to_string()).collect(),
            questions: train_set.len(),
            transfer: hash(args.transfer.as_deref())?,
            // Facts are read (and so hashed) only by a model that reads facts;
            // `--transfer-facts` requires `--transfer`.
            transfer_facts: hash(args.transfer_facts.as_deref().filter(|_| reads_facts))?,
            facts: hash(args.data.facts.as_deref().filter(|_| reads_facts))?,
        };
        let transfer = match &args.transfer {
            Some(path) => {
                let choices = train_set.first().map_or(0, |e| e.choices.len());
                let facts = args.transfer_facts.as_ref();
                super::augment::transfer_examples(&args.data, path, facts, fusion, choices)?
            }
            None => Vec::new(),
        };
        let extra = super::augment::labelled_variants(
            &args.hyper.run,
            graph_args,
            &teachers,
            (&train_set, &concepts),
            transfer,
            &settings,
        )?;
        for v in extra {
            // The variant's index in the training set, where the soft targets look it up.
            if let Some(logits) = v.teacher_logits {
                cached_logits.push((train_set.len(), logits));
            }
            train_set.push(v.example);
        }
        if !cached_logits.is_empty() {
            eprintln!(
                "soft targets: {} variants' teacher logits reused from the augmentation",
                cached_logits.len()
            );
        }
    }
    let config = train_config(&args.hyper, init, fusion)?;
    let objective = Distill::new(teachers, distill_config)
        .with_cached_logits(cached_logits)
        .with_hidden_cache(args.teacher_cache_mb << 20);
    write_distill_record(&args.hyper.run, args, &layers)?;
    run_training(
        &args.hyper,
        &config,
        (&train_set, &held_out),
        &objective,
        &[distill::PROJECTION, distill::PROJECTION_BIAS],
    )
}

fn write_distill_record(
    run: &std::path::Path,
    args: &DistillArgs,
    layers: &[usize],
) -> anyhow::Result<()> {
    let record = serde_json::json!({
        "teachers": args.teacher.iter().map(|t| t.display().to_string()).collect::<Vec<_>>(),
        "layers": layers,
        "student_hidden": args.student_hidden,
        "narrow_init": NarrowInit::from(args.narrow_init),
        "alpha": args.alpha,
        "temperature": args.temperature,
        "cosine": args.cosine,
        "tinybert": args.tinybert,
        "intermediate_epochs": args.intermediate_epochs,
        "augment": args.augment,
        "augment_choices": args.augment_choices,
        "transfer": args.transfer,
        "transfer_facts": args.transfer_facts,
    });
    std::fs::write(run.join("distill.json"), serde_json::to_string_pretty(&record)?)?;
    Ok(())
}

/// A duration in seconds as `1h02m`, `3m05s` or `42s` (log lines' time left).
fn eta(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, _) => format!("{h}h{min:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_reads_as_hours_minutes_or_seconds() {
        assert_eq!(eta(42.0), "42s");
        assert_eq!(eta(185.0), "3m05s");
        assert_eq!(eta(3720.0), "1h02m");
    }
}
