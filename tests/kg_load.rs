//! Loading every input format into an on-disk store, and what bad input does to it.
#![cfg(feature = "rocksdb")] // on-disk stores

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{ask, count, fixture, options};
use kgqa::kg::Graph;
use kgqa::kg::load::{Format, Languages};
use kgqa::kg::store::load_into_dir;

fn load(files: &[PathBuf]) -> (tempfile::TempDir, Graph) {
    let dir = tempfile::tempdir().unwrap();
    load_into_dir(dir.path(), files, &options()).expect("loads");
    let graph = Graph::open(dir.path()).expect("opens");
    (dir, graph)
}

#[test]
fn ntriples() {
    let (_d, g) = load(&[fixture("sample.nt")]);
    assert_eq!(g.store().unwrap().len().unwrap(), 4);
    assert!(ask(&g, "ASK { cn:trowel r:UsedFor cn:dig }"));
    assert_eq!(g.lexicon().get("garden spade").unwrap(), ["http://example.org/spade"]);
}

#[test]
fn nquads_keep_their_graphs() {
    let (_d, g) = load(&[fixture("sample.nq")]);
    assert_eq!(g.store().unwrap().len().unwrap(), 2);
    assert!(ask(
        &g,
        "ASK { GRAPH <http://example.org/graph/kitchen> { cn:kettle r:UsedFor cn:boil_water } }"
    ));
    assert!(ask(&g, "ASK { cn:kettle r:AtLocation cn:kitchen }"));
}

#[test]
fn turtle() {
    let (_d, g) = load(&[fixture("sample.ttl")]);
    assert_eq!(g.store().unwrap().len().unwrap(), 3);
    assert!(ask(&g, "ASK { cn:excavator r:UsedFor cn:build_house }"));
    // Concept IRIs ground without labels.
    assert_eq!(g.lexicon().get("build house").unwrap(), ["http://conceptnet.io/c/en/build_house"]);
}

#[test]
fn trig() {
    let (_d, g) = load(&[fixture("sample.trig")]);
    assert_eq!(g.store().unwrap().len().unwrap(), 2);
    assert!(ask(
        &g,
        "ASK { GRAPH <http://example.org/graph/tools> { cn:hammer r:UsedFor cn:drive_nail } }"
    ));
}

#[test]
fn rdf_xml() {
    let (_d, g) = load(&[fixture("sample.rdf")]);
    assert_eq!(g.store().unwrap().len().unwrap(), 2);
    assert!(ask(&g, "ASK { cn:pen r:UsedFor cn:write . cn:pen r:AtLocation cn:desk }"));
}

#[test]
fn tsv_edges_with_weights_and_provenance() {
    let (_d, g) = load(&[fixture("sample.tsv")]);
    assert!(ask(
        &g,
        "ASK { cn:trowel r:UsedFor cn:dig . cn:ice_cream r:AtLocation cn:freezer . cn:trowel r:IsA cn:hand_tool }"
    ));
    assert!(ask(
        &g,
        r#"ASK { ?e rdf:subject cn:trowel ; rdf:predicate r:UsedFor ; rdf:object cn:dig ;
                 kgqa:weight "2.5"^^xsd:double ; kgqa:dataset "sample" }"#
    ));
    // A missing weight is 1.0.
    assert!(ask(
        &g,
        r#"ASK { ?e rdf:subject cn:trowel ; rdf:predicate r:IsA ; kgqa:weight "1"^^xsd:double }"#
    ));
    assert!(ask(&g, r#"ASK { cn:ice_cream rdfs:label "ice cream"@en }"#));
    // 3 edges x (triple + 5 edge statements) + 5 labels.
    assert_eq!(g.store().unwrap().len().unwrap(), 3 * 6 + 5);
}

#[test]
fn gzipped_tsv_streams() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("edges.txt.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(fixture("sample.tsv")).unwrap()).unwrap();
    enc.finish().unwrap();
    let (_d, g) = load(&[gz]);
    assert!(ask(&g, "ASK { cn:ice_cream r:AtLocation cn:freezer }"));
    assert_eq!(g.store().unwrap().len().unwrap(), 23);
}

#[test]
fn conceptnet5_english_only_with_senses_folded() {
    let (_d, g) = load(&[fixture("sample.csv")]);
    assert!(ask(&g, "ASK { cn:trowel r:UsedFor cn:dig . cn:trowel r:AtLocation cn:garden_shed }"));
    assert!(!ask(&g, "ASK { <http://conceptnet.io/c/fr/truelle> ?p ?o }"));
    assert!(ask(
        &g,
        r#"ASK { ?e rdf:subject cn:trowel ; rdf:predicate r:UsedFor ; kgqa:weight "2"^^xsd:double ;
                 kgqa:dataset "/d/wordnet/3.1" ; kgqa:license "cc:by/4.0" ;
                 kgqa:surfaceText "[[a trowel]] is used for [[digging]]" ;
                 kgqa:subjectSense "/c/en/trowel/n/wn/artifact" }"#
    ));
    assert_eq!(count(&g, "SELECT (COUNT(*) AS ?n) { ?e kgqa:weight ?w }"), 2);
}

