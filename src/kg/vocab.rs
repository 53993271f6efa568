//! The IRI vocabulary that non-RDF inputs are mapped to (documented in ARCHITECTURE.md).
//!
//! - ConceptNet concepts: `http://conceptnet.io/c/<lang>/<term>`, the term lower-cased with
//!   spaces as `_`; sense suffixes such as `/n/wn/food` are folded into the term and kept
//!   on the edge as provenance (`kgqa:subjectSense`, `kgqa:objectSense`).
//! - Relations: `http://conceptnet.io/r/<Relation>`; WordNet pointers without a ConceptNet
//!   equivalent use `http://kgqa.dev/wn#<name>`.
//! - WordNet synsets: `http://wordnet-rdf.princeton.edu/id/<offset>-<pos>` with `rdfs:label`
//!   per lemma and `skos:definition` for the gloss.
//! - Each ConceptNet-style edge `h r t` is stored as that triple plus an edge node `e` with
//!   `rdf:subject h; rdf:predicate r; rdf:object t; kgqa:weight w; kgqa:dataset d` (and
//!   `kgqa:license`, `kgqa:surfaceText` where known). An edge with no edge node weighs 1.0.

use oxigraph::model::NamedNode;

/// ConceptNet concept namespace.
pub const CN_CONCEPT: &str = "http://conceptnet.io/c/";
/// ConceptNet relation namespace.
pub const CN_RELATION: &str = "http://conceptnet.io/r/";
/// ConceptNet assertion namespace (edge nodes of ConceptNet 5 dumps).
pub const CN_ASSERTION: &str = "http://conceptnet.io/a/";
/// kgqa's own terms.
pub const KGQA: &str = "http://kgqa.dev/ns#";
/// Edge nodes minted for inputs without edge identifiers.
pub const KGQA_EDGE: &str = "http://kgqa.dev/edge/";
/// WordNet relations that have no ConceptNet equivalent.
pub const WN_RELATION: &str = "http://kgqa.dev/wn#";
/// WordNet synset identifiers (Princeton WordNet RDF style).
pub const WN_SYNSET: &str = "http://wordnet-rdf.princeton.edu/id/";
/// `rdfs:label`.
pub const RDFS_LABEL: &str = "http://www.w3.org/2000/01/rdf-schema#label";
/// `skos:definition`.
pub const SKOS_DEFINITION: &str = "http://www.w3.org/2004/02/skos/core#definition";
/// `rdf:subject`.
pub const RDF_SUBJECT: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#subject";
/// `rdf:predicate`.
pub const RDF_PREDICATE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#predicate";
/// `rdf:object`.
pub const RDF_OBJECT: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#object";

/// The prefixes `kgqa query` predeclares, so users can write `cn:dig` or `r:UsedFor`.
pub const PREFIXES: &[(&str, &str)] = &[
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("skos", "http://www.w3.org/2004/02/skos/core#"),
    ("cn", "http://conceptnet.io/c/en/"),
    ("r", CN_RELATION),
    ("kgqa", KGQA),
    ("wn", WN_RELATION),
    ("wnid", WN_SYNSET),
];

/// A named node from a string known to be a valid IRI (built by this module).
pub fn iri(s: impl Into<String>) -> NamedNode {
    NamedNode::new_unchecked(s)
}

/// `kgqa:<local>`.
pub fn kgqa(local: &str) -> NamedNode {
    iri(format!("{KGQA}{local}"))
}

/// Normalizes a ConceptNet term or free phrase: lower case, runs of whitespace and `_` as
/// one `_`, leading and trailing separators removed.
pub fn normalize_term(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    let mut pending_sep = false;
    for c in term.chars() {
        if c.is_whitespace() || c == '_' {
            pending_sep = !out.is_empty();
        } else {
            if pending_sep {
                out.push('_');
                pending_sep = false;
            }
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The concept IRI for an already normalized term, percent-encoding what IRIs forbid.
pub fn concept_iri(lang: &str, term: &str) -> NamedNode {
    let mut s = String::with_capacity(CN_CONCEPT.len() + lang.len() + term.len() + 1);
    s.push_str(CN_CONCEPT);
    s.push_str(lang);
    s.push('/');
    encode_segment(term, &mut s);
    iri(s)
}

/// A relation IRI `http://conceptnet.io/r/<name>` (the name may contain `/`, as in
/// `dbpedia/genre`).
pub fn relation_iri(name: &str) -> NamedNode {
    let mut s = String::with_capacity(CN_RELATION.len() + name.len());
    s.push_str(CN_RELATION);
    for part in name.split('/').enumerate() {
        if part.0 > 0 {
            s.push('/');
        }
        encode_segment(part.1, &mut s);
    }
    iri(s)
}

/// Percent-encodes the characters that may not appear in an IRI path segment.
pub fn encode_segment(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\u{0}'..='\u{20}'
            | '<'
            | '>'
            | '"'
            | '{'
            | '}'
            | '|'
            | '\\'
            | '^'
            | '`'
            | '#'
            | '?'
            | '%'
            | '/'
            | '['
            | ']'
            | '\u{7f}' => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            _ => out.push(c),
        }
    }
}

/// The human-readable term of a ConceptNet concept IRI (`.../c/en/ice_cream` -> `ice cream`),
/// or `None` for other IRIs.
pub fn concept_term(iri: &str) -> Option<(&str, String)> {
    let rest = iri.strip_prefix(CN_CONCEPT)?;
    let (lang, term) = rest.split_once('/')?;
    let term = term.split('/').next()?;
    Some((lang, decode(term).replace('_', " ")))
}

/// The local name of an IRI: what follows the last `#` or `/`, percent-decoded.
pub fn local_name(iri: &str) -> String {
    let cut = iri.rfind(['#', '/']).map_or(0, |i| i + 1);
    decode(&iri[cut..])
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// A readable name for an IRI: its ConceptNet term, or its local name.
pub fn display_name(iri: &str) -> String {
    concept_term(iri).map_or_else(|| local_name(iri), |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_normalize_and_round_trip() {
        let cases = [
            ("Ice  Cream", "ice_cream", "http://conceptnet.io/c/en/ice_cream"),
            (" play on ice ", "play_on_ice", "http://conceptnet.io/c/en/play_on_ice"),
            ("50% off", "50%_off", "http://conceptnet.io/c/en/50%25_off"),
            ("a/b <c>", "a/b_<c>", "http://conceptnet.io/c/en/a%2Fb_%3Cc%3E"),
            ("Café", "café", "http://conceptnet.io/c/en/café"),
        ];
        for (input, term, expected) in cases {
            assert_eq!(normalize_term(input), term);
            let node = concept_iri("en", term);
            assert_eq!(node.as_str(), expected);
            NamedNode::new(node.as_str()).expect("valid IRI");
            assert_eq!(concept_term(node.as_str()).unwrap().1, term.replace('_', " "));
        }
    }

    #[test]
    fn local_names() {
        assert_eq!(local_name("http://conceptnet.io/r/UsedFor"), "UsedFor");
        assert_eq!(local_name("http://kgqa.dev/wn#alsoSee"), "alsoSee");
        assert_eq!(local_name("http://example.org/a%20b"), "a b");
    }
}
