//! Netty framing, as Avro Java's `NettyTransportCodec` writes and reads it.
//!
//! Every message on an Avro-over-Netty connection (a request or a response) is
//! one frame:
//!
//! ```text
//! int32 serial | int32 buffer count | { int32 length | length bytes } * count
//! ```
//!
//! all integers big-endian. The message payload is the concatenation of the
//! buffers: Java splits its output into 8 KiB buffers, so an Avro value can
//! straddle a buffer boundary and must be read from the concatenation. A
//! response carries the serial of the request it answers.
//!
//! Following mini-redis, [`check`] first decides whether a buffer holds a
//! complete frame ("incomplete" is `Ok(None)`, meaning read more bytes, not an
//! error), then [`parse`] takes it out. Both enforce [`FrameLimits`] on the
//! *declared* sizes as soon as the headers are seen, so a hostile length is
//! rejected before any memory is reserved for it: the read buffer only ever
//! grows with bytes the peer really sent, up to one frame's limit.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Bytes of the frame header: serial and buffer count.
const HEADER_LEN: usize = 8;
/// Bytes of each buffer's length prefix.
const LENGTH_LEN: usize = 4;

/// Hard limits applied while a frame is checked, before it is buffered whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest frame accepted, counted as bytes on the wire (headers included).
    pub max_frame_bytes: usize,
    /// Most buffers one frame may declare. Java writes 8 KiB buffers (plus one
    /// per large `bytes` value), so legitimate frames stay far below this.
    pub max_buffers: usize,
}

impl Default for FrameLimits {
    /// 16 MiB frames, 65 536 buffers: generous for Flume batches (100 events of
    /// a few hundred bytes by default; 10 000 events of 1 KiB still fit) while
    /// bounding what one peer can pin.
    fn default() -> Self {
        FrameLimits { max_frame_bytes: 16 << 20, max_buffers: 1 << 16 }
    }
}

/// Why bytes are not an acceptable frame. Any of these ends the connection:
/// after a bad header the stream cannot be resynchronised.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The buffer count is negative or above [`FrameLimits::max_buffers`].
    #[error("frame declares {count} buffers (limit {max})")]
    TooManyBuffers {
        /// Declared buffer count.
        count: i64,
        /// The limit.
        max: usize,
    },
    /// A buffer length is negative.
    #[error("frame buffer {index} declares negative length {length}")]
    NegativeLength {
        /// Which buffer.
        index: usize,
        /// Declared length.
        length: i32,
    },
    /// The declared frame size is above [`FrameLimits::max_frame_bytes`].
    #[error("frame of at least {bytes} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size declared so far (headers plus buffer lengths).
        bytes: u64,
        /// The limit.
        max: usize,
    },
    /// A payload too large for the 32-bit length field (encoding side).
    #[error("payload of {bytes} bytes does not fit a frame buffer")]
    PayloadTooLarge {
        /// Payload size.
        bytes: usize,
    },
}

/// One decoded frame: the serial and the concatenated payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Request serial; a response echoes its request's serial.
    pub serial: i32,
    /// The buffers, concatenated.
    pub payload: Bytes,
}

/// Checks whether `buf` starts with a complete frame.
///
/// Returns `Ok(Some(len))` with the frame's wire length when it is complete,
/// `Ok(None)` when more bytes are needed, and an error as soon as a declared
/// size breaks `limits` (even if the rest of the frame has not arrived).
pub fn check(buf: &[u8], limits: &FrameLimits) -> Result<Option<usize>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let count = read_i32(buf, 4);
    if count < 0 || count as usize > limits.max_buffers {
        return Err(FrameError::TooManyBuffers { count: count.into(), max: limits.max_buffers });
    }
    let count = count as usize;
    // Headers alone must fit the limit: catches many tiny buffers early.
    let header_bytes = (HEADER_LEN + count * LENGTH_LEN) as u64;
    if header_bytes > limits.max_frame_bytes as u64 {
        return Err(FrameError::TooLarge { bytes: header_bytes, max: limits.max_frame_bytes });
    }
    let mut declared = header_bytes;
    let mut pos = HEADER_LEN;
    for index in 0..count {
        if buf.len() < pos + LENGTH_LEN {
            return Ok(None);
        }
        let length = read_i32(buf, pos);
        if length < 0 {
            return Err(FrameError::NegativeLength { index, length });
        }
        declared += length as u64;
        if declared > limits.max_frame_bytes as u64 {
            return Err(FrameError::TooLarge { bytes: declared, max: limits.max_frame_bytes });
        }
        pos += LENGTH_LEN + length as usize;
    }
    if buf.len() < pos {
        return Ok(None);
    }
    Ok(Some(pos))
}

/// Takes the first complete frame out of `buf`, or returns `Ok(None)` (and
/// leaves `buf` untouched) when it is incomplete.
///
/// A single-buffer frame (what this crate and most short Java messages send)
/// is split off without copying; several buffers are concatenated into one
/// exactly-sized allocation.
pub fn parse(buf: &mut BytesMut, limits: &FrameLimits) -> Result<Option<Frame>, FrameError> {
    let Some(len) = check(buf, limits)? else {
        return Ok(None);
    };
    let mut raw = buf.split_to(len);
    let serial = raw.get_i32();
    let count = raw.get_i32() as usize;
    let payload = if count == 1 {
        raw.advance(LENGTH_LEN);
        raw.freeze()
    } else {
        let mut payload = BytesMut::with_capacity(len - HEADER_LEN - count * LENGTH_LEN);
        for _ in 0..count {
            let length = raw.get_i32() as usize;
            payload.extend_from_slice(&raw[..length]);
            raw.advance(length);
        }
        payload.freeze()
    };
    Ok(Some(Frame { serial, payload }))
}

