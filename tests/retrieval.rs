//! Retrieval on the embedded default graph.

use kgqa::kg::Graph;
use kgqa::kg::retrieve::{Options, Retriever};

fn concepts(graph: &Graph, text: &str) -> Vec<String> {
    let (mentions, _) = graph.grounder().ground(text);
    let mut out: Vec<String> = Vec::new();
    for m in mentions {
        for c in m.concepts {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

#[test]
fn explore() {
    let graph = Graph::embedded().unwrap();
    let r = Retriever::new(Options::default()).unwrap();
    for q in [
        "We dug the ground to plant flowers. What did we dig with?",
        "We dug the ground to build a house. What did we dig with?",
    ] {
        let qc = concepts(&graph, q);
        let range = kgqa::kg::candidates::asking_sentence(q);
        let focus = kgqa::kg::candidates::Focus {
            focus: concepts(&graph, &q[range.clone()]),
            context: concepts(&graph, &q[..range.start]),
            kind: kgqa::kg::candidates::answer_kind(&q[range]),
        };
        println!("{q}\n  {qc:?} {focus:?}");
        for c in r.candidates(&graph, &focus, 6).unwrap() {
            println!("  {:.3} {}", c.score, c.label);
            for f in &c.facts {
                println!("      {:.3} {}", f.score, f.text);
            }
        }
    }
}
