//! Grounding on the embedded default graph and on small in-memory graphs.

mod common;

use kgqa::kg::Graph;
use kgqa::kg::lemma::Lemmatizer;

fn forms(graph: &Graph, text: &str) -> Vec<String> {
    graph.grounder().ground(text).0.into_iter().map(|m| m.form).collect()
}

fn check(text: &str, expected: &[&str]) {
    let graph = Graph::embedded().unwrap();
    assert_eq!(forms(&graph, text), expected, "{text}");
}

#[test]
fn the_issue_example() {
    check(
        "I dug holes in the garden to plant flowers",
        &["dig", "hole", "garden", "plant", "flower"],
    );
}

#[test]
fn cases() {
    // Inner articles are dropped when looking n-grams up: "build a house" -> "build house".
    check("We dug the ground to build a house.", &["dig", "ground", "build house"]);
    check("Where do you keep the knives?", &["knife"]);
    check("The children were swimming in the lake", &["swim", "lake"]);
    check("a frying pan and a cutting board", &["frying pan", "cutting board"]);
    check("Watering cans in garden sheds", &["watering can", "garden shed"]);
    // A closed compound splits into a two-word concept the graph knows.
    check("the trowel is in the gardenshed", &["trowel", "garden shed"]);
    check("", &[]);
    check("the of and", &[]);
}

#[test]
fn mentions_carry_spans_and_iris() {
    let graph = Graph::embedded().unwrap();
    let text = "We used the Excavator's bucket";
    let (mentions, diagnostics) = graph.grounder().ground(text);
    assert_eq!(mentions[0].form, "excavator");
    assert_eq!(&text[mentions[0].start..mentions[0].end], "Excavator's");
    assert_eq!(mentions[0].concepts, ["http://conceptnet.io/c/en/excavator"]);
    assert_eq!(mentions[1].form, "bucket");
    assert_eq!(diagnostics.iter().map(|d| d.word.as_str()).collect::<Vec<_>>(), ["used"]);
}

#[test]
fn rules_alone_without_wordnet() {
    let lem = Lemmatizer::with_wordnet(None);
    assert!(lem.wordnet().is_none());
    assert_eq!(lem.candidates("dug")[0], "dig");
    assert_eq!(lem.candidates("holes")[0], "hole");
}

#[test]
fn wordnet_exception_lists_are_used_when_present() {
    let lem = Lemmatizer::with_wordnet(Some(&common::fixture("wordnet")));
    assert!(lem.wordnet().is_some());
    assert_eq!(lem.candidates("dug")[0], "dig");
}

/// WordNet's verb.exc reads "ground" as the past of "grind" and "saw" as the past of
/// "see". After a determiner the word is a noun and keeps its own concept; elsewhere the
/// verb reading stands ("we dug" -> "dig" although "dug" is a concept too). The "-er",
/// "-ed", "-ing", "-est" rules apply only to words that are no concept themselves.
#[test]
fn a_noun_after_a_determiner_is_not_read_as_a_verb() {
    let lem = Lemmatizer::with_wordnet(Some(&common::fixture("wordnet")));
    let mut lexicon = kgqa::kg::lexicon::Lexicon::default();
    let terms = ["ground", "grind", "dig", "dug", "saw", "see", "leaf", "hole"];
    let more = ["teacher", "teach", "bed", "be", "swim", "mother", "moth"];
    for term in terms.into_iter().chain(more) {
        lexicon.add_concept_iri(&format!("http://conceptnet.io/c/en/{term}"));
    }
    lexicon.finish();
    let grounder = kgqa::kg::ground::Grounder::new(&lexicon, &lem);
    let forms = |text: &str| -> Vec<String> {
        grounder.ground(text).0.into_iter().map(|m| m.form).collect()
    };
    assert_eq!(forms("We dug the ground with a saw"), ["dig", "ground", "saw"]);
    assert_eq!(forms("they ground it and saw holes"), ["grind", "see", "hole"]);
    assert_eq!(forms("the leaves on their ground"), ["leaf", "ground"]);
    // Verb and adjective suffix rules only guess: a word that is a concept stays itself.
    assert_eq!(forms("teachers swimming to bed"), ["teacher", "swim", "bed"]);
    assert_eq!(forms("mother"), ["mother"]);
    // The surface concept still comes along with a base form outside noun phrases.
    let (mentions, _) = grounder.ground("we dug");
    assert_eq!(
        mentions[0].concepts,
        ["http://conceptnet.io/c/en/dig", "http://conceptnet.io/c/en/dug"]
    );
}
