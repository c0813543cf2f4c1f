//! [`KafkaSink`]: an idempotent (configurable), acks=all producer. The record value is the
//! event's single-object encoding, built by prefixing the received datum
//! with the schema header — no re-encoding.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickstream_contract::schema::click_event_fingerprint;
use clickstream_contract::{DecodeError, RoutingFields, SINGLE_OBJECT_MARKER};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use tracing::{info, warn};

use super::deliveries::{BatchContext, BatchDeliveries, BatchProducer, Unconfirmed};
use super::KafkaSinkConfig;
use crate::sinks::{BatchSink, Failure, SinkError, StartError};

/// Writes batches to Kafka.
pub struct KafkaSink {
    producer: BatchProducer,
    /// The librdkafka settings, built once from the validated table: kept to
    /// build a fresh producer after a failed batch, and the admin client
    /// that creates the topic (a secured cluster wants the same TLS and SASL
    /// properties for it).
    config: ClientConfig,
    /// A failed batch leaves an idempotent producer with a sequence gap the
    /// broker may refuse for good; the next batch starts a new producer.
    /// Set by the batch's acknowledgement, which runs apart from the sink.
    failed: Arc<AtomicBool>,
    max_in_flight: usize,
    topic: String,
    delivery_timeout: Duration,
    header: [u8; 10],
    value: Vec<u8>,
    /// For [`BatchSink::start`] (topic creation) and [`BatchSink::target`].
    settings: KafkaSinkConfig,
}

impl KafkaSink {
    /// Builds the producer (no network yet: an error here is a configuration
    /// error). [`BatchSink::start`] then creates the topic when configured to.
    pub fn create(cfg: &KafkaSinkConfig) -> Result<KafkaSink, StartError> {
        let config = cfg.client_config();
        let producer: BatchProducer = config.create_with_context(BatchContext).map_err(|cause| StartError::KafkaClient {
            client: "the Kafka producer",
            brokers: cfg.brokers.clone(),
            cause: Box::new(cause),
        })?;
        let mut header = [0u8; 10];
        header[..2].copy_from_slice(&SINGLE_OBJECT_MARKER);
        header[2..].copy_from_slice(&click_event_fingerprint());
        Ok(KafkaSink {
            producer,
            config,
            failed: Arc::new(AtomicBool::new(false)),
            max_in_flight: cfg.max_in_flight_batches,
            topic: cfg.topic.clone(),
            delivery_timeout: cfg.delivery_timeout,
            header,
            value: Vec::new(),
            settings: cfg.clone(),
        })
    }

    /// Builds the producer and creates the topic when configured to.
    pub async fn new(cfg: &KafkaSinkConfig) -> Result<KafkaSink, StartError> {
        let mut sink = KafkaSink::create(cfg)?;
        sink.start().await?;
        Ok(sink)
    }
}

/// How long one attempt to create the topic may wait for a broker.
const ADMIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the topic through an admin client built from `client`, the
/// producer's settings (a secured cluster wants the same TLS and SASL
/// properties for the admin requests); an existing topic is fine. An unreachable broker is an
/// error (the driver tries again with backoff, the events wait in the
/// channel); a broker that answers but will not create the topic is logged
/// and produced to anyway.
async fn ensure_topic(cfg: &KafkaSinkConfig, client: &ClientConfig) -> Result<(), StartError> {
    let admin: AdminClient<DefaultClientContext> = client.create().map_err(|cause| StartError::KafkaClient {
        client: "a Kafka admin client",
        brokers: cfg.brokers.clone(),
        cause: Box::new(cause),
    })?;
    let topic = NewTopic::new(&cfg.topic, cfg.partitions, TopicReplication::Fixed(cfg.replication));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).request_timeout(Some(ADMIN_REQUEST_TIMEOUT));
    match admin.create_topics([&topic], &opts).await {
        Ok(results) => {
            for r in results {
                match r {
                    Ok(name) => info!(topic = %name, partitions = cfg.partitions, "created Kafka topic"),
                    Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => info!(topic = %name, "Kafka topic exists"),
                    Err((name, code)) => warn!(topic = %name, ?code, "could not create the Kafka topic; producing anyway"),
                }
            }
            Ok(())
        }
        Err(cause) => Err(StartError::KafkaUnreachable {
            brokers: cfg.brokers.clone(),
            topic: cfg.topic.clone(),
            timeout: ADMIN_REQUEST_TIMEOUT,
            cause: Box::new(cause),
        }),
    }
}

