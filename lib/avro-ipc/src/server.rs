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
//!
//! Admission before trust: a peer is unknown until its first frame (the Avro
//! handshake, with the first call) has arrived. Until then it gets a small
//! frame limit (`max_first_frame_bytes`) and a deadline
//! (`handshake_timeout`); every begun frame must finish within
//! `frame_timeout`; one client address may hold at most
//! `max_connections_per_address` connections; and all connections together
//! buffer at most `max_buffered_bytes` (a connection waits for room before
//! reading more). So idle, slow or hostile peers can neither exhaust memory
//! nor hold every connection slot for long.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::connection::{Budget, Connection, ConnectionError};
use crate::frame::FrameLimits;
use crate::responder::{KnownClients, Reply, Responder};
use crate::stats::ServerStats;
use crate::tls::{ServerTls, Stream};

// Defined with the responder, its only caller; named here too, next to
// `serve`, because the agents import it from this path.
pub use crate::responder::BatchHandler;

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
    /// Largest frame before the handshake has completed (the first frame
    /// carries the handshake and the first call, so a sender's first batch
    /// must fit); at most `max_frame_bytes`.
    pub max_first_frame_bytes: usize,
    /// Bytes all connections together may buffer; at least `max_frame_bytes`.
    pub max_buffered_bytes: usize,
    /// Longest wait for a connection's first frame (and its TLS handshake).
    pub handshake_timeout: Duration,
    /// Longest a begun frame may take to arrive in full.
    pub frame_timeout: Duration,
    /// Most connections open at once from one client address (0: no limit).
    pub max_connections_per_address: usize,
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
            max_first_frame_bytes: 4 << 20,
            max_buffered_bytes: 256 << 20,
            handshake_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(60),
            max_connections_per_address: 64,
        }
    }
}

/// Serves Flume Avro RPC on `listener` until `shutdown` completes, then waits
/// for open connections to finish their current call.
pub async fn serve<H: BatchHandler>(listener: TcpListener, handler: Arc<H>, limits: ServerLimits, shutdown: impl Future) {
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
    // Room for at least one whole frame, or a frame could never be read.
    let budget = limits.max_buffered_bytes.max(limits.max_frame_bytes + 64 * 1024);
    let shared =
        Arc::new(Shared { handler, limits, stats, known: Arc::default(), budget: Arc::new(Semaphore::new(budget)), per_address: Arc::default() });
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
                    let Some(address_slot) = AddressSlot::take(&shared, peer.ip()) else {
                        ServerStats::add(&shared.stats.connections_refused_per_address, 1);
                        warn!(%peer, limit = shared.limits.max_connections_per_address, "refusing connection: this client address has max_connections_per_address open");
                        drop(socket);
                        continue;
                    };
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            connections.spawn(run_connection(socket, peer, shared.clone(), stop_rx.clone(), (permit, address_slot)));
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

/// What every connection task shares.
struct Shared<H> {
    handler: Arc<H>,
    limits: ServerLimits,
    stats: Arc<ServerStats>,
    known: Arc<KnownClients>,
    /// `max_buffered_bytes`, as permits of one byte.
    budget: Arc<Semaphore>,
    /// Open connections per client address.
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One of a client address's `max_connections_per_address`, given back on drop.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl AddressSlot {
    fn take<H>(shared: &Shared<H>, ip: IpAddr) -> Option<AddressSlot> {
        let mut counts = shared.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_default();
        let limit = shared.limits.max_connections_per_address;
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot { counts: shared.per_address.clone(), ip })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Holds a connection's slot and keeps the open-connections gauge right
/// however the task ends. The slot is released before the gauge drops, so a
/// gauge below the limit always means a new connection will be served.
struct OpenGuard {
    stats: Arc<ServerStats>,
    slot: Option<(OwnedSemaphorePermit, AddressSlot)>,
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
    slot: (OwnedSemaphorePermit, AddressSlot),
) {
    ServerStats::add(&shared.stats.connections_open, 1);
    let _open = OpenGuard { stats: shared.stats.clone(), slot: Some(slot) };
    let _ = socket.set_nodelay(true);
    let limits = &shared.limits;
    let stream = match &limits.tls {
        None => Stream::Plain(socket),
        Some(tls) => {
            let limit = limits.idle_timeout.min(limits.handshake_timeout);
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
    let first_frame = limits.max_first_frame_bytes.min(limits.max_frame_bytes);
    let frame_limits = FrameLimits { max_frame_bytes: first_frame, max_buffers: limits.max_buffers_per_frame };
    let budget = Budget::new(shared.budget.clone(), shared.stats.clone());
    let mut conn = Connection::new(stream, frame_limits, limits.deflate).guarded(budget, limits.frame_timeout);
    let mut trusted = false;
    let mut responder = Responder::new(shared.handler.clone(), shared.known.clone(), shared.stats.clone(), limits.max_batch_events);
    debug!(%peer, "connection opened");
    loop {
        let read = tokio::select! {
            _ = stop.changed() => {
                debug!(%peer, "closing connection: server shutting down");
                break;
            }
            read = tokio::time::timeout(if trusted { limits.idle_timeout } else { limits.handshake_timeout.min(limits.idle_timeout) }, conn.read_frame()) => read,
        };
        let frame = match read {
            Err(_) if !trusted => {
                ServerStats::add(&shared.stats.connections_slow_closed, 1);
                warn!(%peer, limit = ?limits.handshake_timeout, "closing connection: no handshake within handshake_timeout");
                break;
            }
            Err(_) => {
                ServerStats::add(&shared.stats.connections_idle_closed, 1);
                info!(%peer, idle = ?limits.idle_timeout, "closing idle connection");
                break;
            }
            Ok(Err(e @ ConnectionError::TooSlow { .. })) => {
                ServerStats::add(&shared.stats.connections_slow_closed, 1);
                warn!(%peer, reason = %e, "closing connection");
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
        let answered = responder.respond(frame.payload).await;
        if !trusted && responder.established() {
            trusted = true;
            conn.set_max_frame_bytes(limits.max_frame_bytes);
        }
        let (payload, close_reason) = match answered {
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
        // The frame has been answered and dropped: its bytes go back to the budget.
        conn.release_buffers();
        if let Some(reason) = close_reason {
            warn!(%peer, %reason, "closing connection after an error reply");
            break;
        }
    }
    conn.shutdown().await;
}
