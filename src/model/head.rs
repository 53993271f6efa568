//! The multiple-choice model: the encoder, one score per (question, choice) sequence from
//! the [CLS] vector or the mean of the tokens, softmax over the choices. A model folder is
//! `config.json`, `tokenizer.json`, `model.safetensors` (encoder and `classifier.*`) and
//! `kgqa.json` ([`HeadConfig`]).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::model::bert::{Bert, Collect, Inputs, mean_pool};
use crate::model::config::Config;
use crate::model::error::{Error, Result};
use crate::model::fusion::{ConceptCache, EntityMention, Fusion, assignment};
use crate::model::tokenize::{Batch, PairEncoder};

/// A standard normal draw (Box-Muller over splitmix64).
/// A standard normal draw from a splitmix64 state (Box-Muller): seeded initialisations.
pub(crate) fn normal(state: &mut u64) -> f32 {
    let unit =
        |s: &mut u64| ((crate::model::rng::splitmix64(s) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (u1, u2) = (unit(state), unit(state));
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// How a sequence becomes one vector.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The [CLS] token's last hidden state.
    #[default]
    Cls,
    /// The mean over real tokens.
    Mean,
}

/// Head and input settings, saved as `kgqa.json`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct HeadConfig {
    /// Pooling of the sequence.
    #[serde(default)]
    pub pooling: Pooling,
    /// Longest encoded sequence; the second segment (choice; facts) is cut first.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// `false` until the head has been trained (its answers mean nothing).
    #[serde(default)]
    pub trained: bool,
    /// The knowledge fusions the model was trained with.
    #[serde(default)]
    pub fusion: Fusion,
}

fn default_max_length() -> usize {
    128
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            pooling: Pooling::Cls,
            max_length: default_max_length(),
            trained: false,
            fusion: Fusion::default(),
        }
    }
}

/// One question to score.
pub struct Question<'a> {
    /// The question text.
    pub question: &'a str,
    /// Context put before the question, if any.
    pub passage: Option<&'a str>,
    /// The candidate answers.
    pub choices: &'a [String],
    /// Verbalized facts per choice (input fusion), aligned with `choices`; may be empty.
    pub facts: &'a [Vec<String>],
    /// Texts of the concepts that entity fusion adds (term and definition); may be empty.
    pub concept_texts: &'a [String],
    /// Grounded mentions per choice (question and choice), aligned with `choices`; used
    /// when the model has entity fusion, may be empty.
    pub mentions: &'a [Vec<EntityMention>],
}

/// A question encoded for the encoder: the batch of (question, choice) pairs and, with
/// entity fusion, the vectors added to their token embeddings.
pub struct Encoded {
    /// Token ids and masks, one row per choice.
    pub batch: Batch,
    /// `[choices, seq, hidden]` entity-fusion input, if any.
    pub extra: Option<Tensor>,
}

/// A multiple-choice model.
pub struct MultipleChoice {
    bert: Bert,
    classifier: Linear,
    entity_projection: Option<Linear>,
    encoder: PairEncoder,
    head: HeadConfig,
    tensors: HashMap<String, Tensor>,
    /// Concept vectors of a frozen model (set by [`MultipleChoice::load`]; a trainable
    /// model's vectors change with its weights, so it has none).
    concepts: Option<ConceptCache>,
}

/// How many concept vectors a loaded entity-fusion model keeps (1.5 KB each at hidden 384)
/// unless the environment variable `KGQA_CONCEPT_CACHE` gives another number (0: none).
pub const CONCEPT_CACHE: usize = 20_000;

fn concept_cache_capacity() -> usize {
    std::env::var("KGQA_CONCEPT_CACHE").ok().and_then(|v| v.parse().ok()).unwrap_or(CONCEPT_CACHE)
}

