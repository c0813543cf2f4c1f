//! Sinks: each drains its own channel into one destination. Every sink has
//! the same shape (a folder with `config.rs` and `sink.rs`) and implements
//! [`BatchSink`]; the shared [`driver`] does the channel work around it:
//! take a batch, hand it to the sink, commit only when the sink says the
//! batch is durable, otherwise roll back and retry with backoff.

pub mod driver;
pub mod hdfs;
pub mod kafka;

use std::future::Future;

/// Why a sink could not write a batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying the same batch later (service down, timeout, full queue).
    #[error("{0}")]
    Retryable(String),
    /// A bad event that will never be writable (it is logged and skipped).
    #[error("{0}")]
    Permanent(String),
}

/// One destination for batches of Flume events (Avro-encoded
/// `AvroFlumeEvent`s whose body is a `ClickEvent` datum).
pub trait BatchSink: Send + 'static {
    /// A short name for logs and metric labels (`kafka`, `hdfs`).
    fn name(&self) -> &'static str;

    /// Writes the batch durably. `Ok` means every event is acknowledged by the
    /// destination (Kafka delivery reports, HDFS hsync): the driver then
    /// commits the batch out of the channel.
    fn write_batch(&mut self, events: &[Vec<u8>]) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Called about once a second, also when idle: time-based work such as
    /// rolling idle files.
    fn tick(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        async { Ok(()) }
    }

    /// Flushes and closes everything on shutdown.
    fn shutdown(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        async { Ok(()) }
    }
}
