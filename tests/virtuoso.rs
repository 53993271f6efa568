//! The remote-graph path against an existing triple store, OpenLink Virtuoso 7 (Debian's
//! `virtuoso-opensource-7-bin`): a real `virtuoso-t` on real ports, loaded with the embedded
//! default graph, must give the same lexicon, retrieval and answers as the graph opened
//! locally, through the library and through `kgqa ask` and `kgqa serve`; in the real-data
//! tier also ConceptNet-100K + WordNet, dumped from a local store and bulk-loaded. Without
//! `virtuoso-t` the tests say so and pass, unless `KGQA_REQUIRE_VIRTUOSO=1` (`.ci/run`).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::ok;
use common::server::Server;
use common::{QUESTIONS, without_timings as strip};
use kgqa::kg::Graph;
use kgqa::kg::retrieve::{Options, Retriever};
use kgqa::knowledge::Knowledge;

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

/// Starts `virtuoso-t` and bulk-loads `file` (N-Triples or Turtle, by its extension) into
/// the graph `graph`, or `None` without Virtuoso.
fn start(file: &Path, graph: &str) -> Option<Virtuoso> {
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
         [Parameters]\nServerPort = {sql}\nNumberOfBuffers = 170000\nMaxDirtyBuffers = 130000\n\
         DirsAllowed = ., {d}\n[HTTPServer]\nServerPort = {http}\nServerRoot = {d}\n\
         [SPARQL]\nResultSetMaxRows = 1000000\nMaxQueryExecutionTime = 60\n"
    );
    std::fs::write(dir.path().join("virtuoso.ini"), ini).unwrap();
    let name = format!("graph.{}", file.extension().unwrap().to_string_lossy());
    std::fs::rename(file, dir.path().join(&name))
        .or_else(|_| std::fs::copy(file, dir.path().join(&name)).map(|_| ()))
        .unwrap();
    let child = Command::new("virtuoso-t")
        .args(["-f", "-c", "virtuoso.ini"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("virtuoso-t starts");
    let url = format!("http://127.0.0.1:{http}/sparql");
    let server = Virtuoso { child, _dir: dir, url };
    // Virtuoso's bulk loader, once the SQL port answers (a few seconds for a fresh
    // database).
    let load = format!("ld_dir('{d}', '{name}', '{graph}'); rdf_loader_run(); checkpoint;");
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

/// `start`, or `None` with a message (a failure under `KGQA_REQUIRE_VIRTUOSO=1`).
fn start_or_skip(file: &Path) -> Option<Virtuoso> {
    let started = start(file, "http://kgqa.test/graph");
    if started.is_none() {
        let required = std::env::var("KGQA_REQUIRE_VIRTUOSO").is_ok_and(|v| v == "1");
        assert!(!required, "KGQA_REQUIRE_VIRTUOSO=1 but virtuoso-t is not installed");
        eprintln!("virtuoso-t is not installed (virtuoso-opensource-7-bin): skipped");
    }
    started
}

#[test]
fn a_virtuoso_endpoint_answers_as_the_local_graph() {
    let copy = tempfile::tempdir().unwrap();
    let ttl = copy.path().join("default.ttl");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("kg/default.ttl"), &ttl).unwrap();
    let Some(virtuoso) = start_or_skip(&ttl) else { return };
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

/// Real data: ConceptNet-100K + WordNet in a local store, its statements written out as
/// N-Triples and bulk-loaded into Virtuoso; the lexicon fetched from Virtuoso equals the
/// store's, and so do the facts of the first 100 in-house test questions and their answers,
/// and the curated knowledge of the first 40.
#[test]
fn conceptnet_and_wordnet_in_virtuoso_answer_as_the_local_store() {
    if !common::enabled() {
        return;
    }
    use kgqa::eval::dataset::{self, Split};
    let data = std::env::var_os("KGQA_DATASETS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
        Into::into,
    );
    let wordnet = std::env::var_os("KGQA_WORDNET")
        .map_or_else(|| "/usr/share/wordnet".into(), std::path::PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let inputs = [data.join("conceptnet-100k/train100k.txt.gz"), wordnet];
    kgqa::kg::store::load_into_dir(&store, &inputs, &common::options()).unwrap();
    let local = Graph::open(&store).unwrap();
    // The store's statements as N-Triples (kgqa stores use the default graph only).
    let nt = dir.path().join("graph.nt");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&nt).unwrap());
    for q in local.store().unwrap().iter() {
        let q = q.unwrap();
        use std::io::Write;
        writeln!(out, "{} {} {} .", q.subject, q.predicate, q.object).unwrap();
    }
    drop(out);
    let Some(virtuoso) = start_or_skip(&nt) else { return };
    let remote = Graph::remote(&virtuoso.url, Duration::from_secs(600), None).unwrap();
    assert_eq!(remote.lexicon(), local.lexicon(), "the lexicon fetched from Virtuoso");
    let csqa = data.join("commonsenseqa");
    let ids = dataset::read_ids(&csqa.join("inhouse_split_qids.txt")).unwrap();
    let items = dataset::read_csqa(&csqa.join("train_rand_split.jsonl")).unwrap();
    let test: Vec<_> =
        dataset::select(items, &ids, Split::Unlisted).into_iter().take(100).collect();
    let retrieve = |g: &Graph, options: Options, n: usize| {
        let r = Retriever::new(options).unwrap();
        dataset::retrieve_all(g, &r, &test[..n], 2, &|| ()).unwrap()
    };
    // Plain knowledge, then curated knowledge (each choice defined by the WordNet sense
    // its question means: the glosses of every sense, fetched in batches from Virtuoso).
    let curated = Options { curated: true, ..Options::default() };
    let (here, there) =
        (retrieve(&local, Options::default(), 100), retrieve(&remote, Options::default(), 100));
    let (here_c, there_c) = (retrieve(&local, curated.clone(), 40), retrieve(&remote, curated, 40));
    for ((item, a), b) in
        test.iter().zip(&here).zip(&there).chain(test.iter().zip(&here_c).zip(&there_c))
    {
        let (a, b) = (serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
        same_up_to_doubles(&a, &b, &item.id);
    }
    let facts: usize = here.iter().flat_map(|k| &k.choices).map(|c| c.facts.len()).sum();
    assert!(facts > 500, "the questions have facts: {facts}");
}

/// `a` and `b` equal, numbers within 1e-5 relative: Virtuoso writes xsd:double values
/// with 6 significant digits in its JSON results (3.3219280948873626 comes back as
/// 3.32193), so edge weights and the path scores made from them differ in the seventh
/// digit; every text, edge, concept and the order of the facts must be the same.
fn same_up_to_doubles(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5 * x.abs().max(y.abs()), "{at}: {x} against {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same_up_to_doubles(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{at}: keys");
            for (k, p) in x {
                same_up_to_doubles(p, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}
