//! *"Which sense of this word does the question mean?"* A simplified Lesk: the WordNet
//! sense whose gloss shares the most content words with the question, ties going to the
//! noun senses (most answers name a thing, a place or a person), then to the graph's order.
//! "Where would you find magazines … ?" defines *market* as "a place where goods are
//! bought and sold", not "make commercial".

use std::collections::HashSet;

use crate::kg::ground::is_stop_word;
use crate::kg::text::tokenize;
use crate::kg::vocab::WN_SYNSET;

/// A word's crude stem for overlap counting: lower case, a plural `s` dropped.
fn stem(word: &str) -> String {
    let w = word.to_lowercase();
    match w.strip_suffix('s') {
        Some(s) if s.len() > 2 && !s.ends_with('s') => s.to_owned(),
        _ => w,
    }
}

/// The content words of a text, stemmed.
pub fn content_words(text: &str) -> HashSet<String> {
    tokenize(text)
        .into_iter()
        .filter(|t| t.text.len() > 2 && !is_stop_word(&t.text))
        .map(|t| stem(&t.text))
        .collect()
}

/// The part of speech of a WordNet synset IRI (`…/id/02084071-n` → `'n'`), if it is one.
pub fn part_of_speech(iri: &str) -> Option<char> {
    let id = iri.strip_prefix(WN_SYNSET)?;
    id.rsplit_once('-').and_then(|(_, pos)| pos.chars().next())
}

/// The rank of a part of speech when overlaps tie: nouns, verbs, adjectives, adverbs.
fn pos_rank(pos: Option<char>) -> u8 {
    match pos {
        Some('n') => 0,
        Some('v') => 1,
        Some('a' | 's') => 2,
        _ => 3,
    }
}

/// The index of the sense to use among `(synset IRI, gloss)` pairs, given the question's
/// content words ([`content_words`]); `None` when there are none.
pub fn choose(senses: &[(String, String)], context: &HashSet<String>) -> Option<usize> {
    senses
        .iter()
        .enumerate()
        .min_by_key(|(i, (iri, gloss))| {
            let overlap = content_words(gloss).intersection(context).count();
            (std::cmp::Reverse(overlap), pos_rank(part_of_speech(iri)), *i)
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn senses() -> Vec<(String, String)> {
        vec![
            (format!("{WN_SYNSET}02470175-v"), "engage in the trade of".into()),
            (format!("{WN_SYNSET}01086081-n"), "the world of commercial activity".into()),
            (
                format!("{WN_SYNSET}08420278-n"),
                "a place where goods such as magazines are bought and sold".into(),
            ),
        ]
    }

    #[test]
    fn the_gloss_that_shares_words_with_the_question_wins() {
        let context = content_words("Where would you find magazines along side printed works?");
        assert_eq!(choose(&senses(), &context), Some(2));
    }

    #[test]
    fn without_overlap_a_noun_sense_comes_before_a_verb_sense() {
        let context = content_words("What is it?");
        assert_eq!(choose(&senses(), &context), Some(1));
        assert_eq!(choose(&[], &context), None);
    }

    #[test]
    fn parts_of_speech_are_read_from_synset_iris() {
        assert_eq!(part_of_speech(&format!("{WN_SYNSET}02084071-n")), Some('n'));
        assert_eq!(part_of_speech("http://conceptnet.io/c/en/dog"), None);
        assert_eq!(stem("magazines"), "magazine");
        assert_eq!(stem("glass"), "glass");
    }
}
