//! Retrieval and the engine on the embedded default graph: open-ended candidates, facts
//! for given choices, SPARQL-injection-shaped text, determinism.

mod common;

use kgqa::engine::{Deadline, Engine, Knowledge, Options, Request};
use kgqa::kg::Graph;
use kgqa::kg::retrieve::{self, Retriever};

const FLOWERS: &str = "We dug the ground to plant flowers. What did we dig with?";
const HOUSE: &str = "We dug the ground to build a house. What did we dig with?";

fn engine() -> Engine {
    Engine::new(Graph::embedded().unwrap(), None, Options::default()).unwrap()
}

fn open_ended(question: &str) -> kgqa::engine::Response {
    engine().ask(&Request { question: question.into(), ..Request::default() }).unwrap()
}

fn facts_of<'a>(r: &'a kgqa::engine::Response, choice: &str) -> Vec<&'a str> {
    let c = r.choices.iter().find(|c| c.text == choice).unwrap();
    c.facts.iter().map(|f| f.text.as_str()).collect()
}

#[test]
fn trowel_for_flowers() {
    let r = open_ended(FLOWERS);
    assert!(r.open_ended);
    let top3: Vec<&str> = r.choices.iter().take(3).map(|c| c.text.as_str()).collect();
    assert!(top3.contains(&"trowel"), "top three: {top3:?}");
    assert_eq!(r.answer, "trowel");
    let facts = facts_of(&r, "trowel");
    assert_eq!(facts[..2], ["trowel is used for dig", "trowel is used for plant"]);
    let grounded: Vec<&str> = r.question_concepts.iter().map(|m| m.form.as_str()).collect();
    assert_eq!(grounded, ["dig", "ground", "plant", "flower", "dig"]);
}

#[test]
fn excavator_for_a_house() {
    let r = open_ended(HOUSE);
    let top3: Vec<&str> = r.choices.iter().take(3).map(|c| c.text.as_str()).collect();
    assert!(top3.contains(&"excavator"), "top three: {top3:?}");
    let facts = facts_of(&r, "excavator");
    assert_eq!(facts[..2], ["excavator is used for build house", "excavator is used for dig"]);
    // The candidate that only digs is behind the one that also builds houses.
    let score = |t: &str| r.choices.iter().find(|c| c.text == t).unwrap().graph_score.unwrap();
    assert!(score("excavator") > score("trowel"));
}

/// A semicolon ends a clause as a full stop does: "...to build a house; what did we dig
/// with?" asks about digging, with the house as context, exactly as the two-sentence form
/// (before, the whole text was the asking sentence and places such as "construction site"
/// came before the tools).
#[test]
fn a_semicolon_splits_off_the_asking_clause() {
    for question in [FLOWERS, HOUSE] {
        let two = open_ended(question);
        let one = open_ended(&question.replace(". What", "; what"));
        let texts = |r: &kgqa::engine::Response| -> Vec<(String, Option<f64>)> {
            r.choices.iter().map(|c| (c.text.clone(), c.graph_score)).collect()
        };
        assert_eq!(texts(&one), texts(&two), "{question}");
        assert_eq!(one.kind, two.kind);
    }
}

#[test]
fn facts_for_given_choices() {
    let graph = Graph::embedded().unwrap();
    let retriever = Retriever::new(retrieve::Options::default()).unwrap();
    let choices: Vec<(String, Option<String>)> =
        ["trowel", "excavator", "spoon"].iter().map(|c| (c.to_string(), None)).collect();
    let k = Knowledge::gather(&graph, &retriever, FLOWERS, None, &choices, false).unwrap();
    let texts =
        |i: usize| -> Vec<&str> { k.choices[i].facts.iter().map(|f| f.text.as_str()).collect() };
    assert_eq!(texts(0)[..2], ["trowel is used for dig", "trowel is used for plant"]);
    assert_eq!(texts(1)[0], "excavator is used for dig");
    assert!(k.choices[0].definitions[0].text.contains("small hand tool"));
    // Every fact is a path of one or two edges from a question concept to the choice.
    let question = k.question_concepts();
    for choice in &k.choices {
        for f in &choice.facts {
            assert!((1..=2).contains(&f.edges.len()));
            let ends = [&f.edges[0].head, &f.edges[0].tail];
            assert!(ends.iter().any(|e| question.contains(e)), "{}", f.text);
            let last = f.edges.last().unwrap();
            assert!(choice.concepts.contains(&last.head) || choice.concepts.contains(&last.tail));
            assert!(f.score > 0.0 && f.score <= 1.0);
        }
        let scores: Vec<f64> = choice.facts.iter().map(|f| f.score).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    }
    assert!(k.choices[0].facts.len() <= retrieve::Options::default().top_k);
}

