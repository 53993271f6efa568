//! Grounding: text -> the concepts it mentions.
//!
//! Words are lower-cased and split on anything but letters, digits and inner apostrophes;
//! the longest n-gram (stop words never start or end one) whose surface form, or a form
//! with its last or first word lemmatized, is in the lexicon becomes a mention. Words that
//! ground to nothing are reported as diagnostics, not errors. An n-gram right after a
//! determiner ("the ground") is a noun phrase: its words get noun lemmas only, so verb
//! exceptions cannot turn the noun "ground" into "grind".

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::kg::lemma::Lemmatizer;
use crate::kg::lexicon::Lexicon;
pub use crate::kg::text::{Token, normalize_phrase, tokenize};

const STOP_WORDS: &str = include_str!("../../kg/stopwords.txt");
/// Words dropped inside an n-gram when looking it up ("build a house" -> "build house").
const ARTICLES: [&str; 3] = ["a", "an", "the"];
/// Words after which an n-gram is read as a noun phrase. Leaves out the ambiguous "that"
/// ("a dog that bit me") and "her" ("saw her run").
const DETERMINERS: [&str; 15] = [
    "a", "an", "the", "this", "these", "those", "my", "your", "his", "its", "our", "their",
    "every", "each", "another",
];
/// The longest n-gram tried, whatever the lexicon holds.
const MAX_NGRAM: usize = 6;

/// A span of text that names one or more concepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    /// The text as written.
    pub text: String,
    /// The lexicon form it matched (lemmatized).
    pub form: String,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
    /// Concept IRIs, ConceptNet concepts first.
    pub concepts: Vec<String>,
}

/// A content word that grounded to nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The word.
    pub word: String,
    /// Byte offset of the word.
    pub start: usize,
    /// What happened.
    pub message: String,
}

/// Whether a lower-case word is an English stop word.
pub fn is_stop_word(word: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        STOP_WORDS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
    })
    .contains(word)
}

/// Grounds text against a lexicon.
pub struct Grounder<'a> {
    lexicon: &'a Lexicon,
    lemmatizer: &'a Lemmatizer,
    stop_words: bool,
}

impl<'a> Grounder<'a> {
    /// A grounder over `lexicon`.
    pub fn new(lexicon: &'a Lexicon, lemmatizer: &'a Lemmatizer) -> Self {
        Grounder { lexicon, lemmatizer, stop_words: false }
    }

    /// A grounder that also grounds stop words (for short texts that are nothing else, such
    /// as the answer choice "can").
    pub fn with_stop_words(mut self) -> Self {
        self.stop_words = true;
        self
    }

    /// The mentions in `text`, left to right, and the content words that matched nothing.
    pub fn ground(&self, text: &str) -> (Vec<Mention>, Vec<Diagnostic>) {
        let tokens = tokenize(text);
        let max = self.lexicon.max_words().clamp(1, MAX_NGRAM);
        let mut mentions = Vec::new();
        let mut diagnostics = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let longest = max.min(tokens.len() - i);
            let noun = i > 0 && DETERMINERS.contains(&tokens[i - 1].text.as_str());
            let found = (1..=longest)
                .rev()
                .find_map(|n| self.lookup(&tokens[i..i + n], noun).map(|m| (n, m)));
            match found {
                Some((n, (form, concepts))) => {
                    let (start, end) = (tokens[i].start, tokens[i + n - 1].end);
                    mentions.push(Mention {
                        text: text[start..end].to_owned(),
                        form,
                        start,
                        end,
                        concepts,
                    });
                    i += n;
                }
                None if self.compound(&tokens[i]).is_some() => {
                    let t = &tokens[i];
                    let (form, concepts) = self.compound(t).expect("checked");
                    mentions.push(Mention {
                        text: text[t.start..t.end].to_owned(),
                        form,
                        start: t.start,
                        end: t.end,
                        concepts,
                    });
                    i += 1;
                }
                None => {
                    let t = &tokens[i];
                    if !is_stop_word(&t.text) {
                        diagnostics.push(Diagnostic {
                            word: text[t.start..t.end].to_owned(),
                            start: t.start,
                            message: "no concept in the graph".into(),
                        });
                    }
                    i += 1;
                }
            }
        }
        (mentions, diagnostics)
    }

    /// A closed compound the lexicon knows as two words ("stockmarket" -> "stock market"):
    /// the first split point, from the left, whose halves form a known phrase.
    fn compound(&self, token: &Token) -> Option<(String, Vec<String>)> {
        let w = &token.text;
        if w.len() < 6 || is_stop_word(w) || !w.chars().all(|c| c.is_ascii_lowercase()) {
            return None;
        }
        (3..=w.len() - 3).find_map(|cut| {
            let (a, b) = w.split_at(cut);
            let words = [a, b].map(|t| Token { text: t.to_owned(), start: 0, end: 0 });
            self.lookup(&words, false).filter(|(form, _)| form.contains(' '))
        })
    }

    /// The form and concepts of an n-gram: the lemmatizer's sure base forms first, then
    /// the surface form, then its guessed ones ([`crate::kg::lemma::Bases`]); with `noun`,
    /// noun base forms only.
    fn lookup(&self, words: &[Token], noun: bool) -> Option<(String, Vec<String>)> {
        let first = &words[0].text;
        let last = &words[words.len() - 1].text;
        if !self.stop_words && (is_stop_word(first) || is_stop_word(last)) {
            return None;
        }
        let surface: Vec<&str> = words.iter().map(|t| t.text.as_str()).collect();
        let lemmatized = |at: usize, bases: &[String], forms: &mut Vec<String>| {
            for base in bases {
                let mut w = surface.clone();
                w[at] = base.as_str();
                forms.push(w.join(" "));
            }
        };
        let n = words.len();
        let last_bases = self.lemmatizer.bases(last, noun);
        let first_bases =
            if n > 1 { self.lemmatizer.bases(first, noun) } else { Default::default() };
        let mut forms: Vec<String> = Vec::new();
        lemmatized(n - 1, &last_bases.sure, &mut forms);
        lemmatized(0, &first_bases.sure, &mut forms);
        // "build a house" also reads as the concept "build house": inner articles dropped.
        if n > 2 {
            let kept: Vec<&str> = surface
                .iter()
                .enumerate()
                .filter(|&(i, w)| i == 0 || i + 1 == n || !ARTICLES.contains(w))
                .map(|(_, w)| *w)
                .collect();
            if kept.len() < n {
                forms.push(kept.join(" "));
            }
        }
        // The surface form, then the suffix rules' guesses, which only a word that is no
        // concept itself needs ("swimming" may be one; "teacher" must not become "teach").
        let exact = surface.join(" ");
        forms.push(exact.clone());
        lemmatized(n - 1, &last_bases.guesses, &mut forms);
        lemmatized(0, &first_bases.guesses, &mut forms);
        // The first form the lexicon knows wins; the surface form adds its own concepts
        // either way (e.g. "glasses" besides "glass").
        let form = forms.into_iter().find(|f| self.lexicon.get(f).is_some())?;
        let mut concepts: Vec<String> = Vec::new();
        for iri in [&form, &exact].into_iter().flat_map(|f| self.lexicon.get(f).unwrap_or_default())
        {
            if !concepts.contains(iri) {
                concepts.push(iri.clone());
            }
        }
        Some((form, concepts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words() {
        assert!(is_stop_word("the"));
        assert!(!is_stop_word("garden"));
    }
}
