//! Apache Avro IPC exactly as Apache Flume uses it (Avro's Java
//! `NettyTransceiver` and `NettyServer`), client and server, on tokio.
//!
//! The spool agents forward events to the fan-out agent with it, and any real
//! Flume Avro sink or source can stand on the other side: the tests exchange
//! batches with Apache Avro 1.8.2's own Java classes in both directions.
//!
//! # Module map
//!
//! Bottom-up, each module one job:
//!
//! | module | job |
//! |---|---|
//! | [`avro`] | Avro binary primitives (zig-zag longs, strings, bytes, maps, unions, fixed); bounds-checked [`avro::Reader`] |
//! | [`frame`] | Netty framing: serial, buffer count, length-prefixed buffers; [`frame::check`] / [`frame::parse`] / [`frame::encode`] with hard limits |
//! | `deflate` | zlib stream matching Netty's `ZlibEncoder`/`ZlibDecoder` (Flume's `compression-type = deflate`) |
//! | [`tls`] | optional TLS (rustls): [`ServerTls`], [`ClientTls`] from PEM files; the plain-or-TLS stream |
//! | `connection` | frames over that stream: buffered `read_frame` / `write_frame` |
//! | [`protocol`] | Flume's `AvroSourceProtocol` text, its MD5, compatibility check of a peer's protocol |
//! | [`handshake`] | `HandshakeRequest` / `HandshakeResponse` records |
//! | [`call`] | call envelope: metadata, message name, error flag |
//! | [`flume`] | `AvroFlumeEvent`, `Status`, `append`/`appendBatch` parameters; [`encode_event`] |
//! | [`client`] | [`FlumeClient`]: connect, handshake on the first call, send batches |
//! | `responder` | server side of one connection: handshake state machine and dispatch to the [`BatchHandler`] (defined there) |
//! | [`server`] | [`serve`]: accept loop, connection cap, shutdown; re-exports [`BatchHandler`] |
//! | [`stats`] | [`ServerStats`] counters for metrics |
//!
//! # One call on the wire
//!
//! ```text
//! frame    = int32 serial | int32 n | n × (int32 len | bytes)      (big-endian)
//! request  = [HandshakeRequest]  map<bytes> meta | string name | params
//! response = [HandshakeResponse] map<bytes> meta | bool error | Status or error string
//! ```
//!
//! The handshake is present only until the connection is established (the
//! first call, or the first two after a `NONE`); see [`handshake`].
//!
//! # Performance contract
//!
//! Events travel encoded: [`encode_event`] produces one `AvroFlumeEvent`'s
//! bytes, agents store those, [`FlumeClient::append_batch_encoded`] sends
//! them without re-encoding, and the server gives its handler each event's
//! received bytes ([`ReceivedEvent::encoded`]) next to the decoded fields.
#![deny(missing_docs)]

pub mod avro;
pub mod call;
pub mod client;
mod connection;
mod deflate;
pub mod flume;
pub mod frame;
pub mod handshake;
pub mod protocol;
mod responder;
pub mod server;
pub mod stats;
#[cfg(feature = "test-pki")]
pub mod test_pki;
pub mod tls;

pub use client::{ClientError, ClientOptions, FlumeClient};
pub use flume::{decode_event, encode_event, EventRef, ReceivedEvent, Status};
pub use responder::BatchHandler;
pub use server::{serve, serve_with_stats, ServerLimits};
pub use stats::{ServerStats, StatsSnapshot};
pub use tls::{ClientTls, ServerTls, TlsError};