#[test]
fn conceptnet5_other_languages_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.languages = Languages::parse("en,fr");
    let report = load_into_dir(dir.path(), &[fixture("sample.csv")], &opts).unwrap();
    assert_eq!(report.stats.edges, 3);
    let g = Graph::open(dir.path()).unwrap();
    assert!(ask(&g, "ASK { <http://conceptnet.io/c/fr/truelle> r:Synonym cn:trowel }"));
}

#[test]
fn wordnet_folder() {
    let (_d, g) = load(&[fixture("wordnet")]);
    let syn = |o: &str, p: &str| format!("<http://wordnet-rdf.princeton.edu/id/{o}-{p}>");
    assert_eq!(count(&g, "SELECT (COUNT(DISTINCT ?s) AS ?n) { ?s skos:definition ?d }"), 8);
    assert!(ask(&g, &format!("ASK {{ {} r:IsA {} }}", syn("00000100", "n"), syn("00000200", "n"))));
    assert!(ask(
        &g,
        &format!("ASK {{ {} r:HasA {} }}", syn("00000100", "n"), syn("00000300", "n"))
    ));
    assert!(ask(
        &g,
        &format!("ASK {{ {} r:PartOf {} }}", syn("00000300", "n"), syn("00000100", "n"))
    ));
    assert!(ask(
        &g,
        &format!("ASK {{ {} r:Antonym {} }}", syn("00000600", "a"), syn("00000700", "a"))
    ));
    assert!(ask(
        &g,
        &format!("ASK {{ {} wn:derivation {} }}", syn("00000400", "v"), syn("00000100", "n"))
    ));
    assert!(ask(
        &g,
        &format!(
            r#"ASK {{ {s} skos:definition "a small hand tool with a curved scoop for lifting earth"@en ;
                    skos:example "she dug with a trowel"@en ; rdfs:label "trowel"@en }}"#,
            s = syn("00000100", "n")
        )
    ));
    // The adjective marker is stripped from "large(a)"; lemmas link from ConceptNet concepts.
    assert!(ask(&g, &format!(r#"ASK {{ {} rdfs:label "large"@en }}"#, syn("00000700", "a"))));
    assert!(ask(&g, &format!("ASK {{ cn:hand_tool kgqa:sense {} }}", syn("00000200", "n"))));
}

#[test]
fn several_files_and_forced_format() {
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("edges.data");
    std::fs::copy(fixture("sample.tsv"), &renamed).unwrap();
    let mut opts = options();
    opts.format = Some(Format::Tsv);
    let store = dir.path().join("store");
    load_into_dir(&store, &[renamed], &opts).unwrap();
    opts.format = None;
    let report =
        load_into_dir(&store, &[fixture("sample.ttl"), fixture("sample.nt")], &opts).unwrap();
    assert_eq!(report.statements_before, 23);
    // sample.nt repeats the TSV's `trowel UsedFor dig` and trowel's label.
    assert_eq!(report.statements_after, 23 + 3 + 4 - 2);
    let g = Graph::open(&store).unwrap();
    assert!(ask(&g, "ASK { cn:excavator r:UsedFor cn:dig . cn:trowel r:IsA cn:hand_tool }"));
}

#[test]
fn reloading_the_same_file_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    load_into_dir(dir.path(), &[fixture("sample.tsv")], &options()).unwrap();
    let again = load_into_dir(dir.path(), &[fixture("sample.tsv")], &options()).unwrap();
    assert_eq!(again.statements_added, 0);
    assert_eq!(again.statements_after, 23);
}

#[test]
fn unknown_extension_asks_for_format() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("edges.data");
    std::fs::write(&f, "x").unwrap();
    let err = load_into_dir(&dir.path().join("s"), &[f], &options()).unwrap_err().to_string();
    assert!(err.contains("edges.data") && err.contains("--format"), "{err}");
}

