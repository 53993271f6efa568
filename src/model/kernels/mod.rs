//! Hand-written CPU kernels under the model: matrix products ([`blas`], through the
//! system OpenBLAS with the core kgqa chose, [`openblas`]), the fused inference layer
//! ([`fast`]), int8 products for inference ([`int8`], chosen by [`Precision`]), row-wise
//! passes ([`layernorm`], [`softmax`], [`gelu`], [`dropout`]), 8-bit storage ([`quant`])
//! and the CPU they run on ([`cpu`]). [`path`] says which product kernels run, for logs,
//! `/health` and reports.

#[cfg(feature = "blas")]
pub mod blas;
pub mod cpu;
pub(crate) mod cpu_op;
pub mod dropout;
#[cfg(feature = "blas")]
pub mod fast;
pub mod gelu;
pub mod int8;
pub mod layernorm;
#[cfg(feature = "blas")]
pub mod openblas;
pub mod quant;
pub mod softmax;

use std::sync::OnceLock;

use serde::Serialize;

/// How an inference model runs its matrix products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 products (BLAS): the reference, and what training always uses.
    F32,
    /// int8 products with per-row scales ([`int8`]); fast on CPUs with AVX-512 VNNI.
    Int8,
}

impl Precision {
    /// Int8 where the CPU has AVX-512 VNNI, f32 elsewhere.
    pub fn auto() -> Self {
        if int8::vnni() { Self::Int8 } else { Self::F32 }
    }

    /// Parses `auto`, `f32` or `int8`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::auto()),
            "f32" => Some(Self::F32),
            "int8" => Some(Self::Int8),
            _ => None,
        }
    }

    /// `f32` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
        }
    }
}

pub use cpu::Isa;

/// Which matrix-product kernels run, and whether they are the best the CPU supports.
#[derive(Clone, Debug, Serialize)]
pub struct KernelPath {
    /// The CPU's model name.
    pub cpu: String,
    /// The widest instruction set the CPU runs.
    pub cpu_isa: Isa,
    /// The product library: "OpenBLAS 0.3.21 ...", "ndarray" or "candle".
    pub library: String,
    /// Its kernel core ("Haswell", "SkylakeX", ...) or dispatch ("avx2+fma").
    pub core: String,
    /// The instruction set those kernels use.
    pub isa: Isa,
    /// Who chose the core: "kgqa", "environment" (`OPENBLAS_CORETYPE`) or "library".
    pub chosen_by: String,
}

impl KernelPath {
    /// True when the kernels in use are weaker than what the CPU runs (e.g. OpenBLAS's
    /// SSE3 `Prescott` kernels on an AVX-512 CPU).
    pub fn weaker_than_cpu(&self) -> bool {
        self.isa < self.cpu_isa
    }

    /// One line for logs and reports, e.g.
    /// "OpenBLAS 0.3.21 core Zen (avx2, chosen by kgqa) on AMD EPYC (avx2)".
    pub fn summary(&self) -> String {
        let library = self.library.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let warning = if self.weaker_than_cpu() { "; WEAKER THAN THE CPU SUPPORTS" } else { "" };
        format!(
            "{library} core {} ({}, chosen by {}) on {} ({}){warning}",
            self.core,
            self.isa.name(),
            self.chosen_by,
            self.cpu,
            self.cpu_isa.name()
        )
    }
}

/// Loads the product library (choosing its kernels) and returns the path in use. The
/// binary calls it first thing, before any thread starts; later calls are free.
pub fn init() -> &'static KernelPath {
    path()
}

/// The matrix-product kernels in use, found once.
pub fn path() -> &'static KernelPath {
    static PATH: OnceLock<KernelPath> = OnceLock::new();
    PATH.get_or_init(find_path)
}

#[cfg(feature = "blas")]
fn find_path() -> KernelPath {
    let cpu = cpu::cpu();
    let base = |library: String, core: String, isa: Isa, chosen_by: &str| KernelPath {
        cpu: cpu.model.clone(),
        cpu_isa: cpu.isa,
        library,
        core,
        isa,
        chosen_by: chosen_by.into(),
    };
    match openblas::get() {
        Some(lib) => {
            let chosen_by = serde_json::to_value(lib.chosen_by)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            base(lib.config.clone(), lib.core.clone(), openblas::core_isa(&lib.core), &chosen_by)
        }
        None => {
            let (core, isa) = fallback_dispatch();
            base("ndarray (matrixmultiply; no OpenBLAS found)".into(), core, isa, "library")
        }
    }
}

#[cfg(not(feature = "blas"))]
fn find_path() -> KernelPath {
    let cpu = cpu::cpu();
    KernelPath {
        cpu: cpu.model.clone(),
        cpu_isa: cpu.isa,
        library: "candle (gemm crate; built without the blas feature)".into(),
        core: "runtime dispatch".into(),
        isa: cpu.isa.min(Isa::Avx2),
        chosen_by: "library".into(),
    }
}

/// What ndarray's own products (the `matrixmultiply` crate) dispatch to on this CPU:
/// AVX2 with FMA at best.
#[cfg(feature = "blas")]
fn fallback_dispatch() -> (String, Isa) {
    match cpu::cpu().isa {
        Isa::Avx512 | Isa::Avx2 => ("avx2+fma".into(), Isa::Avx2),
        Isa::Neon => ("neon".into(), Isa::Neon),
        Isa::Avx => ("avx".into(), Isa::Avx),
        Isa::Sse => ("sse2".into(), Isa::Sse),
        Isa::Generic => ("scalar".into(), Isa::Generic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(core_isa: Isa, cpu_isa: Isa) -> KernelPath {
        KernelPath {
            cpu: "test".into(),
            cpu_isa,
            library: "OpenBLAS 0.3.21".into(),
            core: "Prescott".into(),
            isa: core_isa,
            chosen_by: "library".into(),
        }
    }

    #[test]
    fn sse_kernels_on_an_avx512_cpu_are_weaker() {
        assert!(path(Isa::Sse, Isa::Avx512).weaker_than_cpu());
        assert!(path(Isa::Avx2, Isa::Avx512).weaker_than_cpu());
        assert!(!path(Isa::Avx512, Isa::Avx512).weaker_than_cpu());
        assert!(!path(Isa::Avx2, Isa::Avx2).weaker_than_cpu());
        assert!(path(Isa::Sse, Isa::Avx512).summary().contains("WEAKER"));
    }

    /// The path this process runs is as strong as its CPU allows: the check that fails on
    /// a machine where OpenBLAS would fall back to generic kernels and kgqa did not
    /// correct it.
    #[test]
    fn kernels_in_use_are_the_best_the_cpu_supports() {
        let p = super::path();
        assert!(!p.weaker_than_cpu(), "{}", p.summary());
    }
}
