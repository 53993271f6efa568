//! What the CPU can run: its model name and the widest vector instruction set it has,
//! detected at run time, so that kernel choices never depend on a library's list of
//! known CPU models.

use std::sync::OnceLock;

use serde::Serialize;

/// Vector instruction sets, weakest first: a kernel built for a later one is faster on a
/// CPU that has it. x86-64 and aarch64 levels share one order only to compare within an
/// architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isa {
    /// Scalar or unknown.
    Generic,
    /// SSE2/SSE3 (every x86-64).
    Sse,
    /// AVX (256-bit, no FMA).
    Avx,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 F, BW, DQ, VL and CD: what OpenBLAS's SkylakeX kernels need.
    Avx512,
    /// aarch64 Advanced SIMD (every aarch64).
    Neon,
}

impl Isa {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Generic => "generic",
            Isa::Sse => "sse",
            Isa::Avx => "avx",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }
}

/// The running CPU as the kernels see it.
#[derive(Clone, Debug, Serialize)]
pub struct Cpu {
    /// The model name (`/proc/cpuinfo`), or "unknown".
    pub model: String,
    /// The vendor string ("GenuineIntel", "AuthenticAMD", ...), or "unknown".
    pub vendor: String,
    /// The widest instruction set it runs.
    pub isa: Isa,
    /// Features that the low-precision kernels care about and this CPU has
    /// (`avx512_bf16`, `avx512_vnni`, `avx_vnni`, `f16c`, ...).
    pub extras: Vec<&'static str>,
}

/// The running CPU, detected once.
pub fn cpu() -> &'static Cpu {
    static CPU: OnceLock<Cpu> = OnceLock::new();
    CPU.get_or_init(detect)
}

fn detect() -> Cpu {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let model = field("model name").or_else(|| field("Model")).unwrap_or_else(|| "unknown".into());
    let vendor = field("vendor_id").or_else(|| field("CPU implementer"));
    Cpu { model, vendor: vendor.unwrap_or_else(|| "unknown".into()), isa: isa(), extras: extras() }
}

#[cfg(target_arch = "x86_64")]
fn isa() -> Isa {
    use std::arch::is_x86_feature_detected as has;
    if has!("avx512f")
        && has!("avx512bw")
        && has!("avx512dq")
        && has!("avx512vl")
        && has!("avx512cd")
    {
        Isa::Avx512
    } else if has!("avx2") && has!("fma") {
        Isa::Avx2
    } else if has!("avx") {
        Isa::Avx
    } else {
        Isa::Sse
    }
}

#[cfg(target_arch = "aarch64")]
fn isa() -> Isa {
    Isa::Neon
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn isa() -> Isa {
    Isa::Generic
}

#[cfg(target_arch = "x86_64")]
fn extras() -> Vec<&'static str> {
    use std::arch::is_x86_feature_detected as has;
    let mut found = Vec::new();
    if has!("f16c") {
        found.push("f16c");
    }
    if has!("avx512bf16") {
        found.push("avx512_bf16");
    }
    if has!("avx512vnni") {
        found.push("avx512_vnni");
    }
    if has!("avxvnni") {
        found.push("avx_vnni");
    }
    if has!("avx512fp16") {
        found.push("avx512_fp16");
    }
    found
}

#[cfg(not(target_arch = "x86_64"))]
fn extras() -> Vec<&'static str> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_names_a_model_and_an_instruction_set() {
        let cpu = cpu();
        assert!(!cpu.model.is_empty());
        #[cfg(target_arch = "x86_64")]
        assert!(cpu.isa >= Isa::Sse, "every x86-64 has SSE2: {cpu:?}");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(cpu.isa, Isa::Neon);
    }
}
