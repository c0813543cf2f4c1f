//! The Kafka side: a consumer whose partitions start where the checkpoint
//! says, not where the group's committed offsets are.
//!
//! Two ways to get partitions (`kafka.assignment`):
//! - `static` (default): the job assigns itself its shard of the topic's
//!   partitions (`p % kafka.shard_count == kafka.shard_index`; all of them
//!   with one shard), as Flink's and Spark's Kafka sources can; the group id
//!   is used for committed offsets (lag monitoring) only. No membership means
//!   no session timeouts and no rebalance waits, and no dependence on the
//!   broker's group coordinator (Tansu's never hands a dead member's
//!   partitions to the survivors: docs/speed-layer.md). A dead instance's
//!   partitions wait for it (systemd restarts it).
//! - `group`: join the consumer group; the coordinator divides the
//!   partitions among the instances and moves them when one joins or leaves.
//!
//! Why override the start: a committed offset alone cannot restore the
//! windows that were open at a crash (their earlier events are behind it),
//! and it carries no watermark. The checkpoint in Cassandra holds both, so on
//! every assignment the rebalance callback seeks each partition to the
//! `resume_offset` of the newest checkpoint the job has read (partitions
//! without a checkpoint follow the group's committed offset, else
//! `auto.offset.reset`). After each checkpoint the job commits, per
//! partition, the next offset not yet counted (not the resume offset, which
//! lies behind it by the replay window), so lag tools see only what is
//! really not yet counted.
//!
//! A revocation or a new assignment (an instance joined or died, a session
//! timeout, a broker restart) is adopted by the job loop: it drops its
//! in-memory state, reads every partition's checkpoint again (a partition
//! may come from another instance, which checkpointed it since), restores
//! the assigned ones and seeks each to its resume offset — the same path as
//! a restart after kill -9. Each partition's share of the windows depends
//! only on its own records, so who owned it before does not matter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

use crate::config::{Assignment, KafkaConfig, OffsetReset};
use crate::health::JobHealth;
use crate::metrics::{Metrics, Partition};

/// Shared between the consumer's callbacks and the job loop.
pub struct SourceContext {
    topic: String,
    /// Where each partition starts on assignment (from the checkpoint).
    start_offsets: Mutex<HashMap<i32, i64>>,
    /// Where a group-assigned partition with no known checkpoint starts.
    unknown_start: Offset,
    /// Partitions currently assigned.
    assigned: Mutex<Vec<i32>>,
    /// Records not read yet per partition (librdkafka statistics), for `/health`.
    unread: Mutex<HashMap<i32, i64>>,
    metrics: Metrics,
    health: Arc<JobHealth>,
}

impl SourceContext {
    /// A context for `topic` that starts partitions at `start_offsets`.
    pub fn new(cfg: &KafkaConfig, start_offsets: HashMap<i32, i64>, metrics: Metrics, health: Arc<JobHealth>) -> SourceContext {
        SourceContext {
            topic: cfg.topic.clone(),
            start_offsets: Mutex::new(start_offsets),
            // An explicit offset, not the committed one: librdkafka looks a
            // committed offset up asynchronously, and that answer was seen
            // to override the job's seek to the checkpoint. 0 is before
            // anything (out of range resets to the earliest kept).
            unknown_start: if cfg.auto_offset_reset == OffsetReset::Latest { Offset::End } else { Offset::Offset(0) },
            assigned: Mutex::new(Vec::new()),
            unread: Mutex::new(HashMap::new()),
            metrics,
            health,
        }
    }

