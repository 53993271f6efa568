//! `kgqa serve` end to end: a real server on a real port (embedded graph, shipped
//! student), spoken to over TCP.

mod common;

use std::process::Command;

use common::server::Server;
use serde_json::json;

const QUESTION: &str = "We dug the ground to plant flowers. What did we dig with?";

fn cli_answer(choices: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["ask", QUESTION, "--choices", choices, "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("KGQA_STORE")
        .env_remove("KGQA_MODEL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn answers_like_the_cli_and_explains_with_facts() {
    let server = Server::start(&[]);
    let r = server.post_json(
        "/ask",
        &json!({"question": QUESTION, "choices": ["trowel", "excavator", "spoon"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let a = r.json();
    let choices = a["choices"].as_array().unwrap();
    let total: f64 = choices.iter().map(|c| c["probability"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-4, "probabilities sum to {total}");
    assert!(a["model"].as_str().unwrap().ends_with("data/models/student"));
    assert_eq!(a["used_kg"], true);
    let trowel = &choices[0];
    let facts: Vec<&str> =
        trowel["facts"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert!(facts.contains(&"trowel is used for dig"), "{facts:?}");
    // The same engine as `kgqa ask`: the same answer and probabilities.
    let cli = cli_answer("trowel,excavator,spoon");
    assert_eq!(a["answer"], cli["answer"]);
    for (s, c) in choices.iter().zip(cli["choices"].as_array().unwrap()) {
        assert_eq!(s["text"], c["text"]);
        let (p, q) = (s["probability"].as_f64().unwrap(), c["probability"].as_f64().unwrap());
        assert!((p - q).abs() < 1e-6, "{p} vs {q}");
        assert_eq!(s["facts"], c["facts"]);
    }
    // Open-ended: the graph proposes the candidates.
    let r = server.post_json("/ask", &json!({"question": QUESTION}));
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json();
    assert_eq!(a["open_ended"], true);
    assert!(!a["choices"].as_array().unwrap().is_empty());
    assert_eq!(a["answer"], a["choices"][0]["text"]);
}

#[test]
fn bad_requests_get_a_json_error_that_says_what_and_where() {
    let server = Server::start(&["--max-body", "4096"]);
    let many: Vec<String> = (0..17).map(|i| format!("choice {i}")).collect();
    let cases: Vec<(Vec<u8>, u16, Option<&str>, &str)> = vec![
        (
            br#"{"question": "q", "choices": ["a", 3]}"#.to_vec(),
            400,
            Some("choices[1]"),
            "expected a string at line 1 column",
        ),
        (
            br#"{"question": "q", "choises": ["a", "b"]}"#.to_vec(),
            400,
            Some("choises"),
            "unknown field `choises`",
        ),
        (b"{\"question\": \"q\",\n".to_vec(), 400, None, "line 2"),
        (b"".to_vec(), 400, None, "body is empty"),
        (br#"{"question": "   "}"#.to_vec(), 400, Some("question"), "must not be empty"),
        (
            json!({"question": "q", "choices": many}).to_string().into_bytes(),
            400,
            Some("choices"),
            "more than 16",
        ),
        (
            br#"{"question": "q", "choices": ["only one"]}"#.to_vec(),
            400,
            Some("choices"),
            "at least two",
        ),
        (
            br#"{"question": "q", "choices": ["a", " "]}"#.to_vec(),
            400,
            Some("choices"),
            "choice 1 is empty",
        ),
        (br#"{"question": "q", "no_kg": true}"#.to_vec(), 400, Some("no_kg"), "need the graph"),
        (
            br#"{"question": "q", "choices": ["Trowel", "spoon", "trowel "]}"#.to_vec(),
            400,
            Some("choices"),
            "choice 2 (\"trowel \") repeats choice 0",
        ),
        (vec![b'x'; 5000], 413, None, "over the server's limit of 4096 bytes"),
    ];
    for (body, status, field, says) in cases {
        let r = server.request("POST", "/ask", "application/json", &body);
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_eq!(r.status, status, "{shown}: {}", r.text());
        let e = r.json();
        assert_eq!(e["field"].as_str(), field, "{shown}: {e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{shown}: {e}");
    }
    let r = server.get("/no/such/route");
    assert_eq!(
        (r.status, r.json()["error"].as_str().unwrap()),
        (404, "no route for GET /no/such/route")
    );
    let r = server.request("DELETE", "/ask", "text/plain", b"");
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].as_str().unwrap().contains("does not take DELETE"));
    let r = server.get("/concept?text=trowel&limit=101");
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("limit")));
    // After all that the server still answers.
    let r =
        server.post_json("/ask", &json!({"question": QUESTION, "choices": ["trowel", "spoon"]}));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn sparql_is_read_only_and_speaks_the_protocol() {
    let server = Server::start(&[]);
    let select = "SELECT ?t WHERE { cn:trowel r:UsedFor ?t } ORDER BY ?t";
    let r = server.request("POST", "/sparql", "application/sparql-query", select.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/sparql-results+json"));
    let rows = r.json()["results"]["bindings"].as_array().unwrap().clone();
    assert!(rows.iter().any(|b| b["t"]["value"] == "http://conceptnet.io/c/en/dig"), "{rows:?}");
    // The same query as a form field and as a GET parameter.
    let form =
        format!("query={}", select.replace(' ', "+").replace('?', "%3F").replace(':', "%3A"));
    let r2 =
        server.request("POST", "/sparql", "application/x-www-form-urlencoded", form.as_bytes());
    assert_eq!(r2.json()["results"]["bindings"].as_array().unwrap(), &rows);
    let r3 = server.get(&format!("/sparql?{form}"));
    assert_eq!(r3.json()["results"]["bindings"].as_array().unwrap(), &rows);
    let r = server.post_json(
        "/sparql",
        &json!({"query": "CONSTRUCT { cn:trowel r:UsedFor ?t } WHERE { cn:trowel r:UsedFor ?t }"}),
    );
    assert_eq!(r.header("content-type"), Some("application/n-triples"));
    assert!(r.text().contains("<http://conceptnet.io/c/en/trowel> <http://conceptnet.io/r/UsedFor> <http://conceptnet.io/c/en/dig> ."));
    let insert = "INSERT DATA { cn:trowel r:UsedFor cn:flying }";
    let r = server.request("POST", "/sparql", "application/sparql-query", insert.as_bytes());
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("updates are refused"));
    let r = server.request(
        "POST",
        "/sparql",
        "application/sparql-query",
        b"ASK { cn:trowel r:UsedFor cn:flying }",
    );
    assert_eq!(r.json()["boolean"], false, "the refused update stored nothing");
    let small = Server::start(&["--max-sparql-results", "3", "--sparql-timeout", "1"]);
    let all = b"SELECT ?s ?p ?o WHERE { ?s ?p ?o }";
    let r = small.request("POST", "/sparql", "application/sparql-query", all);
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("query")));
    assert!(r.json()["error"].as_str().unwrap().contains("more than 3 results; add a LIMIT"));
    let r = small.request(
        "POST",
        "/sparql",
        "application/sparql-query",
        b"SELECT ?s WHERE { ?s ?p ?o } LIMIT 3",
    );
    assert_eq!(r.json()["results"]["bindings"].as_array().unwrap().len(), 3);
    // A query that would run for hours is stopped at the time limit, and its worker with it.
    let product = b"SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }";
    let r = small.request("POST", "/sparql", "application/sparql-query", product);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("time limit of 1.0 s"), "{}", r.text());
    assert_eq!(small.get("/health").json()["in_flight"], 0);
    let r = server.request("POST", "/sparql", "application/sparql-query", b"SELEC ?x");
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("query")));
    assert!(r.json()["error"].as_str().unwrap().contains("SPARQL syntax error"));
}

#[test]
fn health_metrics_concepts_api_description_and_page() {
    let server = Server::start(&[]);
    let h = server.get("/health").json();
    assert_eq!((h["status"].as_str(), h["graph"].as_str()), (Some("ok"), Some("embedded")));
    // Folders by name only: clients are not told the server's paths.
    assert_eq!(h["model"]["folder"], "student");
    // Cross-origin calls are allowed (read-only, no credentials); preflights get 204.
    let pre = server.request("OPTIONS", "/ask", "application/json", b"");
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert!(pre.header("access-control-allow-headers").unwrap().contains("content-type"));
    let page = server.get("/");
    assert!(page.header("content-security-policy").unwrap().contains("script-src 'self'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // The shipped model's own shape, as its config.json gives it.
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models/student/config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config).unwrap()).unwrap();
    assert_eq!(
        (h["model"]["layers"].as_u64(), h["model"]["input_fusion"].as_bool()),
        (config["num_hidden_layers"].as_u64(), Some(true))
    );
    // The matrix-product kernels in use, and as strong as the CPU allows (issue 24).
    let k = &h["kernels"];
    assert!(!k["core"].as_str().unwrap().is_empty(), "{k}");
    assert_eq!(k["isa"], k["cpu_isa"], "kernels weaker than the CPU: {k}");
    // The model's products: int8 exactly where the CPU runs the VNNI kernel (the default).
    let int8 = kgqa::model::kernels::int8::vnni();
    assert_eq!(h["model"]["precision"], if int8 { "int8" } else { "f32" });
    let c = server.get("/concept?text=a%20trowel&limit=3").json();
    let m = &c["mentions"][0];
    assert_eq!(m["form"], "trowel");
    assert_eq!(m["concepts"][0]["iri"], "http://conceptnet.io/c/en/trowel");
    assert!(m["concepts"][0]["neighbours"].as_array().unwrap().len() <= 6);
    let doc = server.get("/openapi.json").json();
    assert!(doc["paths"]["/ask"]["post"].is_object());
    for (path, kind, has) in [
        ("/", "text/html", "<form id=\"ask-form\""),
        ("/app.js", "text/javascript", "fetch(\"ask\""),
        ("/style.css", "text/css", "svg .node"),
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with(kind), "{path}");
        assert!(r.text().contains(has), "{path}");
    }
    server.post_json("/ask", &json!({"question": QUESTION, "choices": ["trowel", "spoon"]}));
    server.post_json("/ask", &json!({"question": ""}));
    let text = server.get("/metrics").text();
    assert!(text.contains("kgqa_requests_total{route=\"/ask\",status=\"200\"} 1\n"), "{text}");
    assert!(text.contains("kgqa_requests_total{route=\"/ask\",status=\"400\"} 1\n"), "{text}");
    assert!(text.contains("kgqa_request_duration_seconds_count{route=\"/ask\"} 2\n"), "{text}");
    assert!(text.contains("kgqa_in_flight 0\n") && text.contains("kgqa_refused_total 0\n"));
}

#[test]
fn concurrent_requests_get_the_answers_of_serial_ones() {
    let server = std::sync::Arc::new(Server::start(&["--max-in-flight", "2"]));
    let body = |i: usize| {
        let choices = [["trowel", "excavator", "spoon"], ["shovel", "fork", "hand"]][i % 2];
        json!({"question": QUESTION, "choices": choices})
    };
    let serial: Vec<serde_json::Value> =
        (0..2).map(|i| server.post_json("/ask", &body(i)).json()).collect();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let server = server.clone();
            std::thread::spawn(move || (i, server.post_json("/ask", &body(i))))
        })
        .collect();
    for h in handles {
        let (i, r) = h.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let (a, s) = (r.json(), &serial[i % 2]);
        assert_eq!(a["answer"], s["answer"]);
        assert_eq!(a["choices"].as_array().unwrap().len(), s["choices"].as_array().unwrap().len());
        for (x, y) in a["choices"].as_array().unwrap().iter().zip(s["choices"].as_array().unwrap())
        {
            assert!(
                (x["probability"].as_f64().unwrap() - y["probability"].as_f64().unwrap()).abs()
                    < 1e-5
            );
        }
    }
}