#[test]
fn sparql_shaped_text_is_just_text() {
    let graph = Graph::embedded().unwrap();
    let before = common::snapshot(&graph);
    let engine = Engine::new(graph, None, Options::default()).unwrap();
    for question in [
        "What did we dig with?\" } ; DROP ALL ; SELECT * WHERE { ?s ?p ?o",
        "dig'> } DELETE WHERE { ?s ?p ?o } # plant flowers <http://x/>",
        "{ trowel } ; CLEAR DEFAULT ; \\u0022 garden",
    ] {
        let r = engine.ask(&Request { question: question.into(), ..Request::default() });
        let r = r.unwrap_or_else(|e| panic!("{question}: {e}"));
        assert!(!r.choices.is_empty(), "{question}: normal candidates expected");
    }
    // The shaped words ground like any others and the store is untouched.
    let r = engine
        .ask(&Request { question: "dig\"} ; DROP ALL ; {\" with?".into(), ..Request::default() })
        .unwrap();
    let normal =
        engine.ask(&Request { question: "dig with?".into(), ..Request::default() }).unwrap();
    let names = |r: &kgqa::engine::Response| -> Vec<String> {
        r.choices.iter().map(|c| c.text.clone()).collect()
    };
    assert_eq!(names(&r), names(&normal));
    assert_eq!(common::snapshot(engine.graph()), before);
}

#[test]
fn deterministic_with_and_without_the_cache() {
    let json = |cache: usize| {
        let options = Options {
            retrieve: retrieve::Options { cache, ..retrieve::Options::default() },
            ..Options::default()
        };
        let engine = Engine::new(Graph::embedded().unwrap(), None, options).unwrap();
        let mut out = Vec::new();
        for q in [FLOWERS, HOUSE, FLOWERS] {
            let mut r = engine.ask(&Request { question: q.into(), ..Request::default() }).unwrap();
            r.timings = Default::default();
            out.push(serde_json::to_string(&r).unwrap());
        }
        out
    };
    let a = json(0);
    assert_eq!(a[0], a[2]);
    assert_eq!(a, json(8192));
    assert_eq!(a, json(0));
}

#[test]
fn bad_requests_name_the_field() {
    let engine = engine();
    let err = |r: Request| engine.ask(&r).unwrap_err().to_string();
    assert!(err(Request::default()).starts_with("question:"));
    let one = Request { question: "q?".into(), choices: vec!["a".into()], ..Request::default() };
    assert!(err(one).starts_with("choices:"));
    let empty = Request {
        question: "q?".into(),
        choices: vec!["a".into(), " ".into()],
        ..Request::default()
    };
    assert!(err(empty).starts_with("choices: choice 1"));
    let no_model = Request {
        question: "q?".into(),
        choices: vec!["a".into(), "b".into()],
        ..Request::default()
    };
    assert!(err(no_model).contains("needs a model"));
    let unknown = Request { question: "zzzz qqqq?".into(), ..Request::default() };
    assert!(err(unknown).starts_with("question: no candidate"));
}

/// A deadline already past stops the question before its first stage; a far one changes
/// nothing.
#[test]
fn a_past_deadline_gives_the_question_up() {
    let engine = engine();
    let request = Request { question: FLOWERS.into(), ..Request::default() };
    let past = Deadline::at(std::time::Instant::now());
    match engine.ask_until(&request, past) {
        Err(kgqa::engine::Error::TimedOut { stage }) => assert_eq!(stage, "grounding"),
        other => panic!("expected TimedOut, got {other:?}"),
    }
    let far = Deadline::at(std::time::Instant::now() + std::time::Duration::from_secs(3600));
    let mut a = engine.ask_until(&request, far).unwrap();
    let mut b = engine.ask(&request).unwrap();
    (a.timings, b.timings) = (Default::default(), Default::default());
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
}
