//! [`ServerStats`]: counters a server keeps so the agent can export them as
//! metrics. Plain atomics, updated with relaxed ordering: they are for
//! dashboards and tests, not for synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one server (share it with `Arc` and read it any time).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections currently open (a gauge).
    pub connections_open: AtomicU64,
    /// Connections accepted since start.
    pub connections_accepted: AtomicU64,
    /// Connections closed at once: `max_connections` were open, or the
    /// client address is not in the allow list.
    pub connections_refused: AtomicU64,
    /// Connections closed for being idle longer than `idle_timeout`.
    pub connections_idle_closed: AtomicU64,
    /// Connections closed at once because their client address already had
    /// `max_connections_per_address` open (not in `connections_refused`).
    pub connections_refused_per_address: AtomicU64,
    /// Connections closed for being too slow: no handshake (first frame)
    /// within `handshake_timeout`, or a frame not finished within `frame_timeout`.
    pub connections_slow_closed: AtomicU64,
    /// Times a connection waited for room in the `max_buffered_bytes`
    /// budget before reading more (backpressure on every sender).
    pub buffer_waits: AtomicU64,
    /// Bytes of frames buffered by all connections (a gauge).
    pub buffered_bytes: AtomicU64,
    /// TLS handshakes that failed or did not finish in time (TLS on only).
    pub tls_handshakes_failed: AtomicU64,
    /// Frames that closed their connection: broken framing, limits exceeded,
    /// undecodable payloads, oversized batches.
    pub frames_rejected: AtomicU64,
    /// Handshakes that named a protocol other than Flume's.
    pub protocols_rejected: AtomicU64,
    /// Handshakes answered `BOTH`.
    pub handshakes_both: AtomicU64,
    /// Handshakes answered `CLIENT`.
    pub handshakes_client: AtomicU64,
    /// Handshakes answered `NONE` (the client then resends with its protocol).
    pub handshakes_none: AtomicU64,
    /// `append`/`appendBatch` calls handed to the handler.
    pub batches: AtomicU64,
    /// Events in those calls.
    pub events: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // Same fields as `ServerStats`.
pub struct StatsSnapshot {
    pub connections_open: u64,
    pub connections_accepted: u64,
    pub connections_refused: u64,
    pub connections_idle_closed: u64,
    pub connections_refused_per_address: u64,
    pub connections_slow_closed: u64,
    pub buffer_waits: u64,
    pub buffered_bytes: u64,
    pub tls_handshakes_failed: u64,
    pub frames_rejected: u64,
    pub protocols_rejected: u64,
    pub handshakes_both: u64,
    pub handshakes_client: u64,
    pub handshakes_none: u64,
    pub batches: u64,
    pub events: u64,
}

impl ServerStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_open: get(&self.connections_open),
            connections_accepted: get(&self.connections_accepted),
            connections_refused: get(&self.connections_refused),
            connections_idle_closed: get(&self.connections_idle_closed),
            connections_refused_per_address: get(&self.connections_refused_per_address),
            connections_slow_closed: get(&self.connections_slow_closed),
            buffer_waits: get(&self.buffer_waits),
            buffered_bytes: get(&self.buffered_bytes),
            tls_handshakes_failed: get(&self.tls_handshakes_failed),
            frames_rejected: get(&self.frames_rejected),
            protocols_rejected: get(&self.protocols_rejected),
            handshakes_both: get(&self.handshakes_both),
            handshakes_client: get(&self.handshakes_client),
            handshakes_none: get(&self.handshakes_none),
            batches: get(&self.batches),
            events: get(&self.events),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }
}
