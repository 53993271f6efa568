//! Run plans: a training or distillation run described by typed options and carried out
//! whole by the library (questions and their held-out slice, the student's start,
//! augmentation and its labelling, the training loop, the run's records), so that a
//! command line only turns its arguments into a plan and prints what the plan reports
//! through an [`Observer`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::eval::batch::Example;
use crate::eval::dataset::Split;
use crate::kg::Graph;
use crate::model::fusion::Fusion;
use crate::model::head::MultipleChoice;
use crate::train::augment::labelled::{self, Labelled, Sources};
use crate::train::data::{DataSpec, split_held_out};
use crate::train::distill::{self, Distill, DistillConfig, NarrowInit, build_student};
use crate::train::error::{Error, Result};
use crate::train::losses::every_other;
use crate::train::{HardLabels, TrainConfig, TrainState, io, train_with};

/// The run folder and what bounds the run.
#[derive(Clone, Debug, Serialize)]
pub struct RunSpec {
    /// The run folder (checkpoints, the kept model, the log); an existing run resumes.
    pub folder: PathBuf,
    /// Training questions held out to pick the kept model (at most a fifth of them).
    pub held_out: usize,
    /// Checkpoint and return once this many steps are done (the next run resumes).
    pub stop_at: Option<u64>,
}

/// What a run reports as it goes; every method but [`Observer::step`] may be left out.
pub trait Observer {
    /// Training starts on `train` questions with `held_out` held out.
    fn started(&mut self, _train: usize, _held_out: usize, _fusion: Fusion) {}
    /// Labelling of augmented variants: `done` of `total` (kept or labelled).
    fn labelling(&mut self, _done: usize, _total: usize) {}
    /// The run's augmented variants are ready: how many, whether read from the run folder,
    /// and how many carry the teachers' logits (reused as soft targets).
    fn augmented(&mut self, _variants: usize, _read: bool, _with_logits: usize) {}
    /// A step is done: the state, the run's total steps and the step's loss.
    fn step(&mut self, state: &TrainState, total: u64, loss: f64);
}

/// A fine-tuning run (`kgqa train`).
#[derive(Clone, Debug)]
pub struct TrainPlan {
    /// The training questions (the listed ones of the split).
    pub data: DataSpec,
    /// The run folder and bounds.
    pub run: RunSpec,
    /// The model it starts from, its fusion and the optimization settings.
    pub config: TrainConfig,
}

impl TrainPlan {
    /// Checks the settings before anything is read.
    pub fn check(&self) -> Result<()> {
        self.config.validate()
    }

    /// Runs (or resumes) the plan to its end or `stop_at`.
    pub fn run(&self, observer: &mut dyn Observer) -> Result<TrainState> {
        self.check()?;
        let items = self.data.items(Split::Listed)?;
        let examples = self.data.examples(&items, self.config.fusion)?;
        let (train_set, held_out) = split_held_out(examples, self.run.held_out);
        let base = canonical(&self.config.base)?;
        let config = TrainConfig { base, ..self.config.clone() };
        observer.started(train_set.len(), held_out.len(), config.fusion);
        let mut step = |s: &TrainState, total: u64, loss: f64| observer.step(s, total, loss);
        let (run, stop) = (&self.run.folder, self.run.stop_at);
        train_with(run, &config, &train_set, &held_out, stop, &HardLabels, &[], &mut step)
    }
}

/// The student of a distillation: where its layers come from and its shape.
#[derive(Clone, Debug, Serialize)]
pub struct StudentPlan {
    /// The model folder its layers (and fusion) come from; `None`: the first teacher. A
    /// model of another width or vocabulary learns from the soft targets alone.
    pub from: Option<PathBuf>,
    /// Source layers (0-based) it copies; empty: `depth` layers, every other one.
    pub layers: Vec<usize>,
    /// Its depth when `layers` is empty.
    pub depth: usize,
    /// Its width (default: the source's); narrower students imitate through a projection.
    pub hidden: Option<usize>,
    /// How a narrower student starts.
    pub narrow_init: NarrowInit,
}

/// The transfer set beyond the training questions, labelled by the teachers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AugmentPlan {
    /// Synonym variants per training question (words replaced by graph synonyms).
    pub synonyms: usize,
    /// Choice-set variants per training question (other distractors, same concept).
    pub choice_sets: usize,
    /// More questions (CommonsenseQA JSONL, `answerKey` optional).
    pub transfer: Option<PathBuf>,
    /// Their retrieval cache (default: the training questions' facts file).
    pub transfer_facts: Option<PathBuf>,
}

impl AugmentPlan {
    fn is_empty(&self) -> bool {
        self.synonyms == 0 && self.choice_sets == 0 && self.transfer.is_none()
    }
}

