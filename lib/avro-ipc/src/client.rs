//! [`FlumeClient`]: the sending side, what Flume's Avro sink does with
//! `NettyAvroRpcClient`.
//!
//! One client is one TCP connection with one call in flight at a time. The
//! first call carries the handshake; after `BOTH`/`CLIENT` later calls do not
//! (exactly like Java's `Requestor` over `NettyTransceiver`, which Java's
//! `NettyServer` relies on). If the server answers `NONE`, the same call is
//! sent again with our protocol text, within the same request timeout.
//!
//! Failure policy: any timeout, socket error or undecodable response leaves
//! the connection in an unknown state (a late response could be mistaken for
//! the next one), so the client refuses further calls with
//! [`ClientError::Unusable`]. Drop it and connect again with backoff; choosing
//! another receiver (failover, load balancing) is the agent's job.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::time::{timeout_at, Instant};

use crate::avro::{DecodeError, Reader};
use crate::call;
use crate::connection::{Connection, ConnectionError};
use crate::flume::{self, Status};
use crate::frame::{Frame, FrameError, FrameLimits};
use crate::handshake::{HandshakeMatch, HandshakeRequest, HandshakeResponse, Md5Hash};
use crate::protocol;
use crate::tls::{ClientTls, Stream};

/// How a client connects and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Limit on establishing the TCP connection (Flume's `connect-timeout`,
    /// 20 s by default).
    pub connect_timeout: Duration,
    /// Limit on one call, handshake included (Flume's `request-timeout`, 20 s).
    pub request_timeout: Duration,
    /// Compress the stream like Flume's `compression-type = deflate`; must
    /// match the server's setting.
    pub deflate: bool,
    /// Largest response frame accepted. Responses are tiny (a status, or a
    /// handshake with the server's protocol text); the limit stops a
    /// misbehaving peer from making the client buffer without bound.
    pub max_response_bytes: usize,
    /// Speak TLS (Flume's `ssl = true`), checking the server's certificate;
    /// `None` is plain TCP. Must match the server's setting.
    pub tls: Option<ClientTls>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(20),
            deflate: false,
            max_response_bytes: 1 << 20,
            tls: None,
        }
    }
}

