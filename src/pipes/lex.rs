//! Tokenizer for the Python-ish expressions inside `{{ }}` and `{% %}`.
//! It stops at the closing delimiter only outside brackets and strings, so
//! `{{ custom_error({'error': 'a }} b'}) }}` is read correctly.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Name(String),
    Str(String),
    Int(i64),
    Float(f64),
    /// Punctuation and operators: `( ) [ ] { } , : = == != < <= > >= -`.
    Punct(&'static str),
}

const PUNCTS: [&str; 15] = [
    "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ":", "=", "<", ">",
];

/// Tokenizes `src` up to the terminator `term` (`"}}"` or `"%}"`) at bracket
/// depth 0. Returns the tokens and the byte length consumed, terminator
/// included. Errors are plain messages; the caller adds file and line.
pub(crate) fn lex_until(src: &str, term: &str) -> Result<(Vec<Tok>, usize), String> {
    let mut toks = Vec::new();
    let mut depth = 0usize;
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &src[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if depth == 0 && rest.starts_with(term) {
            return Ok((toks, i + term.len()));
        }
        if c.is_whitespace() {
            i += c.len_utf8();
        } else if c == '\'' || c == '"' {
            let (s, len) = lex_string(rest)?;
            toks.push(Tok::Str(s));
            i += len;
        } else if c.is_ascii_digit()
            || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            let (t, len) = lex_number(rest)?;
            toks.push(t);
            i += len;
        } else if c.is_alphabetic() || c == '_' {
            let len = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            toks.push(Tok::Name(rest[..len].to_string()));
            i += len;
        } else if c == '-' {
            toks.push(Tok::Punct("-"));
            i += 1;
        } else if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            match *p {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| format!("unbalanced '{p}'"))?
                }
                _ => {}
            }
            toks.push(Tok::Punct(p));
            i += p.len();
        } else {
            return Err(format!("unexpected character '{c}' in expression"));
        }
    }
    Err(format!("missing '{term}'"))
}

/// A quoted string with Python's common escapes; returns it and its length.
fn lex_string(src: &str) -> Result<(String, usize), String> {
    let quote = src.chars().next().unwrap_or('\'');
    let mut out = String::new();
    let mut chars = src.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            _ if c == quote => return Ok((out, i + 1)),
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('\'') => out.push('\''),
                Some('"') => out.push('"'),
                Some(e) => return Err(format!("unsupported escape '\\{e}' in string")),
                None => break,
            },
            _ => out.push(c),
        }
    }
    Err("unterminated string literal".to_string())
}

fn lex_number(src: &str) -> Result<(Tok, usize), String> {
    let mut len = 0;
    let mut is_float = false;
    let b = src.as_bytes();
    while len < b.len() {
        match b[len] {
            b'0'..=b'9' | b'_' => {}
            b'.' if !is_float => is_float = true,
            b'e' | b'E' => {
                is_float = true;
                if matches!(b.get(len + 1), Some(b'+' | b'-')) {
                    len += 1;
                }
            }
            _ => break,
        }
        len += 1;
    }
    let text: String = src[..len].chars().filter(|c| *c != '_').collect();
    if let Some(c) = src[len..].chars().next().filter(|c| c.is_alphanumeric()) {
        return Err(format!("malformed number '{}{c}'", &src[..len]));
    }
    let tok = if is_float {
        let f: f64 = text
            .parse()
            .map_err(|_| format!("malformed number '{text}'"))?;
        Tok::Float(f)
    } else {
        let n: i64 = text
            .parse()
            .map_err(|_| format!("number '{text}' is out of range"))?;
        Tok::Int(n)
    };
    Ok((tok, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Vec<Tok> {
        lex_until(s, "}}").unwrap().0
    }

    #[test]
    fn tokens() {
        use Tok::*;
        assert_eq!(
            lex("Int32(x, -10, min=1.5e3) }} rest"),
            vec![
                Name("Int32".into()),
                Punct("("),
                Name("x".into()),
                Punct(","),
                Punct("-"),
                Int(10),
                Punct(","),
                Name("min".into()),
                Punct("="),
                Float(1500.0),
                Punct(")"),
            ]
        );
        assert_eq!(
            lex(r#"'a\'b' "c}}d" }}"#),
            vec![Str("a'b".into()), Str("c}}d".into())]
        );
        assert_eq!(lex("a<=b!=c>=d==e<f>g }}").len(), 13);
    }

    #[test]
    fn stops_at_terminator_outside_brackets() {
        let src = "f({'error': 'x'})}} tail";
        let (toks, used) = lex_until(src, "}}").unwrap();
        assert_eq!(&src[used..], " tail");
        assert_eq!(toks.len(), 8);
        let (_, used) = lex_until("if x %}y", "%}").unwrap();
        assert_eq!(used, 7);
    }

    #[test]
    fn errors() {
        for (src, msg) in [
            ("x", "missing '}}'"),
            ("'abc", "unterminated string literal"),
            ("x; y }}", "unexpected character ';' in expression"),
            ("12ab }}", "malformed number '12a'"),
            ("12é }}", "malformed number '12é'"),
            (
                "99999999999999999999 }}",
                "number '99999999999999999999' is out of range",
            ),
            (") }}", "unbalanced ')'"),
            (r"'\q' }}", "unsupported escape '\\q' in string"),
        ] {
            assert_eq!(lex_until(src, "}}").unwrap_err(), msg, "{src}");
        }
    }
}
