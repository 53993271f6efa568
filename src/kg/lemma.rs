//! A lemmatizer after WordNet's morphy: exception lists first, then the detachment rules
//! per part of speech. It proposes base forms; the caller keeps those the lexicon knows.
//!
//! The exception lists are the project's own `kg/irregular.exc` (common irregular verbs
//! and nouns, always present) plus WordNet's `{noun,verb,adj,adv}.exc` when a WordNet
//! database is found (`$KGQA_WORDNET`, then `/usr/share/wordnet`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const BUILTIN: &str = include_str!("../../kg/irregular.exc");

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
    exceptions: HashMap<String, Vec<String>>,
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
        add_exceptions(&mut exceptions, BUILTIN);
        if let Some(dir) = dir {
            for name in ["noun.exc", "verb.exc", "adj.exc", "adv.exc"] {
                if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                    add_exceptions(&mut exceptions, &text);
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
        let mut out: Vec<String> = Vec::new();
        let add = |s: String, out: &mut Vec<String>| {
            if !s.is_empty() && s != word && !out.contains(&s) {
                out.push(s);
            }
        };
        if let Some(stem) = word.strip_suffix("'s").or_else(|| word.strip_suffix("s'")) {
            add(stem.to_owned(), &mut out);
        }
        if let Some(bases) = self.exceptions.get(word) {
            for base in bases {
                add(base.clone(), &mut out);
            }
        }
        if word.chars().count() < 3 {
            return out;
        }
        for (suffix, replacement) in RULES {
            if let Some(stem) = word.strip_suffix(suffix)
                && !stem.is_empty()
            {
                add(format!("{stem}{replacement}"), &mut out);
                // digging -> digg -> dig, stopped -> stopp -> stop
                if replacement.is_empty() && (*suffix == "ing" || *suffix == "ed") {
                    let b = stem.as_bytes();
                    if b.len() >= 3 && b[b.len() - 1] == b[b.len() - 2] {
                        add(stem[..stem.len() - 1].to_owned(), &mut out);
                    }
                }
            }
        }
        out
    }
}

fn add_exceptions(map: &mut HashMap<String, Vec<String>>, text: &str) {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_ascii_whitespace();
        let Some(inflected) = parts.next() else { continue };
        let entry = map.entry(inflected.replace('_', " ")).or_default();
        for base in parts {
            let base = base.replace('_', " ");
            if !entry.contains(&base) {
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

    #[test]
    fn doubled_consonants_are_undone() {
        let lem = Lemmatizer::with_wordnet(None);
        assert!(lem.candidates("digging").contains(&"dig".to_owned()));
        assert!(lem.candidates("stopped").contains(&"stop".to_owned()));
    }
}