/// Why a call (or connecting) failed. Every variant names the peer.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The TCP connection could not be established.
    #[error("cannot connect to the Flume Avro source at {peer}: {source}; check that it is running and reachable, then retry with backoff")]
    Connect {
        /// Address as given.
        peer: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// Connecting took longer than [`ClientOptions::connect_timeout`].
    #[error("connecting to the Flume Avro source at {peer} timed out after {after:?}; retry with backoff or raise connect_timeout")]
    ConnectTimeout {
        /// Address as given.
        peer: String,
        /// The limit.
        after: Duration,
    },
    /// No complete response within [`ClientOptions::request_timeout`]. The
    /// batch may or may not have been taken: resend it on a new connection
    /// (receivers must tolerate duplicates, as with Flume).
    #[error("no response from {peer} within {after:?}; drop this client, reconnect and resend the batch")]
    Timeout {
        /// The server.
        peer: SocketAddr,
        /// The limit.
        after: Duration,
    },
    /// Reading or writing the socket failed.
    #[error("connection to {peer} failed: {source}; drop this client, reconnect and resend the batch")]
    Io {
        /// The server.
        peer: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The server closed the connection before answering.
    #[error("{peer} closed the connection before answering; drop this client, reconnect and resend the batch")]
    Closed {
        /// The server.
        peer: SocketAddr,
    },
    /// The request could not be framed (a batch over 2 GiB) or the response
    /// broke the framing rules or [`ClientOptions::max_response_bytes`].
    #[error("bad frame exchanged with {peer}: {source}")]
    Frame {
        /// The server.
        peer: SocketAddr,
        /// What was wrong.
        source: FrameError,
    },
    /// The response is not valid Avro IPC.
    #[error("malformed response from {peer}: {detail}; is it a Flume Avro source (and does compression-type match)?")]
    Protocol {
        /// The server.
        peer: SocketAddr,
        /// What was wrong.
        detail: String,
    },
    /// The TLS handshake failed (see [`ClientOptions::tls`]).
    #[error("TLS handshake with {peer} failed: {source}; check that the server has TLS on, that its certificate is issued for {server_name:?} and signed by a CA in the configured file")]
    Tls {
        /// The server.
        peer: SocketAddr,
        /// The name its certificate must carry.
        server_name: String,
        /// What rustls reported.
        source: std::io::Error,
    },
    /// The Avro IPC handshake did not complete.
    #[error("handshake with {peer} failed: {detail}")]
    Handshake {
        /// The server.
        peer: SocketAddr,
        /// What happened.
        detail: String,
    },
    /// The server's protocol is not Flume's `AvroSourceProtocol`.
    #[error("{peer} does not speak Flume's AvroSourceProtocol: {reason}; point the sink at a Flume Avro source")]
    IncompatibleServer {
        /// The server.
        peer: SocketAddr,
        /// The first mismatch found.
        reason: String,
    },
    /// The server answered with an error instead of a status.
    #[error("{peer} reported an error: {message}")]
    Remote {
        /// The server.
        peer: SocketAddr,
        /// The server's error text.
        message: String,
    },
    /// A previous call on this client failed or was cancelled.
    #[error("the connection to {peer} is unusable after an earlier failure; drop this client and reconnect")]
    Unusable {
        /// The server.
        peer: SocketAddr,
    },
}

impl ClientError {
    /// Whether the connection can still be used after this error. Only a
    /// server-reported error leaves the exchange in a known state.
    pub fn connection_usable(&self) -> bool {
        matches!(self, ClientError::Remote { .. })
    }
}

/// Largest call sent together with the handshake; a larger first call is
/// preceded by a ping, since servers give unknown peers a small first frame.
const INLINE_HANDSHAKE_BYTES: usize = 64 * 1024;

/// Where the handshake stands on this connection.
#[derive(Debug, Clone, Copy)]
enum Handshake {
    /// Requests still carry a handshake.
    Pending {
        /// Include our protocol text (after a `NONE`).
        send_protocol: bool,
        /// Our guess of the server's hash (ours, until told otherwise).
        server_hash: Md5Hash,
    },
    /// The server knows our protocol; requests carry no handshake.
    Established,
}

/// A connection to one Flume Avro source (or anything speaking its protocol).
pub struct FlumeClient {
    conn: Connection,
    peer: SocketAddr,
    options: ClientOptions,
    handshake: Handshake,
    next_serial: i32,
    /// Set while a call is in flight, and left set when it fails or is
    /// cancelled: the stream is then out of step.
    poisoned: bool,
    /// The call body (header and parameters), kept for a resend after `NONE`.
    body: Vec<u8>,
}

impl fmt::Debug for FlumeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlumeClient").field("peer", &self.peer).field("handshake", &self.handshake).field("poisoned", &self.poisoned).finish()
    }
}