/// A distillation run (`kgqa distill`); written to `RUN/distill.json` as the run's record.
#[derive(Clone, Debug, Serialize)]
pub struct DistillPlan {
    /// The training questions.
    #[serde(skip)]
    pub data: DataSpec,
    /// The run folder and bounds.
    #[serde(skip)]
    pub run: RunSpec,
    /// The optimization settings (`base` and `fusion` are the student's, set by the run).
    #[serde(skip)]
    pub config: TrainConfig,
    /// Teacher folders: an ensemble averages them in logit space; the first one gives the
    /// hidden states and attentions to imitate.
    pub teachers: Vec<PathBuf>,
    /// The student.
    pub student: StudentPlan,
    /// The losses.
    pub losses: DistillConfig,
    /// The transfer set.
    pub augment: AugmentPlan,
    /// Bytes for the first teacher's last hidden states kept across epochs (cosine loss).
    pub teacher_cache_bytes: usize,
}

/// Where a student's layers come from, as loaded.
struct Source {
    path: PathBuf,
    /// The student's fusion (its source's).
    student: Fusion,
    /// The fusion the examples are built for: the student's and the first teacher's.
    examples: Fusion,
    depth: usize,
}

impl DistillPlan {
    /// Checks the settings before any model is loaded or anything labelled.
    pub fn check(&self) -> Result<()> {
        self.losses.validate(self.config.epochs)?;
        TrainConfig { base: PathBuf::new(), ..self.config.clone() }.validate()?;
        if self.teachers.is_empty() {
            return Err(invalid("teacher", "a distillation needs at least one teacher".into()));
        }
        Ok(())
    }

    /// Runs (or resumes) the plan to its end or `stop_at`. `graph` gives the synonym
    /// variants (needed when the plan asks for them).
    pub fn run(&self, graph: Option<&Graph>, observer: &mut dyn Observer) -> Result<TrainState> {
        self.check()?;
        let device = crate::model::device();
        let teachers = self
            .teachers
            .iter()
            .map(|t| load(t, "teacher", &device))
            .collect::<Result<Vec<_>>>()?;
        let source = self.source(&teachers, &device)?;
        if source.examples.entity && self.augment.choice_sets > 0 {
            let message = "with entity fusion a choice's mentions point into its own \
                           question's concept list, so choices cannot move between \
                           questions; use synonym variants";
            return Err(invalid("augment_choices", message.into()));
        }
        let layers = self.layers(source.depth)?;
        let init = self.run.folder.join("student-init");
        if !init.join("model.safetensors").is_file() {
            std::fs::create_dir_all(&self.run.folder).map_err(io(&self.run.folder))?;
            let (hidden, seed, narrow) =
                (self.student.hidden, self.config.seed, self.student.narrow_init);
            build_student(&source.path, &init, &layers, hidden, seed, narrow)?;
        }
        let items = self.data.items(Split::Listed)?;
        let examples = self.data.examples(&items, source.examples)?;
        let (mut train_set, held_out) = split_held_out(examples, self.run.held_out);
        let mut cached_logits = Vec::new();
        if !self.augment.is_empty() {
            let concepts = items.iter().map(|i| i.question_concept.clone()).collect();
            let concepts = split_held_out(concepts, self.run.held_out).0;
            let sources = Sources {
                graph,
                teachers: &teachers,
                train: (&train_set, &concepts),
                transfer: self.transfer(&train_set, source.examples)?,
            };
            let settings = self.label_settings(train_set.len(), source.examples)?;
            let mut progress = |done: usize, total: usize| observer.labelling(done, total);
            let (extra, read) =
                labelled::labelled_variants(&self.run.folder, sources, &settings, &mut progress)?;
            let variants = extra.len();
            cached_logits = append(&mut train_set, extra);
            observer.augmented(variants, read, cached_logits.len());
        }
        let base = canonical(&init)?;
        let config = TrainConfig { base, fusion: source.student, ..self.config.clone() };
        let objective = Distill::new(teachers, self.losses.clone())
            .with_cached_logits(cached_logits)
            .with_hidden_cache(self.teacher_cache_bytes);
        self.write_record(&layers)?;
        observer.started(train_set.len(), held_out.len(), config.fusion);
        let mut step = |s: &TrainState, total: u64, loss: f64| observer.step(s, total, loss);
        let training_only = [distill::PROJECTION, distill::PROJECTION_BIAS];
        let (run, stop) = (&self.run.folder, self.run.stop_at);
        train_with(run, &config, &train_set, &held_out, stop, &objective, &training_only, &mut step)
    }

