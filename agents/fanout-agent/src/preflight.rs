//! What `fanout-agent validate` checks on the machine, beyond the values in
//! the file: the state directory and every durable channel's directory can
//! be written or created, and the Avro source's and the metrics endpoint's
//! addresses are free. The systemd unit runs `validate` before `run`
//! (`ExecStartPre`), so a wrong path or a port taken stops the start with
//! the key named, instead of a `run` that fails with a misleading message.
//!
//! [`reachable`] is `validate --connect`: each sink's destination asked
//! something harmless (Kafka's metadata, the HDFS root's existence), like
//! `vector validate`'s health checks. Not part of the default: the agent
//! starts, and waits, with a destination down.

use std::time::Duration;

use clickstream_channel::ChannelKind;
use clickstream_telemetry::preflight::{answers, listen_free, writable_dir};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};

use clickstream_master_copy::storage::Storage;

use crate::config::Validated;

/// Every problem found, each naming the key, the path or address and what to do.
pub fn check(cfg: &Validated) -> Vec<String> {
    let mut problems = Vec::new();
    let mut dirs = vec![("agent.state_dir".to_string(), cfg.agent.state_dir.clone())];
    let channels = [("kafka", cfg.sinks.kafka.as_ref().map(|k| &k.channel)), ("hdfs", cfg.sinks.hdfs.as_ref().map(|h| &h.channel))];
    for (name, channel) in channels {
        if let Some(c) = channel.filter(|c| c.kind == ChannelKind::Durable) {
            if let Some(dir) = &c.dir {
                dirs.push((format!("sinks.{name}.channel.dir"), dir.clone()));
            }
        }
    }
    for (key, dir) in dirs {
        if let Err(e) = writable_dir(&dir) {
            problems.push(format!("{key} {}: {e}", dir.display()));
        }
    }
    let mut addresses = vec![("source.listen", cfg.source.listen)];
    if let Some(m) = cfg.metrics.listen {
        addresses.push(("metrics.listen", m));
    }
    for (key, addr) in addresses {
        if let Err(e) = listen_free(addr) {
            problems.push(format!("{key} {addr}: {e}"));
        }
    }
    problems
}

/// How long each destination may take to answer `validate --connect`.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Every configured sink's destination that does not answer, each naming
/// the key, the address and the error. The sinks are asked at once.
pub async fn reachable(cfg: &Validated) -> Vec<String> {
    let kafka = async {
        let Some(k) = &cfg.sinks.kafka else { return None };
        let (client, brokers) = (k.settings.client_config(), k.settings.brokers.clone());
        let metadata = tokio::task::spawn_blocking(move || -> Result<(), KafkaError> {
            let producer: BaseProducer = client.create()?;
            producer.client().fetch_metadata(None, ANSWER_WITHIN).map(|_| ())
        });
        match metadata.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("sinks.kafka.brokers {brokers}: no broker answered a metadata request within {ANSWER_WITHIN:?}: {e}")),
            Err(e) => Some(format!("sinks.kafka.brokers {brokers}: the check failed: {e}")),
        }
    };
    let hdfs = async {
        let h = &cfg.sinks.hdfs.as_ref()?.settings;
        let (storage, base) = match h.open_storage() {
            Ok(opened) => opened,
            Err(e) => return Some(format!("sinks.hdfs.url {}: {e}", h.url())),
        };
        let root = if base.is_empty() { "/".to_string() } else { base };
        let asked = answers(&format!("asking whether {} exists", storage.url_of(&root)), ANSWER_WITHIN, storage.exists(&root)).await;
        asked.err().map(|e| format!("sinks.hdfs.url {}: {e}", h.url()))
    };
    let (kafka, hdfs) = tokio::join!(kafka, hdfs);
    kafka.into_iter().chain(hdfs).collect()
}