impl FlumeClient {
    /// Connects to `addr` (no data is exchanged until the first call).
    pub async fn connect<A: ToSocketAddrs + fmt::Display>(addr: A, options: ClientOptions) -> Result<Self, ClientError> {
        let name = addr.to_string();
        let deadline = Instant::now() + options.connect_timeout;
        let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(ClientError::ConnectTimeout { peer: name, after: options.connect_timeout }),
            Ok(Err(source)) => return Err(ClientError::Connect { peer: name, source }),
            Ok(Ok(stream)) => stream,
        };
        // Netty's transceiver sets TCP_NODELAY too: calls are request/response.
        stream.set_nodelay(true).map_err(|source| ClientError::Connect { peer: name.clone(), source })?;
        let peer = stream.peer_addr().map_err(|source| ClientError::Connect { peer: name.clone(), source })?;
        let stream = match &options.tls {
            None => Stream::Plain(stream),
            Some(tls) => match timeout_at(deadline, tls.connect(stream)).await {
                Err(_) => return Err(ClientError::ConnectTimeout { peer: name, after: options.connect_timeout }),
                Ok(Err(source)) => return Err(ClientError::Tls { peer, server_name: tls.server_name(), source }),
                Ok(Ok(stream)) => stream,
            },
        };
        let limits = FrameLimits { max_frame_bytes: options.max_response_bytes, max_buffers: FrameLimits::default().max_buffers };
        Ok(FlumeClient {
            conn: Connection::new(stream, limits, options.deflate),
            peer,
            handshake: Handshake::Pending { send_protocol: false, server_hash: protocol::md5() },
            options,
            next_serial: 0,
            poisoned: false,
            body: Vec::new(),
        })
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the handshake has completed on this connection.
    pub fn is_established(&self) -> bool {
        matches!(self.handshake, Handshake::Established)
    }

    /// Sends `appendBatch` with events already in Avro binary form (each the
    /// output of [`flume::encode_event`]); they are written as-is.
    pub async fn append_batch_encoded<E: AsRef<[u8]>>(&mut self, events: &[E]) -> Result<Status, ClientError> {
        self.call(protocol::APPEND_BATCH, |out| flume::encode_append_batch(events, out)).await
    }

    /// Sends `append` with one event given by its parts.
    pub async fn append(&mut self, headers: &[(&str, &str)], body: &[u8]) -> Result<Status, ClientError> {
        self.call(protocol::APPEND, |out| flume::encode_event(headers, body, out)).await
    }

    /// Sends `append` with one already-encoded event.
    pub async fn append_encoded(&mut self, event: &[u8]) -> Result<Status, ClientError> {
        self.call(protocol::APPEND, |out| out.extend_from_slice(event)).await
    }

