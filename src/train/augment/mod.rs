//! Data augmentation for distillation: TinyBERT's word replacement, with the graph as the
//! thesaurus (question variants in which grounded words are replaced by concepts that share
//! a WordNet sense with them, `r:Synonym` in the retrieved neighbourhood), and choice-set
//! variants (the same question with other distractors, drawn from the choices of training
//! questions written from the same concept). [`labelled`] makes them, has the teachers
//! label them and keeps them in the run folder.

pub mod labelled;

use crate::eval::batch::Example;
use crate::kg::Graph;
use crate::kg::retrieve::Retriever;
use crate::kg::vocab::display_name;
use crate::kg::{Result, vocab};
use crate::model::rng::splitmix64;

/// Up to `n` distinct variants of `text` (never `text` itself): each grounded mention that
/// has synonyms is replaced, with probability 1/2, by one of them (seeded choices).
pub fn synonym_variants(
    graph: &Graph,
    retriever: &Retriever,
    text: &str,
    n: usize,
    seed: u64,
) -> Result<Vec<String>> {
    let synonym = format!("{}Synonym", vocab::CN_RELATION);
    let (mentions, _) = graph.grounder().ground(text);
    let mut options: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for m in &mentions {
        let mut words: Vec<String> = Vec::new();
        for concept in m.concepts.iter().filter(|c| c.starts_with(vocab::CN_CONCEPT)) {
            for e in retriever.neighbourhood(graph, concept)?.iter() {
                if e.relation == synonym && e.head == *concept {
                    let word = display_name(&e.tail);
                    if word != m.form && !word.is_empty() && !words.contains(&word) {
                        words.push(word);
                    }
                }
            }
        }
        words.sort();
        if !words.is_empty() {
            options.push((m.start, m.end, words));
        }
    }
    let mut out: Vec<String> = Vec::new();
    if options.is_empty() {
        return Ok(out);
    }
    let mut state = seed;
    for _ in 0..n * 4 {
        if out.len() >= n {
            break;
        }
        let mut variant = String::with_capacity(text.len() + 16);
        let mut last = 0;
        for (start, end, words) in &options {
            variant.push_str(&text[last..*start]);
            if splitmix64(&mut state) & 1 == 1 {
                let pick = (splitmix64(&mut state) % words.len() as u64) as usize;
                variant.push_str(&words[pick]);
            } else {
                variant.push_str(&text[*start..*end]);
            }
            last = *end;
        }
        variant.push_str(&text[last..]);
        if variant != text && !out.contains(&variant) {
            out.push(variant);
        }
    }
    Ok(out)
}

