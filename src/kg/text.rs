//! Words of a text: lower-case tokens with their byte spans, and the lexicon key of a
//! phrase. Shared by grounding ([`crate::kg::ground`]) and the lexicon
//! ([`crate::kg::lexicon`]).

/// A word of the input with its byte span.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// Lower-cased text.
    pub text: String,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
}

/// Splits text into lower-case words with their byte spans.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut start = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in chars.iter().enumerate() {
        let inner_apostrophe = (c == '\'' || c == '’')
            && start.is_some()
            && chars.get(i + 1).is_some_and(|(_, n)| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_apostrophe {
            start.get_or_insert(pos);
        } else if let Some(s) = start.take() {
            tokens.push(Token {
                text: text[s..pos].to_lowercase().replace('’', "'"),
                start: s,
                end: pos,
            });
        }
    }
    if let Some(s) = start {
        tokens.push(Token {
            text: text[s..].to_lowercase().replace('’', "'"),
            start: s,
            end: text.len(),
        });
    }
    tokens
}

/// The lexicon key of a phrase: its words, lower-cased, joined by single spaces.
pub fn normalize_phrase(text: &str) -> String {
    // Fast path for what most graph labels already are: lower-case ASCII words.
    let b = text.as_bytes();
    let simple = !b.is_empty()
        && b[0] != b' '
        && b[b.len() - 1] != b' '
        && !text.contains("  ")
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b' ');
    if simple {
        return text.to_owned();
    }
    let tokens = tokenize(text);
    let mut out = String::with_capacity(text.len());
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&t.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_with_spans() {
        let t = tokenize("I dug holes, didn't I? T-shirt");
        let words: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["i", "dug", "holes", "didn't", "i", "t", "shirt"]);
        assert_eq!((t[1].start, t[1].end), (2, 5));
        assert_eq!(normalize_phrase("  Ice   Cream! "), "ice cream");
    }
}