/// A question over `--ask-timeout` (here a microsecond: any answer takes longer) gets
/// 503 with the limit in its message; its worker stops at the engine's next stage instead
/// of answering (`kgqa_given_up_total`) and gives its place back, and the server goes on
/// answering.
#[test]
fn a_question_over_the_time_limit_gets_503_and_the_server_goes_on() {
    let server = Server::start(&["--ask-timeout", "0.000001", "--max-in-flight", "1"]);
    let body = json!({"question": QUESTION, "choices": ["trowel", "excavator", "spoon"]});
    let r = server.post_json("/ask", &body);
    assert_eq!(r.status, 503, "{}", r.text());
    let message = r.json()["error"].as_str().unwrap().to_owned();
    assert!(message.contains("time limit of 1µs"), "{message}");
    let idle = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        server.get("/health").json()["in_flight"] == 0
    });
    assert!(idle, "the timed-out worker gave its place back");
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains(r#"route="/ask",status="503""#), "{metrics}");
    assert!(metrics.contains("kgqa_given_up_total 1\n"), "the worker stopped early: {metrics}");
    // A limit beyond the clock's range is no limit (it once overflowed the deadline).
    let patient = Server::start(&["--ask-timeout", "1e19"]);
    assert_eq!(patient.post_json("/ask", &body).status, 200);
    let out = Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["serve", "--addr", "127.0.0.1:0", "--ask-timeout", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ask-timeout: a positive number of seconds"), "{err}");
}

#[test]
fn sigterm_stops_it_cleanly() {
    let server = Server::start(&[]);
    assert_eq!(server.get("/health").status, 200);
    let addr = server.addr.clone();
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(std::net::TcpStream::connect(&addr).is_err(), "the port is closed");
}

#[test]
fn startup_errors_say_what_is_wrong() {
    let server = Server::start(&[]);
    let out = Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["serve", "--addr", &server.addr])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("binding {}", server.addr)), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_kgqa"))
        .args(["serve", "--addr", "127.0.0.1:0", "--model", "/no/such/model"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model at /no/such/model"));
}
