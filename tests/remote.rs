//! A graph behind a remote SPARQL endpoint: a real `kgqa serve` on a real port serves the
//! embedded graph or an on-disk store over the SPARQL protocol, and the same graph opened
//! remotely must give the same lexicon, the same retrieval and the same answers as the
//! graph opened locally.

mod common;

use std::time::Duration;

use common::cli::{kgqa, ok, top};
use common::server::Server;
use common::{QUESTIONS, fixture, options, without_timings};
use kgqa::kg::Graph;
use kgqa::kg::endpoint::Endpoint;
use kgqa::kg::lexicon::Lexicon;
use kgqa::kg::retrieve::{Options, Retriever};
use kgqa::knowledge::Knowledge;

fn url(server: &Server) -> String {
    format!("http://{}/sparql", server.addr)
}

/// The embedded graph through the endpoint: the lexicon (in one page and in pages of 7
/// rows) and every question's knowledge equal the local graph's.
#[test]
fn the_embedded_graph_served_remotely_retrieves_the_same() {
    let server = Server::start(&[]);
    let local = Graph::embedded().unwrap();
    let remote = Graph::remote(&url(&server), Duration::from_secs(30), None).unwrap();
    assert!(remote.store().is_none());
    assert_eq!(remote.lexicon(), local.lexicon());
    assert!(local.lexicon().len() > 50);
    let endpoint = Endpoint::new(&url(&server), Duration::from_secs(30)).unwrap();
    assert_eq!(&Lexicon::fetch(&endpoint, 7).unwrap(), local.lexicon(), "paged");
    let retriever = Retriever::new(Options::default()).unwrap();
    for (question, choices) in QUESTIONS {
        let choices: Vec<(String, Option<String>)> =
            choices.iter().map(|c| ((*c).to_owned(), None)).collect();
        let gather = |g: &Graph| {
            // A fresh retriever per graph: its cache must not answer for the other graph.
            let r = Retriever::new(Options::default()).unwrap();
            serde_json::to_value(Knowledge::gather(g, &r, question, None, &choices, true).unwrap())
                .unwrap()
        };
        let (here, there) = (gather(&local), gather(&remote));
        assert_eq!(here, there, "{question}");
        let facts = here["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["facts"].as_array().unwrap().len());
        assert!(facts.sum::<usize>() > 0, "{question}: some facts");
    }
    // Degrees and definitions too (the aggregate and ordered queries).
    for concept in ["http://conceptnet.io/c/en/trowel", "http://conceptnet.io/c/en/dig"] {
        assert_eq!(
            retriever.degree(&local, concept).unwrap(),
            Retriever::new(Options::default()).unwrap().degree(&remote, concept).unwrap()
        );
        assert_eq!(
            retriever.definitions(&local, concept, 3).unwrap(),
            Retriever::new(Options::default()).unwrap().definitions(&remote, concept, 3).unwrap()
        );
    }
}

/// The command line against the endpoint: `kgqa ask` (with choices and open-ended) gives
/// the local answer and probabilities; `kgqa query` gives the local tables; updates and
/// loads are refused; an endpoint that is not there is an error naming its URL.
#[test]
fn the_command_line_answers_the_same_through_an_endpoint() {
    let server = Server::start(&[]);
    let url = url(&server);
    for (question, choices) in QUESTIONS {
        let joined = choices.join(",");
        let local = ok(&["ask", question, "--choices", &joined, "--json"]);
        let remote = ok(&["--store", &url, "ask", question, "--choices", &joined, "--json"]);
        assert_eq!(without_timings(&local), without_timings(&remote), "{question}");
    }
    // Open-ended: the candidates come from the graph, through the endpoint.
    let house = "We dug the ground to build a house. What did we dig with?";
    let open = without_timings(&ok(&["--store", &url, "ask", house, "--json"]));
    assert_eq!(open, without_timings(&ok(&["ask", house, "--json"])));
    let top3 = top(&open, 3);
    assert!(top3.contains(&"excavator"), "{top3:?}");
    for q in [
        "SELECT ?t WHERE { cn:trowel r:UsedFor ?t } ORDER BY ?t",
        "ASK { cn:trowel r:UsedFor cn:dig }",
        "CONSTRUCT { cn:trowel r:UsedFor ?t } WHERE { cn:trowel r:UsedFor ?t }",
    ] {
        assert_eq!(ok(&["query", q]), ok(&["--store", &url, "query", q]), "{q}");
        assert_eq!(
            ok(&["query", "--json", q]),
            ok(&["--store", &url, "query", "--json", q]),
            "{q}"
        );
    }
    // --lexicon: fetched and written once (the local graph's lexicon), then read.
    let dir = tempfile::tempdir().unwrap();
    let lexicon = dir.path().join("lexicon.tsv");
    let lex = lexicon.to_str().unwrap();
    let (question, choices) = QUESTIONS[0];
    let joined = choices.join(",");
    let first = ok(&["--store", &url, "--lexicon", lex, "ask", question, "--choices", &joined]);
    assert_eq!(&Lexicon::read(&lexicon).unwrap(), Graph::embedded().unwrap().lexicon());
    let second = ok(&["--store", &url, "--lexicon", lex, "ask", question, "--choices", &joined]);
    assert_eq!(first, second);
    std::fs::write(&lexicon, "trowel\thttp://conceptnet.io/c/en/trowel\nbroken line\n").unwrap();
    let read = kgqa(&["--store", &url, "--lexicon", lex, "ask", question, "--choices", &joined]);
    let err = String::from_utf8_lossy(&read.stderr);
    assert!(err.contains("lexicon.tsv:2: expected `form<TAB>iri...`"), "read, not fetched: {err}");
    let err = kgqa(&["--lexicon", lex, "ask", question, "--choices", &joined]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("--lexicon goes with an endpoint URL"));

    let refused = kgqa(&["--store", &url, "query", "DELETE WHERE { ?s ?p ?o }"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("SPARQL updates are refused"));
    let refused = kgqa(&["--store", &url, "load", fixture("sample.tsv").to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("a SPARQL endpoint is read-only here")
    );
    // The server refused the update: its graph still answers as before.
    assert_eq!(
        ok(&["--store", &url, "query", "ASK { cn:trowel r:UsedFor cn:dig }"]).trim(),
        "true"
    );
    drop(server);
    let gone =
        kgqa(&["--store", &url, "ask", "What did we dig with?", "--choices", "trowel,spoon"]);
    assert!(!gone.status.success());
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(err.contains(&format!("SPARQL endpoint {url}: ")), "{err}");
}

/// An on-disk store of several formats (weights and provenance on edge nodes) served
/// remotely gives the local store's lexicon and neighbourhoods.
#[test]
fn an_on_disk_store_served_remotely_retrieves_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [fixture("sample.tsv"), fixture("sample.ttl"), fixture("sample.csv")];
    kgqa::kg::store::load_into_dir(dir.path(), &inputs, &options()).unwrap();
    let local = Graph::open(dir.path()).unwrap();
    let server = Server::start(&["--store", dir.path().to_str().unwrap()]);
    let remote = Graph::remote(&url(&server), Duration::from_secs(30), None).unwrap();
    assert_eq!(remote.lexicon(), local.lexicon());
    for concept in ["http://conceptnet.io/c/en/trowel", "http://conceptnet.io/c/en/excavator"] {
        let here =
            Retriever::new(Options::default()).unwrap().neighbourhood(&local, concept).unwrap();
        let there =
            Retriever::new(Options::default()).unwrap().neighbourhood(&remote, concept).unwrap();
        assert!(!here.is_empty(), "{concept}");
        assert_eq!(here, there, "{concept}");
    }
}

/// Replicas over one graph: a second server whose graph is the first one's endpoint gives
/// the same answers, holds its own result cap, and reports the upstream's failure as 502:
/// the client gets a short message and a request id, the log the upstream's address.
#[test]
fn a_server_can_serve_a_graph_from_another_servers_endpoint() {
    let upstream = Server::start(&[]);
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("replica.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let args = ["--store", &url(&upstream), "--max-sparql-results", "2"];
    let replica = Server::start_logging(&args, log);
    for (question, choices) in QUESTIONS {
        let body = serde_json::json!({ "question": question, "choices": choices });
        let (a, b) = (upstream.post_json("/ask", &body), replica.post_json("/ask", &body));
        assert_eq!((a.status, b.status), (200, 200));
        assert_eq!(without_timings(&a.text()), without_timings(&b.text()), "{question}");
    }
    let three = b"SELECT ?t WHERE { cn:trowel r:UsedFor ?t }";
    let r = replica.request("POST", "/sparql", "application/sparql-query", three);
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("query")), "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("more than 2 results"));
    let r = upstream.request("POST", "/sparql", "application/sparql-query", three);
    assert_eq!(r.json()["results"]["bindings"].as_array().unwrap().len(), 3);
    assert_eq!(replica.get("/health").json()["graph"].as_str(), Some(url(&upstream).as_str()));
    let upstream_url = url(&upstream);
    drop(upstream);
    let body = serde_json::json!({ "question": "What do you dig with?", "choices": ["a shovel", "a cloud"] });
    let r = replica.post_json("/ask", &body);
    assert_eq!(r.status, 502, "{}", r.text());
    let message = r.json()["error"].as_str().unwrap().to_owned();
    assert!(message.starts_with("the graph's SPARQL endpoint failed (request "), "{message}");
    assert!(!message.contains("http://"), "the upstream's address stays in the log: {message}");
    let id = r.json()["request_id"].as_str().expect("a request id").to_owned();
    let logged = std::fs::read_to_string(&log_path).unwrap();
    let line = logged.lines().find(|l| l.contains(&id)).unwrap_or_else(|| panic!("{logged}"));
    assert!(line.contains(&format!("SPARQL endpoint {upstream_url}")), "{line}");
}
