//! A load into a full disk: a clear error, and the store still opens with exactly what it
//! held before. The store lives on a small tmpfs mounted for the test (root, or a user
//! namespace through `unshare`, which the test re-runs itself under). Where neither can
//! mount, the test says so and passes, unless `KGQA_REQUIRE_TMPFS=1` (set by `.ci/run`).
#![cfg(feature = "rocksdb")] // on-disk stores

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, options, snapshot};
use kgqa::kg::Graph;
use kgqa::kg::store::load_into_dir;

/// Set in the child run inside the mount: the tmpfs folder.
const INSIDE: &str = "KGQA_TMPFS_DIR";

/// A ConceptNet-style TSV of `n` distinct statements (about 60 bytes each).
fn big_tsv(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("big.tsv");
    let mut text = String::with_capacity(n * 64);
    for i in 0..n {
        text.push_str(&format!("RelatedTo\tconcept_number_{i}\tother_concept_{}\n", i * 7 + 3));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn load_into_a_full_disk_fails_cleanly_and_keeps_the_store() {
    if let Some(dir) = std::env::var_os(INSIDE) {
        return check_full_disk(Path::new(&dir));
    }
    let required = std::env::var("KGQA_REQUIRE_TMPFS").is_ok_and(|v| v == "1");
    let mount = tempfile::tempdir().unwrap();
    let point = mount.path().display().to_string();
    let exe = std::env::current_exe().unwrap().display().to_string();
    // Mount, re-run this one test inside, unmount; in a private mount namespace, so
    // nothing is left mounted whatever happens.
    let script = format!(
        "mount -t tmpfs -o size=24m kgqa-test '{point}' && \
         {INSIDE}='{point}' '{exe}' --exact load_into_a_full_disk_fails_cleanly_and_keeps_the_store \
         --nocapture --test-threads 1"
    );
    let tries: [&[&str]; 2] = [&["-m"], &["-r", "-m"]];
    for flags in tries {
        let out = Command::new("unshare").args(flags).args(["sh", "-c", &script]).output();
        let Ok(out) = out else { continue };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("mount:") || text.contains("unshare:") {
            continue; // this way of mounting is not allowed here; try the next
        }
        assert!(out.status.success(), "the full-disk run failed:\n{text}");
        assert!(text.contains("1 passed"), "the inner test did not run:\n{text}");
        for line in text.lines().filter(|l| l.starts_with("full-disk error")) {
            eprintln!("{line}");
        }
        return;
    }
    assert!(!required, "KGQA_REQUIRE_TMPFS=1 but no tmpfs could be mounted");
    eprintln!("no tmpfs could be mounted here (not root, no user namespaces): skipped");
}

/// Inside the mount: seed a store, fill the disk with a load, check the error and the store.
fn check_full_disk(tmpfs: &Path) {
    let store = tmpfs.join("store");
    load_into_dir(&store, &[fixture("sample.tsv"), fixture("sample.ttl")], &options()).unwrap();
    let before = snapshot(&Graph::open(&store).unwrap());
    let lexicon_before = Graph::open(&store).unwrap().lexicon().len();
    // The input lives outside the small disk; it is far bigger than what is left.
    let outside = tempfile::tempdir().unwrap();
    let big = big_tsv(outside.path(), 600_000);
    let err = load_into_dir(&store, &[big], &options()).expect_err("the disk is full");
    let message = format!("{err:#}");
    eprintln!("full-disk error: {message}");
    assert!(
        message.contains("No space left") || message.contains("space"),
        "the error says the disk is full: {message}"
    );
    assert!(message.contains(&store.display().to_string()), "the error names the store: {message}");
    let graph = Graph::open(&store).unwrap();
    assert_eq!(snapshot(&graph), before, "the store's statements are unchanged");
    assert_eq!(graph.lexicon().len(), lexicon_before, "the lexicon is unchanged");
    // Nothing of the failed load is left taking the space: a small load fits again.
    let report = load_into_dir(&store, &[fixture("sample.tsv")], &options()).unwrap();
    assert_eq!(report.statements_after, report.statements_before);
}
