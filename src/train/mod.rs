//! Fine-tuning a multiple-choice model (the teacher): AdamW with weight decay, linear
//! warm-up and decay, gradient clipping, real dropout, a fixed seed, evaluation on a
//! held-out set after each epoch, the best checkpoint kept, and resume.
//!
//! A run folder holds `config.json` (the [`TrainConfig`], with the command line),
//! `checkpoint/` (model folder + `optimizer.safetensors` + `state.json`, replaced atomically
//! every `checkpoint_every` steps and at each epoch's end), `best/` (the model folder with
//! the best held-out accuracy, or the last evaluated with `keep: last`) and `log.jsonl`
//! (one line per evaluation). Batches are drawn from
//! a permutation seeded by (seed, epoch) and dropout masks from (seed, step), so a run
//! killed at any point and resumed from its last checkpoint ends with the same weights as
//! one that was never interrupted.

pub mod augment;
pub mod data;
pub mod distill;
pub mod error;
pub mod hidden_cache;
pub mod labels;
pub mod losses;
pub mod optim;
pub mod plan;
pub mod student;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{D, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::eval::batch::{Example, accuracy, batch_logits};
use crate::model::fusion::Fusion;
use crate::model::head::MultipleChoice;
pub use crate::train::error::{Error, Result};
use data::permutation;
use optim::{AdamW, AdamWConfig, clip_grad_norm, learning_rate};

/// Everything that defines a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model folder training starts from.
    pub base: PathBuf,
    /// Which knowledge the model is given.
    pub fusion: Fusion,
    /// Longest input in word pieces.
    pub max_length: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Questions per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Share of the steps spent warming up.
    pub warmup: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Gradient clipping (global L2 norm).
    pub clip: f64,
    /// Seed of the data order and the dropout masks.
    pub seed: u64,
    /// Steps between checkpoints (0: only at epoch ends).
    pub checkpoint_every: u64,
    /// Steps between held-out evaluations inside an epoch, each able to become `best/`
    /// (0: at epoch ends only; runs from before this setting read as 0).
    #[serde(default)]
    pub eval_every: u64,
    /// Also keep the model of every held-out evaluation in `evaluations/step-NNNNNN/` (for
    /// averaging them, `kgqa average`). Changes no weight: a run may resume with another
    /// value.
    #[serde(default)]
    pub keep_evaluations: bool,
    /// Which evaluated model `best/` holds (runs from before this setting read as
    /// [`KeepRule::Best`]).
    #[serde(default)]
    pub keep: KeepRule,
    /// The embeddings (with MPNet's relative position bias) and the first N encoder layers
    /// stay as loaded: no gradient flows through them and no optimizer state is kept for
    /// them, so a step costs their forward pass only (0: everything is trained; runs from
    /// before this setting read as 0).
    #[serde(default)]
    pub freeze_layers: usize,
    /// The command line that started the run (for the record).
    #[serde(default)]
    pub command: String,
}

impl TrainConfig {
    /// Checks every setting before anything is loaded or written: an error names the
    /// field and the value (a zero batch, a negative or infinite learning rate, a warm-up
    /// share outside 0..=1, ...).
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, message: String| Err(Error::Invalid { field, message });
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.epochs == 0 {
            return bad("epochs", "a run has at least 1 epoch (got 0)".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "a step takes at least 1 question (got 0)".into());
        }
        if !positive(self.lr) {
            return bad(
                "lr",
                format!("the learning rate must be a positive number, got {}", self.lr),
            );
        }
        if !(0.0..=1.0).contains(&self.warmup) {
            return bad("warmup", format!("a share of the steps, 0 to 1, got {}", self.warmup));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", format!("must be 0 or more, got {}", self.weight_decay));
        }
        if !positive(self.clip) {
            return bad(
                "clip",
                format!("the gradient norm limit must be positive, got {}", self.clip),
            );
        }
        if self.max_length < MIN_LENGTH {
            return bad(
                "max_length",
                format!(
                    "at least {MIN_LENGTH} word pieces (question and choice), got {}",
                    self.max_length
                ),
            );
        }
        Ok(())
    }
}

