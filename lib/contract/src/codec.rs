//! Avro binary encoding of [`ClickEvent`], and single-object framing.
//!
//! Written out field by field rather than through `apache_avro::Value`, which
//! would allocate a tree per event; the agents encode every line they read.
//! The field order below must follow `click_event.avsc`: the tests encode with
//! this module and decode with `apache-avro` and `fastavro` (and the reverse),
//! so a drift between the two fails the build's tests.
//!
//! Decoding borrows strings from the input buffer and never allocates more
//! than the input's length, so a hostile buffer cannot make it allocate
//! without bound.

use std::borrow::Cow;

use crate::event::{ClickEvent, IngestMeta};
use crate::schema::click_event_fingerprint;
use crate::varint::{self, put_long, VarintError};

/// The two bytes that open every single-object encoded datum (Avro spec).
pub const SINGLE_OBJECT_MARKER: [u8; 2] = [0xC3, 0x01];

/// Why a buffer is not a valid encoded [`ClickEvent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ended inside a field.
    #[error("truncated Avro datum: field `{field}` needs more bytes than remain at offset {offset}")]
    Truncated {
        /// Field being read.
        field: &'static str,
        /// Offset into the datum.
        offset: usize,
    },
    /// A variable-length integer ran past 10 bytes.
    #[error("malformed Avro varint in field `{field}` at offset {offset}")]
    BadVarint {
        /// Field being read.
        field: &'static str,
        /// Offset into the datum.
        offset: usize,
    },
    /// A length or union index had an impossible value.
    #[error("invalid value {value} for field `{field}` at offset {offset}: {what}")]
    BadValue {
        /// Field being read.
        field: &'static str,
        /// Offset into the datum.
        offset: usize,
        /// The value read.
        value: i64,
        /// What was expected.
        what: &'static str,
    },
    /// A string field was not UTF-8.
    #[error("field `{field}` at offset {offset} is not valid UTF-8")]
    NotUtf8 {
        /// Field being read.
        field: &'static str,
        /// Offset into the datum.
        offset: usize,
    },
    /// Bytes were left after the record.
    #[error("{0} trailing bytes after the ClickEvent datum")]
    TrailingBytes(usize),
    /// The single-object header was missing or named another schema.
    #[error("not a single-object encoded ClickEvent: {0}")]
    BadHeader(String),
}

// ---------------------------------------------------------------- encoding

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0), // union branch 0: null
        Some(s) => {
            out.push(2); // union branch 1, zig-zag encoded
            put_str(out, s);
        }
    }
}

