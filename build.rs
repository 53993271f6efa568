//! Links the system OpenBLAS when the `blas` feature is on (a default feature: the fused
//! inference layer and the linear layers run their products through it). Debian/Ubuntu:
//! `apt-get install libopenblas-dev`; without it, build with
//! `--no-default-features --features rocksdb` (candle's own matrix products, slower).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_BLAS").is_none() {
        return;
    }
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ];
    let found = std::env::var_os("OPENBLAS_LIB_DIR").map(std::path::PathBuf::from).or_else(|| {
        dirs.iter()
            .map(Path::new)
            .find(|d| d.join("libopenblas.so").exists())
            .map(Path::to_path_buf)
    });
    match found {
        Some(dir) => println!("cargo:rustc-link-search=native={}", dir.display()),
        None => println!(
            "cargo:warning=libopenblas.so not found (install libopenblas-dev, set OPENBLAS_LIB_DIR, or build with --no-default-features --features rocksdb); linking may fail"
        ),
    }
    println!("cargo:rustc-link-lib=openblas");
}
