//! Flume's `AvroSourceProtocol` values: `AvroFlumeEvent`, `Status`, and the
//! parameters of `append` and `appendBatch`.
//!
//! ```text
//! record AvroFlumeEvent { map<string> headers; bytes body; }
//! enum Status { OK, FAILED, UNKNOWN }
//! Status append(AvroFlumeEvent event);
//! Status appendBatch(array<AvroFlumeEvent> events);
//! ```
//!
//! Events are handled in their *encoded* form wherever possible: an agent
//! encodes an event once with [`encode_event`], keeps those bytes in its
//! on-disk channel, and [`encode_append_batch`] forwards them by writing only
//! the array framing around them. On the receiving side
//! [`read_append_batch`] hands out each event both decoded and as the exact
//! bytes it arrived as ([`ReceivedEvent::encoded`]), so the next hop can store
//! them without re-encoding.

use std::ops::Range;

use bytes::Bytes;

use crate::avro::{self, DecodeError, Reader};

/// The answer to `append`/`appendBatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The receiver committed the events.
    Ok,
    /// The receiver did not take the events; the sender should retry.
    Failed,
    /// The receiver does not know what happened (Flume uses it rarely).
    Unknown,
}

impl Status {
    /// Symbol index in the `Status` enum (its wire value).
    pub fn index(self) -> usize {
        match self {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::Unknown => 2,
        }
    }

    /// Reads a `Status` enum value.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.index("Status", 3)? {
            0 => Status::Ok,
            1 => Status::Failed,
            _ => Status::Unknown,
        })
    }

    /// Appends the enum value.
    pub fn encode(self, out: &mut Vec<u8>) {
        avro::put_index(out, self.index());
    }
}

/// Appends the Avro binary encoding of ONE `AvroFlumeEvent`.
///
/// The output is what Java's `GenericDatumWriter` produces for the same
/// event (headers as a single map block), so it can be stored and forwarded
/// as-is with [`encode_append_batch`].
pub fn encode_event(headers: &[(&str, &str)], body: &[u8], out: &mut Vec<u8>) {
    avro::put_map_str(out, headers);
    avro::put_bytes(out, body);
}

/// A decoded event borrowing from the buffer it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Headers in wire order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body.
    pub body: &'a [u8],
}

/// Reads one `AvroFlumeEvent` from `r`.
pub fn read_event<'a>(r: &mut Reader<'a>) -> Result<EventRef<'a>, DecodeError> {
    let headers = r.map_str()?;
    let body = r.bytes()?;
    Ok(EventRef { headers, body })
}

/// Decodes bytes that must hold exactly one encoded event (for example a
/// record read back from a channel).
pub fn decode_event(encoded: &[u8]) -> Result<EventRef<'_>, DecodeError> {
    let mut r = Reader::new(encoded);
    let event = read_event(&mut r)?;
    at_end(&r)?;
    Ok(event)
}

/// The body of bytes that must hold exactly one encoded event, such as a
/// record read back from a channel. The headers are skipped: neither
/// collected nor checked for UTF-8, since the event was checked when it was
/// received (sinks forward bodies and rarely need the headers).
pub fn event_body(encoded: &[u8]) -> Result<&[u8], DecodeError> {
    let mut r = Reader::new(encoded);
    r.skip_map()?;
    let body = r.bytes()?;
    at_end(&r)?;
    Ok(body)
}

fn at_end(r: &Reader<'_>) -> Result<(), DecodeError> {
    if r.remaining() != 0 {
        return Err(DecodeError::BadLength { what: "trailing bytes after event", value: r.remaining() as i64, offset: r.position() });
    }
    Ok(())
}

/// Appends `appendBatch`'s parameter, an `array<AvroFlumeEvent>`, from events
/// that are already encoded: one block header, the events verbatim, the end
/// marker. The events are not re-validated; they must each be one valid
/// `AvroFlumeEvent` encoding, such as [`encode_event`]'s output.
pub fn encode_append_batch<E: AsRef<[u8]>>(events: &[E], out: &mut Vec<u8>) {
    if !events.is_empty() {
        let total: usize = events.iter().map(|e| e.as_ref().len()).sum();
        out.reserve(total + 12);
        avro::put_long(out, events.len() as i64);
        for event in events {
            out.extend_from_slice(event.as_ref());
        }
    }
    avro::put_long(out, 0);
}

/// An event as the server hands it to its handler: slices of the received
/// frame, no copy and no allocation per event. The headers were checked
/// when the event was read and are decoded again only on demand
/// ([`ReceivedEvent::headers`]): a fan-out agent forwards the encoding as-is
/// and rarely looks at them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// The body (shares the received frame's memory).
    pub body: Bytes,
    /// The event's exact Avro encoding as received (shares the frame's memory):
    /// store or forward this without re-encoding.
    pub encoded: Bytes,
}

impl ReceivedEvent {
    /// Builds the event read from `payload[range]`, whose body is `body_len`
    /// bytes long.
    fn from_parts(payload: &Bytes, body_len: usize, range: Range<usize>) -> Self {
        // The body is the last field, so it ends where the event ends.
        let body = range.end - body_len..range.end;
        ReceivedEvent { body: payload.slice(body), encoded: payload.slice(range) }
    }

    /// The headers, in wire order.
    pub fn headers(&self) -> Vec<(&str, &str)> {
        let mut r = Reader::new(&self.encoded);
        r.map_str().expect("the headers were validated when the event was received")
    }
}