    /// Partitions currently assigned.
    pub fn assigned(&self) -> Vec<i32> {
        self.assigned.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many times partitions were revoked since start (the
    /// `revocations` metric: one count, read by the job loop to notice a
    /// revocation it has not handled yet).
    pub fn revocations(&self) -> u64 {
        self.metrics.revocations.get()
    }

    /// Records not read yet, summed over the assigned partitions; `None`
    /// until librdkafka's statistics have reported them.
    fn unread_total(&self) -> Option<u64> {
        let unread = self.unread.lock().unwrap_or_else(|p| p.into_inner());
        let assigned = self.assigned();
        let known: Vec<i64> = assigned.iter().filter_map(|p| unread.get(p).copied()).collect();
        (!known.is_empty()).then(|| known.iter().map(|&n| n.max(0) as u64).sum())
    }

    /// Where partitions start on their next assignment: the last written checkpoint.
    pub fn set_start_offsets(&self, offsets: impl IntoIterator<Item = (i32, i64)>) {
        let mut m = self.start_offsets.lock().unwrap_or_else(|p| p.into_inner());
        m.clear();
        m.extend(offsets);
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(t) = statistics.topics.get(&self.topic) {
            for (p, s) in &t.partitions {
                if *p < 0 {
                    continue; // librdkafka's internal "unassigned" partition
                }
                let label = Partition { partition: *p };
                if s.consumer_lag >= 0 {
                    self.metrics.consumer_lag.get_or_create(&label).set(s.consumer_lag);
                }
                // app_offset: next offset the job will be handed. Negative
                // (-1001) until the first record or end of partition.
                if s.hi_offset >= 0 && s.app_offset >= 0 {
                    let unread = (s.hi_offset - s.app_offset).max(0);
                    self.metrics.unread_records.get_or_create(&label).set(unread);
                    self.unread.lock().unwrap_or_else(|p| p.into_inner()).insert(*p, unread);
                }
            }
        }
        // Here, not in the run loop: a loop stuck retrying Cassandra still
        // shows the records piling up.
        if let Some(total) = self.unread_total() {
            self.health.set_unread(total);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::PartitionEOF(_)) || reason.contains("reached end of partition") {
            return; // also delivered to the job loop, which uses it for idleness
        }
        // librdkafka reconnects by itself (e.g. across a broker restart); these are informational.
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(&self, base: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts: Vec<(String, i32)> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
                {
                    // The newest checkpoints this job has read: the job loop
                    // seeks to fresher ones (another instance may have moved
                    // them); starting earlier only re-reads what the restored
                    // lanes skip.
                    let starts = self.start_offsets.lock().unwrap_or_else(|p| p.into_inner());
                    for (topic, p) in parts.iter().filter(|(t, _)| *t == self.topic) {
                        let start = starts.get(p).map_or(self.unknown_start, |&o| Offset::Offset(o));
                        if let Err(e) = tpl.set_partition_offset(topic, *p, start) {
                            tracing::error!(partition = p, error = %e, "cannot set the start offset");
                        }
                    }
                }
                if let Err(e) = base.assign(tpl) {
                    tracing::error!(error = %e, "assigning partitions failed");
                }
                // Nothing is fetched until the job loop has read the newest
                // checkpoints (a partition may come from another instance,
                // which checkpointed it since these offsets were known) and
                // sought each partition to its resume offset.
                if let Err(e) = base.pause(tpl) {
                    tracing::error!(error = %e, "pausing the new partitions failed");
                }
                let mut assigned: Vec<i32> = parts.iter().map(|(_, p)| *p).collect();
                assigned.sort_unstable();
                tracing::info!(?assigned, "partitions assigned (paused until the job seeks them to their checkpoints)");
                *self.assigned.lock().unwrap_or_else(|p| p.into_inner()) = assigned;
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::warn!("partitions revoked: the job restores the checkpoints of its next assignment and resumes from them");
                self.metrics.revocations.inc();
                self.assigned.lock().unwrap_or_else(|p| p.into_inner()).clear();
                if let Err(e) = base.unassign() {
                    tracing::error!(error = %e, "unassigning partitions failed");
                }
            }
            other => tracing::error!(error = ?other, "rebalance error"),
        }
    }
}

/// The consumer type of the job.
pub type Source = StreamConsumer<SourceContext>;

/// The librdkafka settings of the job's consumer (also used by the benchmark's bare consumer).
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", cfg.auto_offset_reset.as_str())
        .set("session.timeout.ms", cfg.session_timeout.as_millis().to_string())
        .set("heartbeat.interval.ms", heartbeat_interval(cfg.session_timeout).as_millis().to_string())
        .set("statistics.interval.ms", "5000")
        .set("fetch.wait.max.ms", "100")
        // Tansu (the local broker) stalls for tens of seconds — long enough to
        // miss group heartbeats — when one fetch response must carry megabytes
        // of backlog; 1 MiB per response keeps it serving. No transactions are
        // used upstream, so read_uncommitted spares it the stable-offset work.
        // Both are overridable through [kafka.properties].
        .set("fetch.max.bytes", "1048576")
        .set("max.partition.fetch.bytes", "262144")
        .set("isolation.level", "read_uncommitted");
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c
}

