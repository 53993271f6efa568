//! Checks a SPARQL query's text before it is parsed: how deeply its brackets nest.
//!
//! oxigraph's SPARQL parser descends recursively, one level per nested group, bracket
//! or expression; a 2 KB query of 900 nested parentheses overflows a thread's stack and
//! aborts the process. Real queries nest a few levels; [`MAX_NESTING`] refuses the rest
//! with a clear error before the parser sees them.

use crate::kg::error::{Error, Result};

/// The deepest nesting of `(`, `{` and `[` a query may have.
pub const MAX_NESTING: usize = 64;

/// Refuses a query whose brackets nest deeper than `max` (outside string literals, IRIs
/// and comments) with [`Error::TooDeep`].
pub fn check_nesting(sparql: &str, max: usize) -> Result<()> {
    let depth = nesting(sparql);
    if depth > max {
        return Err(Error::TooDeep { depth, max });
    }
    Ok(())
}

/// The deepest bracket nesting of `sparql`; unbalanced closing brackets count as zero.
pub fn nesting(sparql: &str) -> usize {
    let bytes = sparql.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => i = skip_string(bytes, i),
            b'<' => i = skip_iri(bytes, i),
            b'#' => i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p),
            b'(' | b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The index of the last byte of the string literal opening at `start` (quote `"` or
/// `'`, single or tripled, with backslash escapes); the end of the text if unclosed.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let long = bytes.len() >= start + 3 && bytes[start + 1] == quote && bytes[start + 2] == quote;
    let mut i = if long { start + 3 } else { start + 1 };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b if b == quote && !long => return i,
            b if b == quote
                && bytes.len() >= i + 3
                && bytes[i + 1] == quote
                && bytes[i + 2] == quote =>
            {
                return i + 2;
            }
            b'\n' if !long => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The index of the closing `>` of an IRI opening at `start`, or `start` itself when the
/// `<` is an operator (what follows is not an IRI up to a `>`).
fn skip_iri(bytes: &[u8], start: usize) -> usize {
    for (offset, &b) in bytes[start + 1..].iter().enumerate() {
        match b {
            b'>' => return start + 1 + offset,
            b if b <= b' '
                || matches!(b, b'<' | b'"' | b'{' | b'}' | b'|' | b'^' | b'`' | b'\\') =>
            {
                return start;
            }
            _ => {}
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings_iris_and_comments() {
        for (query, depth) in [
            ("SELECT * WHERE { ?s ?p ?o }", 1),
            ("SELECT * WHERE { { ?s ?p ?o } UNION { ?s ?p [ ?q ?o ] } }", 3),
            ("SELECT * WHERE { FILTER((1)) }", 3),
            ("SELECT * WHERE { ?s ?p \"((((({{{\" }", 1),
            ("SELECT * WHERE { ?s ?p '''a ' (( \" ''' }", 1),
            ("SELECT * WHERE { ?s <http://x/a(b)#c> ?o } # ((((", 1),
            ("SELECT * WHERE { FILTER(?a < 3 && (?b > 2)) }", 3),
            (")))) {", 1),
            ("", 0),
        ] {
            assert_eq!(nesting(query), depth, "{query}");
        }
    }

    /// Nesting deep enough to overflow the parser's stack (brackets and groups): refused,
    /// not parsed.
    #[test]
    fn the_stack_overflow_probes_are_refused() {
        let parens =
            format!("SELECT * WHERE {{ FILTER({}1{}) }}", "(".repeat(900), ")".repeat(900));
        let groups = format!("SELECT * WHERE {}{}", "{".repeat(1000), "}".repeat(1000));
        for q in [parens, groups] {
            assert!(matches!(check_nesting(&q, MAX_NESTING), Err(Error::TooDeep { .. })));
        }
        assert!(check_nesting("SELECT * WHERE { ?s ?p ?o }", MAX_NESTING).is_ok());
    }
}