/// Which evaluated model a run keeps in `best/`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepRule {
    /// The most accurate on the held-out slice (the first to reach it).
    #[default]
    Best,
    /// The latest: no pick among evaluations, so the held-out figure is not biased upwards
    /// by the pick (a small slice cannot tell apart models a point or two apart).
    Last,
}

/// The shortest input a run accepts: `[CLS]`, a few question and choice pieces, two `[SEP]`.
pub const MIN_LENGTH: usize = 8;

/// Progress of a run, saved with each checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Completed epochs.
    pub epoch: usize,
    /// Batches done in the current epoch.
    pub batch: usize,
    /// Optimizer steps so far.
    pub step: u64,
    /// Held-out accuracy of the model in `best/`: the best so far, or the latest with
    /// [`KeepRule::Last`].
    pub best_accuracy: Option<f64>,
    /// Sum of the losses of this epoch so far (for the log).
    pub epoch_loss: f64,
    /// Seconds spent in training steps so far, all sessions (not loading, evaluating or
    /// saving checkpoints).
    pub seconds: f64,
    /// One entry per finished epoch.
    #[serde(default)]
    pub history: Vec<EpochLog>,
}

/// One line of `log.jsonl`: a held-out evaluation, at an epoch's end or (with
/// `eval_every`) inside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// The epoch (1-based) the evaluation falls in.
    pub epoch: usize,
    /// Optimizer steps done when it was made (0 in logs from before steps were recorded).
    #[serde(default)]
    pub step: u64,
    /// Mean training loss of the epoch so far.
    pub loss: f64,
    /// Held-out accuracy.
    pub accuracy: f64,
    /// Seconds of training so far.
    pub seconds: f64,
}

/// Maps an I/O error on `path` to [`Error::Io`] (for `map_err`).
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("serializable");
    std::fs::write(path, text).map_err(io(path))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::RunFile {
        file: path.to_path_buf(),
        line: e.line() as u64,
        message: e.to_string(),
    })
}

/// Mean cross-entropy of `logits` (`[questions, choices]`) against the answers.
pub fn cross_entropy(logits: &Tensor, answers: &[usize]) -> Result<Tensor> {
    let targets = Tensor::from_vec(
        answers.iter().map(|&a| a as u32).collect::<Vec<_>>(),
        answers.len(),
        logits.device(),
    )
    .map_err(crate::model::Error::from)?;
    let log_probs =
        candle_nn::ops::log_softmax(logits, D::Minus1).map_err(crate::model::Error::from)?;
    Ok(candle_nn::loss::nll(&log_probs, &targets).map_err(crate::model::Error::from)?)
}

/// Where [`evaluate`] keeps a new best model.
struct Keep<'a> {
    run: &'a Path,
    tokenizer: &'a Path,
    training_only: &'a [&'a str],
    /// Every evaluated model too, in `evaluations/step-NNNNNN/`.
    every: bool,
    /// Which of them `best/` holds.
    rule: KeepRule,
}

/// Scores the held-out slice, records it in the history (replacing an entry of the same
/// step, left by a run killed after it) and saves `best/` when it is the best so far (or
/// always, with [`KeepRule::Last`]). Without a held-out slice (tiny sets, `--held-out 0`)
/// the latest model is kept.
fn evaluate(
    model: &mut MultipleChoice,
    held_out: &[Example],
    state: &mut TrainState,
    keep: Keep<'_>,
) -> Result<()> {
    let accuracy = accuracy(model, held_out, 16)?;
    let log = EpochLog {
        epoch: state.epoch + 1,
        step: state.step,
        loss: state.epoch_loss / state.batch.max(1) as f64,
        accuracy,
        seconds: state.seconds,
    };
    model.set_trained(true);
    let latest = held_out.is_empty() || keep.rule == KeepRule::Last;
    if latest || state.best_accuracy.is_none_or(|b| accuracy > b) {
        state.best_accuracy = Some(accuracy);
        save_model(model, &keep.run.join("best"), keep.tokenizer, keep.training_only)?;
    }
    if keep.every {
        let dir = keep.run.join("evaluations").join(format!("step-{:06}", state.step));
        std::fs::create_dir_all(keep.run.join("evaluations")).map_err(io(keep.run))?;
        save_model(model, &dir, keep.tokenizer, keep.training_only)?;
    }
    state.history.retain(|l| (l.epoch, l.step) != (log.epoch, log.step));
    state.history.push(log);
    Ok(())
}

