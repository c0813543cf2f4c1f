//! Splitting a line into the raw fields of the common and combined formats.
//!
//! `%h %l %u %t "%r" %>s %b` (common) and `... "%{Referer}i" "%{User-agent}i"`
//! (combined, NGINX's default `combined` too). Hand-written rather than a
//! regex: it runs once per line at the edge and is several times faster.
//! Nothing is validated here beyond the shape; see `parser` for that.

use std::borrow::Cow;

use memchr::memchr2;

/// A line's fields as logged, before validation. Custom regex formats fill the same struct.
#[derive(Debug, Default)]
pub(crate) struct RawFields<'a> {
    pub client: &'a str,
    pub user: Option<&'a str>,
    pub time: &'a str,
    pub time_is_iso8601: bool,
    pub request: Option<Cow<'a, str>>,
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub protocol: Option<&'a str>,
    pub status: &'a str,
    pub bytes: Option<&'a str>,
    pub referrer: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
}

/// Where the shape broke, for the rejection message.
pub(crate) type ShapeError = &'static str;

/// Undoes Apache's escaping of `"` and `\` inside quoted fields. Other
/// escapes (`\xhh` for control bytes) stay as logged: they are the
/// printable form of what the client sent.
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('"' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn token(&mut self, what: ShapeError) -> Result<&'a str, ShapeError> {
        let rest = &self.s[self.pos..];
        let end = rest.find(' ').ok_or(what)?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    fn expect(&mut self, byte: u8, what: ShapeError) -> Result<(), ShapeError> {
        if self.s.as_bytes().get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(what)
        }
    }

    fn bracketed(&mut self) -> Result<&'a str, ShapeError> {
        self.expect(b'[', "expected [timestamp] after the user field")?;
        let rest = &self.s[self.pos..];
        let end = rest.find(']').ok_or("timestamp has no closing ]")?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// A quoted field; `lenient_eol` accepts a missing closing quote when the
    /// field runs to the end of the line.
    fn quoted(&mut self, what: ShapeError, lenient_eol: bool) -> Result<Cow<'a, str>, ShapeError> {
        self.expect(b'"', what)?;
        let bytes = self.s.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut escaped = false;
        loop {
            match memchr2(b'"', b'\\', &bytes[i..]) {
                Some(j) if bytes[i + j] == b'"' => {
                    let raw = &self.s[start..i + j];
                    self.pos = i + j + 1;
                    return Ok(if escaped { unescape(raw) } else { Cow::Borrowed(raw) });
                }
                Some(j) => {
                    escaped = true;
                    i = (i + j + 2).min(bytes.len());
                }
                None if lenient_eol => {
                    let raw = &self.s[start..];
                    self.pos = self.s.len();
                    return Ok(if escaped { unescape(raw) } else { Cow::Borrowed(raw) });
                }
                None => return Err("a quoted field has no closing quote"),
            }
        }
    }

    fn space(&mut self, what: ShapeError) -> Result<(), ShapeError> {
        self.expect(b' ', what)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn rest_token(&mut self) -> &'a str {
        let rest = &self.s[self.pos..];
        let end = rest.find(' ').unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }
}

/// Splits a common or combined line. Common lines end after the size;
/// combined ones carry referrer and user agent. Fields appended after the user
/// agent (response time, forwarded-for, as many sites add) are ignored. A user
/// agent that lacks only its closing quote at the end of the line is accepted
/// as running to the end of the line: writers that truncate lines produce it,
/// and the rest of the line is intact.
pub(crate) fn split_common_or_combined(line: &str) -> Result<RawFields<'_>, ShapeError> {
    let mut c = Cursor { s: line, pos: 0 };
    let client = c.token("expected a client address followed by a space")?;
    let _ident = c.token("expected the identity field (%l) after the client")?;
    let user = c.token("expected the user field (%u) after the identity")?;
    let time = c.bracketed()?;
    c.space("expected a space after the timestamp")?;
    let request = c.quoted("expected the quoted request line after the timestamp", false)?;
    c.space("expected a space after the request line")?;
    let status = c.token("expected status and size after the request line")?;
    let bytes = c.rest_token();
    let mut f = RawFields { client, user: Some(user), time, request: Some(request), status, bytes: Some(bytes), ..Default::default() };
    if c.at_end() {
        return Ok(f);
    }
    c.space("expected a space after the response size")?;
    f.referrer = Some(c.quoted("expected the quoted referrer after the response size", false)?);
    c.space("expected a space after the referrer")?;
    f.user_agent = Some(c.quoted("expected the quoted user agent after the referrer", true)?);
    if !c.at_end() {
        c.space("expected a space or the end of the line after the user agent")?;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_quotes_and_backslashes_only() {
        assert_eq!(unescape(r#"a\"b\\c\x16"#), "a\"b\\c\\x16");
        assert!(matches!(unescape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_quote_does_not_end_the_field() {
        let f = split_common_or_combined(r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "Mozilla \"x\" y\\" extra"#).unwrap();
        assert_eq!(f.user_agent.unwrap(), r#"Mozilla "x" y\"#);
    }

    #[test]
    fn common_format_has_no_referrer() {
        let f = split_common_or_combined(r#"h - u [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 -"#).unwrap();
        assert_eq!((f.user, f.bytes, f.referrer.is_none()), (Some("u"), Some("-"), true));
    }

    #[test]
    fn missing_closing_quote_only_tolerated_at_the_end() {
        let ua = split_common_or_combined(r#"h - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 (bot"#).unwrap();
        assert_eq!(ua.user_agent.unwrap(), "Mozilla/5.0 (bot");
        assert!(split_common_or_combined(r#"h - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1 200 5"#).is_err());
        assert!(split_common_or_combined(r#"h - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-"#).is_err());
    }
}
