//! The model layer: a BERT encoder on candle, its configuration and tokenization.

pub mod bert;
#[cfg(feature = "blas")]
pub mod blas;
pub mod config;
pub mod error;
#[cfg(feature = "blas")]
pub mod fast;
pub mod fusion;
pub mod gelu;
pub mod head;
pub mod quant;
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

/// Where `scripts/fetch-model.sh` puts the base encoder:
/// `${KGQA_CACHE:-~/.cache/kgqa}/models/all-MiniLM-L6-v2`.
pub fn default_base_model() -> std::path::PathBuf {
    let cache = std::env::var_os("KGQA_CACHE").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_default()
            .join(".cache/kgqa")
    });
    cache.join("models/all-MiniLM-L6-v2")
}

/// The model `kgqa ask` and the server use by default: the shipped student under
/// `data/models/student` when this build's source tree has one, else the base encoder.
pub fn default_model() -> std::path::PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models/student");
    if shipped.join("model.safetensors").is_file() { shipped } else { default_base_model() }
}

/// Loads a BERT checkpoint folder (`config.json` + `model.safetensors`) in fp32.
pub fn load_bert(dir: &Path, device: &Device) -> Result<Bert> {
    let config = Config::read(&dir.join("config.json"))?;
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)?;
    Bert::load(vb, &config)
}
