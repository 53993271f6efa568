//! The model layer: a BERT encoder on candle, its configuration and tokenization; the
//! hand-written CPU kernels it runs on live in [`kernels`].

pub mod bert;
pub mod config;
pub mod error;
pub mod fusion;
pub mod head;
pub mod kernels;
pub mod mpnet;
pub mod rng;
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

/// Where a checkout keeps its shipped student, relative to its root.
pub const SHIPPED_MODEL: &str = "data/models/student";

/// The model `kgqa ask` and the server use by default: the first `data/models/student`
/// found in the current directory, in a folder above the executable (a checkout's
/// `target/release/kgqa`), or in the source tree this binary was built from; else the
/// base encoder ([`default_base_model`]). The search is at run time, so a binary built
/// into a shared target folder, or copied, uses the checkout it runs in rather than the
/// one it happened to be compiled from.
pub fn default_model() -> std::path::PathBuf {
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    find_shipped(cwd.as_deref(), exe.as_deref(), built).unwrap_or_else(default_base_model)
}

/// The first of `cwd`, the folders above `exe` (up to four) and `built` that holds a
/// shipped student with weights.
fn find_shipped(
    cwd: Option<&Path>,
    exe: Option<&Path>,
    built: &Path,
) -> Option<std::path::PathBuf> {
    let above_exe = exe.into_iter().flat_map(|e| e.ancestors().skip(1).take(4));
    cwd.into_iter()
        .chain(above_exe)
        .chain(std::iter::once(built))
        .map(|root| root.join(SHIPPED_MODEL))
        .find(|dir| dir.join("model.safetensors").is_file())
}

/// Loads a BERT checkpoint folder (`config.json` + `model.safetensors`) in fp32.
pub fn load_bert(dir: &Path, device: &Device) -> Result<Bert> {
    let config = Config::read(&dir.join("config.json"))?;
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)?;
    Bert::load(vb, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout(root: &Path) {
        let dir = root.join(SHIPPED_MODEL);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.safetensors"), b"x").unwrap();
    }

    #[test]
    fn shipped_model_is_found_where_the_binary_runs_first() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        for d in [&a, &b, &c] {
            checkout(d.path());
        }
        let exe = b.path().join("target/release/kgqa");
        let found = |cwd: Option<&Path>, exe: Option<&Path>| find_shipped(cwd, exe, c.path());
        assert_eq!(found(Some(a.path()), Some(&exe)), Some(a.path().join(SHIPPED_MODEL)));
        assert_eq!(found(None, Some(&exe)), Some(b.path().join(SHIPPED_MODEL)));
        assert_eq!(found(None, None), Some(c.path().join(SHIPPED_MODEL)));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(find_shipped(Some(empty.path()), None, empty.path()), None);
        // A folder without weights does not count.
        std::fs::create_dir_all(empty.path().join(SHIPPED_MODEL)).unwrap();
        assert_eq!(
            find_shipped(Some(empty.path()), None, c.path()),
            Some(c.path().join(SHIPPED_MODEL))
        );
    }
}
