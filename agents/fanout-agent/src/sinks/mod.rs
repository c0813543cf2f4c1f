//! Sinks: each drains its own channel into one destination. Every sink has
//! the same shape (a folder with `config.rs` and `sink.rs`) and implements
//! [`BatchSink`]; the shared [`driver`] does the channel work around it:
//! take a batch, hand it to the sink, commit only when the sink says the
//! batch is durable, otherwise roll back and retry with backoff. A sink may
//! keep several batches in flight (see [`BatchSink`]).

pub mod driver;
pub mod hdfs;
pub mod health;
pub mod kafka;

use std::future::Future;
use std::time::Duration;

use rdkafka::error::KafkaError;

/// Why a sink could not write a batch: whether the driver tries the batch
/// again, and what failed ([`Failure`]). The message is the failure's.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying the same batch later (service down, timeout, full queue).
    #[error(transparent)]
    Retryable(Failure),
    /// A bad event that will never be writable (it is logged and skipped).
    #[error(transparent)]
    Permanent(Failure),
}

/// What failed, by sink: the operation, where, and the underlying error.
///
/// As with [`StartError`], the underlying error is part of the text (what
/// the driver logs and `/health` shows) and kept as a typed field to match
/// on, not offered as [`std::error::Error::source`]: `{:#}` would print it
/// twice.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// In the Kafka sink.
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaFailure),
    /// In the HDFS sink.
    #[error(transparent)]
    Hdfs(#[from] hdfs::HdfsFailure),
}

/// Why a sink could not be built ([`kafka::KafkaSink::create`],
/// [`hdfs::HdfsSink::open`]) or started ([`BatchSink::start`]). Each names
/// the destination (the brokers, the URL), which is what the operator must
/// check; the driver's log line adds what to do, `/health` shows the text.
///
/// The underlying error is part of the text and kept as a field to match on,
/// not offered as [`std::error::Error::source`]: `{:#}` would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// librdkafka would not build a client from the settings: the producer
    /// (`client` = "the Kafka producer") or the admin client that creates the
    /// topic ("a Kafka admin client"). A problem of the settings or of this
    /// build, not of the network.
    #[error("creating {client} for {brokers}: {cause}")]
    KafkaClient {
        /// Which client, as the message says it.
        client: &'static str,
        /// `sinks.kafka.brokers`.
        brokers: String,
        /// What librdkafka said (boxed: it is large, and the error is rare).
        cause: Box<KafkaError>,
    },
    /// No broker answered the request to create the topic in time: the
    /// brokers are down or unreachable from this host.
    #[error("no Kafka broker at {brokers} answered within {timeout:?} to create topic {topic}: {cause}")]
    KafkaUnreachable {
        /// `sinks.kafka.brokers`.
        brokers: String,
        /// `sinks.kafka.topic`.
        topic: String,
        /// How long the request could take.
        timeout: Duration,
        /// What librdkafka said (boxed: it is large, and the error is rare).
        cause: Box<KafkaError>,
    },
    /// The master copy's storage client could not be made (the HDFS client
    /// refused `sinks.hdfs.hdfs_config` or `HADOOP_CONF_DIR`); the message
    /// names the NameNode or name service.
    #[error("{message}")]
    Storage {
        /// `sinks.hdfs.url`, as written.
        url: String,
        /// What the storage said, naming the URL's authority.
        message: String,
    },
    /// Crash recovery could not run: the master copy's root could not be
    /// listed (NameNode or DataNodes down, permissions).
    #[error("crash recovery in {root}: {cause}")]
    Recovery {
        /// The directory recovery lists, as a URL (`hdfs://nn:8020/clickstream/master`).
        root: String,
        /// The failed storage call.
        cause: SinkError,
    },
}

/// One destination for batches of channel records: `ClickEvent` Avro
/// datums, the bodies of the Flume events received ([`crate::records`]).
///
/// A batch is handed over ([`BatchSink::send_batch`]) and acknowledged later
/// (its [`BatchSink::Ack`]). Sinks whose destination acknowledges
/// asynchronously (Kafka's delivery reports) return at once, so the driver can
/// hand over the next batches while the first are in flight. The HDFS sink
/// appends in `send_batch` and syncs in the background: its acknowledgement
/// resolves when the hsync is done, and the next batch is compressed
/// meanwhile.
pub trait BatchSink: Send + 'static {
    /// Resolves to `Ok` when every event of its batch is durable at the
    /// destination (Kafka delivery reports, HDFS hsync): the driver then
    /// commits the batch out of the channel.
    type Ack: Future<Output = Result<(), SinkError>> + Send + 'static;

    /// A short name for logs and metric labels (`kafka`, `hdfs`).
    fn name(&self) -> &'static str;

    /// Hands the batch to the destination.
    fn send_batch<E: AsRef<[u8]> + Sync>(&mut self, events: &[E]) -> impl Future<Output = Result<Self::Ack, SinkError>> + Send;

    /// Where the sink writes, for logs and `/health` (`Kafka at host:9092`).
    fn target(&self) -> String {
        self.name().to_string()
    }

    /// Gets the destination ready before the first batch (the Kafka topic,
    /// HDFS crash recovery). The driver calls it again, with backoff, until
    /// it succeeds; meanwhile the events wait in the sink's channel and the
    /// source goes on serving.
    fn start(&mut self) -> impl Future<Output = Result<(), StartError>> + Send {
        async { Ok(()) }
    }

    /// How many batches may wait for their acknowledgement at once.
    fn max_in_flight(&self) -> usize {
        1
    }

    /// Hands the batch over and waits for its acknowledgement.
    fn write_batch<E: AsRef<[u8]> + Sync>(&mut self, events: &[E]) -> impl Future<Output = Result<(), SinkError>> + Send {
        async move { self.send_batch(events).await?.await }
    }

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

#[cfg(test)]
mod tests {
    use clickstream_contract::RoutingFields;
    use clickstream_master_copy::storage::{ErrorKind, StorageError};

    use super::hdfs::HdfsFailure;
    use super::kafka::KafkaFailure;
    use super::*;

    #[test]
    fn a_failure_says_its_sink_and_whether_to_retry_and_keeps_the_message() {
        let cause = RoutingFields::decode(&[0x7f]).unwrap_err();
        let bad: SinkError = KafkaFailure::NotAnEvent { index: 3, cause: cause.clone() }.into();
        assert!(matches!(&bad, SinkError::Permanent(Failure::Kafka(KafkaFailure::NotAnEvent { index: 3, .. }))), "{bad:?}");
        assert_eq!(bad.to_string(), format!("event 3 of the batch is not a ClickEvent datum: {cause}"));

        let late: SinkError = KafkaFailure::DeliveryTimeout { topic: "clickstream.events".into(), timeout: Duration::from_secs(35) }.into();
        assert!(matches!(late, SinkError::Retryable(_)));
        assert_eq!(late.to_string(), "not every Kafka delivery report for clickstream.events came within 35s");

        let call = StorageError::new(ErrorKind::Other, "sync", "/m/_a.avro.tmp", "no answer within 5s");
        let down: SinkError = HdfsFailure::Storage { cause: call }.into();
        assert!(matches!(&down, SinkError::Retryable(Failure::Hdfs(HdfsFailure::Storage { cause })) if cause.kind == ErrorKind::Other));
        assert_eq!(down.to_string(), "HDFS sink: sync /m/_a.avro.tmp: no answer within 5s");
        assert!(std::error::Error::source(&down).is_none(), "the cause is in the message, not repeated as a source");
    }
}
