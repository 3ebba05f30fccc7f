//! Quoting for the SQL text gridkit generates. Every name that comes from a
//! user (tables, columns, zones) goes through these, never `format!` alone.

/// Quotes an identifier: always double-quoted, so case and keywords survive.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes a string literal, whatever `standard_conforming_strings` says.
pub fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if body.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_hostile_names() {
        assert_eq!(quote_ident("value"), "\"value\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
    }
}
