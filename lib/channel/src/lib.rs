//! Channels: the buffer between a source and a sink, with put/take transactions.
//!
//! A source [`Channel::put`]s a batch of events — opaque byte strings, for
//! the agents Avro-encoded Flume events — together with an optional source
//! position, as one transaction. A sink [`Channel::take`]s batches and, once
//! the next hop acknowledged them, [`Channel::commit`]s them; until then they
//! stay in the channel, and [`Channel::rollback`] hands them out again. That
//! is Flume's channel contract, and what makes every hop at-least-once.
//!
//! Two implementations:
//! - [`DurableChannel`]: a write-ahead log of checksummed records in segment
//!   files, fsynced per put, bounded by events and bytes, refusing writes
//!   below a free-disk floor. Survives `kill -9` at any point: committed puts
//!   (and their source positions) are recovered, acknowledged batches are not
//!   handed out again. The on-disk format is documented in [`wal`].
//! - [`MemoryChannel`]: the same contract in memory, for users who prefer
//!   speed to durability; its content is lost when the process dies.
//!
//! Both are blocking (`std::sync`): call them from a dedicated thread or
//! `spawn_blocking`, as the agents do — a put waits for an fsync.
#![deny(missing_docs)]

mod config;
mod durable;
mod error;
mod ledger;
mod memory;
pub mod wal;

use std::collections::HashMap;
use std::time::Duration;

pub use bytes::Bytes;

pub use config::{ChannelConfig, ChannelKind};
pub use durable::DurableChannel;
pub use error::{ChannelConfigError, ChannelError};
pub use memory::MemoryChannel;

/// Where a source stands in one of its inputs, committed with a put.
///
/// Opaque to the channel: the spool source uses the file fingerprint as key
/// and the byte offset after the batch's last line as value. An empty value
/// forgets the key (the input is finished).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Which input, e.g. a file fingerprint.
    pub key: String,
    /// How far, e.g. a byte offset; empty to forget the key.
    pub value: Vec<u8>,
}

/// A batch handed to a sink: events of one or more whole puts, in put order.
#[derive(Debug)]
pub struct Taken {
    /// Identifies the take for [`Channel::commit`].
    pub id: TakeId,
    /// The events, in the order they were put. Each put batch is read with
    /// one allocation and its events share it, so handing out a batch costs
    /// no allocation per event.
    pub events: Vec<Bytes>,
}

/// Identifies a take: the range of put sequence numbers it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeId {
    /// First put batch.
    pub first: u64,
    /// Last put batch (inclusive).
    pub last: u64,
}

/// Point-in-time figures for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Events put and not yet committed by the sink.
    pub events: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Put batches not yet committed.
    pub batches: u64,
    /// Events handed to the sink and not yet committed.
    pub in_flight_events: u64,
    /// Capacity in events.
    pub capacity_events: u64,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
}

/// The put/take contract shared by the durable and the memory channel.
pub trait Channel: Send + Sync {
    /// Appends `events` (and `position`) as one transaction. Waits up to
    /// `timeout` for room; then fails with [`ChannelError::Full`] so the
    /// caller can check for shutdown and try again.
    fn put(&self, events: &[&[u8]], position: Option<Position>, timeout: Duration) -> Result<(), ChannelError>;

    /// Takes whole put batches, oldest first, up to `max_events` events (at
    /// least one batch), waiting up to `timeout` for one. `None` when none came.
    fn take(&self, max_events: usize, timeout: Duration) -> Result<Option<Taken>, ChannelError>;

    /// The next hop acknowledged the take: its events leave the channel.
    fn commit(&self, id: TakeId) -> Result<(), ChannelError>;

    /// The next hop failed: everything taken and not committed is handed out
    /// again, oldest first.
    fn rollback(&self);

    /// The last committed position of every input that has one.
    fn positions(&self) -> HashMap<String, Vec<u8>>;

    /// Figures for metrics.
    fn stats(&self) -> ChannelStats;
}
