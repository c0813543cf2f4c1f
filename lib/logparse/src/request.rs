//! The request line (`%r`): `METHOD TARGET PROTOCOL` split and normalised.
//!
//! Real logs hold more than well-formed requests: `-` when the client sent
//! nothing before timing out (status 408), TLS handshakes or scanner garbage
//! sent to a plain-text port (status 400). Those lines are real traffic with a
//! real status, so they are kept, with method `UNKNOWN` and path `-`, rather
//! than rejected: dropping them would make the failure counts wrong.

use std::borrow::Cow;

/// Method used when the request line cannot be split.
pub const UNKNOWN_METHOD: &str = "UNKNOWN";
/// Path and protocol used when the request line cannot be split.
pub const UNKNOWN_PART: &str = "-";

/// A split request line, borrowing from the log line where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Upper-cased method, or [`UNKNOWN_METHOD`].
    pub method: Cow<'a, str>,
    /// Target without query.
    pub path: Cow<'a, str>,
    /// Query without `?`.
    pub query: Option<Cow<'a, str>>,
    /// Protocol as logged.
    pub protocol: Cow<'a, str>,
}

impl Request<'static> {
    fn unknown() -> Request<'static> {
        Request { method: Cow::Borrowed(UNKNOWN_METHOD), path: Cow::Borrowed(UNKNOWN_PART), query: None, protocol: Cow::Borrowed(UNKNOWN_PART) }
    }
}

fn is_method(m: &str) -> bool {
    // RFC 9110 token characters, restricted to what methods use in practice.
    !m.is_empty() && m.len() <= 32 && m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
}

fn split_target(target: Cow<'_, str>) -> (Cow<'_, str>, Option<Cow<'_, str>>) {
    match target {
        Cow::Borrowed(t) => match t.split_once('?') {
            Some((p, q)) => (Cow::Borrowed(p), Some(Cow::Borrowed(q))),
            None => (Cow::Borrowed(t), None),
        },
        Cow::Owned(t) => match t.split_once('?') {
            Some((p, q)) => (Cow::Owned(p.to_string()), Some(Cow::Owned(q.to_string()))),
            None => (Cow::Owned(t), None),
        },
    }
}

fn sub<'a>(whole: &Cow<'a, str>, part: &str) -> Cow<'a, str> {
    match whole {
        Cow::Borrowed(w) => {
            // `part` is a sub-slice of `w`: re-slice to keep the borrow's lifetime.
            let start = part.as_ptr() as usize - w.as_ptr() as usize;
            Cow::Borrowed(&w[start..start + part.len()])
        }
        Cow::Owned(_) => Cow::Owned(part.to_string()),
    }
}

/// Splits a request line (already unescaped).
pub fn parse_request(line: Cow<'_, str>) -> Request<'_> {
    let text: &str = &line;
    let mut parts = text.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Request::unknown();
    };
    if !is_method(method) {
        return Request::unknown();
    }
    let rest: Vec<&str> = parts.collect();
    let (target, protocol) = match rest.as_slice() {
        [] => (sub(&line, target), Cow::Borrowed("HTTP/0.9")),
        [proto] if proto.starts_with("HTTP/") => (sub(&line, target), sub(&line, proto)),
        // A target with unescaped spaces: keep it whole, up to the protocol.
        [.., proto] if proto.starts_with("HTTP/") => {
            let start = target.as_ptr() as usize - text.as_ptr() as usize;
            let end = proto.as_ptr() as usize - text.as_ptr() as usize;
            (sub(&line, text[start..end].trim_end()), sub(&line, proto))
        }
        _ => return Request::unknown(),
    };
    let method = if method.bytes().any(|b| b.is_ascii_lowercase()) { Cow::Owned(method.to_ascii_uppercase()) } else { sub(&line, method) };
    let (path, query) = split_target(target);
    Request { method, path, query, protocol }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(r: &str) -> (String, String, Option<String>, String) {
        let q = parse_request(Cow::Borrowed(r));
        (q.method.into(), q.path.into(), q.query.map(Into::into), q.protocol.into())
    }

    #[test]
    fn shapes_seen_in_real_logs() {
        assert_eq!(parts("GET /a/b?x=1&y=2 HTTP/1.1"), ("GET".into(), "/a/b".into(), Some("x=1&y=2".into()), "HTTP/1.1".into()));
        assert_eq!(parts("get /a HTTP/1.0"), ("GET".into(), "/a".into(), None, "HTTP/1.0".into()));
        assert_eq!(parts("GET /"), ("GET".into(), "/".into(), None, "HTTP/0.9".into()));
        assert_eq!(parts("GET /a b HTTP/1.1"), ("GET".into(), "/a b".into(), None, "HTTP/1.1".into()));
        assert_eq!(parts("-"), ("UNKNOWN".into(), "-".into(), None, "-".into()));
        assert_eq!(parts(""), ("UNKNOWN".into(), "-".into(), None, "-".into()));
        assert_eq!(parts("\\x16\\x03\\x01\\x02"), ("UNKNOWN".into(), "-".into(), None, "-".into()));
        assert_eq!(parts("GET /a FOO/1"), ("UNKNOWN".into(), "-".into(), None, "-".into()));
        assert_eq!(parts("OPTIONS * HTTP/1.1").1, "*");
    }

    #[test]
    fn borrows_when_nothing_changes() {
        let r = parse_request(Cow::Borrowed("GET /x?y HTTP/1.1"));
        assert!(matches!(r.method, Cow::Borrowed(_)) && matches!(r.path, Cow::Borrowed(_)));
    }
}
