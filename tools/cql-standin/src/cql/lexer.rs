//! Splits a CQL string into tokens.
//!
//! Unquoted identifiers and keywords are folded to lower case (CQL is case
//! insensitive there); `"quoted"` identifiers keep their case. Comments
//! (`--`, `//`, `/* */`) are skipped so schema files can be sent as written.

use crate::error::CqlError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// Identifier or keyword (lower-cased unless it was quoted).
    Ident(String),
    /// A quoted identifier, case kept.
    QuotedIdent(String),
    /// `'string'` (with `''` unescaped).
    Str(String),
    /// A number as written (`42`, `-1.5`).
    Number(String),
    /// `0xCAFE`
    Hex(Vec<u8>),
    /// A uuid literal.
    Uuid([u8; 16]),
    /// `?` or `:name`
    Marker,
    /// Punctuation and operators: `( ) , ; . = < > <= >= * { } [ ] :`
    Sym(&'static str),
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Tokenises `src`.
pub fn tokenize(src: &str) -> Result<Vec<Token>, CqlError> {
    let s = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if s[i..].starts_with(b"--") || s[i..].starts_with(b"//") {
            while i < s.len() && s[i] != b'\n' {
                i += 1;
            }
        } else if s[i..].starts_with(b"/*") {
            let end = src[i + 2..].find("*/").ok_or_else(|| CqlError::syntax("unterminated /* comment"))?;
            i += end + 4;
        } else if c == b'\'' {
            let mut text = String::new();
            let mut j = i + 1;
            loop {
                let rest = &src[j..];
                let q = rest.find('\'').ok_or_else(|| CqlError::syntax("unterminated string literal"))?;
                text.push_str(&rest[..q]);
                j += q + 1;
                if s.get(j) == Some(&b'\'') {
                    text.push('\'');
                    j += 1;
                } else {
                    break;
                }
            }
            out.push(Token::Str(text));
            i = j;
        } else if c == b'"' {
            let rest = &src[i + 1..];
            let q = rest.find('"').ok_or_else(|| CqlError::syntax("unterminated quoted identifier"))?;
            out.push(Token::QuotedIdent(rest[..q].to_string()));
            i += q + 2;
        } else if c == b'?' {
            out.push(Token::Marker);
            i += 1;
        } else if c == b':' && s.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic()) {
            i += 1;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
                i += 1;
            }
            out.push(Token::Marker);
        } else if s[i..].starts_with(b"0x") || s[i..].starts_with(b"0X") {
            let mut j = i + 2;
            while j < s.len() && s[j].is_ascii_hexdigit() {
                j += 1;
            }
            let hex = &src[i + 2..j];
            if hex.len() & 1 == 1 {
                return Err(CqlError::syntax(format!("odd number of hex digits in 0x{hex}")));
            }
            let bytes = (0..hex.len()).step_by(2).map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap_or(0)).collect();
            out.push(Token::Hex(bytes));
            i = j;
        } else if c.is_ascii_alphanumeric() || c == b'_' || (c == b'-' && s.get(i + 1).is_some_and(|b| b.is_ascii_digit())) {
            let mut j = i + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_' || s[j] == b'-' || s[j] == b'.') {
                // A '.' continues only a number (1.5), never an identifier (ks.table).
                if s[j] == b'.' && !src[i..j].trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) {
                    break;
                }
                // A '-' continues only a uuid.
                if s[j] == b'-' && !(j - i == 8 || j - i == 13 || j - i == 18 || j - i == 23) {
                    break;
                }
                j += 1;
            }
            let word = &src[i..j];
            if let Some(u) = parse_uuid(word) {
                out.push(Token::Uuid(u));
            } else if word.contains('-') && !word.starts_with('-') {
                return Err(CqlError::syntax(format!("unexpected `{word}`")));
            } else if word.starts_with('-') || word.as_bytes()[0].is_ascii_digit() {
                out.push(Token::Number(word.to_string()));
            } else {
                out.push(Token::Ident(word.to_ascii_lowercase()));
            }
            i = j;
        } else {
            let two = src.get(i..i + 2).unwrap_or("");
            let sym: &'static str = match two {
                "<=" => "<=",
                ">=" => ">=",
                "!=" => "!=",
                _ => match c {
                    b'(' => "(",
                    b')' => ")",
                    b',' => ",",
                    b';' => ";",
                    b'.' => ".",
                    b'=' => "=",
                    b'<' => "<",
                    b'>' => ">",
                    b'*' => "*",
                    b'{' => "{",
                    b'}' => "}",
                    b'[' => "[",
                    b']' => "]",
                    b':' => ":",
                    b'+' => "+",
                    b'-' => "-",
                    _ => return Err(CqlError::syntax(format!("unexpected character `{}`", c as char))),
                },
            };
            i += sym.len();
            out.push(Token::Sym(sym));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenises_statements() {
        let t = tokenize("SELECT \"Key\", x FROM ks.t WHERE a >= -5 AND b = 'it''s' -- c\n LIMIT ?;").unwrap();
        assert_eq!(t[0], Token::Ident("select".into()));
        assert_eq!(t[1], Token::QuotedIdent("Key".into()));
        assert_eq!(t[5], Token::Ident("ks".into()));
        assert_eq!(t[6], Token::Sym("."));
        assert!(t.contains(&Token::Number("-5".into())));
        assert!(t.contains(&Token::Str("it's".into())));
        assert!(t.contains(&Token::Marker));
        let u = tokenize("123e4567-e89b-12d3-a456-426614174000 1.5 0xcafe").unwrap();
        assert!(matches!(u[0], Token::Uuid(_)));
        assert_eq!(u[1], Token::Number("1.5".into()));
        assert_eq!(u[2], Token::Hex(vec![0xca, 0xfe]));
    }
}
