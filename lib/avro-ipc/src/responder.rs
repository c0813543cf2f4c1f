//! The server side of one connection, frame payload in, reply out: what
//! Java's `Responder.respond` does, for Flume's protocol only. Calls go to
//! the application's [`BatchHandler`], defined here because the responder is
//! the one that calls it (the accept loop only passes it on).
//!
//! Per connection the state is one bit, whether the handshake has completed
//! (Java keeps it as the remote protocol of the connection's transceiver).
//! Until then every request starts with a `HandshakeRequest`, answered as
//! Java's `Responder.handshake` does:
//!
//! * the client's protocol is *known* when its hash is ours, when the same
//!   hash was accepted before (on any connection of this server), or when
//!   the request carries protocol text that passes
//!   [`protocol::check_compatible`];
//! * known and the client guessed our hash: `BOTH`; known but a wrong guess:
//!   `CLIENT` with our protocol and hash; unknown: `NONE` with our protocol
//!   and hash, the call is not executed, and the client resends it with its
//!   protocol text;
//! * protocol text that is not Flume's: an error reply (after a `CLIENT`
//!   handshake so that any client can read it), then the connection closes.
//!
//! Anything undecodable closes the connection: after garbage there is no way
//! to find the next request boundary that can be trusted.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::avro::{DecodeError, Reader};
use crate::call;
use crate::flume::{self, Status};
use crate::handshake::{HandshakeMatch, HandshakeRequest, HandshakeResponse, Md5Hash};
use crate::protocol;
use crate::stats::ServerStats;

/// Receives the events of each `appendBatch` (and of each `append`, as a batch
/// of one) and decides the status returned to the sender.
///
/// Return [`Status::Ok`] only once the events are safe (committed to the
/// channel): the sender then forgets them. [`Status::Failed`] makes the sender
/// retry the same batch later. Calls on one connection are sequential; calls
/// from different connections run concurrently.
pub trait BatchHandler: Send + Sync + 'static {
    /// Handles one batch (never empty).
    fn on_batch(&self, events: Vec<flume::ReceivedEvent>) -> impl Future<Output = Status> + Send;
}

/// How many foreign protocol hashes a server remembers as compatible.
const MAX_KNOWN_CLIENTS: usize = 64;

/// Client protocol hashes already found compatible, shared by a server's
/// connections (Java's `Responder.protocols`), so a client that had to send
/// its protocol text once is recognised by hash on its next connection.
#[derive(Debug, Default)]
pub(crate) struct KnownClients(Mutex<HashSet<Md5Hash>>);

impl KnownClients {
    fn contains(&self, hash: &Md5Hash) -> bool {
        self.0.lock().map(|set| set.contains(hash)).unwrap_or(false)
    }

    fn insert(&self, hash: Md5Hash) {
        if let Ok(mut set) = self.0.lock() {
            if set.len() < MAX_KNOWN_CLIENTS {
                set.insert(hash);
            }
        }
    }
}

/// What the connection does with a request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Send this payload and keep going.
    Send(Vec<u8>),
    /// Send this payload, then close, logging the reason.
    SendAndClose(Vec<u8>, String),
    /// Close without answering, logging the reason.
    Close(String),
}

/// Per-connection responder.
pub(crate) struct Responder<H> {
    handler: Arc<H>,
    known: Arc<KnownClients>,
    stats: Arc<ServerStats>,
    max_batch_events: usize,
    established: bool,
}

impl<H: BatchHandler> Responder<H> {
    pub(crate) fn new(handler: Arc<H>, known: Arc<KnownClients>, stats: Arc<ServerStats>, max_batch_events: usize) -> Self {
        Responder { handler, known, stats, max_batch_events, established: false }
    }

    /// Whether the handshake has completed: the peer speaks Flume's protocol.
    pub(crate) fn established(&self) -> bool {
        self.established
    }

