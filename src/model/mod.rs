//! The model layer: a BERT encoder on candle, its configuration and tokenization.

pub mod bert;
pub mod config;
pub mod error;
pub mod head;
pub mod tokenize;

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

pub use bert::{Bert, Collect, Inputs, Outputs};
pub use config::Config;
pub use error::{Error, Result};

/// The CPU device (one place to change when a CUDA build is wanted).
pub fn device() -> Device {
    Device::Cpu
}

/// Loads a BERT checkpoint folder (`config.json` + `model.safetensors`) in fp32.
pub fn load_bert(dir: &Path, device: &Device) -> Result<Bert> {
    let config = Config::read(&dir.join("config.json"))?;
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)?;
    Bert::load(vb, &config)
}
