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
use crate::train::labels::{self, TeacherLabels};
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
    /// A teacher label file ([`crate::train::labels`]) whose logits stand in for the
    /// teachers' wherever it labels a question; with it `teachers` may be empty.
    pub labels: Option<PathBuf>,
}

/// What a distillation starts from once its inputs are read (see [`DistillPlan::prepare`]).
struct Prepared {
    teachers: Vec<MultipleChoice>,
    labels: Option<TeacherLabels>,
    source: Source,
    /// The source layers the student copies.
    layers: Vec<usize>,
    /// The transfer set: the training questions, then their variants.
    train_set: Vec<Example>,
    /// How many of `train_set` are training questions.
    questions: usize,
    held_out: Vec<Example>,
    /// (training-set index, the teachers' logits) known before training.
    cached_logits: Vec<(usize, Vec<f32>)>,
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
        if self.teachers.is_empty() && self.labels.is_none() {
            let message = "a distillation needs at least one teacher (or --teacher-labels)";
            return Err(invalid("teacher", message.into()));
        }
        Ok(())
    }

    /// Runs (or resumes) the plan to its end or `stop_at`. `graph` gives the synonym
    /// variants (needed when the plan asks for them).
    pub fn run(&self, graph: Option<&Graph>, observer: &mut dyn Observer) -> Result<TrainState> {
        let p = self.prepare(graph, observer)?;
        let layers = p.layers.clone();
        let init = self.run.folder.join("student-init");
        if !init.join("model.safetensors").is_file() {
            let (hidden, seed, narrow) =
                (self.student.hidden, self.config.seed, self.student.narrow_init);
            build_student(&p.source.path, &init, &layers, hidden, seed, narrow)?;
        }
        let base = canonical(&init)?;
        let config = TrainConfig { base, fusion: p.source.student, ..self.config.clone() };
        if p.teachers.is_empty() && self.losses.alpha > 0.0 {
            self.all_labelled(&p)?;
        }
        let objective = Distill::new(p.teachers, self.losses.clone())
            .with_cached_logits(p.cached_logits)
            .with_hidden_cache(self.teacher_cache_bytes);
        self.write_record(&layers)?;
        observer.started(p.train_set.len(), p.held_out.len(), config.fusion);
        let mut step = |s: &TrainState, total: u64, loss: f64| observer.step(s, total, loss);
        let training_only = [distill::PROJECTION, distill::PROJECTION_BIAS];
        let (run, stop, train_set) = (&self.run.folder, self.run.stop_at, &p.train_set);
        train_with(
            run,
            &config,
            train_set,
            &p.held_out,
            stop,
            &objective,
            &training_only,
            &mut step,
        )
    }

    /// Labels the plan's whole transfer set (its training questions and their variants)
    /// with the teachers and writes the logits to `out` ([`crate::train::labels`]) instead
    /// of training; both labellings resume in the run folder. Returns how many questions
    /// the file labels.
    pub fn export_labels(
        &self,
        graph: Option<&Graph>,
        out: &Path,
        observer: &mut dyn Observer,
    ) -> Result<usize> {
        let p = self.prepare(graph, observer)?;
        if p.teachers.is_empty() {
            return Err(invalid("teacher", "labels are made by teachers; give --teacher".into()));
        }
        let fusion = teachers_fusion(&p.teachers);
        if fusion.entity {
            let message = "entity fusion's inputs (concept mentions) are not keyed in label \
                           files; label with input-fusion or LM-only teachers";
            return Err(invalid("teacher", message.into()));
        }
        let originals = p.questions;
        let questions: Vec<(Example, bool)> =
            p.train_set[..originals].iter().map(|e| (e.clone(), false)).collect();
        let settings = self.label_settings(originals, p.source.examples)?;
        let partial = self.run.folder.join(labels::TRAIN_PARTIAL);
        let mut progress = |done: usize, total: usize| observer.labelling(done, total);
        let teachers = &p.teachers;
        let labelled =
            labelled::label_resumably(&partial, &settings, &questions, &mut progress, |b| {
                labels::label_batch(teachers, p.labels.as_ref(), b)
            })?;
        let header = labels::Header {
            format: labels::FORMAT.into(),
            teachers: self.teachers.iter().map(|t| t.display().to_string()).collect(),
            fusion,
            facts: settings.facts.clone().filter(|_| fusion.input),
            command: self.config.command.clone(),
        };
        let from_train =
            labelled.iter().filter_map(|l| Some((&l.example, l.teacher_logits.as_deref()?)));
        let from_variants =
            p.cached_logits.iter().map(|(i, logits)| (&p.train_set[*i], logits.as_slice()));
        labels::write(out, &header, from_train.chain(from_variants))
    }

    /// What both [`DistillPlan::run`] and [`DistillPlan::export_labels`] start from: the
    /// teachers and label file, the student's source, the questions split, the variants
    /// labelled (or read back from the run folder).
    fn prepare(&self, graph: Option<&Graph>, observer: &mut dyn Observer) -> Result<Prepared> {
        self.check()?;
        let device = crate::model::device();
        let labels = self.labels.as_deref().map(TeacherLabels::read).transpose()?;
        let teachers = self
            .teachers
            .iter()
            .map(|t| load(t, "teacher", &device))
            .collect::<Result<Vec<_>>>()?;
        let source = self.source(&teachers, labels.as_ref(), &device)?;
        if source.examples.entity && self.augment.choice_sets > 0 {
            let message = "with entity fusion a choice's mentions point into its own \
                           question's concept list, so choices cannot move between \
                           questions; use synonym variants";
            return Err(invalid("augment_choices", message.into()));
        }
        // The last check before the run folder is written.
        let layers = self.layers(source.depth)?;
        std::fs::create_dir_all(&self.run.folder).map_err(io(&self.run.folder))?;
        let items = self.data.items(Split::Listed)?;
        let examples = self.data.examples(&items, source.examples)?;
        let (mut train_set, held_out) = split_held_out(examples, self.run.held_out);
        let questions = train_set.len();
        let mut cached_logits = Vec::new();
        if !self.augment.is_empty() {
            let concepts = items.iter().map(|i| i.question_concept.clone()).collect();
            let concepts = split_held_out(concepts, self.run.held_out).0;
            let sources = Sources {
                graph,
                teachers: &teachers,
                labels: labels.as_ref(),
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
        if let Some(l) = &labels {
            let found = train_set[..questions]
                .iter()
                .enumerate()
                .filter_map(|(i, e)| Some((i, l.get(e)?.to_vec())));
            cached_logits.extend(found);
        }
        Ok(Prepared {
            teachers,
            labels,
            source,
            layers,
            train_set,
            questions,
            held_out,
            cached_logits,
        })
    }

    /// Without teachers every training question must come labelled: checked before the
    /// first step rather than met at some step.
    fn all_labelled(&self, p: &Prepared) -> Result<()> {
        let cached: std::collections::HashSet<usize> =
            p.cached_logits.iter().map(|(i, _)| *i).collect();
        match (0..p.train_set.len()).find(|i| !cached.contains(i)) {
            None => Ok(()),
            Some(i) => labels::label_batch(&[], p.labels.as_ref(), &[&p.train_set[i]]).map(|_| ()),
        }
    }

    /// The student's source: `student.from`, else the first teacher. Without teachers
    /// (a label file instead) the questions carry what the labelling teachers read.
    fn source(
        &self,
        teachers: &[MultipleChoice],
        labels: Option<&TeacherLabels>,
        device: &candle_core::Device,
    ) -> Result<Source> {
        let Some(from) = &self.student.from else {
            let Some(teacher) = teachers.first() else {
                let message = "without --teacher the student starts from --student-from";
                return Err(invalid("student_from", message.into()));
            };
            let (depth, fusion) =
                (teacher.bert().config().num_hidden_layers, teacher.head().fusion);
            let path = self.teachers[0].clone();
            return Ok(Source { path, student: fusion, examples: fusion, depth });
        };
        let student = load(from, "student_from", device)?;
        let imitates = self.losses.cosine > 0.0 || self.losses.tinybert;
        let t = match (teachers.first(), labels) {
            (Some(teacher), _) => {
                let (width, teacher_width) =
                    (student.bert().config().hidden_size, teacher.bert().config().hidden_size);
                if imitates && (width != teacher_width || self.student.hidden.is_some()) {
                    let message = format!(
                        "the student ({width} wide) and the teacher ({teacher_width}) share no \
                         hidden space to imitate; use the soft targets alone (no cosine or \
                         TinyBERT loss)"
                    );
                    return Err(invalid("student_from", message));
                }
                teachers_fusion(teachers)
            }
            (None, Some(l)) if !imitates => l.header.fusion,
            (None, _) => {
                let message = "the cosine and TinyBERT losses imitate a teacher's hidden \
                               states, which a label file does not hold; give --teacher";
                return Err(invalid("teacher", message.into()));
            }
        };
        let s = student.head().fusion;
        Ok(Source {
            path: from.clone(),
            student: s,
            examples: s.union(t),
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

/// The fusion of what an ensemble of teachers reads (any teacher's).
fn teachers_fusion(teachers: &[MultipleChoice]) -> Fusion {
    teachers.iter().map(|t| t.head().fusion).fold(Fusion::default(), Fusion::union)
}
