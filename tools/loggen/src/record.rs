//! One request as the generator models it, and how Apache writes it.
//!
//! A [`Record`] borrows its constant parts (agent strings, user names) and
//! refers to the client by index, so making one costs at most a couple of
//! small allocations: this is what keeps generation above a million lines per
//! second. The public, self-contained [`crate::Event`] is built from it only
//! when a caller asks for ground truth.

use crate::config::Format;
use crate::time::{write_apache_time, UnixSeconds, UtcOffset};

/// HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Head,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Head => "HEAD",
        }
    }
}

/// Protocol of the request line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Http10,
    Http11,
    Http2,
}

impl Proto {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Proto::Http10 => "HTTP/1.0",
            Proto::Http11 => "HTTP/1.1",
            Proto::Http2 => "HTTP/2.0",
        }
    }
}

/// The request line.
#[derive(Clone, Debug)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// Path and query, unescaped (may contain `"` for scanner payloads).
    pub(crate) target: String,
    pub(crate) proto: Proto,
}

/// Who sent the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    /// A visitor of the population.
    Visitor(u32),
    /// An address outside the population (DDoS attackers), by index.
    Extra(u32),
}

/// The `Referer` header.
#[derive(Clone, Debug)]
pub(crate) enum Referrer {
    /// No header: written as `-`.
    None,
    /// A page of the shop (path and query).
    Shop(String),
    /// An outside page.
    External(&'static str),
}

/// One request/response.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) ts: UnixSeconds,
    pub(crate) client: Client,
    pub(crate) user: Option<&'static str>,
    /// `None` is Apache's request-less line (`"-"`, status 408).
    pub(crate) req: Option<Req>,
    pub(crate) status: u16,
    /// Response body size; `None` is written `-` (Apache's `%b` for zero).
    pub(crate) bytes: Option<u32>,
    pub(crate) referrer: Referrer,
    /// Unescaped `User-Agent`; `"-"` means the header was absent.
    pub(crate) ua: &'static str,
}

/// Caches the formatted time of the last second seen: at high rates many
/// consecutive lines share a second, and formatting dates is the costliest
/// part of a line.
#[derive(Debug, Default)]
pub(crate) struct TimeCache {
    ts: Option<UnixSeconds>,
    offset: UtcOffset,
    text: Vec<u8>,
}

impl TimeCache {
    pub(crate) fn get(&mut self, ts: UnixSeconds, offset: UtcOffset) -> &[u8] {
        if self.ts != Some(ts) || self.offset != offset {
            self.text.clear();
            write_apache_time(&mut self.text, ts, offset);
            self.ts = Some(ts);
            self.offset = offset;
        }
        &self.text
    }
}

/// Byte offsets of interesting places in a formatted line (for the makers of
/// invalid lines).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Start of the `[time]` field (the `[`).
    pub(crate) time_at: usize,
    /// One past the `]` of the time field.
    pub(crate) time_end: usize,
    /// Start of the request target inside the request field (or of `-`).
    pub(crate) target_at: usize,
    /// Start of the status field.
    pub(crate) status_at: usize,
    /// One past the status field.
    pub(crate) status_end: usize,
}

/// Append Apache's escaped form of `s` (`ap_escape_logitem`): `"` and `\` get
/// a backslash, control and non-ASCII bytes become `\xhh`.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x20..=0x7e => out.push(b),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
        }
    }
}

fn push_u32(out: &mut Vec<u8>, mut v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Append the line of `rec` (without the newline) and return its layout.
pub(crate) fn write_record(out: &mut Vec<u8>, rec: &Record, addr: &str, offset: UtcOffset, format: Format, times: &mut TimeCache) -> Layout {
    out.extend_from_slice(addr.as_bytes());
    out.extend_from_slice(b" - ");
    match rec.user {
        Some(u) => escape_into(out, u),
        None => out.push(b'-'),
    }
    out.push(b' ');
    let time_at = out.len();
    out.push(b'[');
    out.extend_from_slice(times.get(rec.ts, offset));
    out.extend_from_slice(b"] \"");
    let time_end = out.len() - 2;
    let target_at;
    match &rec.req {
        Some(req) => {
            out.extend_from_slice(req.method.as_str().as_bytes());
            out.push(b' ');
            target_at = out.len();
            escape_into(out, &req.target);
            out.push(b' ');
            out.extend_from_slice(req.proto.as_str().as_bytes());
        }
        None => {
            target_at = out.len();
            out.push(b'-');
        }
    }
    out.extend_from_slice(b"\" ");
    let status_at = out.len();
    push_u32(out, rec.status as u32);
    let status_end = out.len();
    out.push(b' ');
    match rec.bytes {
        Some(b) if b > 0 => push_u32(out, b),
        _ => out.push(b'-'),
    }
    if format == Format::Combined {
        out.extend_from_slice(b" \"");
        match &rec.referrer {
            Referrer::None => out.push(b'-'),
            Referrer::Shop(path) => {
                out.extend_from_slice(crate::catalog::SHOP_ORIGIN.as_bytes());
                escape_into(out, path);
            }
            Referrer::External(url) => escape_into(out, url),
        }
        out.extend_from_slice(b"\" \"");
        escape_into(out, rec.ua);
        out.push(b'"');
    }
    Layout { time_at, time_end, target_at, status_at, status_end }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record {
        Record {
            ts: 1_795_132_800 + 3600 + 62,
            client: Client::Visitor(0),
            user: None,
            req: Some(Req { method: Method::Get, target: "/category/books?page=2".into(), proto: Proto::Http11 }),
            status: 200,
            bytes: Some(5120),
            referrer: Referrer::Shop("/".into()),
            ua: "Mozilla/5.0 (compatible; \"Quoted\" C:\\x)",
        }
    }

    #[test]
    fn combined_line_with_escapes() {
        let mut out = Vec::new();
        let mut tc = TimeCache::default();
        let l = write_record(&mut out, &rec(), "192.0.2.1", "+0200".parse().unwrap(), Format::Combined, &mut tc);
        let s = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            s,
            "192.0.2.1 - - [20/Nov/2026:03:01:02 +0200] \"GET /category/books?page=2 HTTP/1.1\" 200 5120 \
             \"https://shop.example.com/\" \"Mozilla/5.0 (compatible; \\\"Quoted\\\" C:\\\\x)\""
        );
        assert_eq!(&out[l.status_at..l.status_end], b"200");
        assert_eq!(out[l.time_at], b'[');
        assert_eq!(out[l.time_end - 1], b']');
        assert_eq!(&out[l.target_at..l.target_at + 9], b"/category");
    }

    #[test]
    fn common_line_and_request_less_line() {
        let mut r = rec();
        r.req = None;
        r.status = 408;
        r.bytes = None;
        let mut out = Vec::new();
        write_record(&mut out, &r, "h", UtcOffset::UTC, Format::Common, &mut TimeCache::default());
        assert_eq!(out, b"h - - [20/Nov/2026:01:01:02 +0000] \"-\" 408 -");
    }
}
