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