/// Appends a one-buffer frame holding `payload`.
pub fn encode(serial: i32, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    encode_with(serial, out, |out| out.extend_from_slice(payload))
}

/// Appends a one-buffer frame whose payload `write_payload` appends in place,
/// so large requests are built once, directly in the outgoing buffer.
pub fn encode_with(serial: i32, out: &mut Vec<u8>, write_payload: impl FnOnce(&mut Vec<u8>)) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&serial.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&[0; LENGTH_LEN]);
    let payload_start = out.len();
    write_payload(out);
    let payload_len = out.len() - payload_start;
    let Ok(length) = i32::try_from(payload_len) else {
        out.truncate(start);
        return Err(FrameError::PayloadTooLarge { bytes: payload_len });
    };
    out[payload_start - LENGTH_LEN..payload_start].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: FrameLimits = FrameLimits { max_frame_bytes: 1 << 20, max_buffers: 1024 };

    /// Builds a frame the way Java does: the payload cut into `chunk`-byte buffers.
    fn java_style(serial: i32, payload: &[u8], chunk: usize) -> Vec<u8> {
        let chunks: Vec<&[u8]> = if payload.is_empty() { vec![] } else { payload.chunks(chunk).collect() };
        let mut out = Vec::new();
        out.extend_from_slice(&serial.to_be_bytes());
        out.extend_from_slice(&(chunks.len() as i32).to_be_bytes());
        for c in chunks {
            out.extend_from_slice(&(c.len() as i32).to_be_bytes());
            out.extend_from_slice(c);
        }
        out
    }

    #[test]
    fn encode_then_parse_round_trips_and_leaves_the_next_frame() {
        let mut wire = Vec::new();
        encode(7, b"hello", &mut wire).unwrap();
        encode(8, b"", &mut wire).unwrap();
        assert_eq!(&wire[..16], &[0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 5, b'h', b'e', b'l', b'l']);
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(parse(&mut buf, &LIMITS).unwrap(), Some(Frame { serial: 7, payload: Bytes::from_static(b"hello") }));
        assert_eq!(parse(&mut buf, &LIMITS).unwrap(), Some(Frame { serial: 8, payload: Bytes::new() }));
        assert!(buf.is_empty());
    }

    #[test]
    fn every_prefix_of_a_frame_is_incomplete_not_an_error() {
        let payload: Vec<u8> = (0..100u8).collect();
        let wire = java_style(3, &payload, 16);
        for cut in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            assert_eq!(parse(&mut buf, &LIMITS).unwrap(), None, "prefix of {cut} bytes");
            assert_eq!(buf.len(), cut, "an incomplete frame is left in place");
        }
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(parse(&mut buf, &LIMITS).unwrap().unwrap().payload, payload);
    }

    #[test]
    fn hostile_headers_are_rejected_before_the_body_arrives() {
        // Only the 8-byte header (plus a length) is present: a limit check must
        // not wait for, or reserve, the declared bytes.
        let many = [0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(check(&many, &LIMITS), Err(FrameError::TooManyBuffers { .. })));
        let negative_count = [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(check(&negative_count, &LIMITS), Err(FrameError::TooManyBuffers { .. })));
        let huge = [0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(check(&huge, &LIMITS), Err(FrameError::TooLarge { .. })));
        let negative = [0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(check(&negative, &LIMITS), Err(FrameError::NegativeLength { .. })));
        // Sum of individually small buffers over the limit.
        let mut sum = vec![0, 0, 0, 1, 0, 0, 0, 2];
        sum.extend_from_slice(&(1i32 << 19).to_be_bytes());
        sum.extend(std::iter::repeat_n(0u8, 1 << 19));
        sum.extend_from_slice(&(1i32 << 19).to_be_bytes());
        assert!(matches!(check(&sum, &LIMITS), Err(FrameError::TooLarge { .. })));
        // Too many buffers for the byte limit even if all are empty.
        let tight = FrameLimits { max_frame_bytes: 64, max_buffers: 1024 };
        assert!(matches!(check(&[0, 0, 0, 1, 0, 0, 0, 100], &tight), Err(FrameError::TooLarge { .. })));
    }

    proptest! {
        #[test]
        fn java_style_frames_round_trip(serial in any::<i32>(), payload in proptest::collection::vec(any::<u8>(), 0..2000), chunk in 2usize..300) {
            // chunk >= 2 keeps a 2000-byte payload within LIMITS.max_buffers (1024);
            // more buffers than that is refused, see `hostile_headers_are_rejected_before_the_body_arrives`.
            let wire = java_style(serial, &payload, chunk);
            let mut buf = BytesMut::from(&wire[..]);
            let frame = parse(&mut buf, &LIMITS).unwrap().unwrap();
            prop_assert_eq!(frame.serial, serial);
            prop_assert_eq!(&frame.payload[..], &payload[..]);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = parse(&mut buf, &LIMITS) {}
        }
    }
}
