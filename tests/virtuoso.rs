//! The remote-graph path against an existing triple store, OpenLink Virtuoso 7 (Debian's
//! `virtuoso-opensource-7-bin`): a real `virtuoso-t` on real ports, loaded with the embedded
//! default graph, must give the same lexicon, retrieval and answers as the graph opened
//! locally, through the library and through `kgqa ask` and `kgqa serve`. Without
//! `virtuoso-t` the test says so and passes, unless `KGQA_REQUIRE_VIRTUOSO=1` (`.ci/run`).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::ok;
use common::server::Server;
use kgqa::engine::knowledge::Knowledge;
use kgqa::kg::Graph;
use kgqa::kg::retrieve::{Options, Retriever};

const QUESTIONS: [(&str, &[&str]); 3] = [
    (
        "We dug the ground to plant flowers. What did we dig with?",
        &["trowel", "excavator", "spoon"],
    ),
    (
        "We dug the ground to build a house. What did we dig with?",
        &["trowel", "excavator", "spoon"],
    ),
    ("Where would you keep milk cold?", &["refrigerator", "oven", "desert"]),
];

/// A running Virtuoso in a folder of its own, killed when dropped.
struct Virtuoso {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its SPARQL endpoint.
    url: String,
}

impl Drop for Virtuoso {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `virtuoso-t` and loads `ttl` into the graph `graph`, or `None` without Virtuoso.
fn start(ttl: &Path, graph: &str) -> Option<Virtuoso> {
    let mut probe = Command::new("virtuoso-t");
    probe.arg("-?").stdout(Stdio::null()).stderr(Stdio::null());
    if probe.status().is_err() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (sql, http) = (free_port(), free_port());
    let ini = format!(
        "[Database]\nDatabaseFile = {d}/db.db\nErrorLogFile = {d}/db.log\n\
         TransactionFile = {d}/db.trx\nxa_persistent_file = {d}/db.pxa\n\
         [TempDatabase]\nDatabaseFile = {d}/temp.db\nTransactionFile = {d}/temp.trx\n\
         [Parameters]\nServerPort = {sql}\nNumberOfBuffers = 10000\nMaxDirtyBuffers = 6000\n\
         DirsAllowed = ., {d}\n[HTTPServer]\nServerPort = {http}\nServerRoot = {d}\n\
         [SPARQL]\nResultSetMaxRows = 1000000\nMaxQueryExecutionTime = 60\n"
    );
    std::fs::write(dir.path().join("virtuoso.ini"), ini).unwrap();
    std::fs::copy(ttl, dir.path().join("graph.ttl")).unwrap();
    let child = Command::new("virtuoso-t")
        .args(["-f", "-c", "virtuoso.ini"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("virtuoso-t starts");
    let url = format!("http://127.0.0.1:{http}/sparql");
    let server = Virtuoso { child, _dir: dir, url };
    // Load once the SQL port answers (a few seconds for a fresh database).
    let load = format!(
        "DB.DBA.TTLP_MT(file_to_string_output('{d}/graph.ttl'), '', '{graph}'); checkpoint;"
    );
    let started = Instant::now();
    loop {
        let out = Command::new("isql-vt")
            .args([&sql.to_string(), "dba", "dba", &format!("exec={load}")])
            .output()
            .expect("isql-vt runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && !text.contains("Error") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "Virtuoso did not load: {text}");
        std::thread::sleep(Duration::from_millis(500));
    }
    Some(server)
}

fn strip(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v.as_object_mut().unwrap().remove("timings");
    v
}

#[test]
fn a_virtuoso_endpoint_answers_as_the_local_graph() {
    let ttl = Path::new(env!("CARGO_MANIFEST_DIR")).join("kg/default.ttl");
    let Some(virtuoso) = start(&ttl, "http://kgqa.test/graph") else {
        let required = std::env::var("KGQA_REQUIRE_VIRTUOSO").is_ok_and(|v| v == "1");
        assert!(!required, "KGQA_REQUIRE_VIRTUOSO=1 but virtuoso-t is not installed");
        eprintln!("virtuoso-t is not installed (virtuoso-opensource-7-bin): skipped");
        return;
    };
    let url = virtuoso.url.as_str();
    // The library: lexicon, every question's knowledge, degrees and definitions.
    let local = Graph::embedded().unwrap();
    let remote = Graph::remote(url, Duration::from_secs(30), None).unwrap();
    assert_eq!(remote.lexicon(), local.lexicon());
    for (question, choices) in QUESTIONS {
        let choices: Vec<(String, Option<String>)> =
            choices.iter().map(|c| ((*c).to_owned(), None)).collect();
        let gather = |g: &Graph| {
            let r = Retriever::new(Options::default()).unwrap();
            serde_json::to_value(Knowledge::gather(g, &r, question, None, &choices, true).unwrap())
                .unwrap()
        };
        assert_eq!(gather(&local), gather(&remote), "{question}");
    }
    for concept in ["http://conceptnet.io/c/en/trowel", "http://conceptnet.io/c/en/dig"] {
        let r = || Retriever::new(Options::default()).unwrap();
        assert_eq!(r().degree(&local, concept).unwrap(), r().degree(&remote, concept).unwrap());
        assert_eq!(
            r().definitions(&local, concept, 3).unwrap(),
            r().definitions(&remote, concept, 3).unwrap()
        );
    }
    // The command line, with choices and open-ended.
    for (question, choices) in QUESTIONS {
        let joined = choices.join(",");
        let here = ok(&["ask", question, "--choices", &joined, "--json"]);
        let there = ok(&["--store", url, "ask", question, "--choices", &joined, "--json"]);
        assert_eq!(strip(&here), strip(&there), "{question}");
    }
    let house = QUESTIONS[1].0;
    assert_eq!(
        strip(&ok(&["ask", house, "--json"])),
        strip(&ok(&["--store", url, "ask", house, "--json"]))
    );
    // The server on top of it answers /ask as the server on the embedded graph does.
    let (a, b) = (Server::start(&[]), Server::start(&["--store", url]));
    let body = serde_json::json!({ "question": QUESTIONS[0].0, "choices": QUESTIONS[0].1 });
    let (x, y) = (a.post_json("/ask", &body), b.post_json("/ask", &body));
    assert_eq!((x.status, y.status), (200, 200), "{}", y.text());
    assert_eq!(strip(&x.text()), strip(&y.text()));
}
