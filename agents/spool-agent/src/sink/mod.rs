//! The Avro sink: takes batches from the channel and delivers them to a
//! fan-out agent over Flume's Avro RPC. A batch leaves the channel only after
//! a receiver answered OK; otherwise it is rolled back and retried on the
//! same or another receiver, with exponential backoff per receiver.

mod forwarder;
mod receivers;

pub use forwarder::{Forwarder, SendError};
pub use receivers::{ReceiverHealth, Receivers};
