//! WordNet 3.0 database folders (`data.noun`, `data.verb`, `data.adj`, `data.adv`).
//!
//! Each synset becomes `http://wordnet-rdf.princeton.edu/id/<offset>-<pos>` (satellite
//! adjectives use `a`) with one `rdfs:label` per lemma, its gloss as `skos:definition`
//! (quoted examples as `skos:example`) and `kgqa:sense` links from the ConceptNet concept
//! of each lemma. Pointers map to ConceptNet relations where the meaning is the same
//! (hypernym = IsA, part holonym = PartOf, ...) and to `http://kgqa.dev/wn#` otherwise;
//! lexical pointers between words are lifted to their synsets. The table is
//! [`POINTERS`].

use std::path::Path;

use oxigraph::model::{Literal, NamedNode};

use super::edge::quad;
use super::{FileCtx, Sink, read_bytes, utf8};
use crate::kg::error::{Error, Result};
use crate::kg::vocab::{self, iri};

/// WordNet pointer symbols and the relation each maps to: `cn:` is a ConceptNet relation,
/// `wn:` one of `http://kgqa.dev/wn#`.
pub const POINTERS: &[(&str, &str)] = &[
    ("@", "cn:IsA"),
    ("@i", "cn:IsA"),
    ("~", "wn:hyponym"),
    ("~i", "wn:instanceHyponym"),
    ("#m", "wn:memberOf"),
    ("#s", "wn:substanceOf"),
    ("#p", "cn:PartOf"),
    ("%m", "wn:hasMember"),
    ("%s", "cn:MadeOf"),
    ("%p", "cn:HasA"),
    ("!", "cn:Antonym"),
    ("*", "cn:Entails"),
    (">", "cn:Causes"),
    ("&", "cn:SimilarTo"),
    ("^", "wn:alsoSee"),
    ("$", "wn:verbGroup"),
    ("=", "wn:attribute"),
    ("+", "wn:derivation"),
    ("<", "wn:participle"),
    ("\\", "wn:pertainym"),
    (";c", "wn:domainTopic"),
    ("-c", "wn:memberOfTopic"),
    (";r", "wn:domainRegion"),
    ("-r", "wn:memberOfRegion"),
    (";u", "wn:domainUsage"),
    ("-u", "wn:memberOfUsage"),
];

const FILES: [(&str, char); 4] =
    [("data.noun", 'n'), ("data.verb", 'v'), ("data.adj", 'a'), ("data.adv", 'r')];

/// The relation IRI of a pointer symbol, or `None` for an unknown symbol.
pub fn pointer_relation(symbol: &str) -> Option<NamedNode> {
    let (_, target) = POINTERS.iter().find(|(s, _)| *s == symbol)?;
    Some(match target.split_once(':') {
        Some(("cn", name)) => vocab::relation_iri(name),
        Some((_, name)) => iri(format!("{}{name}", vocab::WN_RELATION)),
        None => unreachable!("every table entry has a prefix"),
    })
}

/// The synset IRI for an offset and part of speech.
pub fn synset_iri(offset: &str, pos: char) -> NamedNode {
    let pos = if pos == 's' { 'a' } else { pos };
    iri(format!("{}{offset}-{pos}", vocab::WN_SYNSET))
}

/// Loads a WordNet database folder.
pub(crate) fn load(ctx: &mut FileCtx<'_>, sink: &mut Sink<'_>) -> Result<()> {
    let dir = ctx.path.clone();
    check_folder(&dir)?;
    let relations: Vec<(&str, NamedNode)> =
        POINTERS.iter().map(|(s, _)| (*s, pointer_relation(s).expect("in table"))).collect();
    for (name, pos) in FILES {
        let path = dir.join(name);
        let bytes = read_bytes(&path)?;
        ctx.progress.inc_length(bytes.len() as u64);
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            ctx.progress.inc(line.len() as u64 + 1);
            if line.is_empty() || line.starts_with(b"  ") {
                continue; // the licence header
            }
            if let Err(message) = synset(sink, line, pos, &relations)? {
                let err = Error::Parse { file: path.clone(), line: i as u64 + 1, message };
                ctx.issue(err)?;
            }
        }
    }
    Ok(())
}

fn check_folder(dir: &Path) -> Result<()> {
    let missing: Vec<&str> =
        FILES.iter().map(|(n, _)| *n).filter(|n| !dir.join(n).is_file()).collect();
    if !dir.is_dir() || !missing.is_empty() {
        let reason = if dir.is_dir() {
            format!("missing {}", missing.join(", "))
        } else {
            "not a folder".into()
        };
        return Err(Error::NotWordNet { path: dir.to_path_buf(), reason });
    }
    Ok(())
}

/// Parses one `data.*` line and emits its statements. The inner error is a malformed line.
fn synset(
    sink: &mut Sink<'_>,
    bytes: &[u8],
    file_pos: char,
    relations: &[(&str, NamedNode)],
) -> Result<std::result::Result<(), String>> {
    let text = match utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let parsed = match parse(text, file_pos) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let node = synset_iri(parsed.offset, parsed.pos);
    sink.concept(&node);
    for word in &parsed.words {
        let label = word.replace('_', " ");
        sink.push(quad(
            node.clone(),
            iri(vocab::RDFS_LABEL),
            Literal::new_language_tagged_literal_unchecked(label, "en"),
        ))?;
        let term = vocab::normalize_term(word);
        let concept = vocab::concept_iri("en", &term);
        sink.maybe_unlabeled(concept.as_str());
        sink.push(quad(concept, vocab::kgqa("sense"), node.clone()))?;
    }
    let (definition, examples) = split_gloss(parsed.gloss);
    if !definition.is_empty() {
        sink.push(quad(
            node.clone(),
            iri(vocab::SKOS_DEFINITION),
            Literal::new_language_tagged_literal_unchecked(definition, "en"),
        ))?;
    }
    for example in examples {
        sink.push(quad(
            node.clone(),
            iri("http://www.w3.org/2004/02/skos/core#example"),
            Literal::new_language_tagged_literal_unchecked(example, "en"),
        ))?;
    }
    for (symbol, offset, pos) in parsed.pointers {
        let Some((_, relation)) = relations.iter().find(|(s, _)| *s == symbol) else {
            return Ok(Err(format!("unknown pointer symbol {symbol:?}")));
        };
        sink.edge(relation);
        sink.push(quad(node.clone(), relation.clone(), synset_iri(offset, pos)))?;
    }
    Ok(Ok(()))
}

