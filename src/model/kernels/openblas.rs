//! The system OpenBLAS, loaded at run time with the kernel core chosen by kgqa.
//!
//! Distribution builds of OpenBLAS (`DYNAMIC_ARCH`) pick their kernels from a list of CPU
//! models they know; on a CPU newer than the build (a recent Xeon, or a cloud machine
//! reporting a generic model) they fall back to the SSE3 `Prescott` kernels, 3-4x
//! slower. The core is read from `OPENBLAS_CORETYPE` once, when the library is loaded,
//! so kgqa loads it itself (`dlopen`) after setting that variable from the instruction
//! sets the CPU reports ([`super::cpu`]); a value the user set is kept. Nothing links
//! OpenBLAS at build time: without it, products run on ndarray's own kernels.

use std::ffi::{CStr, c_char, c_int};
use std::sync::OnceLock;

use libloading::Library;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::cpu::{Cpu, Isa};

/// `cblas_sgemm`'s signature.
type Sgemm = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);

/// A loaded OpenBLAS.
pub struct OpenBlas {
    sgemm: Sgemm,
    /// The kernel core in use (`openblas_get_corename`), e.g. "Haswell".
    pub core: String,
    /// The build's description (`openblas_get_config`), e.g. "OpenBLAS 0.3.21 ...".
    pub config: String,
    /// Who chose the core.
    pub chosen_by: ChosenBy,
    /// Keeps the function pointers valid.
    _library: Library,
}

/// Who chose OpenBLAS's kernel core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChosenBy {
    /// kgqa, from the CPU's instruction sets.
    Kgqa,
    /// The user, through `OPENBLAS_CORETYPE`.
    Environment,
    /// OpenBLAS's own detection (kgqa knew no better core for this CPU).
    Library,
}

/// The process's OpenBLAS, loaded on first use; `None` when no library is found.
pub fn get() -> Option<&'static OpenBlas> {
    static LOADED: OnceLock<Option<OpenBlas>> = OnceLock::new();
    LOADED.get_or_init(|| load(super::cpu::cpu())).as_ref()
}

/// The OpenBLAS core whose kernels are the best this CPU runs, or `None` to leave the
/// choice to OpenBLAS (no better one known).
pub fn core_for(cpu: &Cpu) -> Option<&'static str> {
    match cpu.isa {
        Isa::Avx512 => Some("SkylakeX"),
        Isa::Avx2 if cpu.vendor == "AuthenticAMD" => Some("Zen"),
        Isa::Avx2 => Some("Haswell"),
        Isa::Avx => Some("Sandybridge"),
        _ => None,
    }
}

/// The instruction set an OpenBLAS core's kernels use.
pub fn core_isa(core: &str) -> Isa {
    let core = core.to_ascii_lowercase();
    let x86_sse = [
        "katmai",
        "coppermine",
        "northwood",
        "prescott",
        "banias",
        "atom",
        "core2",
        "penryn",
        "dunnington",
        "nehalem",
        "athlon",
        "opteron",
        "opteron_sse3",
        "barcelona",
        "nano",
        "bobcat",
    ];
    match core.as_str() {
        "sandybridge" | "bulldozer" | "piledriver" | "steamroller" | "excavator" => Isa::Avx,
        "haswell" | "zen" => Isa::Avx2,
        "skylakex" | "cooperlake" | "sapphirerapids" => Isa::Avx512,
        c if x86_sse.contains(&c) => Isa::Sse,
        c if [
            "armv8", "cortex", "neoverse", "thunderx", "falkor", "tsv110", "emag", "a64fx",
            "vortex",
        ]
        .iter()
        .any(|p| c.starts_with(p)) =>
        {
            Isa::Neon
        }
        _ => Isa::Generic,
    }
}

/// Library names tried in order after `KGQA_OPENBLAS` (a path).
const NAMES: [&str; 4] =
    ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.0.dylib"];

