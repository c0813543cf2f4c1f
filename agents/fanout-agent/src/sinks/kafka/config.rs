//! `[sinks.kafka]`

use std::collections::BTreeMap;
use std::time::Duration;

use clickstream_telemetry::config::{millis, secs, ConfigError};
use rdkafka::config::ClientConfig;
use rdkafka::producer::BaseProducer;
use serde::Deserialize;

fn default_partitions() -> i32 {
    4
}
fn default_replication() -> i32 {
    1
}
fn default_compression() -> String {
    "lz4".into()
}
fn default_max_in_flight_batches() -> usize {
    4
}

/// Kafka sink settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `host:port,...` of the brokers.
    pub brokers: String,
    /// Topic (default `clickstream.events`).
    #[serde(default = "clickstream_contract::events_topic")]
    pub topic: String,
    /// Create the topic when missing, with `partitions` and `replication`.
    #[serde(default = "yes")]
    pub create_topic: bool,
    /// Partitions of a created topic (default 4).
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor of a created topic (default 1).
    #[serde(default = "default_replication")]
    pub replication: i32,
    /// `lz4` (default), `zstd`, `gzip` or `none`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Producer linger (batching) time.
    #[serde(default = "millis::<5>", with = "humantime_serde")]
    pub linger: Duration,
    /// How long a batch may wait for its delivery reports before it is retried.
    #[serde(default = "secs::<30>", with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Batches handed to the producer before the oldest is acknowledged
    /// (default 4). One would leave the broker idle while each batch's last
    /// delivery reports come back; more only hold more events twice in memory.
    #[serde(default = "default_max_in_flight_batches")]
    pub max_in_flight_batches: usize,
    /// Idempotent producer (default true): no duplicates from producer
    /// retries. Turn off only for brokers whose idempotence is broken: the
    /// local Tansu 0.6 broker's storage task panics ("more or less than one
    /// row" in `idempotent_message_check`) when an idempotent producer is
    /// killed mid-batch and a new one resumes, so the local stack's configs
    /// set `idempotent = false`. Event ids make duplicates harmless either way.
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// Extra librdkafka producer properties, passed through
    /// (e.g. `"batch.num.messages" = "10000"`).
    #[serde(default)]
    pub producer: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

impl KafkaSinkConfig {
    /// Checks the values; `prefix` names the table in the error's key (e.g.
    /// `sinks.kafka`, so a bad topic is `sinks.kafka.topic`).
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| Err(ConfigError::invalid(format!("{prefix}.{key}"), message));
        if self.brokers.trim().is_empty() {
            return bad("brokers", "must name at least one broker".into());
        }
        if self.topic.is_empty() || self.topic.len() > 249 || !self.topic.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return bad("topic", format!("{:?} is not a valid Kafka topic name", self.topic));
        }
        if self.partitions < 1 {
            return bad("partitions", format!("must be at least 1, not {}", self.partitions));
        }
        if self.replication < 1 {
            return bad("replication", format!("must be at least 1, not {}", self.replication));
        }
        if !(1..=64).contains(&self.max_in_flight_batches) {
            return bad("max_in_flight_batches", format!("must be between 1 and 64, not {}", self.max_in_flight_batches));
        }
        if !["lz4", "zstd", "gzip", "none"].contains(&self.compression.as_str()) {
            return bad("compression", format!("must be lz4, zstd, gzip or none, not {:?} (snappy fails on the local broker)", self.compression));
        }
        for key in ["enable.idempotence", "acks", "bootstrap.servers"] {
            if self.producer.contains_key(key) {
                return bad(&format!("producer.\"{key}\""), "is fixed by the agent (idempotent, acks=all) and cannot be overridden".into());
            }
        }
        // librdkafka judges the properties itself: a client built from them
        // with no broker to talk to checks every name and value against what
        // this build supports (TLS, SASL mechanisms, codecs) and loads the TLS
        // files, without touching the network.
        let mut offline = self.client_config();
        offline.remove("bootstrap.servers").set("log_level", "3");
        match offline.create::<BaseProducer>() {
            Ok(_) => Ok(()),
            Err(e) => bad("producer", format!("librdkafka refuses the producer settings ({prefix}.compression, {prefix}.producer): {e}")),
        }
    }

    /// The librdkafka producer settings: the agent's fixed ones (idempotent,
    /// acks=all), then `producer`'s pass-through properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", if self.idempotent { "true" } else { "false" })
            .set("acks", "all")
            .set("compression.type", &self.compression)
            .set("linger.ms", self.linger.as_millis().to_string())
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", self.delivery_timeout.as_millis().max(1000).to_string());
        for (k, v) in &self.producer {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfigError, KafkaSinkConfig};

    fn validate(extra: &str) -> Result<(), ConfigError> {
        let text = format!("brokers = \"127.0.0.1:9\"\ntopic = \"t\"\n{extra}");
        let cfg: KafkaSinkConfig = toml::from_str(&text).unwrap();
        cfg.validate("sinks.kafka")
    }

    /// The build honours TLS, SASL (PLAIN, SCRAM, GSSAPI) and zstd, checked
    /// by librdkafka itself without a broker; what it cannot honour, or a
    /// TLS file that is not there, fails validation naming the property.
    #[test]
    fn librdkafka_judges_the_properties_offline() {
        validate("compression = \"zstd\"").unwrap();
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
            validate(&format!(
                "[producer]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"{mechanism}\"\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"p\""
            ))
            .unwrap();
        }
        let e = validate("[producer]\n\"no.such.property\" = \"1\"").unwrap_err();
        assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "sinks.kafka.producer"), "{e}");
        let e = e.to_string();
        assert!(e.contains("no.such.property") && e.contains("sinks.kafka"), "{e}");
        let e = validate("[producer]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"/nonexistent/ca.pem\"").unwrap_err().to_string();
        assert!(e.contains("ssl.ca.location"), "{e}");
        let e = validate("[producer]\n\"sasl.mechanisms\" = \"NO-SUCH-MECHANISM\"\n\"security.protocol\" = \"SASL_SSL\"").unwrap_err().to_string();
        assert!(e.contains("sasl.mechanisms") || e.contains("NO-SUCH-MECHANISM"), "{e}");
    }
}