    async fn call(&mut self, message: &str, write_params: impl FnOnce(&mut Vec<u8>)) -> Result<Status, ClientError> {
        if self.poisoned {
            return Err(ClientError::Unusable { peer: self.peer });
        }
        self.poisoned = true;
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        call::encode_request_header(message, &mut body);
        write_params(&mut body);
        let deadline = Instant::now() + self.options.request_timeout;
        let exchange = async {
            // Servers limit an unknown peer's first frame (our fan-out agent's
            // max_first_frame_bytes): a large first call waits for a ping.
            if body.len() > INLINE_HANDSHAKE_BYTES && matches!(self.handshake, Handshake::Pending { .. }) {
                self.shake_hands().await?;
            }
            self.exchange(&body).await
        };
        let result = match timeout_at(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout { peer: self.peer, after: self.options.request_timeout }),
        };
        if body.capacity() <= 4 << 20 {
            self.body = body;
        }
        if result.is_ok() || result.as_ref().is_err_and(ClientError::connection_usable) {
            self.poisoned = false;
        }
        result
    }

    /// Completes the handshake with an empty call (Avro's ping): at most two
    /// round trips (the second after a `NONE`).
    async fn shake_hands(&mut self) -> Result<(), ClientError> {
        let mut ping = Vec::new();
        call::encode_request_header("", &mut ping);
        while let Some(sent) = self.handshake_request() {
            let frame = self.round_trip(Some(&sent), &ping).await?;
            let response = HandshakeResponse::decode(&mut Reader::new(&frame.payload)).map_err(|e| self.decode_error("handshake response", e))?;
            self.accept_handshake(&sent, &response)?;
        }
        Ok(())
    }

    /// The handshake to send with the next request, while it is pending.
    fn handshake_request(&self) -> Option<HandshakeRequest> {
        match self.handshake {
            Handshake::Established => None,
            Handshake::Pending { send_protocol, server_hash } => Some(HandshakeRequest {
                client_hash: protocol::md5(),
                client_protocol: send_protocol.then(|| protocol::text().to_string()),
                server_hash,
                meta: None,
            }),
        }
    }

    /// Sends one request (`handshake`, if any, then `body`) under the next
    /// serial and reads its response, checking that the serials match.
    async fn round_trip(&mut self, handshake: Option<&HandshakeRequest>, body: &[u8]) -> Result<Frame, ClientError> {
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        self.conn
            .write_frame(serial, |out| {
                if let Some(h) = handshake {
                    h.encode(out);
                }
                out.extend_from_slice(body);
            })
            .await
            .map_err(|e| self.conn_error(e))?;
        let frame = match self.conn.read_frame().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return Err(ClientError::Closed { peer: self.peer }),
            Err(e) => return Err(self.conn_error(e)),
        };
        if frame.serial != serial {
            return Err(self.protocol_error(format!("response serial {} does not match request serial {serial}", frame.serial)));
        }
        Ok(frame)
    }

    /// One call: at most two round trips (the second after a `NONE`).
    async fn exchange(&mut self, body: &[u8]) -> Result<Status, ClientError> {
        loop {
            let handshake = self.handshake_request();
            let frame = self.round_trip(handshake.as_ref(), body).await?;
            let mut r = Reader::new(&frame.payload);
            if let Some(sent) = &handshake {
                let response = HandshakeResponse::decode(&mut r).map_err(|e| self.decode_error("handshake response", e))?;
                if !self.accept_handshake(sent, &response)? {
                    continue; // NONE: send the same call again, with our protocol
                }
            }
            return match call::read_response(&mut r).map_err(|e| self.decode_error("call response", e))? {
                Ok(()) => Status::decode(&mut r).map_err(|e| self.decode_error("status", e)),
                Err(message) => Err(ClientError::Remote { peer: self.peer, message }),
            };
        }
    }

    /// Applies a handshake response; `Ok(false)` means resend the call.
    fn accept_handshake(&mut self, sent: &HandshakeRequest, response: &HandshakeResponse) -> Result<bool, ClientError> {
        if let Some(text) = &response.server_protocol {
            protocol::check_compatible(text).map_err(|reason| ClientError::IncompatibleServer { peer: self.peer, reason })?;
        }
        match response.matched {
            HandshakeMatch::Both | HandshakeMatch::Client => {
                tracing::debug!(peer = %self.peer, matched = ?response.matched, "Avro IPC handshake complete");
                self.handshake = Handshake::Established;
                Ok(true)
            }
            HandshakeMatch::None if sent.client_protocol.is_some() => {
                Err(ClientError::Handshake { peer: self.peer, detail: "the server answered NONE although our protocol text was sent".to_string() })
            }
            HandshakeMatch::None => {
                let server_hash = response.server_hash.ok_or_else(|| ClientError::Handshake {
                    peer: self.peer,
                    detail: "the server answered NONE without its protocol hash".to_string(),
                })?;
                tracing::debug!(peer = %self.peer, server_hash = %protocol::hex(&server_hash), "server does not know our protocol hash; resending with the protocol text");
                self.handshake = Handshake::Pending { send_protocol: true, server_hash };
                Ok(false)
            }
        }
    }

    fn conn_error(&self, e: ConnectionError) -> ClientError {
        match e {
            ConnectionError::Io(source) => ClientError::Io { peer: self.peer, source },
            ConnectionError::Frame { source, .. } => ClientError::Frame { peer: self.peer, source },
            ConnectionError::ClosedMidFrame { .. } => ClientError::Closed { peer: self.peer },
            // Only servers set a frame timeout.
            ConnectionError::TooSlow { .. } => ClientError::Closed { peer: self.peer },
        }
    }

    fn decode_error(&self, what: &str, e: DecodeError) -> ClientError {
        self.protocol_error(format!("cannot decode the {what}: {e}"))
    }

    fn protocol_error(&self, detail: String) -> ClientError {
        ClientError::Protocol { peer: self.peer, detail }
    }
}
