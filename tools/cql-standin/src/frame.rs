//! Frames of the CQL native protocol v4 and its primitive notations.
//!
//! A frame is a 9-byte header (version, flags, stream id, opcode, body
//! length) and a body. [`Frame::parse`] follows the mini-redis shape: it says
//! "incomplete" (`Ok(None)`) when the buffer does not hold a whole frame yet,
//! which means "read more", not an error. [`Reader`] decodes the spec's
//! `[int]`, `[string]`, `[bytes]`... notations from a body, [`Writer`]
//! encodes them.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::CqlError;

/// Protocol version this server speaks (requests carry 0x04, responses 0x84).
pub const VERSION: u8 = 0x04;
/// Largest body accepted (Cassandra's default `native_transport_max_frame_size` is 16 MiB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Request and response opcodes (spec section 2.4).
#[allow(missing_docs)]
pub mod opcode {
    pub const ERROR: u8 = 0x00;
    pub const STARTUP: u8 = 0x01;
    pub const READY: u8 = 0x02;
    pub const OPTIONS: u8 = 0x05;
    pub const SUPPORTED: u8 = 0x06;
    pub const QUERY: u8 = 0x07;
    pub const RESULT: u8 = 0x08;
    pub const PREPARE: u8 = 0x09;
    pub const EXECUTE: u8 = 0x0A;
    pub const REGISTER: u8 = 0x0B;
    pub const BATCH: u8 = 0x0D;
}

/// One frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Protocol version byte (without the response bit).
    pub version: u8,
    /// Header flags (compression, tracing, payload, warning).
    pub flags: u8,
    /// Stream id the response must echo.
    pub stream: i16,
    /// What the frame is.
    pub opcode: u8,
    /// The body.
    pub body: Bytes,
}

impl Frame {
    /// Takes one whole frame off the front of `buf`, or returns `Ok(None)` when more bytes are needed.
    pub fn parse(buf: &mut BytesMut) -> Result<Option<Frame>, CqlError> {
        if buf.len() < 9 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]);
        if len < 0 || len as usize > MAX_BODY {
            return Err(CqlError::protocol(format!("frame body length {len} out of range")));
        }
        if buf.len() < 9 + len as usize {
            return Ok(None);
        }
        let mut head = buf.split_to(9);
        let version = head.get_u8() & 0x7F;
        let flags = head.get_u8();
        let stream = head.get_i16();
        let opcode = head.get_u8();
        let body = buf.split_to(len as usize).freeze();
        Ok(Some(Frame { version, flags, stream, opcode, body }))
    }

    /// Encodes a response frame to `stream` (flags 0: no compression, tracing or warnings).
    pub fn write_response(out: &mut BytesMut, stream: i16, opcode: u8, body: &[u8]) {
        out.reserve(9 + body.len());
        out.put_u8(0x80 | VERSION);
        out.put_u8(0);
        out.put_i16(stream);
        out.put_u8(opcode);
        out.put_i32(body.len() as i32);
        out.put_slice(body);
    }
}

/// A value as bound to a statement: `[bytes]` where -1 is null and -2 "not set".
#[derive(Debug, Clone, PartialEq)]
pub enum BoundValue {
    /// A value (possibly empty).
    Set(Bytes),
    /// `null`: deletes the cell on write.
    Null,
    /// "unset": leaves the cell as it is.
    Unset,
}

/// Decodes the spec's notations from a frame body.
pub struct Reader {
    buf: Bytes,
}

fn short(what: &str) -> CqlError {
    CqlError::protocol(format!("frame body too short reading {what}"))
}

