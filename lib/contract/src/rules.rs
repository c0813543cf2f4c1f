//! The rulebook of a valid [`ClickEvent`]: what every field may hold, in one
//! place, for every reader.
//!
//! A body that decodes as a `ClickEvent` can still hold values no log line
//! can produce (status 0, a negative size, an id that is not an id, the year
//! 275760). Each such event must be stopped at the first hop that sees it:
//! the parser never produces one, the fan-out agent dead-letters one before
//! it reaches a channel (and so Kafka and the master copy), and the jobs
//! apply the same field rules to what they read. The parser and the batch
//! job's projection decoder use the field functions below; everything else
//! calls [`validate`].

use std::fmt;
use std::ops::Range;

use crate::event::ClickEvent;

/// Event times a four-digit log year can name with any UTC offset: from a day
/// before 0000-01-01 to a day after 9999-12-31 (UTC epoch milliseconds).
pub const EVENT_TIME_MS: Range<i64> = -62_167_305_600_000..253_402_387_200_000;
/// HTTP status codes (RFC 9110's 1xx to 5xx).
pub const STATUS: std::ops::RangeInclusive<i64> = 100..=599;
/// Longest host name or address (RFC 1035's 255).
pub const MAX_NAME_LEN: usize = 255;

/// Which rule an event broke, with a message that names the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field, as named in the Avro schema.
    pub field: &'static str,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Violation {}

fn violation(field: &'static str, message: String) -> Violation {
    Violation { field, message }
}

/// A client address: an IPv4 or IPv6 address (with a zone) or a host name,
/// so letters, digits and `.` `-` `_` `:` `%`, 1 to 255 bytes.
pub fn is_client_addr(c: &str) -> bool {
    !c.is_empty() && c.len() <= MAX_NAME_LEN && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'))
}

/// The status as a `u16`, when it is 100 to 599.
pub fn status(s: i64) -> Option<u16> {
    STATUS.contains(&s).then_some(s as u16)
}

/// The response size as a `u64`, when it is not negative.
pub fn response_bytes(b: i64) -> Option<u64> {
    u64::try_from(b).ok()
}

/// An event id: exactly 32 hex digits (the lower-case form is what the
/// agents write; upper case is read as the same id).
pub fn event_id(s: &[u8]) -> Option<u128> {
    if s.len() != 32 {
        return None;
    }
    let mut v: u128 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

/// Shortens a value for a message.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(48).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

/// Checks every rule; the first broken one is returned.
pub fn validate(e: &ClickEvent<'_>) -> Result<(), Violation> {
    if event_id(e.event_id.as_bytes()).is_none() {
        return Err(violation("event_id", format!("{} is not 32 hex digits", shown(&e.event_id))));
    }
    if e.source_host.is_empty() || e.source_host.len() > MAX_NAME_LEN || e.source_host.chars().any(char::is_control) {
        return Err(violation("source_host", format!("{} must be 1 to {MAX_NAME_LEN} bytes without control characters", shown(&e.source_host))));
    }
    if !is_client_addr(&e.client_addr) {
        return Err(violation("client_addr", format!("{} is not an IP address or host name", shown(&e.client_addr))));
    }
    if !EVENT_TIME_MS.contains(&e.event_time_ms) {
        return Err(violation("event_time", format!("{} ms is outside the years 0000 to 9999 a log timestamp can name", e.event_time_ms)));
    }
    if status(i64::from(e.status)).is_none() {
        return Err(violation("status", format!("{} is not 100..=599", e.status)));
    }
    if let Some(b) = e.response_bytes.filter(|b| response_bytes(*b).is_none()) {
        return Err(violation("response_bytes", format!("{b} is negative")));
    }
    if e.category.is_empty() {
        return Err(violation("category", "is empty (the parser always names one)".into()));
    }
    if e.ingest.byte_offset < 0 {
        return Err(violation("ingest.byte_offset", format!("{} is negative", e.ingest.byte_offset)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::IngestMeta;
    use std::borrow::Cow;

    fn good() -> ClickEvent<'static> {
        ClickEvent {
            event_id: Cow::Borrowed("0123456789abcdef0123456789ABCDEF"),
            source_host: Cow::Borrowed("web1"),
            client_addr: Cow::Borrowed("2001:db8::1%eth0"),
            remote_user: None,
            event_time_ms: 1_795_132_800_000,
            method: Cow::Borrowed("GET"),
            path: Cow::Borrowed("/"),
            query: None,
            protocol: Cow::Borrowed("HTTP/1.1"),
            status: 200,
            response_bytes: Some(0),
            referrer: None,
            user_agent: None,
            category: Cow::Borrowed("uncategorized"),
            ingest: IngestMeta { source_file: Cow::Borrowed("/spool/a.log"), file_fingerprint: Cow::Borrowed("f"), byte_offset: 0 },
            raw_line: Cow::Borrowed(""),
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(validate(&good()), Ok(()));
        type Breaker = fn(&mut ClickEvent<'static>);
        let broken: [(&str, Breaker); 10] = [
            ("event_id", |e| e.event_id = Cow::Borrowed("not-a-hex-id")),
            ("event_id", |e| e.event_id = Cow::Borrowed("0123456789abcdef0123456789abcdeg")),
            ("source_host", |e| e.source_host = Cow::Borrowed("")),
            ("client_addr", |e| e.client_addr = Cow::Borrowed("")),
            ("client_addr", |e| e.client_addr = Cow::Borrowed("1.2.3.4 <script>")),
            ("event_time", |e| e.event_time_ms = 8_640_000_000_000_000),
            ("status", |e| e.status = 0),
            ("status", |e| e.status = 1000),
            ("response_bytes", |e| e.response_bytes = Some(-5)),
            ("category", |e| e.category = Cow::Borrowed("")),
        ];
        for (field, breaker) in broken {
            let mut e = good();
            breaker(&mut e);
            let v = validate(&e).unwrap_err();
            assert_eq!(v.field, field, "{v}");
        }
    }

    #[test]
    fn field_rules_take_the_edges() {
        assert_eq!((status(99), status(100), status(599), status(600)), (None, Some(100), Some(599), None));
        assert_eq!((response_bytes(-1), response_bytes(0)), (None, Some(0)));
        assert_eq!(event_id(b"0000000000000000000000000000000f"), Some(15));
        assert_eq!(event_id(b"000000000000000000000000000000f"), None);
        assert!(is_client_addr("fe80::1%25eth0") && is_client_addr("host-1.example_x"));
        assert!(!is_client_addr(&"a".repeat(256)));
        // The 4-digit years of a log timestamp, with any offset.
        assert!(EVENT_TIME_MS.contains(&-62_167_219_200_000)); // 0000-01-01T00:00:00Z
        assert!(EVENT_TIME_MS.contains(&253_402_300_799_999)); // 9999-12-31T23:59:59.999Z
    }
}
