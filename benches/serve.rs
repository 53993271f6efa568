//! What the HTTP server costs over calling the engine directly (a bench command, not a
//! test). The same questions are answered by `Engine::ask` in this process (the
//! reference) and by a real `kgqa serve` process over TCP, one request at a time and with
//! 2, 4 and 8 clients at once; both use the embedded graph and the shipped student, with
//! the products' precision of `KGQA_PRECISION` (`auto`, `f32` or `int8`; default `auto`)
//! on both sides.
//! Questions: the first N of the CommonsenseQA in-house test when the dataset is there
//! (`KGQA_DATASETS`, default `../shared/datasets`), else a few built-in ones.
//! Usage: `cargo bench --bench serve -- [N] [ROUNDS]` (defaults 40 and 3; rounds
//! alternate direct and server, medians over rounds).

#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::PathBuf;
use std::time::Instant;

use kgqa::engine::{Engine, Options, Request};

#[global_allocator]
static ALLOCATOR: kgqa::alloc::Allocator = kgqa::alloc::Allocator;

fn questions(n: usize) -> Vec<Request> {
    let data = std::env::var_os("KGQA_DATASETS")
        .map_or_else(|| PathBuf::from("../shared/datasets"), PathBuf::from)
        .join("commonsenseqa");
    let file = data.join("train_rand_split.jsonl");
    let ids = data.join("inhouse_split_qids.txt");
    if file.is_file() && ids.is_file() {
        use kgqa::eval::dataset::{Split, read_csqa, read_ids, select};
        let all = read_csqa(&file).expect("CommonsenseQA loads");
        let items = select(all, &read_ids(&ids).expect("the id list loads"), Split::Unlisted);
        return items
            .into_iter()
            .take(n)
            .map(|i| Request { question: i.question, choices: i.choices, ..Request::default() })
            .collect();
    }
    eprintln!("(no CommonsenseQA at {}: built-in questions)", data.display());
    let built_in = [
        (
            "We dug the ground to plant flowers. What did we dig with?",
            ["trowel", "excavator", "spoon"],
        ),
        (
            "We dug the ground to build a house. What did we dig with?",
            ["trowel", "excavator", "fork"],
        ),
        ("Where would you keep a trowel?", ["garden shed", "kitchen", "car"]),
    ];
    (0..n)
        .map(|i| {
            let (q, c) = built_in[i % built_in.len()];
            Request {
                question: q.into(),
                choices: c.map(String::from).to_vec(),
                ..Request::default()
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(40);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let requests = questions(n);
    let model_dir = kgqa::model::default_model();
    let mut model = kgqa::model::head::MultipleChoice::load(&model_dir, &kgqa::model::device())
        .expect("the shipped student loads");
    let precision = std::env::var("KGQA_PRECISION").unwrap_or_else(|_| "auto".into());
    let precision = kgqa::model::kernels::Precision::parse(&precision).expect("auto, f32 or int8");
    model.set_precision(precision).expect("precision");
    let graph = kgqa::kg::Graph::embedded().expect("the embedded graph loads");
    let engine = Engine::new(graph, Some((model_dir, model)), Options::default()).unwrap();
    let srv = std::sync::Arc::new(server::Server::start(&["--max-in-flight", "4"]));
    let bodies: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| serde_json::json!({"question": r.question, "choices": r.choices}))
        .collect();
    // Warm both sides up (first-touch of weights, caches).
    for (r, b) in requests.iter().zip(&bodies).take(3) {
        engine.ask(r).unwrap();
        assert_eq!(srv.post_json("/ask", b).status, 200);
    }
    let mut direct = Vec::new();
    let mut http = Vec::new();
    let mut rate = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        let mut lat = Vec::new();
        let t = Instant::now();
        for r in &requests {
            let s = Instant::now();
            engine.ask(r).unwrap();
            lat.push(s.elapsed().as_secs_f64() * 1e3);
        }
        direct.push((median(lat), requests.len() as f64 / t.elapsed().as_secs_f64()));
        let mut lat = Vec::new();
        for b in &bodies {
            let s = Instant::now();
            assert_eq!(srv.post_json("/ask", b).status, 200);
            lat.push(s.elapsed().as_secs_f64() * 1e3);
        }
        http.push(median(lat));
        for (k, clients) in [1usize, 2, 4, 8].into_iter().enumerate() {
            let t = Instant::now();
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let (srv, bodies) = (srv.clone(), bodies.clone());
                    std::thread::spawn(move || {
                        for b in bodies.iter().skip(c).step_by(clients) {
                            assert_eq!(srv.post_json("/ask", b).status, 200);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            rate[k].push(bodies.len() as f64 / t.elapsed().as_secs_f64());
        }
    }
    let d_ms = median(direct.iter().map(|d| d.0).collect());
    let d_rate = median(direct.iter().map(|d| d.1).collect());
    let h_ms = median(http.clone());
    println!(
        "{} questions, {rounds} rounds (medians over rounds), {} products, kernels: {}",
        requests.len(),
        precision.name(),
        kgqa::model::kernels::path().summary()
    );
    println!("direct Engine::ask      p50 {d_ms:7.2} ms   {d_rate:6.1} q/s");
    println!(
        "POST /ask, 1 client     p50 {h_ms:7.2} ms   {:6.1} q/s   x{:.3} of direct latency",
        median(rate[0].clone()),
        h_ms / d_ms
    );
    for (k, clients) in [(1, 2), (2, 4), (3, 8)] {
        let r = median(rate[k].clone());
        println!(
            "POST /ask, {clients} clients                   {r:6.1} q/s   x{:.2} of direct throughput",
            r / d_rate
        );
    }
}