/// Rewrites `log.jsonl` from the checkpointed history: a kill anywhere leaves no duplicate
/// or missing line once the run resumes.
fn write_log(run: &Path, state: &TrainState) -> Result<()> {
    let path = run.join("log.jsonl");
    let lines: String = state
        .history
        .iter()
        .map(|l| serde_json::to_string(l).expect("serializable") + "\n")
        .collect();
    std::fs::write(&path, lines).map_err(io(&path))
}

/// Saves a model folder atomically: written beside `dir`, then renamed over it.
fn save_model(model: &MultipleChoice, dir: &Path, tokenizer: &Path, skip: &[&str]) -> Result<()> {
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    model.save_without(&tmp, tokenizer, skip)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(io(dir))
}

/// What a training step minimizes.
pub trait Objective {
    /// The loss of a batch (`(index in the training set, example)` pairs) in `epoch`.
    fn loss(
        &self,
        model: &MultipleChoice,
        batch: &[(usize, &Example)],
        epoch: usize,
    ) -> Result<Tensor>;
}

/// Fine-tuning on the hard labels: cross-entropy over the choices.
pub struct HardLabels;

impl Objective for HardLabels {
    fn loss(
        &self,
        model: &MultipleChoice,
        batch: &[(usize, &Example)],
        _: usize,
    ) -> Result<Tensor> {
        let examples: Vec<&Example> = batch.iter().map(|(_, e)| *e).collect();
        let logits = batch_logits(model, &examples, true)?;
        let answers: Vec<usize> = examples.iter().map(|e| e.answer).collect();
        cross_entropy(&logits, &answers)
    }
}

/// Trains in `run` (created, or resumed when it holds a checkpoint of the same config).
/// `progress(state, steps_total, loss)` is called after each step. With `stop_at`, the run
/// checkpoints and returns once that many steps are done (a time-boxed session; the next
/// call resumes).
pub fn train(
    run: &Path,
    config: &TrainConfig,
    train_set: &[Example],
    held_out: &[Example],
    stop_at: Option<u64>,
    progress: &mut dyn FnMut(&TrainState, u64, f64),
) -> Result<TrainState> {
    train_with(run, config, train_set, held_out, stop_at, &HardLabels, &[], progress)
}

/// [`train`] with any objective. Tensors named in `training_only` (e.g. a distillation
/// projection) are trained and checkpointed but left out of the `best/` model.
#[allow(clippy::too_many_arguments)]
pub fn train_with(
    run: &Path,
    config: &TrainConfig,
    train_set: &[Example],
    held_out: &[Example],
    stop_at: Option<u64>,
    objective: &dyn Objective,
    training_only: &[&str],
    progress: &mut dyn FnMut(&TrainState, u64, f64),
) -> Result<TrainState> {
    config.validate()?;
    let resume = prepare_run(run, config)?;
    let mut session = Session::start(run, config, resume, training_only)?;
    let mut state = TrainState::default();
    if resume {
        let checkpoint = run.join("checkpoint");
        session.optimizer.load(&checkpoint.join("optimizer.safetensors"))?;
        state = read_json(&checkpoint.join("state.json"))?;
    }
    let per_epoch = train_set.len().div_ceil(config.batch_size) as u64;
    let total = per_epoch * config.epochs as u64;
    let warmup = (total as f64 * config.warmup).round() as u64;
    let mut clock = Instant::now();
    while state.epoch < config.epochs {
        let order = permutation(train_set.len(), config.seed ^ ((state.epoch as u64 + 1) * 0x9E37));
        let batches: Vec<&[usize]> = order.chunks(config.batch_size).collect();
        while state.batch < batches.len() {
            let batch: Vec<(usize, &Example)> =
                batches[state.batch].iter().map(|&i| (i, &train_set[i])).collect();
            let lr = learning_rate(state.step, warmup, total, config.lr);
            let loss = session.step(&batch, &state, objective, lr)?;
            state.step += 1;
            state.batch += 1;
            state.epoch_loss += loss;
            state.seconds += clock.elapsed().as_secs_f64();
            progress(&state, total, loss);
            let mid_eval = config.eval_every > 0
                && state.step % config.eval_every == 0
                && state.batch < batches.len();
            if mid_eval {
                session.evaluate(held_out, &mut state)?;
                session.checkpoint(&state)?;
                write_log(run, &state)?;
            } else if config.checkpoint_every > 0 && state.step % config.checkpoint_every == 0 {
                session.checkpoint(&state)?;
            }
            // The training clock counts steps, not evaluating or saving.
            clock = Instant::now();
            if stop_at.is_some_and(|s| state.step >= s) && state.batch < batches.len() {
                session.checkpoint(&state)?;
                return Ok(state);
            }
        }
        session.evaluate(held_out, &mut state)?;
        state.epoch += 1;
        state.batch = 0;
        state.epoch_loss = 0.0;
        session.checkpoint(&state)?;
        write_log(run, &state)?;
        if stop_at.is_some_and(|s| state.step >= s) && state.epoch < config.epochs {
            return Ok(state);
        }
        clock = Instant::now();
    }
    Ok(state)
}