impl ClickEvent<'_> {
    /// Appends the Avro binary encoding of the event (no header) to `out`.
    pub fn encode_datum(&self, out: &mut Vec<u8>) {
        out.reserve(self.raw_line.len() * 2 + 128);
        put_str(out, &self.event_id);
        put_str(out, &self.source_host);
        put_str(out, &self.client_addr);
        put_opt_str(out, self.remote_user.as_deref());
        put_long(out, self.event_time_ms);
        put_str(out, &self.method);
        put_str(out, &self.path);
        put_opt_str(out, self.query.as_deref());
        put_str(out, &self.protocol);
        put_long(out, i64::from(self.status));
        match self.response_bytes {
            None => out.push(0),
            Some(n) => {
                out.push(2);
                put_long(out, n);
            }
        }
        put_opt_str(out, self.referrer.as_deref());
        put_opt_str(out, self.user_agent.as_deref());
        put_str(out, &self.category);
        put_str(out, &self.ingest.source_file);
        put_str(out, &self.ingest.file_fingerprint);
        put_long(out, self.ingest.byte_offset);
        put_str(out, &self.raw_line);
    }

    /// Appends the single-object encoding (marker, schema fingerprint, datum):
    /// the Kafka record value, self-describing for any Avro consumer.
    pub fn encode_single_object(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&SINGLE_OBJECT_MARKER);
        out.extend_from_slice(&click_event_fingerprint());
        self.encode_datum(out);
    }

    /// The Avro binary encoding as a new buffer.
    pub fn to_datum(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_datum(&mut out);
        out
    }
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn long(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let offset = self.pos;
        varint::read_long(self.buf, &mut self.pos).map_err(|e| match e {
            VarintError::Truncated => DecodeError::Truncated { field, offset },
            VarintError::Overlong => DecodeError::BadVarint { field, offset },
        })
    }

    fn int(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        let offset = self.pos;
        let v = self.long(field)?;
        i32::try_from(v).map_err(|_| DecodeError::BadValue { field, offset, value: v, what: "an Avro int" })
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let offset = self.pos;
        let len = self.long(field)?;
        let remaining = self.buf.len() - self.pos;
        if len < 0 {
            return Err(DecodeError::BadValue { field, offset, value: len, what: "a length >= 0" });
        }
        if len as u64 > remaining as u64 {
            return Err(DecodeError::Truncated { field, offset });
        }
        let bytes = &self.buf[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        // SIMD validation: every agent and job checks each event's strings
        // (raw line, user agent, path), and std's check was a tenth of the
        // fan-out agent's CPU.
        simdutf8::basic::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8 { field, offset })
    }

    fn union_present(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.long(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::BadValue { field, offset, value: v, what: "union branch 0 (null) or 1" }),
        }
    }

    fn opt_str(&mut self, field: &'static str) -> Result<Option<Cow<'a, str>>, DecodeError> {
        Ok(if self.union_present(field)? { Some(Cow::Borrowed(self.str(field)?)) } else { None })
    }

    fn cow(&mut self, field: &'static str) -> Result<Cow<'a, str>, DecodeError> {
        self.str(field).map(Cow::Borrowed)
    }
}

impl<'a> ClickEvent<'a> {
    /// Decodes one Avro binary datum that must span all of `buf`.
    pub fn decode_datum(buf: &'a [u8]) -> Result<ClickEvent<'a>, DecodeError> {
        let mut r = Reader { buf, pos: 0 };
        let event = ClickEvent {
            event_id: r.cow("event_id")?,
            source_host: r.cow("source_host")?,
            client_addr: r.cow("client_addr")?,
            remote_user: r.opt_str("remote_user")?,
            event_time_ms: r.long("event_time")?,
            method: r.cow("method")?,
            path: r.cow("path")?,
            query: r.opt_str("query")?,
            protocol: r.cow("protocol")?,
            status: r.int("status")?,
            response_bytes: if r.union_present("response_bytes")? { Some(r.long("response_bytes")?) } else { None },
            referrer: r.opt_str("referrer")?,
            user_agent: r.opt_str("user_agent")?,
            category: r.cow("category")?,
            ingest: IngestMeta {
                source_file: r.cow("ingest.source_file")?,
                file_fingerprint: r.cow("ingest.file_fingerprint")?,
                byte_offset: r.long("ingest.byte_offset")?,
            },
            raw_line: r.cow("raw_line")?,
        };
        match buf.len() - r.pos {
            0 => Ok(event),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// Decodes a single-object encoded event, checking marker and fingerprint.
    pub fn decode_single_object(buf: &'a [u8]) -> Result<ClickEvent<'a>, DecodeError> {
        if buf.len() < 10 {
            return Err(DecodeError::BadHeader(format!("{} bytes is shorter than the 10-byte header", buf.len())));
        }
        if buf[..2] != SINGLE_OBJECT_MARKER {
            return Err(DecodeError::BadHeader(format!("marker {:02x} {:02x}, expected c3 01", buf[0], buf[1])));
        }
        let expected = click_event_fingerprint();
        if buf[2..10] != expected {
            return Err(DecodeError::BadHeader(format!("schema fingerprint {} is not ClickEvent's {}", hex(&buf[2..10]), hex(&expected))));
        }
        Self::decode_datum(&buf[10..])
    }
}

/// The leading fields of a `ClickEvent` datum that sinks route and key by.
///
/// The fan-out agent checks every event in full once, at its source; its
/// sinks then only need where an event goes (event time, web server) and its
/// Kafka key and header (client address, event id). Reading just these
/// fields — the first five of the schema — skips the path, user agent and raw
/// line, which are most of the bytes and of the UTF-8 checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingFields<'a> {
    /// The deterministic event id.
    pub event_id: &'a str,
    /// The web server the line came from.
    pub source_host: &'a str,
    /// The client address.
    pub client_addr: &'a str,
    /// Event time, ms since the epoch (UTC).
    pub event_time_ms: i64,
}

impl<'a> RoutingFields<'a> {
    /// Reads the routing fields from the start of a `ClickEvent` datum; the
    /// rest of the datum is not looked at.
    pub fn decode(datum: &'a [u8]) -> Result<RoutingFields<'a>, DecodeError> {
        let mut r = Reader { buf: datum, pos: 0 };
        let event_id = r.str("event_id")?;
        let source_host = r.str("source_host")?;
        let client_addr = r.str("client_addr")?;
        r.opt_str("remote_user")?;
        let event_time_ms = r.long("event_time")?;
        Ok(RoutingFields { event_id, source_host, client_addr, event_time_ms })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
