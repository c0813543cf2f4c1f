//! The Avro IPC handshake records (Avro specification, "Handshake").
//!
//! ```text
//! HandshakeRequest  { MD5 clientHash; union{null,string} clientProtocol;
//!                     MD5 serverHash; union{null,map<bytes>} meta }
//! HandshakeResponse { enum{BOTH,CLIENT,NONE} match; union{null,string} serverProtocol;
//!                     union{null,MD5} serverHash; union{null,map<bytes>} meta }
//! ```
//!
//! On a stateful transport such as Netty, a request carries a handshake only
//! until the connection is established: Java's `Requestor` writes one while
//! `NettyTransceiver.isConnected()` is false (no remote protocol yet), and the
//! server's `Responder` reads one while the per-connection transceiver has no
//! remote. A `BOTH` or `CLIENT` answer establishes the connection; `NONE`
//! means "tell me your protocol", and the request is repeated with
//! `clientProtocol` set. Both halves of this crate follow that state machine.

use crate::avro::{self, DecodeError, Reader};

/// An MD5 protocol hash.
pub type Md5Hash = [u8; 16];

/// Metadata map carried by handshakes and calls (`map<bytes>`).
pub type Meta = Vec<(String, Vec<u8>)>;

/// The client's half of the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// Hash of the client's protocol.
    pub client_hash: Md5Hash,
    /// The client's protocol text, sent after the server answered `NONE`.
    pub client_protocol: Option<String>,
    /// The client's guess of the server's hash (its own, at first).
    pub server_hash: Md5Hash,
    /// Handshake metadata (unused by Flume).
    pub meta: Option<Meta>,
}

/// How much of the client's handshake the server recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeMatch {
    /// The server knows the client's protocol and the client's guess of the
    /// server hash was right: the call proceeds.
    Both,
    /// The server knows the client's protocol but the client guessed the
    /// server hash wrong: the call proceeds and the reply carries the server's
    /// protocol.
    Client,
    /// The server does not know the client's protocol: the call was not
    /// executed and must be repeated with `clientProtocol`.
    None,
}

/// The server's half of the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// The verdict.
    pub matched: HandshakeMatch,
    /// The server's protocol text, sent unless the verdict is `BOTH`.
    pub server_protocol: Option<String>,
    /// The server's protocol hash, sent unless the verdict is `BOTH`.
    pub server_hash: Option<Md5Hash>,
    /// Handshake metadata.
    pub meta: Option<Meta>,
}

impl HandshakeRequest {
    /// Appends the Avro binary encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        avro::put_fixed(out, &self.client_hash);
        put_optional_str(out, self.client_protocol.as_deref());
        avro::put_fixed(out, &self.server_hash);
        put_optional_meta(out, self.meta.as_ref());
    }

    /// Reads one from `r`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(HandshakeRequest {
            client_hash: r.fixed()?,
            client_protocol: read_optional_str(r, "clientProtocol")?,
            server_hash: r.fixed()?,
            meta: read_optional_meta(r)?,
        })
    }
}

impl HandshakeResponse {
    /// Appends the Avro binary encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        avro::put_index(
            out,
            match self.matched {
                HandshakeMatch::Both => 0,
                HandshakeMatch::Client => 1,
                HandshakeMatch::None => 2,
            },
        );
        put_optional_str(out, self.server_protocol.as_deref());
        match &self.server_hash {
            None => avro::put_index(out, 0),
            Some(hash) => {
                avro::put_index(out, 1);
                avro::put_fixed(out, hash);
            }
        }
        put_optional_meta(out, self.meta.as_ref());
    }

    /// Reads one from `r`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let matched = match r.index("HandshakeMatch", 3)? {
            0 => HandshakeMatch::Both,
            1 => HandshakeMatch::Client,
            _ => HandshakeMatch::None,
        };
        let server_protocol = read_optional_str(r, "serverProtocol")?;
        let server_hash = match r.index("serverHash union", 2)? {
            0 => None,
            _ => Some(r.fixed()?),
        };
        Ok(HandshakeResponse { matched, server_protocol, server_hash, meta: read_optional_meta(r)? })
    }
}

fn put_optional_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => avro::put_index(out, 0),
        Some(s) => {
            avro::put_index(out, 1);
            avro::put_str(out, s);
        }
    }
}

fn put_optional_meta(out: &mut Vec<u8>, meta: Option<&Meta>) {
    match meta {
        None => avro::put_index(out, 0),
        Some(m) => {
            avro::put_index(out, 1);
            avro::put_map_bytes(out, m);
        }
    }
}

fn read_optional_str(r: &mut Reader<'_>, what: &'static str) -> Result<Option<String>, DecodeError> {
    Ok(match r.index(what, 2)? {
        0 => None,
        _ => Some(r.str()?.to_string()),
    })
}

fn read_optional_meta(r: &mut Reader<'_>) -> Result<Option<Meta>, DecodeError> {
    Ok(match r.index("meta union", 2)? {
        0 => None,
        _ => Some(r.map_bytes()?.into_iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_wire_layout_matches_the_spec() {
        let req = HandshakeRequest { client_hash: [1; 16], client_protocol: None, server_hash: [2; 16], meta: None };
        let mut out = Vec::new();
        req.encode(&mut out);
        // fixed(16) | union index 0 (null) | fixed(16) | union index 0 (null)
        let mut expected = vec![1u8; 16];
        expected.push(0);
        expected.extend([2u8; 16]);
        expected.push(0);
        assert_eq!(out, expected);
    }

    #[test]
    fn response_wire_layout_matches_the_spec() {
        let resp = HandshakeResponse { matched: HandshakeMatch::Both, server_protocol: None, server_hash: None, meta: None };
        let mut out = Vec::new();
        resp.encode(&mut out);
        assert_eq!(out, vec![0, 0, 0, 0]);
        let none = HandshakeResponse { matched: HandshakeMatch::None, server_protocol: Some("p".into()), server_hash: Some([9; 16]), meta: None };
        let mut out = Vec::new();
        none.encode(&mut out);
        assert_eq!(&out[..5], &[4, 2, 2, b'p', 2]);
    }

    proptest! {
        #[test]
        fn handshakes_round_trip(ch in any::<[u8; 16]>(), sh in any::<[u8; 16]>(), proto in proptest::option::of(".{0,40}"),
                                 meta in proptest::option::of(proptest::collection::vec((".{0,6}", proptest::collection::vec(any::<u8>(), 0..6)), 0..4)),
                                 m in 0usize..3, with_hash in any::<bool>()) {
            let req = HandshakeRequest { client_hash: ch, client_protocol: proto.clone(), server_hash: sh, meta: meta.clone() };
            let mut out = Vec::new();
            req.encode(&mut out);
            let mut r = Reader::new(&out);
            prop_assert_eq!(HandshakeRequest::decode(&mut r).unwrap(), req);
            prop_assert_eq!(r.remaining(), 0);

            let matched = [HandshakeMatch::Both, HandshakeMatch::Client, HandshakeMatch::None][m];
            let resp = HandshakeResponse { matched, server_protocol: proto, server_hash: with_hash.then_some(sh), meta };
            let mut out = Vec::new();
            resp.encode(&mut out);
            let mut r = Reader::new(&out);
            prop_assert_eq!(HandshakeResponse::decode(&mut r).unwrap(), resp);
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = HandshakeRequest::decode(&mut Reader::new(&data));
            let _ = HandshakeResponse::decode(&mut Reader::new(&data));
        }
    }
}