struct Parsed<'a> {
    offset: &'a str,
    pos: char,
    words: Vec<&'a str>,
    pointers: Vec<(&'a str, &'a str, char)>,
    gloss: &'a str,
}

fn parse(line: &str, file_pos: char) -> std::result::Result<Parsed<'_>, String> {
    let (fields, gloss) = line.split_once(" | ").unwrap_or((line, ""));
    let mut it = fields.split_ascii_whitespace();
    let mut next = |what: &str| it.next().ok_or_else(|| format!("truncated line: no {what}"));
    let offset = next("synset offset")?;
    if offset.len() != 8 || !offset.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("synset offset {offset:?} is not 8 digits"));
    }
    next("lexicographer file number")?;
    let ss_type = next("synset type")?;
    let pos = match ss_type {
        "n" | "v" | "a" | "s" | "r" => ss_type.chars().next().unwrap_or('n'),
        other => return Err(format!("unknown synset type {other:?}")),
    };
    if (pos == 's' && file_pos != 'a') || (pos != 's' && pos != file_pos) {
        return Err(format!("synset type {pos} in the {file_pos} file"));
    }
    let w_cnt = next("word count")?;
    let w_cnt = usize::from_str_radix(w_cnt, 16)
        .map_err(|_| format!("word count {w_cnt:?} is not hexadecimal"))?;
    // A count is the file's word, not a promise: each word takes at least two fields of
    // the line, so the line's length bounds what to reserve (a forged count of 2^32 once
    // asked for 64 GB; found by tests/fuzz.rs).
    let mut words = Vec::with_capacity(w_cnt.min(fields.len() / 4));
    for _ in 0..w_cnt {
        let word = next("word")?;
        next("lex_id")?;
        // Adjective position markers: `(a)`, `(p)`, `(ip)`.
        let word = word.split_once('(').map_or(word, |(w, _)| w);
        words.push(word);
    }
    let p_cnt = next("pointer count")?;
    let p_cnt: usize =
        p_cnt.parse().map_err(|_| format!("pointer count {p_cnt:?} is not a number"))?;
    let mut pointers = Vec::with_capacity(p_cnt.min(fields.len() / 8));
    for _ in 0..p_cnt {
        let symbol = next("pointer symbol")?;
        let target = next("pointer target")?;
        let target_pos = next("pointer part of speech")?;
        next("pointer source/target")?;
        if target.len() != 8 || !target.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("pointer target {target:?} is not 8 digits"));
        }
        let target_pos = match target_pos {
            "n" | "v" | "a" | "s" | "r" => target_pos.chars().next().unwrap_or('n'),
            other => return Err(format!("unknown pointer part of speech {other:?}")),
        };
        pointers.push((symbol, target, target_pos));
    }
    if gloss.is_empty() && !line.contains(" |") {
        return Err("truncated line: no gloss (` | ...`)".into());
    }
    Ok(Parsed { offset, pos, words, pointers, gloss: gloss.trim() })
}

/// Splits a gloss into its definition and its quoted examples.
fn split_gloss(gloss: &str) -> (String, Vec<String>) {
    let mut parts = gloss.split("; \"");
    let definition = parts.next().unwrap_or_default().trim().trim_end_matches(';').to_owned();
    let examples = parts
        .map(|p| p.trim().trim_end_matches(';').trim_end_matches('"').trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    (definition, examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_verb_line_with_frames() {
        let line = "01168468 34 v 02 eat 0 feed 1 002 @ 01157517 v 0000 + 07555863 n 0101 02 + 08 00 + 11 00 | take in solid food; \"She was eating a banana\"; \"What did you eat?\"";
        let p = parse(line, 'v').unwrap();
        assert_eq!(p.offset, "01168468");
        assert_eq!(p.words, ["eat", "feed"]);
        assert_eq!(p.pointers, [("@", "01157517", 'v'), ("+", "07555863", 'n')]);
        let (def, ex) = split_gloss(p.gloss);
        assert_eq!(def, "take in solid food");
        assert_eq!(ex, ["She was eating a banana", "What did you eat?"]);
    }

    #[test]
    fn rejects_malformed_lines() {
        let cases = [
            ("0000174 03 n 01 entity 0 000 | x", "not 8 digits"),
            ("00001740 03 n 0z entity 0 000 | x", "not hexadecimal"),
            ("00001740 03 n 02 entity 0", "truncated line"),
            ("00001740 03 n 01 entity 0 001 @ 00001930 n | x", "truncated line"),
            ("00001740 03 q 01 entity 0 000 | x", "unknown synset type"),
        ];
        for (line, expected) in cases {
            let err = parse(line, 'n').err().unwrap();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn every_pointer_maps() {
        for (symbol, _) in POINTERS {
            assert!(pointer_relation(symbol).is_some());
        }
        assert_eq!(pointer_relation("@").unwrap().as_str(), "http://conceptnet.io/r/IsA");
        assert_eq!(pointer_relation("#p").unwrap().as_str(), "http://conceptnet.io/r/PartOf");
    }
}
