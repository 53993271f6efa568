//! A lemmatizer after WordNet's morphy: exception lists first, then the detachment rules
//! per part of speech. It proposes base forms; the caller keeps those the lexicon knows.
//!
//! The exception lists are the project's own `kg/irregular.exc` (common irregular verbs
//! and adjectives) and `kg/irregular-nouns.exc` (always present) plus WordNet's
//! `{noun,verb,adj,adv}.exc` when a WordNet database is found (`$KGQA_WORDNET`, then
//! `/usr/share/wordnet`). A word known to be a noun ([`Lemmatizer::bases`] with `noun`)
//! gets the noun exceptions and rules only, so that "the ground" stays "ground" rather than
//! reading as the past tense of "grind".

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const BUILTIN: &str = include_str!("../../kg/irregular.exc");
const BUILTIN_NOUNS: &str = include_str!("../../kg/irregular-nouns.exc");
/// How many of [`RULES`] (the first ones) are noun rules.
const NOUN_RULES: usize = 8;

/// Morphy's detachment rules: (suffix, replacement), nouns, then verbs, then adjectives.
const RULES: &[(&str, &str)] = &[
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("s", ""),
    ("es", "e"),
    ("es", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
    ("er", ""),
    ("est", ""),
    ("er", "e"),
    ("est", "e"),
];

/// Proposes base forms of inflected words.
#[derive(Clone, Debug)]
pub struct Lemmatizer {
    /// Inflected form -> base forms, each with whether it came from a noun list.
    exceptions: HashMap<String, Vec<(String, bool)>>,
    wordnet: Option<PathBuf>,
}

impl Default for Lemmatizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Lemmatizer {
    /// The built-in exceptions plus WordNet's, if a WordNet database is found.
    pub fn new() -> Self {
        let dir = std::env::var_os("KGQA_WORDNET")
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from("/usr/share/wordnet")))
            .filter(|d| d.join("verb.exc").is_file());
        Self::with_wordnet(dir.as_deref())
    }

    /// The built-in exceptions plus those of the WordNet database at `dir`, if given.
    pub fn with_wordnet(dir: Option<&Path>) -> Self {
        let mut exceptions = HashMap::new();
        add_exceptions(&mut exceptions, BUILTIN, false);
        add_exceptions(&mut exceptions, BUILTIN_NOUNS, true);
        if let Some(dir) = dir {
            for name in ["noun.exc", "verb.exc", "adj.exc", "adv.exc"] {
                if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                    add_exceptions(&mut exceptions, &text, name == "noun.exc");
                }
            }
        }
        Lemmatizer { exceptions, wordnet: dir.map(Path::to_path_buf) }
    }

    /// The WordNet folder whose exception lists are in use, if any.
    pub fn wordnet(&self) -> Option<&Path> {
        self.wordnet.as_deref()
    }

    /// Candidate base forms of a lower-case word, most likely first, excluding the word.
    pub fn candidates(&self, word: &str) -> Vec<String> {
        let Bases { mut sure, guesses } = self.bases(word, false);
        sure.extend(guesses);
        sure
    }

    /// The base forms of a lower-case word, most likely first, excluding the word, split by
    /// how far they can be trusted. Read as a noun (`noun`), a word gets noun exceptions and
    /// noun suffix rules only ("ground" has none; "leaves" gives "leaf", then "leave").
    pub fn bases(&self, word: &str, noun: bool) -> Bases {
        let mut bases = Bases::default();
        let add = |s: String, out: &mut Vec<String>| {
            if !s.is_empty() && s != word && !out.contains(&s) {
                out.push(s);
            }
        };
        if let Some(stem) = word.strip_suffix("'s").or_else(|| word.strip_suffix("s'")) {
            add(stem.to_owned(), &mut bases.sure);
        }
        if let Some(exceptions) = self.exceptions.get(word) {
            for (base, from_nouns) in exceptions {
                if *from_nouns || !noun {
                    add(base.clone(), &mut bases.sure);
                }
            }
        }
        if word.chars().count() < 3 {
            return bases;
        }
        let rules = if noun { &RULES[..NOUN_RULES] } else { RULES };
        for (i, (suffix, replacement)) in rules.iter().enumerate() {
            let Some(stem) = word.strip_suffix(suffix).filter(|s| !s.is_empty()) else {
                continue;
            };
            let out = if i < NOUN_RULES { &mut bases.sure } else { &mut bases.guesses };
            add(format!("{stem}{replacement}"), out);
            // digging -> digg -> dig, stopped -> stopp -> stop
            if replacement.is_empty() && (*suffix == "ing" || *suffix == "ed") {
                let b = stem.as_bytes();
                if b.len() >= 3 && b[b.len() - 1] == b[b.len() - 2] {
                    add(stem[..stem.len() - 1].to_owned(), out);
                }
            }
        }
        bases.guesses.retain(|g| !bases.sure.contains(g));
        bases
    }
}