    /// Answers one request payload.
    pub(crate) async fn respond(&mut self, payload: Bytes) -> Reply {
        let mut out = Vec::new();
        let mut r = Reader::new(&payload);
        if !self.established {
            let request = match HandshakeRequest::decode(&mut r) {
                Ok(request) => request,
                Err(e) => return self.reject(format!("malformed handshake request: {e}")),
            };
            match self.handshake(&request, &mut out) {
                Ok(HandshakeMatch::None) => return Reply::Send(out),
                Ok(_) => self.established = true,
                Err(reason) => {
                    ServerStats::add(&self.stats.protocols_rejected, 1);
                    call::encode_response_error(&format!("incompatible protocol: {reason}"), &mut out);
                    return Reply::SendAndClose(out, format!("client protocol is not Flume's AvroSourceProtocol: {reason}"));
                }
            }
        }
        let header = match call::read_request_header(&mut r) {
            Ok(header) => header,
            Err(e) => return self.reject(format!("malformed call header: {e}")),
        };
        let events = match header.message {
            // A handshake ping: the handshake response is the whole answer.
            "" => return Reply::Send(out),
            protocol::APPEND_BATCH => match flume::read_append_batch(&payload, &mut r, self.max_batch_events) {
                Ok(events) => events,
                Err(e @ DecodeError::TooMany { .. }) => {
                    ServerStats::add(&self.stats.frames_rejected, 1);
                    let reason = format!("{e}: lower the sender's batch size or raise max_batch_events");
                    call::encode_response_error(&reason, &mut out);
                    return Reply::SendAndClose(out, reason);
                }
                Err(e) => return self.reject(format!("malformed appendBatch parameters: {e}")),
            },
            protocol::APPEND => match flume::read_append(&payload, &mut r) {
                Ok(event) => vec![event],
                Err(e) => return self.reject(format!("malformed append parameters: {e}")),
            },
            other => {
                ServerStats::add(&self.stats.frames_rejected, 1);
                let reason = format!("no message named `{other}` in Flume's AvroSourceProtocol");
                call::encode_response_error(&reason, &mut out);
                return Reply::SendAndClose(out, reason);
            }
        };
        // An empty batch commits nothing: answer OK without bothering the handler.
        let status = if events.is_empty() {
            Status::Ok
        } else {
            ServerStats::add(&self.stats.batches, 1);
            ServerStats::add(&self.stats.events, events.len() as u64);
            self.handler.on_batch(events).await
        };
        call::encode_response_ok(&mut out);
        status.encode(&mut out);
        Reply::Send(out)
    }

    /// Decides the handshake and appends the response; `Err` is an
    /// incompatible client protocol (a `CLIENT` response is appended first).
    fn handshake(&self, request: &HandshakeRequest, out: &mut Vec<u8>) -> Result<HandshakeMatch, String> {
        let ours = protocol::md5();
        let mut known = request.client_hash == ours || self.known.contains(&request.client_hash);
        let mut incompatible = None;
        if !known {
            if let Some(text) = &request.client_protocol {
                match protocol::check_compatible(text) {
                    Ok(()) => {
                        self.known.insert(request.client_hash);
                        known = true;
                    }
                    Err(reason) => incompatible = Some(reason),
                }
            }
        }
        let matched = match (&incompatible, known, request.server_hash == ours) {
            (Some(_), _, _) => HandshakeMatch::Client,
            (None, true, true) => HandshakeMatch::Both,
            (None, true, false) => HandshakeMatch::Client,
            (None, false, _) => HandshakeMatch::None,
        };
        let counter = match matched {
            HandshakeMatch::Both => &self.stats.handshakes_both,
            HandshakeMatch::Client => &self.stats.handshakes_client,
            HandshakeMatch::None => &self.stats.handshakes_none,
        };
        ServerStats::add(counter, 1);
        let both = matched == HandshakeMatch::Both;
        HandshakeResponse {
            matched,
            server_protocol: (!both).then(|| protocol::text().to_string()),
            server_hash: (!both).then_some(ours),
            meta: None,
        }
        .encode(out);
        match incompatible {
            Some(reason) => Err(reason),
            None => Ok(matched),
        }
    }

