//! The receiving side, what Flume's Avro source does with Avro's
//! `NettyServer`: [`serve`] accepts connections and hands every `append` and
//! `appendBatch` to a [`BatchHandler`].
//!
//! Shape (after mini-redis): the accept loop runs in `select!` against the
//! shutdown future; every connection is a task in a `JoinSet`; a watch channel
//! tells connections to stop; after shutdown `serve` waits for them, so when it
//! returns no handler call is still running. A connection finishes the call it
//! is answering before it stops.
//!
//! Isolation: whatever one peer sends (garbage, a hostile frame header, a
//! foreign protocol, a batch over the limit) ends only that connection, with a
//! `tracing` warning naming the peer, and a counter in [`ServerStats`].
//!
//! Connection cap: when `max_connections` are open a new connection is
//! accepted and closed at once (and counted), rather than left waiting in the
//! kernel backlog: the sender sees the failure immediately and can back off or
//! fail over, instead of waiting for its request timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::connection::{Connection, ConnectionError};
use crate::flume::{ReceivedEvent, Status};
use crate::frame::FrameLimits;
use crate::responder::{KnownClients, Reply, Responder};
use crate::stats::ServerStats;
use crate::tls::{ServerTls, Stream};

/// Receives the events of each `appendBatch` (and of each `append`, as a batch
/// of one) and decides the status returned to the sender.
///
/// Return [`Status::Ok`] only once the events are safe (committed to the
/// channel): the sender then forgets them. [`Status::Failed`] makes the sender
/// retry the same batch later. Calls on one connection are sequential; calls
/// from different connections run concurrently.
pub trait BatchHandler: Send + Sync + 'static {
    /// Handles one batch (never empty).
    fn on_batch(&self, events: Vec<ReceivedEvent>) -> impl Future<Output = Status> + Send;
}

/// How the server takes connections: the limits that keep its memory and
/// sockets bounded, compression, who may connect, and TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest request frame, in bytes on the wire (after inflating, with
    /// deflate). Each connection may buffer up to this much, so the server's
    /// worst-case buffer memory is about `max_frame_bytes * max_connections`.
    pub max_frame_bytes: usize,
    /// Most buffers one frame may declare (Java sends 8 KiB buffers).
    pub max_buffers_per_frame: usize,
    /// Most events in one `appendBatch`; a larger batch gets an error reply
    /// and its connection is closed.
    pub max_batch_events: usize,
    /// Most connections served at once; more are closed on arrival.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (Flume's sinks
    /// reconnect on their next batch).
    pub idle_timeout: Duration,
    /// Expect and send a deflate stream (Flume's `compression-type = deflate`);
    /// must match the senders.
    pub deflate: bool,
    /// Client addresses allowed to connect (Flume's `ipFilter`); empty allows
    /// every client. Others are closed on arrival and counted as refused.
    pub allow: Vec<std::net::IpAddr>,
    /// Serve TLS with this certificate (Flume's `ssl = true`); `None` serves
    /// plain TCP. A client that fails the TLS handshake (a plain-TCP sender,
    /// an unknown CA) is closed and counted, like a bad frame.
    pub tls: Option<ServerTls>,
}

impl Default for ServerLimits {
    /// 16 MiB frames, 10 000-event batches (a Flume file channel's default
    /// transaction capacity), 1024 connections, 5 minutes idle, no deflate.
    fn default() -> Self {
        let frame = FrameLimits::default();
        ServerLimits {
            max_frame_bytes: frame.max_frame_bytes,
            max_buffers_per_frame: frame.max_buffers,
            max_batch_events: 10_000,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            deflate: false,
            allow: Vec::new(),
            tls: None,
        }
    }
}

/// Serves Flume Avro RPC on `listener` until `shutdown` completes, then waits
/// for open connections to finish their current call.
pub async fn serve<H: BatchHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: ServerLimits,
    shutdown: impl Future,
) {
    serve_with_stats(listener, handler, limits, Arc::new(ServerStats::default()), shutdown).await
}

