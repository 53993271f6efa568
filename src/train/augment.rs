//! Data augmentation for distillation (TinyBERT's word replacement, with the graph as the
//! thesaurus): question variants in which grounded words are replaced by concepts that
//! share a WordNet sense with them (`r:Synonym` in the retrieved neighbourhood).

use crate::kg::Graph;
use crate::kg::query::display_name;
use crate::kg::retrieve::Retriever;
use crate::kg::{Result, vocab};
use crate::model::bert::splitmix64;

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
}