    fn reject(&self, reason: String) -> Reply {
        ServerStats::add(&self.stats.frames_rejected, 1);
        Reply::Close(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro;
    use std::sync::Mutex as StdMutex;

    #[derive(Default)]
    struct Recorder(StdMutex<Vec<usize>>);

    impl BatchHandler for Recorder {
        async fn on_batch(&self, events: Vec<flume::ReceivedEvent>) -> Status {
            self.0.lock().unwrap().push(events.len());
            Status::Failed
        }
    }

    fn responder() -> Responder<Recorder> {
        Responder::new(Arc::new(Recorder::default()), Arc::default(), Arc::default(), 10)
    }

    fn request(handshake: Option<HandshakeRequest>, message: &str, events: usize) -> Bytes {
        let mut out = Vec::new();
        if let Some(h) = handshake {
            h.encode(&mut out);
        }
        call::encode_request_header(message, &mut out);
        let encoded: Vec<Vec<u8>> = (0..events).map(|_| vec![0, 0]).collect();
        flume::encode_append_batch(&encoded, &mut out);
        Bytes::from(out)
    }

    fn hello(client_hash: Md5Hash, text: Option<&str>) -> HandshakeRequest {
        HandshakeRequest { client_hash, client_protocol: text.map(str::to_string), server_hash: protocol::md5(), meta: None }
    }

    fn reply_handshake(reply: &Reply) -> (HandshakeResponse, Vec<u8>) {
        let (Reply::Send(out) | Reply::SendAndClose(out, _)) = reply else { panic!("no reply: {reply:?}") };
        let mut r = Reader::new(out);
        (HandshakeResponse::decode(&mut r).unwrap(), r.rest().to_vec())
    }

    #[tokio::test]
    async fn same_hash_is_both_and_later_calls_carry_no_handshake() {
        let mut resp = responder();
        let reply = resp.respond(request(Some(hello(protocol::md5(), None)), "appendBatch", 3)).await;
        let (hs, rest) = reply_handshake(&reply);
        assert_eq!(hs.matched, HandshakeMatch::Both);
        assert_eq!(hs.server_protocol, None);
        // meta 0, error false, Status FAILED (1)
        assert_eq!(rest, [0, 0, 2]);
        let Reply::Send(out) = resp.respond(request(None, "appendBatch", 2)).await else { panic!() };
        assert_eq!(out, [0, 0, 2]);
        assert_eq!(*resp.handler.0.lock().unwrap(), vec![3, 2]);
    }

    #[tokio::test]
    async fn unknown_hash_is_none_then_compatible_text_is_client() {
        let mut resp = responder();
        let reply = resp.respond(request(Some(hello([7; 16], None)), "appendBatch", 1)).await;
        let (hs, rest) = reply_handshake(&reply);
        assert_eq!(hs.matched, HandshakeMatch::None);
        assert_eq!(hs.server_hash, Some(protocol::md5()));
        assert!(rest.is_empty(), "the call is not executed");
        assert!(resp.handler.0.lock().unwrap().is_empty());

        let mut again = hello([7; 16], Some(protocol::text()));
        again.server_hash = [1; 16]; // a wrong guess of our hash
        let (hs, rest) = reply_handshake(&resp.respond(request(Some(again), "appendBatch", 1)).await);
        assert_eq!(hs.matched, HandshakeMatch::Client);
        assert_eq!(rest, [0, 0, 2]);
        // The hash is now known server-wide.
        let mut other = Responder::new(resp.handler.clone(), resp.known.clone(), resp.stats.clone(), 10);
        let (hs, _) = reply_handshake(&other.respond(request(Some(hello([7; 16], None)), "appendBatch", 1)).await);
        assert_eq!(hs.matched, HandshakeMatch::Both);
    }

    #[tokio::test]
    async fn foreign_protocol_gets_an_error_and_a_close() {
        let mut resp = responder();
        let foreign = r#"{"protocol":"Mail","messages":{"send":{"request":[],"response":"null"}}}"#;
        let reply = resp.respond(request(Some(hello([3; 16], Some(foreign))), "send", 0)).await;
        assert!(matches!(reply, Reply::SendAndClose(..)));
        let (hs, rest) = reply_handshake(&reply);
        assert_eq!(hs.matched, HandshakeMatch::Client);
        let result = call::read_response(&mut Reader::new(&rest)).unwrap();
        assert!(result.unwrap_err().contains("send"));
        assert_eq!(resp.stats.snapshot().protocols_rejected, 1);
    }

    #[tokio::test]
    async fn oversized_batches_unknown_messages_pings_and_garbage() {
        let mut resp = responder();
        let reply = resp.respond(request(Some(hello(protocol::md5(), None)), "appendBatch", 11)).await;
        let (_, rest) = reply_handshake(&reply);
        assert!(matches!(reply, Reply::SendAndClose(..)));
        assert!(call::read_response(&mut Reader::new(&rest)).unwrap().unwrap_err().contains("max_batch_events"));

        let mut resp = responder();
        let reply = resp.respond(request(Some(hello(protocol::md5(), None)), "", 0)).await;
        let (hs, rest) = reply_handshake(&reply);
        assert_eq!((hs.matched, rest.len()), (HandshakeMatch::Both, 0));
        assert!(matches!(resp.respond(request(None, "delete", 0)).await, Reply::SendAndClose(..)));

        let mut resp = responder();
        assert!(matches!(resp.respond(Bytes::from_static(b"\x01\x02")).await, Reply::Close(_)));
        let mut body = Vec::new();
        hello(protocol::md5(), None).encode(&mut body);
        call::encode_request_header("append", &mut body);
        avro::put_long(&mut body, 5); // a map block of 5 entries with nothing after it
        assert!(matches!(resp.respond(Bytes::from(body)).await, Reply::Close(_)));
        assert_eq!(resp.stats.snapshot().frames_rejected, 2);
    }
}