/// Whether the tensor `name` is one of the embeddings' (MPNet's relative position bias
/// included) or of the first `layers` encoder layers: frozen by `freeze_layers`. Nothing is
/// frozen when `layers` is 0.
pub fn frozen_below(name: &str, layers: usize) -> bool {
    if layers == 0 {
        return false;
    }
    let name = name.strip_prefix("bert.").or_else(|| name.strip_prefix("mpnet.")).unwrap_or(name);
    if name.starts_with("embeddings.") || name.starts_with("encoder.relative_attention_bias.") {
        return true;
    }
    let layer = name.strip_prefix("encoder.layer.").and_then(|rest| rest.split('.').next());
    layer.and_then(|i| i.parse::<usize>().ok()).is_some_and(|i| i < layers)
}

/// Creates the run folder, or checks that the run it holds has `config`'s settings (the
/// command line and `keep_evaluations` may differ); whether it resumes from a checkpoint.
fn prepare_run(run: &Path, config: &TrainConfig) -> Result<bool> {
    std::fs::create_dir_all(run).map_err(io(run))?;
    let checkpoint = run.join("checkpoint");
    // Killed between the two renames of a checkpoint swap: the previous one is complete.
    if !checkpoint.exists() && run.join("checkpoint.old").join("state.json").is_file() {
        std::fs::rename(run.join("checkpoint.old"), &checkpoint).map_err(io(run))?;
    }
    let resume = checkpoint.join("state.json").is_file();
    if !resume {
        write_json(&run.join("config.json"), config)?;
        return Ok(false);
    }
    let saved: TrainConfig = read_json(&run.join("config.json"))?;
    let plain =
        |c: TrainConfig| TrainConfig { command: String::new(), keep_evaluations: false, ..c };
    if plain(saved) != plain(config.clone()) {
        return Err(Error::Invalid {
            field: "run",
            message: format!(
                "{} holds a run with other settings (see its config.json); use another folder",
                run.display()
            ),
        });
    }
    Ok(true)
}

/// The model being trained, its optimizer and where the run keeps them.
struct Session<'a> {
    run: &'a Path,
    config: &'a TrainConfig,
    training_only: &'a [&'a str],
    model: MultipleChoice,
    optimizer: AdamW,
    vars: Vec<Var>,
    tokenizer: PathBuf,
}