/// Reads one event's header map (checking it) and body without allocating;
/// returns the body's length.
fn check_event(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    r.skip_map_str()?;
    Ok(r.bytes()?.len())
}

/// Reads `appendBatch`'s parameter from `payload` at `r`, refusing batches of
/// more than `max_events` events as soon as a block count says so.
///
/// `r` must read from `payload` (so received events can share its memory).
pub fn read_append_batch(payload: &Bytes, r: &mut Reader<'_>, max_events: usize) -> Result<Vec<ReceivedEvent>, DecodeError> {
    let mut events = Vec::new();
    loop {
        let offset = r.position();
        // An event is at least an empty map and an empty body: 2 bytes.
        let count = r.block_count(2)?;
        if count == 0 {
            return Ok(events);
        }
        if events.len() + count > max_events {
            return Err(DecodeError::TooMany { what: "appendBatch", limit: max_events, offset });
        }
        events.reserve(count);
        for _ in 0..count {
            let start = r.position();
            let body_len = check_event(r)?;
            events.push(ReceivedEvent::from_parts(payload, body_len, start..r.position()));
        }
    }
}

/// Reads `append`'s parameter (one event) from `payload` at `r`.
pub fn read_append(payload: &Bytes, r: &mut Reader<'_>) -> Result<ReceivedEvent, DecodeError> {
    let start = r.position();
    let body_len = check_event(r)?;
    Ok(ReceivedEvent::from_parts(payload, body_len, start..r.position()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_event_encodes_like_java_writes_it() {
        let mut out = Vec::new();
        encode_event(&[("seq", "1")], b"hi", &mut out);
        // map: count 1, "seq", "1", end 0; bytes: len 2, "hi"
        assert_eq!(out, [2, 6, b's', b'e', b'q', 2, b'1', 0, 4, b'h', b'i']);
        let mut out = Vec::new();
        encode_event(&[], b"", &mut out);
        assert_eq!(out, [0, 0]);
    }

    #[test]
    fn received_headers_must_be_utf8_and_read_back_bodies_skip_them_unchecked() {
        // map: 1 entry, key "k", value 0xff (not UTF-8), end; body "hi"
        let event = [2, 2, b'k', 2, 0xff, 0, 4, b'h', b'i'];
        let mut params = Vec::new();
        encode_append_batch(&[&event[..]], &mut params);
        let payload = Bytes::from(params);
        let err = read_append_batch(&payload, &mut Reader::new(&payload), 10).unwrap_err();
        assert!(matches!(err, DecodeError::BadUtf8 { .. }), "{err:?}");
        assert_eq!(event_body(&event).unwrap(), b"hi");
        assert!(event_body(&event[..event.len() - 1]).is_err(), "a truncated body is still an error");
    }

    #[test]
    fn statuses_round_trip_and_unknown_indexes_fail() {
        for s in [Status::Ok, Status::Failed, Status::Unknown] {
            let mut out = Vec::new();
            s.encode(&mut out);
            assert_eq!(Status::decode(&mut Reader::new(&out)).unwrap(), s);
        }
        assert!(Status::decode(&mut Reader::new(&[6])).is_err());
    }

    #[test]
    fn batches_over_the_limit_fail_on_the_block_count() {
        let events: Vec<Vec<u8>> = (0..5).map(|_| vec![0, 0]).collect();
        let mut out = Vec::new();
        encode_append_batch(&events, &mut out);
        let payload = Bytes::from(out);
        let err = read_append_batch(&payload, &mut Reader::new(&payload), 4).unwrap_err();
        assert!(matches!(err, DecodeError::TooMany { limit: 4, .. }));
        assert_eq!(read_append_batch(&payload, &mut Reader::new(&payload), 5).unwrap().len(), 5);
    }

    #[test]
    fn trailing_bytes_after_a_single_event_are_an_error() {
        let mut out = Vec::new();
        encode_event(&[], b"x", &mut out);
        out.push(0);
        assert!(decode_event(&out).is_err());
    }

    proptest! {
        #[test]
        fn batches_round_trip_with_exact_encoded_bytes(
            batch in proptest::collection::vec((proptest::collection::vec((".{0,8}", ".{0,12}"), 0..4), proptest::collection::vec(any::<u8>(), 0..64)), 0..20)
        ) {
            let encoded: Vec<Vec<u8>> = batch.iter().map(|(h, b)| {
                let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let mut out = Vec::new();
                encode_event(&h, b, &mut out);
                out
            }).collect();
            let mut params = Vec::new();
            encode_append_batch(&encoded, &mut params);
            let payload = Bytes::from(params);
            let mut r = Reader::new(&payload);
            let got = read_append_batch(&payload, &mut r, 1000).unwrap();
            prop_assert_eq!(r.remaining(), 0);
            prop_assert_eq!(got.len(), batch.len());
            for ((event, (headers, body)), enc) in got.iter().zip(&batch).zip(&encoded) {
                let want: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                prop_assert_eq!(event.headers(), want);
                prop_assert_eq!(&event.body[..], &body[..]);
                prop_assert_eq!(&event.encoded[..], &enc[..]);
                let back = decode_event(&event.encoded).unwrap();
                prop_assert_eq!(back.body, &body[..]);
                prop_assert_eq!(event_body(&event.encoded).unwrap(), &body[..]);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let payload = Bytes::from(data);
            let _ = read_append_batch(&payload, &mut Reader::new(&payload), 100);
            let _ = read_append(&payload, &mut Reader::new(&payload));
            let _ = decode_event(&payload);
        }
    }
}
