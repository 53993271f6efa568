//! Running the `kgqa` binary: from the source tree (so the shipped student is found), with
//! no `KGQA_STORE` from the environment.

use std::process::{Command, Output};

/// Runs `kgqa ARGS...` to completion.
pub fn kgqa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(args)
        .env_remove("KGQA_STORE")
        .env_remove("KGQA_LEXICON")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

/// Runs `kgqa ARGS...`, which must succeed; its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = kgqa(args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `kgqa ARGS...`, which must fail; its standard error.
pub fn fails(args: &[&str]) -> String {
    let out = kgqa(args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

/// The texts of the first `n` choices of a `kgqa ask --json` answer, best first.
pub fn top(answer: &serde_json::Value, n: usize) -> Vec<&str> {
    let choices = answer["choices"].as_array().expect("an answer has choices");
    choices.iter().take(n).map(|c| c["text"].as_str().expect("a choice has text")).collect()
}
