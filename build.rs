//! Links the system OpenBLAS when the `blas` feature is on (ndarray's BLAS calls need a
//! provider; Debian's libopenblas-dev installs it).
fn main() {
    if std::env::var_os("CARGO_FEATURE_BLAS").is_some() {
        println!("cargo:rustc-link-lib=openblas");
    }
}