/// A load writes its generation's concept index, which answers retrieval as the queries
/// do; the next load replaces it with its own; a damaged one is refused with its file
/// named; a store without one (loaded before indexes existed) answers through its queries.
#[test]
fn the_concept_index_follows_its_generation() {
    use kgqa::kg::retrieve::{Options, Retriever};
    let dir = tempfile::tempdir().unwrap();
    let first = load_into_dir(dir.path(), &[fixture("sample.tsv")], &options()).unwrap();
    assert!(first.index_concepts > 0 && first.index_bytes > 0, "{first:?}");
    assert!(dir.path().join("concepts-1.idx").is_file());
    load_into_dir(dir.path(), &[fixture("wordnet")], &options()).unwrap();
    assert!(!dir.path().join("concepts-1.idx").exists());
    let indexed = Graph::open(dir.path()).unwrap();
    let index = indexed.concept_index().expect("the load wrote an index");
    let plain = Graph::open(dir.path()).unwrap().without_concept_index();
    let r = Retriever::new(Options { cache: 0, ..Options::default() }).unwrap();
    let (mut edges, mut definitions) = (0, 0);
    for i in 0..index.len() {
        let c = index.concept(i).unwrap();
        let hood = r.neighbourhood(&indexed, c).unwrap();
        assert_eq!(hood, r.neighbourhood(&plain, c).unwrap(), "{c}");
        assert_eq!(r.degree(&indexed, c).unwrap(), r.degree(&plain, c).unwrap(), "{c}");
        let d = r.definitions(&indexed, c, 3).unwrap();
        assert_eq!(d, r.definitions(&plain, c, 3).unwrap(), "{c}");
        (edges, definitions) = (edges + hood.len(), definitions + d.len());
    }
    assert!(edges > 10 && definitions >= 8, "{edges} edges, {definitions} definitions");
    drop((indexed, plain));

    let file = dir.path().join("concepts-2.idx");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let e = Graph::open(dir.path()).err().expect("a damaged index is refused").to_string();
    assert!(e.contains("concepts-2.idx") && e.contains("cut short"), "{e}");
    std::fs::remove_file(&file).unwrap();
    let g = Graph::open(dir.path()).expect("a store without an index opens");
    assert!(g.concept_index().is_none());
    assert!(!r.neighbourhood(&g, "http://conceptnet.io/c/en/trowel").unwrap().is_empty());
}

/// A store whose live generation is damaged is reported with the generation named, never
/// half-read: `check` reads it whole and refuses it, and a query over all of it fails
/// rather than answering with part of the graph. A missing generation is named at open.
#[test]
fn a_damaged_generation_is_reported_not_half_read() {
    use kgqa::kg::store::check;
    let dir = tempfile::tempdir().unwrap();
    load_into_dir(dir.path(), &[fixture("sample.tsv"), fixture("wordnet")], &options()).unwrap();
    let intact = check(dir.path()).expect("a fresh store is intact");
    assert!(intact.statements > 50 && intact.index_concepts > Some(10), "{intact:?}");

    let generation = dir.path().join("gen-1");
    let tables = common::damage_tables(&generation);
    assert!(tables > 0, "the load wrote table files");
    let e = check(dir.path()).expect_err("a damaged generation is refused").to_string();
    assert!(e.contains("generation 1") && e.contains("damaged"), "{e}");
    if let Ok(graph) = Graph::open(dir.path()) {
        let all = kgqa::kg::query::run(&graph, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }");
        assert!(all.is_err(), "a whole read of a damaged generation answered");
    }

    std::fs::remove_dir_all(&generation).unwrap();
    let e = Graph::open(dir.path()).err().expect("a missing generation is refused").to_string();
    assert!(e.contains("generation 1") && e.contains("missing"), "{e}");
}

/// Curated knowledge defines a choice by the sense its question speaks of: "market" has a
/// verb sense first in the graph's order and a noun sense whose gloss shares words with
/// the question.
#[test]
fn curated_knowledge_defines_a_choice_by_the_sense_its_question_means() {
    let wn = tempfile::tempdir().unwrap();
    let noun = "00000100 06 n 01 market 0 000 | a place where goods such as magazines are sold  \n";
    let verb = "00000050 35 v 01 market 0 000 01 + 08 00 | engage in buying and selling  \n";
    std::fs::write(wn.path().join("data.noun"), noun).unwrap();
    std::fs::write(wn.path().join("data.verb"), verb).unwrap();
    std::fs::write(wn.path().join("data.adj"), "").unwrap();
    std::fs::write(wn.path().join("data.adv"), "").unwrap();
    let (_d, graph) = load(&[wn.path().to_path_buf()]);
    let definition = |curated: bool| {
        let options = kgqa::kg::retrieve::Options { curated, ..Default::default() };
        let retriever = kgqa::kg::retrieve::Retriever::new(options).unwrap();
        let question = "Where would you find magazines?";
        let choices = [("market".to_owned(), None)];
        let k =
            kgqa::knowledge::Knowledge::gather(&graph, &retriever, question, None, &choices, false);
        k.unwrap().choices[0].definitions[0].text.clone()
    };
    assert_eq!(definition(false), "engage in buying and selling");
    assert_eq!(definition(true), "a place where goods such as magazines are sold");
}
