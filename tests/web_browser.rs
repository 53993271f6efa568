//! The web page in a real browser (headless Chromium): a shared link asks the running
//! server, and the page shows the answer, the probabilities and the subgraph it drew.
//! Skipped when no browser is installed, unless `KGQA_REQUIRE_BROWSER=1` (as in CI).

mod common;

use std::process::Command;

use common::server::Server;
use serde_json::json;

fn browser() -> Option<String> {
    if let Ok(b) = std::env::var("KGQA_BROWSER") {
        return Some(b);
    }
    let found = ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() && std::env::var("KGQA_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("KGQA_REQUIRE_BROWSER=1 but no chromium, chromium-browser or google-chrome on PATH");
    }
    found.map(str::to_owned)
}

/// The page at `url` after its scripts ran (and their requests came back).
fn rendered(browser: &str, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=30000", "--dump-dom", url])
        .output()
        .expect("the browser runs");
    assert!(out.status.success(), "{browser}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The text inside the first element whose start tag contains `start`.
fn inner<'a>(dom: &'a str, start: &str) -> &'a str {
    let at = dom.find(start).unwrap_or_else(|| panic!("no {start} in {dom}"));
    let rest = &dom[at..];
    let open = rest.find('>').unwrap() + 1;
    &rest[open..open + rest[open..].find('<').unwrap()]
}

#[test]
fn a_shared_link_asks_and_the_page_shows_answer_facts_and_subgraph() {
    let Some(browser) = browser() else {
        eprintln!("skipped: no browser (install chromium, or set KGQA_BROWSER)");
        return;
    };
    let server = Server::start(&[]);
    let question = "We dug the ground to plant flowers. What did we dig with?";
    let expected = server
        .post_json(
            "/ask",
            &json!({"question": question, "choices": ["trowel", "excavator", "spoon"]}),
        )
        .json();
    let q = "We%20dug%20the%20ground%20to%20plant%20flowers.%20What%20did%20we%20dig%20with%3F";
    let url =
        format!("http://{}/?question={q}&choice=trowel&choice=excavator&choice=spoon", server.addr);
    let dom = rendered(&browser, &url);
    assert_eq!(inner(&dom, "id=\"answer\""), expected["answer"].as_str().unwrap());
    assert!(inner(&dom, "id=\"status\"").starts_with("Answered in"), "{dom}");
    assert_eq!(dom.matches("<li class=\"choice").count(), 3);
    assert!(dom.contains("trowel is used for dig"), "the facts are listed");
    // The subgraph: question concepts, choice concepts, the answer's marked, and edges.
    assert!(
        dom.contains("class=\"node question\" data-iri=\"http://conceptnet.io/c/en/dig\""),
        "{dom}"
    );
    let answer_iri = expected["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == expected["answer"])
        .unwrap()["concepts"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(dom.contains(&format!("class=\"node answer\" data-iri=\"{answer_iri}\"")), "{dom}");
    assert!(dom.matches("<g class=\"edge\">").count() >= 3, "{dom}");
    assert!(dom.contains(">UsedFor"), "relations are labelled");

    // A bad request shows the server's error, with its field.
    let dom = rendered(&browser, &format!("http://{}/?question=what&choice=only", server.addr));
    let error = inner(&dom, "id=\"error\"");
    assert!(error.contains("at least two") && error.ends_with("(field choices)"), "{error}");
    assert!(!dom.contains("id=\"error\" role=\"alert\" hidden"), "the error is shown");
}