/// A word's base forms ([`Lemmatizer::bases`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bases {
    /// From the possessive, the exception lists and the noun plural rules: trusted over
    /// the word itself ("flowers" -> "flower", "dug" -> "dig").
    pub sure: Vec<String>,
    /// From the verb and adjective suffix rules ("-ed", "-ing", "-er", "-est"), which
    /// misfire on words that are concepts themselves ("teacher" -> "teach", "bed" -> "be",
    /// "mother" -> "moth"): worth trying only when the word is not a concept.
    pub guesses: Vec<String>,
}

fn add_exceptions(map: &mut HashMap<String, Vec<(String, bool)>>, text: &str, nouns: bool) {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_ascii_whitespace();
        let Some(inflected) = parts.next() else { continue };
        let entry = map.entry(inflected.replace('_', " ")).or_default();
        for base in parts {
            let base = (base.replace('_', " "), nouns);
            if !entry.iter().any(|(b, _)| *b == base.0) {
                entry.push(base);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(word: &str, expected_first: &str) {
        let lem = Lemmatizer::with_wordnet(None);
        let got = lem.candidates(word);
        assert_eq!(got.first().map(String::as_str), Some(expected_first), "{word}: {got:?}");
    }

    #[test]
    fn builtin_rules_and_exceptions() {
        check("dug", "dig");
        check("children", "child");
        check("flowers", "flower");
        check("boxes", "box");
        check("churches", "church");
        check("berries", "berry");
        check("digging", "digge");
        check("mice", "mouse");
        check("went", "go");
        check("dog's", "dog");
    }

    fn nouns(lem: &Lemmatizer, word: &str) -> Vec<String> {
        lem.bases(word, true).sure
    }

    #[test]
    fn nouns_get_noun_lemmas_only() {
        let lem = Lemmatizer::with_wordnet(None);
        assert!(lem.candidates("saw").contains(&"see".to_owned()));
        assert!(nouns(&lem, "saw").is_empty());
        assert!(nouns(&lem, "left").is_empty());
        assert_eq!(nouns(&lem, "leaves"), ["leaf", "leave"]);
        assert_eq!(nouns(&lem, "mice"), ["mouse"]);
        assert_eq!(nouns(&lem, "flowers"), ["flower"]);
        assert!(!nouns(&lem, "planted").contains(&"plant".to_owned()));
        assert!(lem.candidates("planted").contains(&"plant".to_owned()));
    }

    /// WordNet's verb.exc reads "ground" as the past of "grind"; as a noun it stays.
    #[test]
    fn wordnet_verb_exceptions_do_not_apply_to_nouns() {
        let dir = std::env::temp_dir().join(format!("kgqa-lemma-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("verb.exc"), "ground grind\n").unwrap();
        std::fs::write(dir.join("noun.exc"), "geese goose\n").unwrap();
        let lem = Lemmatizer::with_wordnet(Some(&dir));
        assert_eq!(lem.candidates("ground"), ["grind"]);
        assert!(nouns(&lem, "ground").is_empty());
        assert_eq!(nouns(&lem, "geese"), ["goose"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn suffix_rules_for_verbs_and_adjectives_are_guesses() {
        let lem = Lemmatizer::with_wordnet(None);
        let b = lem.bases("teacher", false);
        assert!(b.sure.is_empty());
        assert!(b.guesses.contains(&"teach".to_owned()));
        let b = lem.bases("flowers", false);
        assert_eq!(b.sure, ["flower"]);
        assert_eq!(lem.bases("dug", false).sure, ["dig"]);
        assert!(lem.bases("teacher", true).guesses.is_empty());
    }

    #[test]
    fn doubled_consonants_are_undone() {
        let lem = Lemmatizer::with_wordnet(None);
        assert!(lem.candidates("digging").contains(&"dig".to_owned()));
        assert!(lem.candidates("stopped").contains(&"stop".to_owned()));
    }
}