/// Up to `n` choice-set variants of each training question: the same question and answer
/// (its facts kept), the other choices drawn from a pool of distractors, the answer at a
/// seeded position. The pool of question `i` is its own distractors and the choices of the
/// other questions of `train` written from the same concept (`concepts[i]`, CommonsenseQA's
/// `question_concept`), minus any whose text is the answer's; each choice brings its
/// facts along (retrieved for a question about the same concept). Each variant has at least
/// one choice from another question, and no two variants of a question are the same set.
/// Questions without a concept, or whose concept no other question shares, get none.
/// Entity-fusion inputs cannot move between questions (each choice's mentions point into
/// its own question's concept list), so `train` must not carry them; the caller checks.
pub fn choice_variants(
    train: &[Example],
    concepts: &[Option<String>],
    n: usize,
    seed: u64,
) -> Vec<Example> {
    let mut groups: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    for (i, c) in concepts.iter().enumerate().take(train.len()) {
        if let Some(c) = c {
            groups.entry(c.as_str()).or_default().push(i);
        }
    }
    let key = |t: &str| t.trim().to_lowercase();
    let mut out = Vec::new();
    for (i, e) in train.iter().enumerate() {
        let Some(group) = concepts.get(i).and_then(|c| c.as_deref()).map(|c| &groups[c]) else {
            continue;
        };
        let answer = key(&e.choices[e.answer]);
        // (text, facts, from another question), distinct texts, own distractors first.
        let mut pool: Vec<(&String, Option<&Vec<String>>, bool)> = Vec::new();
        let mut seen = std::collections::HashSet::from([answer]);
        for &j in std::iter::once(&i).chain(group.iter().filter(|&&j| j != i)) {
            for (k, text) in train[j].choices.iter().enumerate() {
                if seen.insert(key(text)) {
                    pool.push((text, train[j].facts.get(k), j != i));
                }
            }
        }
        let wanted = e.choices.len().saturating_sub(1);
        if wanted == 0 || !pool.iter().any(|p| p.2) || pool.len() < wanted {
            continue;
        }
        let mut state = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut sets: Vec<Vec<usize>> = Vec::new();
        for _ in 0..n * 4 {
            if sets.len() >= n {
                break;
            }
            // The first `wanted` of a seeded partial shuffle of the pool.
            let mut order: Vec<usize> = (0..pool.len()).collect();
            for t in 0..wanted {
                let r = t + (splitmix64(&mut state) % (pool.len() - t) as u64) as usize;
                order.swap(t, r);
            }
            let mut set = order[..wanted].to_vec();
            set.sort_unstable();
            if set.iter().any(|&p| pool[p].2) && !sets.contains(&set) {
                sets.push(set);
            }
        }
        for set in sets {
            let at = (splitmix64(&mut state) % (wanted as u64 + 1)) as usize;
            let mut choices: Vec<String> = set.iter().map(|&p| pool[p].0.clone()).collect();
            choices.insert(at, e.choices[e.answer].clone());
            let facts = if e.facts.is_empty() {
                Vec::new()
            } else {
                let mut f: Vec<Vec<String>> =
                    set.iter().map(|&p| pool[p].1.cloned().unwrap_or_default()).collect();
                f.insert(at, e.facts.get(e.answer).cloned().unwrap_or_default());
                f
            };
            out.push(Example { choices, answer: at, facts, ..e.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kg::retrieve::Options;

    #[test]
    fn replaces_grounded_words_with_synonyms() {
        let store = oxigraph::store::Store::new().unwrap();
        let ttl = r#"
            @prefix c: <http://conceptnet.io/c/en/> .
            @prefix kgqa: <http://kgqa.dev/ns#> .
            @prefix wnid: <http://wordnet-rdf.princeton.edu/id/> .
            c:dig kgqa:sense wnid:1-v . c:excavate kgqa:sense wnid:1-v .
            c:hole kgqa:sense wnid:2-n . c:pit kgqa:sense wnid:2-n . c:cavity kgqa:sense wnid:2-n .
        "#;
        store.load_from_reader(oxigraph::io::RdfFormat::Turtle, ttl.as_bytes()).unwrap();
        let graph = Graph::from_store(store).unwrap();
        let retriever = Retriever::new(Options::default()).unwrap();
        let text = "Why dig a hole?";
        let variants = synonym_variants(&graph, &retriever, text, 5, 1).unwrap();
        assert!(!variants.is_empty());
        for v in &variants {
            assert_ne!(v, text);
            assert!(v.starts_with("Why ") && v.ends_with('?'), "{v}");
            let words: Vec<&str> = v.trim_end_matches('?').split(' ').collect();
            assert!(["dig", "excavate"].contains(&words[1]), "{v}");
            assert!(["hole", "pit", "cavity"].contains(&words[3]), "{v}");
        }
        assert_eq!(variants, synonym_variants(&graph, &retriever, text, 5, 1).unwrap());
        assert!(synonym_variants(&graph, &retriever, "nothing here", 3, 1).unwrap().is_empty());
    }
    fn mc(question: &str, choices: &[&str]) -> Example {
        Example {
            question: question.into(),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            answer: 0,
            facts: choices.iter().map(|c| vec![format!("{c} fact")]).collect(),
            ..Example::default()
        }
    }

    #[test]
    fn choice_variants_draw_distractors_from_questions_of_the_same_concept() {
        let train = vec![
            mc("what did we dig with?", &["trowel", "soil", "seed", "water", "sun"]),
            mc("what digs for houses?", &["excavator", "Trowel", "crane", "drill", "ladder"]),
            mc("where do fish live?", &["sea", "sky", "tree", "desk", "car"]),
        ];
        let concepts = vec![Some("dig".to_string()), Some("dig".to_string()), Some("fish".into())];
        let variants = choice_variants(&train, &concepts, 3, 7);
        assert_eq!(variants, choice_variants(&train, &concepts, 3, 7), "seeded");
        assert_ne!(variants, choice_variants(&train, &concepts, 3, 8));
        // The fish question shares its concept with no other question: no variants.
        assert!(variants.iter().all(|v| v.question != train[2].question));
        for (source, others) in
            [(0, ["excavator", "crane", "drill", "ladder"]), (1, ["soil", "seed", "water", "sun"])]
        {
            let of: Vec<&Example> =
                variants.iter().filter(|v| v.question == train[source].question).collect();
            assert_eq!(of.len(), 3, "{of:?}");
            let mut sets = Vec::new();
            for v in &of {
                let answer = &train[source].choices[0];
                assert_eq!(v.choices.len(), 5);
                assert_eq!(&v.choices[v.answer], answer);
                // The answer once; no other choice with its text in any case.
                let same: Vec<_> = v
                    .choices
                    .iter()
                    .filter(|c| c.to_lowercase() == answer.to_lowercase())
                    .collect();
                assert_eq!(same.len(), 1, "{v:?}");
                // Each choice keeps its own facts, the answer included.
                for (c, f) in v.choices.iter().zip(&v.facts) {
                    assert_eq!(f, &vec![format!("{c} fact")]);
                }
                assert!(v.choices.iter().any(|c| others.contains(&c.as_str())), "{v:?}");
                let mut set = v.choices.clone();
                set.sort();
                set.dedup();
                assert_eq!(set.len(), 5, "{v:?}");
                sets.push(set);
            }
            sets.sort();
            sets.dedup();
            assert_eq!(sets.len(), 3, "the variants of a question are distinct sets");
        }
        // Without facts (no input fusion) the variants carry none.
        let bare: Vec<Example> =
            train.iter().map(|e| Example { facts: Vec::new(), ..e.clone() }).collect();
        let v = choice_variants(&bare, &concepts, 2, 7);
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|e| e.facts.is_empty()));
    }
}
