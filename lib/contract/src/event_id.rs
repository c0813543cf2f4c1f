//! Deterministic event ids.
//!
//! An id names one line at one place of one host's log stream:
//!
//! ```text
//! event_id = XXH3-128("clickstream.event_id.v2\0", host, stream, offset, line)
//! ```
//!
//! - `host`: the agent's `agent.host`;
//! - `stream`: the stream fingerprint, XXH3-128 of the stream's first line
//!   (decompressed, with its `\n`), as 32 hex digits: every copy of a log
//!   (shorter, grown, repaired, compressed or not, under any name) has the
//!   same first line, so its lines get the same ids;
//! - `offset`: the byte offset of the line's first byte in the decompressed
//!   stream;
//! - `line`: the line's own bytes as delivered (`raw_line`, without its
//!   terminator), so two different lines never share an id even when two
//!   copies differ at the same offset.
//!
//! Strings are length-prefixed. Identical lines at different offsets are two
//! real requests and keep two ids. Two streams whose first lines are
//! byte-identical are taken for one: a line identical in content *and*
//! offset in both gets one id (log lines carry a timestamp, so in practice
//! only copies of the same log do).
//!
//! [`EventId::derive`] is the earlier derivation (v1: host, content
//! fingerprint of the whole file, offset), which changed whenever a file
//! grew; it is kept, pinned, for ids already stored in the sinks and for
//! tests and benchmarks that need any well-formed id.

use std::fmt;
use std::str::FromStr;

use xxhash_rust::xxh3::Xxh3;

/// A 128-bit event id, printed as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(u128);

/// Domain separator, so ids cannot collide with other XXH3 uses of the same input.
const DOMAIN: &[u8] = b"clickstream.event_id.v1\0";
/// Domain of the stream-position ids ([`EventId::of_line`]).
const DOMAIN_V2: &[u8] = b"clickstream.event_id.v2\0";

impl EventId {
    /// The id of `line` (without its terminator) at `byte_offset` of the
    /// log stream `stream` (its first-line fingerprint) read on
    /// `source_host`: the id the spool agent gives (see the module docs).
    pub fn of_line(source_host: &str, stream: &str, byte_offset: u64, line: &[u8]) -> EventId {
        let mut h = Xxh3::new();
        h.update(DOMAIN_V2);
        for field in [source_host.as_bytes(), stream.as_bytes()] {
            h.update(&(field.len() as u64).to_le_bytes());
            h.update(field);
        }
        h.update(&byte_offset.to_le_bytes());
        h.update(&(line.len() as u64).to_le_bytes());
        h.update(line);
        EventId(h.digest128())
    }

    /// The v1 id of the line at `byte_offset` in the file with
    /// `file_fingerprint`, read on `source_host` (see the module docs).
    pub fn derive(source_host: &str, file_fingerprint: &str, byte_offset: u64) -> EventId {
        let mut h = Xxh3::new();
        h.update(DOMAIN);
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        h.update(&(source_host.len() as u64).to_le_bytes());
        h.update(source_host.as_bytes());
        h.update(&(file_fingerprint.len() as u64).to_le_bytes());
        h.update(file_fingerprint.as_bytes());
        h.update(&byte_offset.to_le_bytes());
        EventId(h.digest128())
    }

    /// The id as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// The printable form, without allocating.
    pub fn to_hex(self) -> [u8; 32] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        let bytes = self.0.to_be_bytes();
        for (i, b) in bytes.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        out
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// The text was not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event id is 32 hex digits, got {0:?}")]
pub struct ParseEventIdError(String);

impl FromStr for EventId {
    type Err = ParseEventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseEventIdError(s.chars().take(64).collect()));
        }
        u128::from_str_radix(s, 16).map(EventId).map_err(|_| ParseEventIdError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_id_and_any_change_changes_it() {
        let a = EventId::derive("web1", "f00d", 42);
        assert_eq!(a, EventId::derive("web1", "f00d", 42));
        assert_ne!(a, EventId::derive("web2", "f00d", 42));
        assert_ne!(a, EventId::derive("web1", "f00e", 42));
        assert_ne!(a, EventId::derive("web1", "f00d", 43));
        // Length prefixes separate the fields.
        assert_ne!(EventId::derive("ab", "c", 0), EventId::derive("a", "bc", 0));
    }

    #[test]
    fn printable_round_trip() {
        let id = EventId::derive("web1", "abc", 7);
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(std::str::from_utf8(&id.to_hex()).unwrap(), text);
        assert_eq!(text.parse::<EventId>().unwrap(), id);
        assert!("xyz".parse::<EventId>().is_err());
        assert!("g".repeat(32).parse::<EventId>().is_err());
    }

    #[test]
    fn id_is_stable_across_releases() {
        // Pinned: changing the derivation would re-id every replayed line and
        // break deduplication against data already in the sinks.
        assert_eq!(EventId::derive("weblog1", "0123456789abcdef", 1234).to_string(), PINNED);
    }
    const PINNED: &str = "7af0faacec37d7cf24fc361bc3a78068";

    #[test]
    fn a_line_id_depends_on_host_stream_offset_and_the_line_itself() {
        let a = EventId::of_line("web1", "f00d", 42, b"GET /");
        assert_eq!(a, EventId::of_line("web1", "f00d", 42, b"GET /"));
        assert_ne!(a, EventId::of_line("web2", "f00d", 42, b"GET /"));
        assert_ne!(a, EventId::of_line("web1", "f00e", 42, b"GET /"));
        assert_ne!(a, EventId::of_line("web1", "f00d", 43, b"GET /"));
        assert_ne!(a, EventId::of_line("web1", "f00d", 42, b"GET /x"), "another line at the same place");
        assert_ne!(EventId::of_line("ab", "c", 0, b""), EventId::of_line("a", "bc", 0, b""));
        assert_ne!(a, EventId::derive("web1", "f00d", 42), "v1 and v2 never coincide by construction");
        // Pinned: the ids already in the sinks depend on it.
        assert_eq!(EventId::of_line("weblog1", "0123456789abcdef", 1234, b"line").to_string(), PINNED_V2);
    }
    const PINNED_V2: &str = "4dc698790edb305f72b7c408a99515ea";
}
