//! The call envelope that follows the (optional) handshake in every payload
//! (Avro specification, "Call Format").
//!
//! ```text
//! request:  map<bytes> meta | string message name | parameters
//! response: map<bytes> meta | boolean error flag  | response value, or error union
//! ```
//!
//! An empty message name is a handshake "ping" (Java's `Requestor.getRemote()`
//! sends one): the server answers with the handshake response alone. A
//! message's error union always starts with `string`, the branch Java uses for
//! "system" errors (exceptions in the responder); Flume declares no other
//! errors, so that is the only branch this crate writes or understands.

use crate::avro::{self, DecodeError, Reader};

/// The start of a call request: metadata and message name; the parameters
/// follow in the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    /// Call metadata (Flume sends none; kept for logging).
    pub meta: Vec<(&'a str, &'a [u8])>,
    /// Message name; empty for a handshake ping.
    pub message: &'a str,
}

/// Appends a request header with empty metadata.
pub fn encode_request_header(message: &str, out: &mut Vec<u8>) {
    avro::put_long(out, 0);
    avro::put_str(out, message);
}

/// Reads a request header.
pub fn read_request_header<'a>(r: &mut Reader<'a>) -> Result<RequestHeader<'a>, DecodeError> {
    let meta = r.map_bytes()?;
    let message = r.str()?;
    Ok(RequestHeader { meta, message })
}

/// Appends a successful response's envelope; the caller appends the value.
pub fn encode_response_ok(out: &mut Vec<u8>) {
    avro::put_long(out, 0);
    avro::put_bool(out, false);
}

/// Appends an error response carrying `message` in the `string` branch.
pub fn encode_response_error(message: &str, out: &mut Vec<u8>) {
    avro::put_long(out, 0);
    avro::put_bool(out, true);
    avro::put_index(out, 0);
    avro::put_str(out, message);
}

/// Reads a response envelope. `Ok(Ok(()))` leaves the reader at the response
/// value; `Ok(Err(text))` is an error the server reported.
pub fn read_response(r: &mut Reader<'_>) -> Result<Result<(), String>, DecodeError> {
    let _meta = r.map_bytes()?;
    if !r.bool()? {
        return Ok(Ok(()));
    }
    // Only the `string` branch is known (see the module docs).
    r.index("error union", 1)?;
    Ok(Err(r.str()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_envelopes_round_trip() {
        let mut out = Vec::new();
        encode_request_header("appendBatch", &mut out);
        out.push(42);
        let mut r = Reader::new(&out);
        let header = read_request_header(&mut r).unwrap();
        assert_eq!(header.message, "appendBatch");
        assert!(header.meta.is_empty());
        assert_eq!(r.rest(), &[42]);

        let mut out = Vec::new();
        encode_response_ok(&mut out);
        out.push(2);
        let mut r = Reader::new(&out);
        assert_eq!(read_response(&mut r).unwrap(), Ok(()));
        assert_eq!(r.rest(), &[2]);

        let mut out = Vec::new();
        encode_response_error("boom", &mut out);
        assert_eq!(read_response(&mut Reader::new(&out)).unwrap(), Err("boom".to_string()));
    }
}