    /// The student's source: `student.from`, else the first teacher.
    fn source(&self, teachers: &[MultipleChoice], device: &candle_core::Device) -> Result<Source> {
        let teacher = &teachers[0];
        let Some(from) = &self.student.from else {
            let (depth, fusion) =
                (teacher.bert().config().num_hidden_layers, teacher.head().fusion);
            let path = self.teachers[0].clone();
            return Ok(Source { path, student: fusion, examples: fusion, depth });
        };
        let student = load(from, "student_from", device)?;
        let (width, teacher_width) =
            (student.bert().config().hidden_size, teacher.bert().config().hidden_size);
        let imitates = self.losses.cosine > 0.0 || self.losses.tinybert;
        if imitates && (width != teacher_width || self.student.hidden.is_some()) {
            let message = format!(
                "the student ({width} wide) and the teacher ({teacher_width}) share no hidden \
                 space to imitate; use the soft targets alone (no cosine or TinyBERT loss)"
            );
            return Err(invalid("student_from", message));
        }
        let (s, t) = (student.head().fusion, teacher.head().fusion);
        Ok(Source {
            path: from.clone(),
            student: s,
            examples: Fusion {
                input: s.input || t.input,
                entity: s.entity || t.entity,
                curated: s.curated || t.curated,
            },
            depth: student.bert().config().num_hidden_layers,
        })
    }

    /// The source layers the student copies.
    fn layers(&self, depth: usize) -> Result<Vec<usize>> {
        if let Some(&bad) = self.student.layers.iter().find(|&&l| l >= depth) {
            let message = format!("layer {bad}: the source has layers 0 to {}", depth - 1);
            return Err(invalid("layers", message));
        }
        if !self.student.layers.is_empty() {
            return Ok(self.student.layers.clone());
        }
        if !(1..=depth).contains(&self.student.depth) {
            let message = format!(
                "a student has 1 to {depth} layers (its source's), got {}",
                self.student.depth
            );
            return Err(invalid("student_layers", message));
        }
        Ok(every_other(self.student.depth, depth))
    }

    /// The transfer questions, labelled or not, with as many choices as the training ones.
    fn transfer(&self, train_set: &[Example], fusion: Fusion) -> Result<Vec<(Example, bool)>> {
        let Some(path) = &self.augment.transfer else { return Ok(Vec::new()) };
        let choices = train_set.first().map_or(0, |e| e.choices.len());
        let facts = self.augment.transfer_facts.as_deref();
        self.data.unlabelled(path, facts, fusion, choices)
    }

    /// What the labelled variants depend on (files by content, facts only when read).
    fn label_settings(&self, questions: usize, fusion: Fusion) -> Result<labelled::Settings> {
        let reads = fusion.reads_facts();
        let hash = |path: Option<&Path>| path.map(labelled::content_hash).transpose();
        Ok(labelled::Settings {
            per_question: self.augment.synonyms,
            choice_sets: self.augment.choice_sets,
            seed: self.config.seed,
            teachers: self.teachers.iter().map(|t| t.display().to_string()).collect(),
            questions,
            transfer: hash(self.augment.transfer.as_deref())?,
            transfer_facts: hash(self.augment.transfer_facts.as_deref().filter(|_| reads))?,
            facts: hash(self.data.facts.as_deref().filter(|_| reads))?,
        })
    }

    /// `RUN/distill.json`: the plan, with the layers the student copied.
    fn write_record(&self, layers: &[usize]) -> Result<()> {
        let mut record = serde_json::to_value(self).map_err(|e| invalid("plan", e.to_string()))?;
        record["student"]["layers"] = serde_json::json!(layers);
        let path = self.run.folder.join("distill.json");
        let text =
            serde_json::to_string_pretty(&record).map_err(|e| invalid("plan", e.to_string()))?;
        std::fs::write(&path, text).map_err(io(&path))
    }
}

/// Appends the labelled variants to the training set; the (index, logits) of those that
/// carry the teachers' logits, where the soft targets look them up.
fn append(train_set: &mut Vec<Example>, extra: Vec<Labelled>) -> Vec<(usize, Vec<f32>)> {
    let mut cached = Vec::new();
    for v in extra {
        if let Some(logits) = v.teacher_logits {
            cached.push((train_set.len(), logits));
        }
        train_set.push(v.example);
    }
    cached
}

fn load(path: &Path, field: &'static str, device: &candle_core::Device) -> Result<MultipleChoice> {
    MultipleChoice::load(path, device)
        .map_err(|e| invalid(field, format!("loading {}: {e}", path.display())))
}

fn canonical(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(io(path))
}

fn invalid(field: &'static str, message: String) -> Error {
    Error::Invalid { field, message }
}