impl Reader {
    /// Reads from `body`.
    pub fn new(body: Bytes) -> Reader {
        Reader { buf: body }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    /// `[byte]`
    pub fn u8(&mut self) -> Result<u8, CqlError> {
        if self.buf.remaining() < 1 {
            return Err(short("a byte"));
        }
        Ok(self.buf.get_u8())
    }

    /// `[short]`
    pub fn u16(&mut self) -> Result<u16, CqlError> {
        if self.buf.remaining() < 2 {
            return Err(short("a short"));
        }
        Ok(self.buf.get_u16())
    }

    /// `[int]`
    pub fn i32(&mut self) -> Result<i32, CqlError> {
        if self.buf.remaining() < 4 {
            return Err(short("an int"));
        }
        Ok(self.buf.get_i32())
    }

    /// `[long]`
    pub fn i64(&mut self) -> Result<i64, CqlError> {
        if self.buf.remaining() < 8 {
            return Err(short("a long"));
        }
        Ok(self.buf.get_i64())
    }

    fn take(&mut self, n: usize, what: &str) -> Result<Bytes, CqlError> {
        if self.buf.remaining() < n {
            return Err(short(what));
        }
        Ok(self.buf.split_to(n))
    }

    /// `[string]`
    pub fn string(&mut self) -> Result<String, CqlError> {
        let n = self.u16()? as usize;
        let b = self.take(n, "a string")?;
        String::from_utf8(b.to_vec()).map_err(|_| CqlError::protocol("string is not UTF-8"))
    }

    /// `[long string]`
    pub fn long_string(&mut self) -> Result<String, CqlError> {
        let n = self.i32()?;
        if n < 0 {
            return Err(CqlError::protocol("negative long string length"));
        }
        let b = self.take(n as usize, "a long string")?;
        String::from_utf8(b.to_vec()).map_err(|_| CqlError::protocol("long string is not UTF-8"))
    }

    /// `[short bytes]`
    pub fn short_bytes(&mut self) -> Result<Bytes, CqlError> {
        let n = self.u16()? as usize;
        self.take(n, "short bytes")
    }

    /// `[bytes]` (`None` for a negative length)
    pub fn bytes(&mut self) -> Result<Option<Bytes>, CqlError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(None);
        }
        self.take(n as usize, "bytes").map(Some)
    }

    /// `[value]`
    pub fn value(&mut self) -> Result<BoundValue, CqlError> {
        let n = self.i32()?;
        match n {
            -1 => Ok(BoundValue::Null),
            -2 => Ok(BoundValue::Unset),
            n if n < 0 => Err(CqlError::protocol(format!("invalid value length {n}"))),
            n => Ok(BoundValue::Set(self.take(n as usize, "a value")?)),
        }
    }

    /// `[string map]`
    pub fn string_map(&mut self) -> Result<Vec<(String, String)>, CqlError> {
        let n = self.u16()?;
        (0..n).map(|_| Ok((self.string()?, self.string()?))).collect()
    }

    /// `[string list]`
    pub fn string_list(&mut self) -> Result<Vec<String>, CqlError> {
        let n = self.u16()?;
        (0..n).map(|_| self.string()).collect()
    }
}

/// Encodes the spec's notations into a body.
#[derive(Default)]
pub struct Writer {
    /// The body so far.
    pub buf: BytesMut,
}

impl Writer {
    /// `[int]`
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.put_i32(v);
        self
    }

    /// `[short]`
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.put_u16(v);
        self
    }

    /// `[string]`
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.buf.put_u16(s.len() as u16);
        self.buf.put_slice(s.as_bytes());
        self
    }

    /// `[short bytes]`
    pub fn short_bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.put_u16(b.len() as u16);
        self.buf.put_slice(b);
        self
    }

    /// `[bytes]`, null for `None`
    pub fn bytes(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            Some(b) => {
                self.buf.put_i32(b.len() as i32);
                self.buf.put_slice(b);
            }
            None => self.buf.put_i32(-1),
        }
        self
    }

    /// `[string multimap]`
    pub fn string_multimap(&mut self, m: &[(&str, Vec<&str>)]) -> &mut Self {
        self.u16(m.len() as u16);
        for (k, vs) in m {
            self.string(k);
            self.u16(vs.len() as u16);
            for v in vs {
                self.string(v);
            }
        }
        self
    }

    /// Raw bytes.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.put_slice(b);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_frames_ask_for_more() {
        let mut out = BytesMut::new();
        Frame::write_response(&mut out, 7, opcode::READY, b"abc");
        let whole = out.clone();
        let mut part = BytesMut::from(&whole[..10]);
        assert!(Frame::parse(&mut part).unwrap().is_none());
        let f = Frame::parse(&mut out).unwrap().unwrap();
        assert_eq!((f.version, f.stream, f.opcode, &f.body[..]), (VERSION, 7, opcode::READY, &b"abc"[..]));
        assert!(out.is_empty());
    }

    #[test]
    fn reads_notations() {
        let mut w = Writer::default();
        w.string("ab").i32(-1).i32(-2).i32(1).raw(b"x");
        let mut r = Reader::new(w.buf.freeze());
        assert_eq!(r.string().unwrap(), "ab");
        assert_eq!(r.value().unwrap(), BoundValue::Null);
        assert_eq!(r.value().unwrap(), BoundValue::Unset);
        assert_eq!(r.value().unwrap(), BoundValue::Set(Bytes::from_static(b"x")));
        assert!(r.u8().is_err());
    }
}