/// How often a group member heartbeats: a tenth of the session timeout,
/// between 100 ms and librdkafka's default of 3 s.
///
/// Tansu's coordinator (v0.6.0) refreshes a member's last contact only on
/// heartbeats — not on a join or a sync, and in a formed group not on a
/// heartbeat it answers with "rebalance in progress" — and librdkafka does
/// not heartbeat while it rejoins. So a member whose rebalance, from its last
/// good heartbeat to its first one after the new assignment, lasts longer
/// than the session timeout expires itself; its rejoin starts a new
/// rebalance for every other member. With the 3 s default against a 6 s
/// session that is two heartbeat intervals plus the rebalance, and the group
/// was seen to rebalance like this without end. Heartbeats at a tenth of the
/// session timeout make the rebalance short against it.
pub fn heartbeat_interval(session_timeout: Duration) -> Duration {
    (session_timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(3))
}

/// Why the source could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// librdkafka refused the configuration or the subscription.
    #[error("kafka consumer for {brokers}: {source}")]
    Client {
        /// Brokers.
        brokers: String,
        /// The cause.
        source: KafkaError,
    },
    /// The topic does not exist (topics are not auto-created on Tansu).
    #[error("topic `{topic}` not found on {brokers} (create it first)")]
    NoTopic {
        /// Topic.
        topic: String,
        /// Brokers.
        brokers: String,
    },
}

/// The partitions of the topic, asked from the broker (blocking call, run off the async threads).
pub async fn topic_partitions(cfg: &KafkaConfig) -> Result<Vec<i32>, SourceError> {
    let cfg = cfg.clone();
    let brokers = cfg.brokers.clone();
    let topic = cfg.topic.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Vec<i32>, KafkaError> {
        let c: BaseConsumer = client_config(&cfg).create()?;
        let md = c.fetch_metadata(Some(&cfg.topic), Duration::from_secs(10))?;
        Ok(md.topics().iter().filter(|t| t.name() == cfg.topic && t.error().is_none()).flat_map(|t| t.partitions().iter().map(|p| p.id())).collect())
    })
    .await
    .expect("metadata task panicked");
    let mut parts = result.map_err(|source| SourceError::Client { brokers: brokers.clone(), source })?;
    if parts.is_empty() {
        return Err(SourceError::NoTopic { topic, brokers });
    }
    parts.sort_unstable();
    Ok(parts)
}

/// Creates the consumer and takes `partitions` of the topic: assigned
/// directly at their start offsets (`static`), or through the consumer group
/// (`group`, the rebalance callback applies the start offsets).
pub fn subscribe(cfg: &KafkaConfig, ctx: SourceContext, partitions: &[i32]) -> Result<Arc<Source>, SourceError> {
    let err = |source| SourceError::Client { brokers: cfg.brokers.clone(), source };
    let consumer: Source = client_config(cfg).create_with_context(ctx).map_err(err)?;
    if cfg.assignment == Assignment::Group {
        consumer.subscribe(&[&cfg.topic]).map_err(err)?;
    } else {
        let ctx = consumer.context();
        let mut tpl = TopicPartitionList::new();
        {
            let starts = ctx.start_offsets.lock().unwrap_or_else(|p| p.into_inner());
            for &p in partitions {
                // No checkpoint: the group's committed offset, else auto.offset.reset.
                let offset = starts.get(&p).map_or(Offset::Stored, |o| Offset::Offset(*o));
                tpl.add_partition_offset(&cfg.topic, p, offset).map_err(err)?;
            }
        }
        consumer.assign(&tpl).map_err(err)?;
        *ctx.assigned.lock().unwrap_or_else(|p| p.into_inner()) = partitions.to_vec();
        tracing::info!(?partitions, "partitions assigned statically (starting at the checkpoint's resume offsets)");
    }
    Ok(Arc::new(consumer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_heartbeat_ten_times_per_session_timeout_within_librdkafkas_bounds() {
        assert_eq!(heartbeat_interval(Duration::from_secs(6)), Duration::from_millis(600));
        assert_eq!(heartbeat_interval(Duration::from_secs(1)), Duration::from_millis(100));
        assert_eq!(heartbeat_interval(Duration::from_secs(45)), Duration::from_secs(3));
        let cfg = KafkaConfig { session_timeout: Duration::from_secs(6), ..toml::from_str("brokers = \"b:9092\"\ntopic = \"t\"").unwrap() };
        assert_eq!(client_config(&cfg).get("heartbeat.interval.ms"), Some("600"));
    }
}
