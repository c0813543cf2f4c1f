//! What `speed-job validate` checks beyond the file's values: on this
//! machine, that the metrics address is free ([`check`]); with `--connect`,
//! that the topic's partitions can be read from the brokers and that
//! Cassandra answers ([`reachable`]), both asked something harmless. The job
//! itself starts only when both answer, so `--connect` is what a deploy
//! script runs to tell "wrong address" from "not up yet".

use std::time::Duration;

use clickstream_cql::connect;
use clickstream_telemetry::preflight::{answers, listen_free};

use crate::config::Config;

/// How long each service may take to answer `validate --connect`.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Problems with this machine, each naming the key and the address.
pub fn check(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(addr) = cfg.metrics.listen {
        if let Err(e) = listen_free(addr) {
            problems.push(format!("metrics.listen {addr}: {e}"));
        }
    }
    problems
}

/// The services that do not answer, each naming the key, the address and
/// the error. Kafka and Cassandra are asked at once.
pub async fn reachable(cfg: &Config) -> Vec<String> {
    let kafka = async {
        // librdkafka's own 10 s metadata timeout bounds this.
        crate::source::topic_partitions(&cfg.kafka).await.err().map(|e| format!("kafka.brokers {}: {e}", cfg.kafka.brokers))
    };
    let cassandra = async {
        let c = &cfg.cassandra;
        let to = c.connect(ANSWER_WITHIN);
        let asked = answers("connecting", ANSWER_WITHIN, async {
            let session = connect(to).await.map_err(|e| e.to_string())?;
            session.query_unpaged("SELECT release_version FROM system.local", ()).await.map_err(|e| e.to_string())
        })
        .await;
        asked.err().map(|e| format!("cassandra.contact_points {}: {e}", c.contact_points.join(",")))
    };
    let (kafka, cassandra) = tokio::join!(kafka, cassandra);
    kafka.into_iter().chain(cassandra).collect()
}