impl MultipleChoice {
    /// Loads a model folder. A plain encoder checkpoint (no `classifier.*`, no
    /// `kgqa.json`) gets a zero head: every choice equally likely until trained.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (head, tensors) = Self::read(dir, device)?;
        let mut model = Self::build(dir, head, tensors, device)?;
        let capacity = concept_cache_capacity();
        if model.head.fusion.entity && capacity > 0 {
            model.concepts = Some(ConceptCache::new(capacity));
        }
        Ok(model)
    }

    /// Loads a model folder for training: `adjust` may change the head settings (fusion,
    /// length, pooling) first; every tensor becomes a trainable variable, returned by name.
    /// A missing classifier starts as N(0, 0.02²) drawn from `seed` (BERT's initializer).
    pub fn load_trainable(
        dir: &Path,
        device: &Device,
        seed: u64,
        adjust: impl FnOnce(&mut HeadConfig),
    ) -> Result<(Self, Vec<(String, candle_core::Var)>)> {
        Self::load_trainable_frozen(dir, device, seed, adjust, &|_| false)
    }

    /// [`Self::load_trainable`], except that the tensors `frozen` names stay plain tensors:
    /// not returned as variables, so no gradient flows through them (and frozen attention
    /// weights get the fused inference product).
    pub fn load_trainable_frozen(
        dir: &Path,
        device: &Device,
        seed: u64,
        adjust: impl FnOnce(&mut HeadConfig),
        frozen: &dyn Fn(&str) -> bool,
    ) -> Result<(Self, Vec<(String, candle_core::Var)>)> {
        let (mut head, mut tensors) = Self::read(dir, device)?;
        adjust(&mut head);
        if !tensors.contains_key("classifier.weight") {
            let h = Config::read(&dir.join("config.json"))?.hidden_size;
            let mut state = seed ^ 0xC1A5_51F1;
            let values: Vec<f32> = (0..h).map(|_| 0.02 * normal(&mut state)).collect();
            tensors.insert("classifier.weight".into(), Tensor::from_vec(values, (1, h), device)?);
        }
        let mut vars = Vec::with_capacity(tensors.len());
        let mut as_vars = HashMap::with_capacity(tensors.len());
        for (name, t) in tensors {
            if frozen(&name) {
                as_vars.insert(name, t);
                continue;
            }
            let var = candle_core::Var::from_tensor(&t)?;
            as_vars.insert(name.clone(), var.as_tensor().clone());
            vars.push((name, var));
        }
        // Every tensor read (variable or frozen); parts `build` adds become variables.
        let known: std::collections::HashSet<String> = as_vars.keys().cloned().collect();
        let model = Self::build(dir, head, as_vars, device)?;
        let mut model = model;
        for (name, t) in model.tensors.clone() {
            if !known.contains(&name) {
                let var = candle_core::Var::from_tensor(&t)?;
                model.tensors.insert(name.clone(), var.as_tensor().clone());
                vars.push((name, var));
            }
        }
        let model = Self::build(dir, model.head.clone(), model.tensors, device)?;
        Ok((model, vars))
    }

    /// The uniform average of the weights of several model folders of one shape (a
    /// "model soup", Wortsman et al. 2022: models fine-tuned from one start, such as the
    /// evaluations of a run kept by `--keep-evaluations`, often score better averaged than
    /// alone). The result has the first folder's head, configuration and tokenizer; a
    /// folder whose head settings, configuration, tensor names or shapes differ is refused
    /// by name.
    pub fn average(dirs: &[&Path], device: &Device) -> Result<Self> {
        Self::average_weighted(&dirs.iter().map(|d| (*d, 1.0)).collect::<Vec<_>>(), device)
    }

    /// [`Self::average`] with a weight per folder: the sum of each tensor times its folder's
    /// weight over the sum of the weights (a soup leaning towards some members). Weights
    /// must be finite and at least 0, with a positive sum.
    pub fn average_weighted(members: &[(&Path, f64)], device: &Device) -> Result<Self> {
        let Some(&(first, _)) = members.first() else {
            return Err(Error::Unsupported("averaging needs at least one model".into()));
        };
        let total: f64 = members.iter().map(|(_, w)| w).sum();
        if members.iter().any(|(_, w)| !w.is_finite() || *w < 0.0) || total <= 0.0 {
            let weights: Vec<f64> = members.iter().map(|(_, w)| *w).collect();
            return Err(Error::Unsupported(format!(
                "soup weights must be finite, at least 0 and not all 0, got {weights:?}"
            )));
        }
        let (head, mut sum) = Self::read(first, device)?;
        for t in sum.values_mut() {
            *t = (&*t * (members[0].1 / total))?;
        }
        let config = Config::read(&first.join("config.json"))?;
        for &(dir, weight) in &members[1..] {
            let mismatch = |message: String| Error::Mismatch { path: dir.to_path_buf(), message };
            let (other_head, tensors) = Self::read(dir, device)?;
            if other_head != head || Config::read(&dir.join("config.json"))? != config {
                let what =
                    format!("other settings than {} (kgqa.json, config.json)", first.display());
                return Err(mismatch(what));
            }
            if tensors.len() != sum.len() {
                return Err(mismatch(format!(
                    "{} tensors, the first model {}",
                    tensors.len(),
                    sum.len()
                )));
            }
            for (name, t) in tensors {
                let Some(s) = sum.get_mut(&name) else {
                    return Err(mismatch(format!("tensor {name} is not in the first model")));
                };
                if s.shape() != t.shape() {
                    let (a, b) = (t.shape(), s.shape());
                    return Err(mismatch(format!(
                        "tensor {name} is {a:?}, in the first model {b:?}"
                    )));
                }
                *s = (&*s + (t * (weight / total))?)?;
            }
        }
        Self::build(first, head, sum, device)
    }

    fn read(dir: &Path, device: &Device) -> Result<(HeadConfig, HashMap<String, Tensor>)> {
        let head_path = dir.join("kgqa.json");
        let head: HeadConfig = if head_path.is_file() {
            let text = std::fs::read_to_string(&head_path)
                .map_err(|source| Error::Io { path: head_path.clone(), source })?;
            serde_json::from_str(&text)
                .map_err(|source| Error::Config { path: head_path, source })?
        } else {
            HeadConfig::default()
        };
        let path = dir.join("model.safetensors");
        let bytes =
            std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let mut tensors =
            candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| Error::Mismatch {
                path: path.clone(),
                message: format!("not a complete safetensors file: {e}"),
            })?;
        crate::model::kernels::quant::dequantize_all(&mut tensors)?;
        // The checkpoint's pooler (`pooler.dense.*`) is never read: scores pool the last
        // layer itself. Dropped here, trained and exported folders do not carry it.
        tensors.retain(|name, _| !is_pooler(name));
        // Half-precision folders (exported students) compute in F32.
        for t in tensors.values_mut() {
            if t.dtype().is_float() && t.dtype() != DType::F32 {
                *t = t.to_dtype(DType::F32)?;
            }
        }
        Ok((head, tensors))
    }

    fn build(
        dir: &Path,
        head: HeadConfig,
        mut tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        let config = Config::read(&dir.join("config.json"))?;
        let h = config.hidden_size;
        tensors.entry("classifier.weight".into()).or_insert(Tensor::zeros(
            (1, h),
            DType::F32,
            device,
        )?);
        tensors.entry("classifier.bias".into()).or_insert(Tensor::zeros(1, DType::F32, device)?);
        if head.fusion.entity {
            // A new projection starts at zero: fusion begins as a no-op and is learned.
            tensors.entry("entity_projection.weight".into()).or_insert(Tensor::zeros(
                (h, h),
                DType::F32,
                device,
            )?);
            tensors.entry("entity_projection.bias".into()).or_insert(Tensor::zeros(
                h,
                DType::F32,
                device,
            )?);
        }
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, device);
        let bert = Bert::load(vb.clone(), &config).map_err(|e| Error::Mismatch {
            path: dir.join("model.safetensors"),
            message: format!("does not fit config.json: {e}"),
        })?;
        let classifier = candle_nn::linear(h, 1, vb.pp("classifier"))?;
        let entity_projection = if head.fusion.entity {
            Some(candle_nn::linear(h, h, vb.pp("entity_projection"))?)
        } else {
            None
        };
        let encoder = PairEncoder::from_file(&dir.join("tokenizer.json"), head.max_length)?;
        Ok(MultipleChoice {
            bert,
            classifier,
            entity_projection,
            encoder,
            head,
            tensors,
            concepts: None,
        })
    }

    /// Number of parameters (every tensor of the model folder).
    pub fn parameters(&self) -> usize {
        self.tensors.values().map(Tensor::elem_count).sum()
    }

    /// Marks the head as trained (saved in `kgqa.json`).
    pub fn set_trained(&mut self, trained: bool) {
        self.head.trained = trained;
    }

    /// Writes the model folder (weights, configuration, tokenizer, head settings).
    pub fn save(&self, dir: &Path, tokenizer_json: &Path) -> Result<()> {
        self.save_without(dir, tokenizer_json, &[])
    }

    /// [`MultipleChoice::save`] leaving out the tensors named in `skip`.
    pub fn save_without(&self, dir: &Path, tokenizer_json: &Path, skip: &[&str]) -> Result<()> {
        self.save_as(dir, tokenizer_json, skip, DType::F32, &[])
    }

    /// Writes the model folder with its float weights stored as `storage` (F16 halves the
    /// size; loading converts back to F32) and the 2-D tensors named in `int8` as row-wise
    /// 8-bit codes ([`crate::model::kernels::quant`]), leaving out the tensors named in `skip`.
    pub fn save_as(
        &self,
        dir: &Path,
        tokenizer_json: &Path,
        skip: &[&str],
        storage: DType,
        int8: &[&str],
    ) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut kept: HashMap<String, Tensor> = HashMap::new();
        for (n, t) in &self.tensors {
            if skip.contains(&n.as_str()) {
                continue;
            }
            if int8.contains(&n.as_str()) {
                let (codes, scales) = crate::model::kernels::quant::quantize_rows(t)?;
                kept.insert(format!("{n}{}", crate::model::kernels::quant::CODES), codes);
                kept.insert(format!("{n}{}", crate::model::kernels::quant::SCALES), scales);
                continue;
            }
            let t = if t.dtype().is_float() { t.to_dtype(storage)? } else { t.clone() };
            kept.insert(n.clone(), t);
        }
        candle_core::safetensors::save(&kept, dir.join("model.safetensors"))?;
        let config = serde_json::to_string_pretty(self.bert.config()).expect("serializable");
        std::fs::write(dir.join("config.json"), config).map_err(io(&dir.join("config.json")))?;
        let head = serde_json::to_string_pretty(&self.head).expect("serializable");
        std::fs::write(dir.join("kgqa.json"), head).map_err(io(&dir.join("kgqa.json")))?;
        if tokenizer_json != dir.join("tokenizer.json") {
            std::fs::copy(tokenizer_json, dir.join("tokenizer.json"))
                .map_err(io(&dir.join("tokenizer.json")))?;
        }
        Ok(())
    }

    /// Names of the encoder layers' matrix weights (what int8 products run on), sorted.
    pub fn layer_matrices(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .tensors
            .iter()
            .filter(|(n, t)| n.contains(".layer.") && n.ends_with(".weight") && t.rank() == 2)
            .map(|(n, _)| n.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// The head settings.
    pub fn head(&self) -> &HeadConfig {
        &self.head
    }

    /// Replaces the classifier's weights (`[1, hidden]` and `[1]`).
    pub fn set_classifier(&mut self, weight: Tensor, bias: Tensor) -> Result<()> {
        self.classifier = Linear::new(weight.clone(), Some(bias.clone()));
        self.tensors.insert("classifier.weight".into(), weight);
        self.tensors.insert("classifier.bias".into(), bias);
        Ok(())
    }

    /// Replaces the entity projection (`[hidden, hidden]` and `[hidden]`), turning entity
    /// fusion on.
    pub fn set_entity_projection(&mut self, weight: Tensor, bias: Tensor) {
        self.entity_projection = Some(Linear::new(weight.clone(), Some(bias.clone())));
        self.tensors.insert("entity_projection.weight".into(), weight);
        self.tensors.insert("entity_projection.bias".into(), bias);
        self.head.fusion.entity = true;
    }

    /// Chooses the precision of the encoder's inference products (see
    /// [`Bert::set_precision`]); training always runs f32.
    pub fn set_precision(&mut self, precision: crate::model::kernels::Precision) -> Result<()> {
        self.bert.set_precision(precision)
    }

    /// The encoder.
    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    /// One vector per text: the mean-pooled last layer, in inference mode (no dropout, no
    /// gradient). Entity fusion's concept embeddings; a loaded (frozen) model encodes each
    /// text once and then reads it from its cache.
    pub fn concept_vectors(&self, texts: &[String]) -> Result<Tensor> {
        match &self.concepts {
            Some(cache) => cache.get_or_encode(texts, |t| self.encode_concepts(t)),
            None => self.encode_concepts(texts),
        }
    }

    /// How many concept vectors the model holds in its cache (0 without one).
    pub fn cached_concepts(&self) -> usize {
        self.concepts.as_ref().map_or(0, ConceptCache::len)
    }

    fn encode_concepts(&self, texts: &[String]) -> Result<Tensor> {
        let batch = self.encoder.encode_single(texts, self.bert.device())?;
        let out = self.bert.forward(
            &Inputs {
                input_ids: &batch.input_ids,
                token_type_ids: &batch.token_type_ids,
                attention_mask: &batch.attention_mask,
                extra_embeddings: None,
            },
            Collect::default(),
            false,
        )?;
        Ok(mean_pool(&out.last_hidden_state, &batch.attention_mask)?.detach())
    }

    /// Tokenizes a question's (question, choice; facts) pairs — the facts only when the
    /// model has input fusion — and, when the model has entity fusion and the question
    /// carries mentions, builds the vectors to add.
    pub fn encode(&self, q: &Question<'_>) -> Result<Encoded> {
        self.encode_many(std::slice::from_ref(q))
    }

    /// [`MultipleChoice::encode`] for several questions in one batch (their choices' rows
    /// one after the other).
    pub fn encode_many(&self, questions: &[Question<'_>]) -> Result<Encoded> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut shifts: Vec<usize> = Vec::new();
        let mut concept_texts: Vec<String> = Vec::new();
        let mut mentions: Vec<Vec<EntityMention>> = Vec::new();
        for q in questions {
            let (first, shift) = match q.passage {
                Some(p) if !p.trim().is_empty() => {
                    (format!("{} {}", p.trim(), q.question), p.trim().len() + 1)
                }
                _ => (q.question.to_owned(), 0),
            };
            let offset = concept_texts.len();
            concept_texts.extend(q.concept_texts.iter().cloned());
            for (i, choice) in q.choices.iter().enumerate() {
                // Only a model trained with input fusion reads facts (a teacher of another
                // fusion in an ensemble gets the input it was trained on).
                let facts = q.facts.get(i).filter(|f| self.head.fusion.input && !f.is_empty());
                let second = match facts {
                    Some(f) => format!("{choice} ; {}", f.join(" ; ")),
                    None => choice.clone(),
                };
                pairs.push((first.clone(), second));
                shifts.push(shift);
                let row: Vec<EntityMention> = q
                    .mentions
                    .get(i)
                    .map(|ms| {
                        ms.iter()
                            .map(|m| EntityMention {
                                concepts: m.concepts.iter().map(|c| c + offset).collect(),
                                ..m.clone()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                mentions.push(row);
            }
        }
        let batch = self.encoder.encode(&pairs, self.bert.device())?;
        let extra = match &self.entity_projection {
            Some(projection)
                if !concept_texts.is_empty() && mentions.iter().any(|m| !m.is_empty()) =>
            {
                let vectors = self.concept_vectors(&concept_texts)?;
                let projected = projection.forward(&vectors)?;
                let a = assignment(
                    &batch.pieces,
                    &mentions,
                    concept_texts.len(),
                    &shifts,
                    self.bert.device(),
                )?;
                let (rows, seq) = batch.input_ids.dims2()?;
                let hidden = self.bert.config().hidden_size;
                Some(a.matmul(&projected)?.reshape((rows, seq, hidden))?)
            }
            _ => None,
        };
        Ok(Encoded { batch, extra })
    }

    /// One logit per row (choice), `[rows]`. `train` turns dropout on.
    pub fn logits(&self, encoded: &Encoded, train: bool) -> Result<Tensor> {
        let collect =
            Collect { first_token_only: self.head.pooling == Pooling::Cls, ..Collect::default() };
        Ok(self.forward(encoded, collect, train)?.0)
    }

    /// The logits `[rows]` and the encoder's outputs (hidden states and attentions as
    /// `collect` asks: what distillation imitates).
    pub fn forward(
        &self,
        encoded: &Encoded,
        collect: Collect,
        train: bool,
    ) -> Result<(Tensor, crate::model::bert::Outputs)> {
        let batch = &encoded.batch;
        let out = self.bert.forward(
            &Inputs {
                input_ids: &batch.input_ids,
                token_type_ids: &batch.token_type_ids,
                attention_mask: &batch.attention_mask,
                extra_embeddings: encoded.extra.as_ref(),
            },
            collect,
            train,
        )?;
        let pooled = match self.head.pooling {
            Pooling::Cls => out.last_hidden_state.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => mean_pool(&out.last_hidden_state, &batch.attention_mask)?,
        };
        Ok((self.classifier.forward(&pooled)?.squeeze(1)?, out))
    }

    /// A tensor of the model folder by name (e.g. a distillation projection).
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Removes a tensor from what [`MultipleChoice::save`] writes (training-only parts).
    pub fn drop_tensor(&mut self, name: &str) {
        self.tensors.remove(name);
    }

    /// Probabilities over the choices of one question.
    pub fn score(&self, q: &Question<'_>) -> Result<Vec<f32>> {
        let logits = self.logits(&self.encode(q)?, false)?;
        let probs = candle_nn::ops::softmax_last_dim(&logits)?;
        Ok(probs.to_vec1::<f32>()?)
    }
}

/// Whether `name` is a weight of the checkpoint's pooler, at the top level or under the
/// encoder's prefix (`bert.`, `mpnet.`).
fn is_pooler(name: &str) -> bool {
    let name = name.strip_prefix("bert.").or_else(|| name.strip_prefix("mpnet.")).unwrap_or(name);
    name.starts_with("pooler.")
}
