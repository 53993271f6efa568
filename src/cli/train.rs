//! `kgqa train` (fine-tune a multiple-choice teacher) and `kgqa distill` (train a smaller
//! student from one or more teachers).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kgqa::eval::bench::{available_mib, peak_rss_mib};
use kgqa::model::fusion::Fusion;
use kgqa::train::augment::labelled;
use kgqa::train::distill::{DistillConfig, NarrowInit};
use kgqa::train::plan::{AugmentPlan, DistillPlan, Observer, RunSpec, StudentPlan, TrainPlan};
use kgqa::train::{TrainConfig, TrainState};

use super::data::DataArgs;

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
            FusionArg::None => Fusion { input: false, entity: false, curated: false },
            FusionArg::Input => Fusion { input: true, entity: false, curated: false },
            FusionArg::Entity => Fusion { input: false, entity: true, curated: false },
            FusionArg::Both => Fusion { input: true, entity: true, curated: false },
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
    /// Keep the embeddings and the first N encoder layers as loaded (no gradient through
    /// them): a step costs their forward pass only (0: train everything).
    #[arg(long, default_value_t = 0)]
    pub freeze_layers: usize,
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
    /// The facts are curated (`kgqa retrieve --curated`): recorded in the model's
    /// `kgqa.json`, so the engine retrieves the same way for it.
    #[arg(long)]
    pub curated: bool,
}

/// Arguments of `kgqa distill`.
#[derive(Args, Debug)]
pub struct DistillArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// Teacher model folder; repeat for an ensemble (averaged in logit space). The first
    /// one also gives the hidden states and attentions to imitate. Needed unless
    /// `--teacher-labels` labels every question.
    #[arg(long, required_unless_present = "teacher_labels")]
    pub teacher: Vec<PathBuf>,
    /// A teacher label file (written by `--export-labels`): the teachers' logits for the
    /// questions it holds, used instead of running the teachers. With the same data,
    /// seed and augmentation settings it labels the whole transfer set, and `--teacher`
    /// may be left out (soft targets and hard labels only: no cosine or TinyBERT loss).
    #[arg(long)]
    pub teacher_labels: Option<PathBuf>,
    /// Label the transfer set (training questions and variants) with the teachers, write
    /// their logits to this file (`.gz`: compressed) and stop before training; no
    /// question text is written, only keys. Labelling resumes in the `--run` folder. With
    /// `--teacher-labels` (another seed's file, say), the questions that file labels are
    /// taken from it and only the rest are run through the teachers.
    #[arg(long, requires = "teacher")]
    pub export_labels: Option<PathBuf>,
    /// The model folder the student's layers (and its fusion) come from; default: the
    /// first teacher. Lets a small model learn from a larger teacher of another vocabulary
    /// (e.g. an MPNet teacher and a MiniLM student): only the soft targets over the
    /// choices pass between them, so no cosine or TinyBERT loss across widths.
    #[arg(long)]
    pub student_from: Option<PathBuf>,
    /// Student depth (layers copied: every other layer of the source model).
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

/// The optimization settings of `h` (the base and fusion as given).
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
        freeze_layers: h.freeze_layers,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

fn run_spec(h: &HyperArgs) -> RunSpec {
    RunSpec { folder: h.run.clone(), held_out: h.held_out, stop_at: h.stop_at }
}

/// Runs `kgqa train`.
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let base = args.base.clone().unwrap_or_else(kgqa::model::default_base_model);
    let plan = TrainPlan {
        data: args.data.spec(),
        run: run_spec(&args.hyper),
        config: settings(&args.hyper, base, Fusion { curated: args.curated, ..args.fusion.into() }),
    };
    let mut report = Report::new(&args.hyper);
    let state = plan.run(&mut report)?;
    report.finish(&state, plan.config.epochs);
    Ok(())
}

/// Runs `kgqa distill`.
pub fn distill(graph_args: &super::GraphArgs, args: &DistillArgs) -> anyhow::Result<()> {
    let plan = DistillPlan {
        data: args.data.spec(),
        run: run_spec(&args.hyper),
        config: settings(&args.hyper, PathBuf::new(), Fusion::default()),
        teachers: args.teacher.clone(),
        student: StudentPlan {
            from: args.student_from.clone(),
            layers: args.layers.clone(),
            depth: args.student_layers,
            hidden: args.student_hidden,
            narrow_init: args.narrow_init.into(),
        },
        losses: DistillConfig {
            alpha: args.alpha,
            temperature: args.temperature,
            cosine: args.cosine,
            tinybert: args.tinybert,
            intermediate_epochs: if args.tinybert { args.intermediate_epochs } else { 0 },
        },
        augment: AugmentPlan {
            synonyms: args.augment,
            choice_sets: args.augment_choices,
            transfer: args.transfer.clone(),
            transfer_facts: args.transfer_facts.clone(),
        },
        teacher_cache_bytes: args.teacher_cache_mb << 20,
        labels: args.teacher_labels.clone(),
    };
    // Settings first: a bad value fails before the graph opens or a teacher loads.
    plan.check()?;
    let graph = (args.augment > 0).then(|| super::open_graph(graph_args)).transpose()?;
    let mut report = Report::new(&args.hyper);
    if let Some(out) = &args.export_labels {
        let n = plan.export_labels(graph.as_ref(), out, &mut report)?;
        report.line(format!("teacher labels: {n} questions written to {}", out.display()));
        return Ok(());
    }
    let state = plan.run(graph.as_ref(), &mut report)?;
    report.finish(&state, plan.config.epochs);
    Ok(())
}