/// What failed in the Kafka sink. Every failure is retryable but
/// [`KafkaFailure::NotAnEvent`]. librdkafka's errors are boxed: they are
/// large, and rare.
#[derive(Debug, thiserror::Error)]
pub enum KafkaFailure {
    /// After a failed batch, librdkafka would not build the fresh producer.
    #[error("re-creating the Kafka producer: {cause}")]
    Recreate {
        /// What librdkafka said.
        cause: Box<KafkaError>,
    },
    /// An event of the batch is not a `ClickEvent` datum (permanent).
    #[error("event {index} of the batch is not a ClickEvent datum: {cause}")]
    NotAnEvent {
        /// Its place in the batch.
        index: usize,
        /// Why it does not decode.
        cause: DecodeError,
    },
    /// The producer's local queue stayed full: the broker is slower than
    /// the agent, or down.
    #[error("Kafka producer queue for {topic} stayed full for {waited:?}; broker too slow or down")]
    QueueFull {
        /// `sinks.kafka.topic`.
        topic: String,
        /// How long the sink waited for room (the delivery timeout).
        waited: Duration,
    },
    /// librdkafka refused a record.
    #[error("Kafka produce to {topic}: {cause}")]
    Produce {
        /// `sinks.kafka.topic`.
        topic: String,
        /// What librdkafka said.
        cause: Box<KafkaError>,
    },
    /// A delivery report said a record was not written.
    #[error("Kafka delivery to {topic} failed: {cause}")]
    Delivery {
        /// `sinks.kafka.topic`.
        topic: String,
        /// What the report said.
        cause: Box<KafkaError>,
    },
    /// Not every delivery report of the batch came in time.
    #[error("not every Kafka delivery report for {topic} came within {timeout:?}")]
    DeliveryTimeout {
        /// `sinks.kafka.topic`.
        topic: String,
        /// How long the batch could wait (the delivery timeout and a margin).
        timeout: Duration,
    },
    /// Flushing the producer at shutdown failed.
    #[error("flushing the Kafka producer: {cause}")]
    Flush {
        /// What librdkafka said.
        cause: Box<KafkaError>,
    },
}

impl From<KafkaFailure> for SinkError {
    /// Retryable, but for a bad event.
    fn from(f: KafkaFailure) -> SinkError {
        match f {
            KafkaFailure::NotAnEvent { .. } => SinkError::Permanent(Failure::Kafka(f)),
            _ => SinkError::Retryable(Failure::Kafka(f)),
        }
    }
}

impl BatchSink for KafkaSink {
    type Ack = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send>>;

    fn name(&self) -> &'static str {
        "kafka"
    }

    fn target(&self) -> String {
        format!("Kafka at {}", self.settings.brokers)
    }

    async fn start(&mut self) -> Result<(), StartError> {
        if self.settings.create_topic {
            ensure_topic(&self.settings, &self.config).await?;
        }
        info!(brokers = %self.settings.brokers, topic = %self.topic, "Kafka sink ready");
        Ok(())
    }

    /// Batches are pipelined: librdkafka keeps its request pipeline full
    /// while earlier batches wait for their delivery reports.
    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    async fn send_batch<E: AsRef<[u8]> + Sync>(&mut self, events: &[E]) -> Result<Self::Ack, SinkError> {
        if self.failed.swap(false, Ordering::Relaxed) {
            self.producer = self.config.create_with_context(BatchContext).map_err(|e| KafkaFailure::Recreate { cause: Box::new(e) })?;
            info!(topic = %self.topic, "new Kafka producer after a failed batch");
        }
        let batch = match self.produce(events).await {
            Ok(b) => b,
            Err(e) => {
                if matches!(e, SinkError::Retryable(_)) {
                    self.failed.store(true, Ordering::Relaxed);
                }
                return Err(e);
            }
        };
        let (failed, topic, timeout) = (Arc::clone(&self.failed), self.topic.clone(), self.delivery_timeout + Duration::from_secs(5));
        Ok(Box::pin(async move {
            let result = batch.confirmed(timeout).await.map_err(|why| match why {
                Unconfirmed::Failed(e) => SinkError::from(KafkaFailure::Delivery { topic, cause: Box::new(e) }),
                Unconfirmed::TimedOut => SinkError::from(KafkaFailure::DeliveryTimeout { topic, timeout }),
            });
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            result
        }))
    }

    async fn shutdown(&mut self) -> Result<(), SinkError> {
        self.producer.flush(Duration::from_secs(10)).map_err(|e| KafkaFailure::Flush { cause: Box::new(e) }.into())
    }
}

impl KafkaSink {
    /// Hands every event to the producer; returns what counts their delivery reports.
    async fn produce<E: AsRef<[u8]>>(&mut self, events: &[E]) -> Result<Arc<BatchDeliveries>, SinkError> {
        let batch = BatchDeliveries::new(events.len());
        for (i, datum) in events.iter().enumerate() {
            let body = datum.as_ref();
            let event = RoutingFields::decode(body).map_err(|cause| KafkaFailure::NotAnEvent { index: i, cause })?;
            self.value.clear();
            self.value.extend_from_slice(&self.header);
            self.value.extend_from_slice(body);
            let headers = OwnedHeaders::new_with_capacity(1).insert(Header { key: "event_id", value: Some(event.event_id.as_bytes()) });
            let mut record =
                BaseRecord::with_opaque_to(&self.topic, Arc::clone(&batch)).key(event.client_addr.as_bytes()).payload(&self.value).headers(headers);
            let started = Instant::now();
            // A full local queue means the broker is slower than we are: wait for it.
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        if started.elapsed() > self.delivery_timeout {
                            return Err(KafkaFailure::QueueFull { topic: self.topic.clone(), waited: self.delivery_timeout }.into());
                        }
                        record = r;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((e, _)) => return Err(KafkaFailure::Produce { topic: self.topic.clone(), cause: Box::new(e) }.into()),
                }
            }
        }
        Ok(batch)
    }
}
