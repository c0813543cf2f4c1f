//! [`KafkaSink`]: an idempotent (configurable), acks=all producer. The record value is the
//! event's single-object encoding, built by prefixing the received datum
//! with the schema header — no re-encoding.

use std::time::{Duration, Instant};

use clickstream_avro_ipc::flume::decode_event;
use clickstream_contract::schema::click_event_fingerprint;
use clickstream_contract::{ClickEvent, SINGLE_OBJECT_MARKER};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tracing::{info, warn};

use super::KafkaSinkConfig;
use crate::sinks::{BatchSink, SinkError};

/// Writes batches to Kafka.
pub struct KafkaSink {
    producer: FutureProducer,
    /// Kept to build a fresh producer after a failed batch.
    config: ClientConfig,
    /// A failed batch leaves an idempotent producer with a sequence gap the
    /// broker may refuse for good; the next batch starts a new producer.
    reset: bool,
    topic: String,
    delivery_timeout: Duration,
    header: [u8; 10],
    value: Vec<u8>,
}

fn producer_config(cfg: &KafkaSinkConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("enable.idempotence", if cfg.idempotent { "true" } else { "false" })
        .set("acks", "all")
        .set("compression.type", &cfg.compression)
        .set("linger.ms", cfg.linger.as_millis().to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", cfg.delivery_timeout.as_millis().max(1000).to_string());
    for (k, v) in &cfg.producer {
        c.set(k, v);
    }
    c
}

impl KafkaSink {
    /// Connects the producer and creates the topic when configured to.
    pub async fn new(cfg: &KafkaSinkConfig) -> Result<KafkaSink, String> {
        let config = producer_config(cfg);
        let producer: FutureProducer =
            config.create().map_err(|e| format!("creating the Kafka producer for {}: {e}", cfg.brokers))?;
        if cfg.create_topic {
            ensure_topic(cfg).await?;
        }
        let mut header = [0u8; 10];
        header[..2].copy_from_slice(&SINGLE_OBJECT_MARKER);
        header[2..].copy_from_slice(&click_event_fingerprint());
        info!(brokers = %cfg.brokers, topic = %cfg.topic, "Kafka sink ready");
        Ok(KafkaSink { producer, config, reset: false, topic: cfg.topic.clone(), delivery_timeout: cfg.delivery_timeout, header, value: Vec::new() })
    }
}

/// Creates the topic; an existing topic is fine. Broker trouble is retried by
/// the caller on the next start, so it is reported, not fatal, here.
async fn ensure_topic(cfg: &KafkaSinkConfig) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &cfg.brokers)
        .create()
        .map_err(|e| format!("creating a Kafka admin client for {}: {e}", cfg.brokers))?;
    let topic = NewTopic::new(&cfg.topic, cfg.partitions, TopicReplication::Fixed(cfg.replication));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
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
        Err(e) => {
            warn!(error = %e, brokers = %cfg.brokers, "could not reach the Kafka admin API; will produce and retry");
            Ok(())
        }
    }
}

impl BatchSink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn write_batch(&mut self, events: &[Vec<u8>]) -> Result<(), SinkError> {
        if self.reset {
            self.producer = self.config.create().map_err(|e| SinkError::Retryable(format!("re-creating the Kafka producer: {e}")))?;
            self.reset = false;
            info!(topic = %self.topic, "new Kafka producer after a failed batch");
        }
        let result = self.produce(events).await;
        if matches!(result, Err(SinkError::Retryable(_))) {
            self.reset = true;
        }
        result
    }

    async fn shutdown(&mut self) -> Result<(), SinkError> {
        self.producer.flush(Duration::from_secs(10)).map_err(|e| SinkError::Retryable(format!("flushing the Kafka producer: {e}")))
    }
}

impl KafkaSink {
    /// Produces every event and waits for every delivery report.
    async fn produce(&mut self, events: &[Vec<u8>]) -> Result<(), SinkError> {
        let mut pending = Vec::with_capacity(events.len());
        for (i, encoded) in events.iter().enumerate() {
            let flume = decode_event(encoded).map_err(|e| SinkError::Permanent(format!("event {i} of the batch is not a Flume event: {e}")))?;
            let event = ClickEvent::decode_datum(flume.body)
                .map_err(|e| SinkError::Permanent(format!("event {i} of the batch has a body that is not a ClickEvent: {e}")))?;
            self.value.clear();
            self.value.extend_from_slice(&self.header);
            self.value.extend_from_slice(flume.body);
            let headers = OwnedHeaders::new().insert(Header { key: "event_id", value: Some(event.event_id.as_bytes()) });
            let mut record = FutureRecord::to(&self.topic).key(event.client_addr.as_bytes()).payload(&self.value).headers(headers);
            let started = Instant::now();
            // A full local queue means the broker is slower than we are: wait for it.
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        if started.elapsed() > self.delivery_timeout {
                            return Err(SinkError::Retryable("Kafka producer queue stayed full; broker too slow or down".into()));
                        }
                        record = r;
                        self.producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(SinkError::Retryable(format!("Kafka produce to {}: {e}", self.topic))),
                }
            }
        }
        let deadline = tokio::time::sleep(self.delivery_timeout + Duration::from_secs(5));
        tokio::pin!(deadline);
        for delivery in pending {
            tokio::select! {
                r = delivery => match r {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => return Err(SinkError::Retryable(format!("Kafka delivery to {} failed: {e}", self.topic))),
                    Err(_) => return Err(SinkError::Retryable("Kafka delivery report lost (producer closed)".into())),
                },
                _ = &mut deadline => return Err(SinkError::Retryable(format!("no Kafka delivery report within {:?}", self.delivery_timeout))),
            }
        }
        Ok(())
    }
}