/// [`serve`], updating counters the caller can read and export.
pub async fn serve_with_stats<H: BatchHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: ServerLimits,
    stats: Arc<ServerStats>,
    shutdown: impl Future,
) {
    let local = listener.local_addr().ok();
    info!(addr = ?local, deflate = limits.deflate, tls = limits.tls.is_some(), "Flume Avro RPC server listening");
    let shared = Arc::new(Shared { handler, limits, stats, known: Arc::default() });
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut accept_backoff = Duration::from_millis(10);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            // Reap finished connection tasks as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    accept_backoff = Duration::from_millis(10);
                    ServerStats::add(&shared.stats.connections_accepted, 1);
                    if !shared.limits.allow.is_empty() && !shared.limits.allow.contains(&peer.ip()) {
                        ServerStats::add(&shared.stats.connections_refused, 1);
                        warn!(%peer, "refusing connection: client address not in the allow list");
                        drop(socket);
                        continue;
                    }
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            connections.spawn(run_connection(socket, peer, shared.clone(), stop_rx.clone(), permit));
                        }
                        Err(_) => {
                            ServerStats::add(&shared.stats.connections_refused, 1);
                            warn!(%peer, limit = shared.limits.max_connections, "refusing connection: max_connections reached; raise the limit or add receivers");
                            drop(socket);
                        }
                    }
                }
                Err(e) => {
                    // Usually descriptor exhaustion: wait, then try again.
                    warn!(error = %e, retry_in = ?accept_backoff, "accepting a connection failed");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(accept_backoff) => {}
                    }
                    accept_backoff = (accept_backoff * 2).min(Duration::from_secs(1));
                }
            },
        }
    }
    drop(listener);
    info!(addr = ?local, open = connections.len(), "Flume Avro RPC server stopping");
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// Longest TLS handshake a connection gets (or `idle_timeout`, if shorter).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection task shares.
struct Shared<H> {
    handler: Arc<H>,
    limits: ServerLimits,
    stats: Arc<ServerStats>,
    known: Arc<KnownClients>,
}

/// Holds a connection's slot and keeps the open-connections gauge right
/// however the task ends. The slot is released before the gauge drops, so a
/// gauge below the limit always means a new connection will be served.
struct OpenGuard {
    stats: Arc<ServerStats>,
    slot: Option<OwnedSemaphorePermit>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        drop(self.slot.take());
        ServerStats::sub(&self.stats.connections_open, 1);
    }
}

async fn run_connection<H: BatchHandler>(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<H>>,
    mut stop: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) {
    ServerStats::add(&shared.stats.connections_open, 1);
    let _open = OpenGuard { stats: shared.stats.clone(), slot: Some(slot) };
    let _ = socket.set_nodelay(true);
    let limits = &shared.limits;
    let stream = match &limits.tls {
        None => Stream::Plain(socket),
        Some(tls) => {
            let limit = limits.idle_timeout.min(TLS_HANDSHAKE_TIMEOUT);
            let accepted = tokio::select! {
                _ = stop.changed() => return,
                accepted = tokio::time::timeout(limit, tls.accept(socket)) => accepted,
            };
            match accepted {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    ServerStats::add(&shared.stats.tls_handshakes_failed, 1);
                    warn!(%peer, error = %e, "closing connection: TLS handshake failed (a plain-TCP sender, or one that does not trust this certificate?)");
                    return;
                }
                Err(_) => {
                    ServerStats::add(&shared.stats.tls_handshakes_failed, 1);
                    warn!(%peer, "closing connection: no TLS handshake within {limit:?}");
                    return;
                }
            }
        }
    };
    let frame_limits =
        FrameLimits { max_frame_bytes: limits.max_frame_bytes, max_buffers: limits.max_buffers_per_frame };
    let mut conn = Connection::new(stream, frame_limits, limits.deflate);
    let mut responder =
        Responder::new(shared.handler.clone(), shared.known.clone(), shared.stats.clone(), limits.max_batch_events);
    debug!(%peer, "connection opened");
    loop {
        let read = tokio::select! {
            _ = stop.changed() => {
                debug!(%peer, "closing connection: server shutting down");
                break;
            }
            read = tokio::time::timeout(limits.idle_timeout, conn.read_frame()) => read,
        };
        let frame = match read {
            Err(_) => {
                ServerStats::add(&shared.stats.connections_idle_closed, 1);
                info!(%peer, idle = ?limits.idle_timeout, "closing idle connection");
                break;
            }
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) => {
                debug!(%peer, "peer closed the connection");
                break;
            }
            Ok(Err(ConnectionError::Io(e))) => {
                debug!(%peer, error = %e, "connection lost");
                break;
            }
            Ok(Err(e)) => {
                ServerStats::add(&shared.stats.frames_rejected, 1);
                warn!(%peer, reason = %e, "closing connection after a bad frame");
                break;
            }
        };
        let (payload, close_reason) = match responder.respond(frame.payload).await {
            Reply::Send(payload) => (payload, None),
            Reply::SendAndClose(payload, reason) => (payload, Some(reason)),
            Reply::Close(reason) => {
                warn!(%peer, %reason, "closing connection");
                break;
            }
        };
        if let Err(e) = conn.write_frame(frame.serial, |out| out.extend_from_slice(&payload)).await {
            debug!(%peer, error = %e, "could not send the response");
            break;
        }
        if let Some(reason) = close_reason {
            warn!(%peer, %reason, "closing connection after an error reply");
            break;
        }
    }
    conn.shutdown().await;
}