impl<'a> Session<'a> {
    /// The model from the checkpoint (`resume`) or the base, and a fresh optimizer.
    fn start(
        run: &'a Path,
        config: &'a TrainConfig,
        resume: bool,
        training_only: &'a [&'a str],
    ) -> Result<Self> {
        let device = crate::model::device();
        let from = if resume { run.join("checkpoint") } else { config.base.clone() };
        let frozen = |name: &str| frozen_below(name, config.freeze_layers);
        let adjust = |h: &mut crate::model::head::HeadConfig| {
            h.fusion = config.fusion;
            h.max_length = config.max_length;
        };
        let (model, vars) =
            MultipleChoice::load_trainable_frozen(&from, &device, config.seed, adjust, &frozen)?;
        let layers = model.bert().config().num_hidden_layers;
        if config.freeze_layers > layers {
            return Err(Error::Invalid {
                field: "freeze_layers",
                message: format!(
                    "{} layers to freeze, the model has {layers}",
                    config.freeze_layers
                ),
            });
        }
        let positions = model.bert().config().max_position_embeddings;
        if config.max_length > positions {
            return Err(Error::Invalid {
                field: "max_length",
                message: format!(
                    "{} word pieces do not fit the model's {positions} positions",
                    config.max_length
                ),
            });
        }
        let plain: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
        let adamw = AdamWConfig { weight_decay: config.weight_decay, ..AdamWConfig::default() };
        let optimizer = AdamW::new(vars, adamw)?;
        let tokenizer = from.join("tokenizer.json");
        Ok(Session { run, config, training_only, model, optimizer, vars: plain, tokenizer })
    }

    /// One step on `batch` at learning rate `lr`: its loss.
    fn step(
        &mut self,
        batch: &[(usize, &Example)],
        state: &TrainState,
        objective: &dyn Objective,
        lr: f64,
    ) -> Result<f64> {
        let seed = self.config.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ state.step;
        self.model.bert().seed_dropout(seed);
        let loss = objective.loss(&self.model, batch, state.epoch)?;
        let m = |e: candle_core::Error| Error::Model(e.into());
        let value = loss.to_scalar::<f32>().map_err(m)? as f64;
        if !value.is_finite() {
            return Err(Error::Invalid {
                field: "lr",
                message: format!("the loss diverged ({value}) at step {}", state.step),
            });
        }
        let mut grads = loss.backward().map_err(m)?;
        clip_grad_norm(&mut grads, &self.vars, self.config.clip)?;
        self.optimizer.step(&grads, lr)?;
        Ok(value)
    }

    /// A held-out evaluation, keeping the model as the run's rule says.
    fn evaluate(&mut self, held_out: &[Example], state: &mut TrainState) -> Result<()> {
        let keep = Keep {
            run: self.run,
            tokenizer: &self.tokenizer,
            training_only: self.training_only,
            every: self.config.keep_evaluations,
            rule: self.config.keep,
        };
        evaluate(&mut self.model, held_out, state, keep)
    }

    /// Writes `checkpoint.tmp` whole, then swaps it in for `checkpoint` by two renames.
    fn checkpoint(&self, state: &TrainState) -> Result<()> {
        let run = self.run;
        let (tmp, old, current) =
            (run.join("checkpoint.tmp"), run.join("checkpoint.old"), run.join("checkpoint"));
        let _ = std::fs::remove_dir_all(&tmp);
        self.model.save(&tmp, &self.tokenizer)?;
        self.optimizer.save(&tmp.join("optimizer.safetensors"))?;
        write_json(&tmp.join("state.json"), state)?;
        let _ = std::fs::remove_dir_all(&old);
        if current.exists() {
            std::fs::rename(&current, &old).map_err(io(run))?;
        }
        std::fs::rename(&tmp, &current).map_err(io(run))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_by_hand() {
        // logits (0, ln 2, ln 3) -> p = (1/6, 2/6, 3/6); answer 1: -ln(1/3) = ln 3.
        // Second row: uniform over 3 -> ln 3 as well. Mean: ln 3.
        let dev = candle_core::Device::Cpu;
        let logits = Tensor::new(&[[0f32, 2f32.ln(), 3f32.ln()], [1.0, 1.0, 1.0]], &dev).unwrap();
        let loss = cross_entropy(&logits, &[1, 2]).unwrap().to_scalar::<f32>().unwrap();
        assert!((loss - 3f32.ln()).abs() < 1e-6, "{loss}");
    }
}