/// What a run prints: a progress bar (log lines when the output is not a terminal), the
/// held-out evaluations as they come, and a summary.
struct Report {
    run: PathBuf,
    batch: f64,
    bar: ProgressBar,
    started: Instant,
    first_step: Option<u64>,
    evaluations: Option<usize>,
    labelled: Option<usize>,
}

impl Report {
    fn new(h: &HyperArgs) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}  eta {eta}")
                .expect("static template"),
        );
        Report {
            run: h.run.clone(),
            batch: h.batch_size as f64,
            bar,
            started: Instant::now(),
            first_step: None,
            evaluations: None,
            labelled: None,
        }
    }

    fn line(&self, line: String) {
        // A hidden bar (output not a terminal) prints nothing of its own.
        if self.bar.is_hidden() { eprintln!("{line}") } else { self.bar.println(line) }
    }

    /// After the first step: the process's peak memory, which later steps stay near, and
    /// what the machine has left, so that a second run that cannot fit is not started
    /// beside this one (the kernel would kill one of them hours later).
    fn memory(&self) {
        if let (Some(peak), Some(free)) = (peak_rss_mib(), available_mib()) {
            self.line(format!(
                "memory: {:.1} GiB resident at the first step's peak, {:.1} GiB still available",
                peak / 1024.0,
                free / 1024.0
            ));
        }
    }

    fn finish(self, state: &TrainState, epochs: usize) {
        self.bar.finish_and_clear();
        let status = if state.epoch >= epochs { "done" } else { "stopped" };
        match state.best_accuracy {
            Some(best) => println!(
                "{status}: {} epochs, {} steps, kept model's held-out accuracy {best:.4}, {:.0} s; kept in {}",
                state.epoch,
                state.step,
                state.seconds,
                self.run.join("best").display()
            ),
            None => println!(
                "{status}: {} steps, {:.0} s, no held-out evaluation yet; run the same command again to resume",
                state.step, state.seconds
            ),
        }
    }
}

impl Observer for Report {
    fn started(&mut self, train: usize, held_out: usize, fusion: Fusion) {
        let (name, run) = (fusion.name(), self.run.display());
        eprintln!("training on {train} questions, {held_out} held out, fusion {name}, run {run}");
        self.bar.reset();
        self.started = Instant::now();
    }

    fn labelling(&mut self, done: usize, total: usize) {
        if self.labelled.is_none() && done > 0 {
            eprintln!("labelling: {done}/{total} variants kept from an earlier start");
        }
        if self.bar.is_hidden() && self.labelled.is_some_and(|l| l / 500 != done / 500) {
            eprintln!("labelling: {done}/{total} variants");
        }
        self.labelled = Some(done);
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.set_message("variants labelled");
    }

    fn augmented(&mut self, variants: usize, read: bool, with_logits: usize) {
        let how = if read { "read from" } else { "labelled by the teachers, kept in" };
        let file = self.run.join(labelled::FILE);
        self.line(format!("augmentation: {variants} variants {how} {}", file.display()));
        if with_logits > 0 {
            self.line(format!(
                "soft targets: {with_logits} variants' teacher logits reused from the augmentation"
            ));
        }
    }

    fn step(&mut self, s: &TrainState, total: u64, loss: f64) {
        // Evaluations made since the last call (reported at the next step).
        let seen = *self.evaluations.get_or_insert(s.history.len());
        for l in s.history.iter().skip(seen) {
            self.line(format!(
                "held-out accuracy {:.4} at step {} (epoch {}, loss {:.4})",
                l.accuracy, l.step, l.epoch, l.loss
            ));
        }
        self.evaluations = Some(s.history.len());
        self.bar.set_length(total);
        self.bar.set_position(s.step);
        let first = *self.first_step.get_or_insert(s.step.saturating_sub(1));
        if s.step == first + 1 {
            self.memory();
        }
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let qps = (s.step - first) as f64 * self.batch / seconds;
        let epoch = s.epoch + 1;
        self.bar.set_message(format!("steps  epoch {epoch}  loss {loss:.4}  {qps:.1} questions/s"));
        if self.bar.is_hidden() && s.step.is_multiple_of(10) {
            let eta = eta(total.saturating_sub(s.step) as f64 * self.batch / qps.max(1e-9));
            eprintln!(
                "step {}/{total} epoch {epoch} loss {loss:.4} {qps:.1} q/s eta {eta}",
                s.step
            );
        }
    }
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