fn load(cpu: &Cpu) -> Option<OpenBlas> {
    let chosen_by = match std::env::var("OPENBLAS_CORETYPE") {
        Ok(v) if !v.is_empty() => ChosenBy::Environment,
        _ => match core_for(cpu) {
            Some(core) => {
                set_coretype(core);
                ChosenBy::Kgqa
            }
            None => ChosenBy::Library,
        },
    };
    let explicit = std::env::var("KGQA_OPENBLAS").ok().filter(|p| !p.is_empty());
    let library = explicit.iter().map(String::as_str).chain(NAMES).find_map(open)?;
    let (sgemm, core, config) = symbols(&library)?;
    Some(OpenBlas { sgemm, core, config, chosen_by, _library: library })
}

/// Sets `OPENBLAS_CORETYPE` for the library about to be loaded.
#[allow(unsafe_code)]
fn set_coretype(core: &str) {
    // SAFETY: runs once, inside `get`'s `OnceLock`, before OpenBLAS is loaded; the binary
    // calls it first thing in `main` (`kernels::init`), before any thread is started, and
    // glibc never frees the strings of an environment it replaces, so a concurrent
    // `getenv` elsewhere reads either the old or the new environment.
    unsafe { std::env::set_var("OPENBLAS_CORETYPE", core) }
}

#[allow(unsafe_code)]
fn open(name: &str) -> Option<Library> {
    // SAFETY: loading OpenBLAS runs its initialisers (CPU detection, buffer set-up), which
    // have no preconditions on the loading process.
    unsafe { Library::new(name) }.ok()
}

/// Reads the four symbols kgqa uses and tells OpenBLAS to run each call on the calling
/// thread (`blas::par_mat_mul` splits products over rayon's threads instead).
#[allow(unsafe_code)]
fn symbols(library: &Library) -> Option<(Sgemm, String, String)> {
    type Text = unsafe extern "C" fn() -> *const c_char;
    type Threads = unsafe extern "C" fn(c_int);
    // SAFETY: the types are those of OpenBLAS's C API (cblas.h: `cblas_sgemm`,
    // `openblas_set_num_threads`, `openblas_get_corename`, `openblas_get_config`); the
    // pointers are copied out and stay valid while `library` lives, which `OpenBlas` holds.
    unsafe {
        let sgemm = *library.get::<Sgemm>(b"cblas_sgemm\0").ok()?;
        let threads = *library.get::<Threads>(b"openblas_set_num_threads\0").ok()?;
        let corename = *library.get::<Text>(b"openblas_get_corename\0").ok()?;
        let config = *library.get::<Text>(b"openblas_get_config\0").ok()?;
        threads(1);
        let text = |f: Text| {
            let p = f();
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().trim().to_owned()
            }
        };
        Some((sgemm, text(corename), text(config)))
    }
}

/// How an operand lies in memory for `cblas_sgemm`: its leading dimension and whether
/// it is read transposed (column-major).
fn layout(v: &ArrayView2<'_, f32>) -> Option<(usize, bool)> {
    let (rows, cols) = v.dim();
    let (s0, s1) = (usize::try_from(v.strides()[0]).ok()?, usize::try_from(v.strides()[1]).ok()?);
    if cols == 1 || s1 == 1 {
        let ld = if rows == 1 { cols } else { s0 };
        (ld >= cols.max(1)).then_some((ld, false))
    } else if rows == 1 || s0 == 1 {
        let ld = if cols == 1 { rows } else { s1 };
        (ld >= rows.max(1)).then_some((ld, true))
    } else {
        None
    }
}

