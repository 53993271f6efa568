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
use crate::model::tokenize::PairEncoder;

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
}

fn default_max_length() -> usize {
    128
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig { pooling: Pooling::Cls, max_length: default_max_length(), trained: false }
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
}

/// A multiple-choice model.
pub struct MultipleChoice {
    bert: Bert,
    classifier: Linear,
    encoder: PairEncoder,
    head: HeadConfig,
    tensors: HashMap<String, Tensor>,
}

impl MultipleChoice {
    /// Loads a model folder. A plain encoder checkpoint (no `classifier.*`, no
    /// `kgqa.json`) gets a zero head: every choice equally likely until trained.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let config = Config::read(&dir.join("config.json"))?;
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
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, device)?;
        let h = config.hidden_size;
        tensors.entry("classifier.weight".into()).or_insert(Tensor::zeros(
            (1, h),
            DType::F32,
            device,
        )?);
        tensors.entry("classifier.bias".into()).or_insert(Tensor::zeros(1, DType::F32, device)?);
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, device);
        let bert = Bert::load(vb.clone(), &config)?;
        let classifier = candle_nn::linear(h, 1, vb.pp("classifier"))?;
        let encoder = PairEncoder::from_file(&dir.join("tokenizer.json"), head.max_length)?;
        Ok(MultipleChoice { bert, classifier, encoder, head, tensors })
    }

    /// Writes the model folder (weights, configuration, tokenizer, head settings).
    pub fn save(&self, dir: &Path, tokenizer_json: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        candle_core::safetensors::save(&self.tensors, dir.join("model.safetensors"))?;
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

    /// Probabilities over the choices of one question.
    pub fn score(&self, q: &Question<'_>) -> Result<Vec<f32>> {
        let first = match q.passage {
            Some(p) if !p.trim().is_empty() => format!("{} {}", p.trim(), q.question),
            _ => q.question.to_owned(),
        };
        let pairs: Vec<(String, String)> = q
            .choices
            .iter()
            .enumerate()
            .map(|(i, choice)| {
                let facts = q.facts.get(i).filter(|f| !f.is_empty());
                let second = match facts {
                    Some(f) => format!("{choice} ; {}", f.join(" ; ")),
                    None => choice.clone(),
                };
                (first.clone(), second)
            })
            .collect();
        let batch = self.encoder.encode(&pairs, self.bert.device())?;
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
        let pooled = match self.head.pooling {
            Pooling::Cls => out.last_hidden_state.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => mean_pool(&out.last_hidden_state, &batch.attention_mask)?,
        };
        let logits = self.classifier.forward(&pooled)?.squeeze(1)?;
        let probs = candle_nn::ops::softmax_last_dim(&logits)?;
        Ok(probs.to_vec1::<f32>()?)
    }
}