impl OpenBlas {
    /// `c = alpha · a · b + beta · c` as one `cblas_sgemm` call on this thread. Returns
    /// false, computing nothing, when an operand has no unit stride on either axis, a
    /// stride is negative or a size exceeds C's `int` (the caller then uses another
    /// kernel).
    pub fn mat_mul(
        &self,
        alpha: f32,
        a: &ArrayView2<'_, f32>,
        b: &ArrayView2<'_, f32>,
        beta: f32,
        c: &mut ArrayViewMut2<'_, f32>,
    ) -> bool {
        let ((m, k), (k2, n)) = (a.dim(), b.dim());
        if k != k2 || c.dim() != (m, n) || m == 0 || n == 0 || k == 0 {
            return false;
        }
        let Some((ldc, c_transposed)) = layout(&c.view()) else { return false };
        if c_transposed {
            // A column-major output is the row-major product of the transposes.
            let mut ct = c.view_mut().reversed_axes();
            return !(m == 1 && n == 1) && self.mat_mul(alpha, &b.t(), &a.t(), beta, &mut ct);
        }
        let (Some((lda, ta)), Some((ldb, tb))) = (layout(a), layout(b)) else { return false };
        let int = |v: usize| c_int::try_from(v).ok();
        let (Some(mi), Some(ni), Some(ki), Some(lda), Some(ldb), Some(ldc)) =
            (int(m), int(n), int(k), int(lda), int(ldb), int(ldc))
        else {
            return false;
        };
        const ROW_MAJOR: c_int = 101;
        let op = |t: bool| if t { 112 } else { 111 };
        self.call(
            ROW_MAJOR,
            op(ta),
            op(tb),
            (mi, ni, ki),
            alpha,
            (a.as_ptr(), lda),
            (b.as_ptr(), ldb),
            beta,
            (c.as_mut_ptr(), ldc),
        );
        true
    }

    #[allow(unsafe_code, clippy::too_many_arguments)]
    fn call(
        &self,
        order: c_int,
        ta: c_int,
        tb: c_int,
        (m, n, k): (c_int, c_int, c_int),
        alpha: f32,
        (a, lda): (*const f32, c_int),
        (b, ldb): (*const f32, c_int),
        beta: f32,
        (c, ldc): (*mut f32, c_int),
    ) {
        // SAFETY: `sgemm` is OpenBLAS's `cblas_sgemm`. Each pointer comes from an ndarray
        // view whose `layout` gave a unit stride on one axis and a leading dimension equal
        // to its stride on the other, so `cblas_sgemm` addresses exactly the view's
        // elements, all valid for the view's lifetime; `c` comes from a mutable view
        // (exclusive: no aliasing with `a` or `b`), whose leading dimension is at least
        // its width, so no two of its elements share memory.
        unsafe { (self.sgemm)(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(isa: Isa, vendor: &str) -> Cpu {
        Cpu { model: "test".into(), vendor: vendor.into(), isa, extras: vec![] }
    }

    #[test]
    fn the_chosen_core_runs_the_widest_instruction_set() {
        for (isa, vendor) in [
            (Isa::Avx512, "GenuineIntel"),
            (Isa::Avx512, "AuthenticAMD"),
            (Isa::Avx2, "GenuineIntel"),
            (Isa::Avx2, "AuthenticAMD"),
            (Isa::Avx, "GenuineIntel"),
        ] {
            let core = core_for(&cpu(isa, vendor)).unwrap();
            assert_eq!(core_isa(core), isa, "{core} for {isa:?} on {vendor}");
        }
        assert_eq!(core_for(&cpu(Isa::Sse, "GenuineIntel")), None);
        assert_eq!(core_for(&cpu(Isa::Neon, "ARM")), None);
    }

    #[test]
    fn core_names_map_to_their_instruction_sets() {
        for (core, isa) in [
            ("Prescott", Isa::Sse),
            ("Nehalem", Isa::Sse),
            ("Sandybridge", Isa::Avx),
            ("Haswell", Isa::Avx2),
            ("Zen", Isa::Avx2),
            ("SkylakeX", Isa::Avx512),
            ("Cooperlake", Isa::Avx512),
            ("NeoverseN1", Isa::Neon),
            ("ARMV8", Isa::Neon),
            ("Unknown", Isa::Generic),
        ] {
            assert_eq!(core_isa(core), isa, "{core}");
        }
    }
}
