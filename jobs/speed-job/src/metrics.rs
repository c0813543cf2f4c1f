//! The job's Prometheus metrics, in one place (served by
//! `clickstream_telemetry::serve_metrics` on `metrics.listen`).

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::core::{CoreStats, StateSize};

/// Label of a window kind or alert kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    /// `ddos`, `health` or `popularity`.
    pub kind: &'static str,
}

/// Label of a merge: `final` (the window's last merged rows) or `open`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Finality {
    /// `final` or `open`.
    pub finality: &'static str,
}

/// Label of a late reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// `behind_watermark` or `window_final`.
    pub reason: &'static str,
}

/// Label of a Kafka partition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Partition {
    /// Partition number.
    pub partition: i32,
}

/// Every metric of the job.
#[derive(Clone, Default)]
pub struct Metrics {
    /// Records read from Kafka.
    pub events_consumed: Counter,
    /// Events counted into windows.
    pub events_counted: Counter,
    /// Late events, by reason.
    pub events_late: Family<Reason, Counter>,
    /// Duplicates dropped.
    pub events_duplicate: Counter,
    /// Replays of already-final events skipped after a restart.
    pub events_replayed: Counter,
    /// Events counted far ahead of their lane's watermark without moving it
    /// (not yet corroborated: `windows.far_ahead_quorum`).
    pub events_held_ahead: Counter,
    /// Records that are not a decodable click event.
    pub decode_errors: Counter,
    /// Windows open now, by kind.
    pub windows_open: Family<Kind, Gauge>,
    /// Windows closed (final), by kind.
    pub windows_closed: Family<Kind, Counter>,
    /// (key, window) pairs that crossed a threshold, by kind: DDoS when an
    /// address crosses it, health when this instance writes a window's
    /// final merged row over it.
    pub alerts: Family<Kind, Counter>,
    /// Rows written to Cassandra.
    pub rows_written: Counter,
    /// Failed flushes (retried).
    pub write_errors: Counter,
    /// Checkpoints written.
    pub checkpoints: Counter,
    /// The global watermark, seconds since the epoch (Prometheus base unit;
    /// the job itself keeps milliseconds).
    pub watermark_timestamp_seconds: Gauge<f64, AtomicU64>,
    /// The merged views' watermark (the minimum of every partition's
    /// `closed_through`, whichever instance owns it), seconds since the epoch.
    pub merged_watermark_timestamp_seconds: Gauge<f64, AtomicU64>,
    /// Windows whose merged rows this instance recomputed, final or not.
    pub windows_merged: Family<Finality, Counter>,
    /// Times the consumer group took this instance's partitions away: each
    /// rebalance does (eager protocol). A steady rise is a group that does
    /// not settle.
    pub revocations: Counter,
    /// Partitions of the topic nobody has checkpointed lately (no owner).
    pub orphaned_partitions: Gauge,
    /// Open (window, key) aggregates.
    pub state_keys: Gauge,
    /// Event ids held for deduplication.
    pub dedup_ids: Gauge,
    /// Consumer lag per partition, from librdkafka statistics.
    pub consumer_lag: Family<Partition, Gauge>,
    /// Records of each partition not read yet, from librdkafka statistics.
    pub unread_records: Family<Partition, Gauge>,
    /// Records of each partition a restart would read again (already counted:
    /// open windows' events and the recent-ids memory), from the last checkpoint.
    pub replay_window_records: Family<Partition, Gauge>,
}

impl Metrics {
    /// Metrics registered in a new registry (prefix `speed_job`).
    pub fn new() -> (Metrics, Arc<Mutex<Registry>>) {
        let m = Metrics::default();
        let mut r = Registry::with_prefix("speed_job");
        r.register("events_consumed", "Records read from Kafka", m.events_consumed.clone());
        r.register("events_counted", "Events counted into windows", m.events_counted.clone());
        r.register("events_late", "Events behind the watermark, written to late_events", m.events_late.clone());
        r.register("events_duplicate", "Events with an id already counted (dropped)", m.events_duplicate.clone());
        r.register("events_replayed", "Replayed events whose windows were already final (skipped)", m.events_replayed.clone());
        r.register(
            "events_held_ahead",
            "Events counted far ahead of their web server's watermark (windows.far_ahead) that did not move it: not corroborated by windows.far_ahead_quorum such events",
            m.events_held_ahead.clone(),
        );
        r.register("decode_errors", "Records that are not a decodable click event", m.decode_errors.clone());
        r.register("windows_open", "Windows open now", m.windows_open.clone());
        r.register("windows_closed", "Windows closed (final)", m.windows_closed.clone());
        r.register("alerts", "Keys that crossed a threshold in a window", m.alerts.clone());
        r.register("rows_written", "Rows upserted into Cassandra", m.rows_written.clone());
        r.register("write_errors", "Failed Cassandra flushes (retried)", m.write_errors.clone());
        r.register("checkpoints", "Checkpoints written", m.checkpoints.clone());
        r.register("watermark_timestamp_seconds", "Global event-time watermark (Unix time in seconds)", m.watermark_timestamp_seconds.clone());
        r.register(
            "merged_watermark_timestamp_seconds",
            "Watermark of the merged views: the oldest closed_through of all partitions (Unix time in seconds)",
            m.merged_watermark_timestamp_seconds.clone(),
        );
        r.register("windows_merged", "Windows whose merged rows were recomputed from the partitions' shares", m.windows_merged.clone());
        r.register("revocations", "Times the consumer group revoked this instance's partitions (every rebalance does)", m.revocations.clone());
        r.register("orphaned_partitions", "Partitions of the topic whose checkpoint nobody has rewritten lately", m.orphaned_partitions.clone());
        r.register("state_keys", "Open (window, key) aggregates", m.state_keys.clone());
        r.register("dedup_ids", "Event ids held for deduplication", m.dedup_ids.clone());
        r.register(
            "consumer_lag",
            "Records between the committed offset (the next record not yet counted and checkpointed) and the partition end (librdkafka statistics); 0 when caught up",
            m.consumer_lag.clone(),
        );
        r.register(
            "replay_window_records",
            "Records a restart would read again, already counted (open windows' events and the recent-ids memory), from the last checkpoint",
            m.replay_window_records.clone(),
        );
        r.register(
            "unread_records",
            "Records not read yet: the partition end minus the read position (librdkafka statistics); 0 when caught up",
            m.unread_records.clone(),
        );
        // Every series with a known label exists from the start, at 0.
        for reason in crate::rows::LateReason::ALL {
            let _ = m.events_late.get_or_create(&Reason { reason: reason.as_str() });
        }
        for kind in ["ddos", "health"] {
            let _ = m.alerts.get_or_create(&Kind { kind });
        }
        (m, Arc::new(Mutex::new(r)))
    }

    /// Adds what the core counted since `before`.
    pub fn record_core(&self, before: &CoreStats, now: &CoreStats, size: StateSize, watermark: i64, open: [usize; 3]) {
        let d = |a: u64, b: u64| b.saturating_sub(a);
        self.events_counted.inc_by(d(before.counted, now.counted));
        self.events_duplicate.inc_by(d(before.duplicates, now.duplicates));
        self.events_replayed.inc_by(d(before.replayed, now.replayed));
        self.events_held_ahead.inc_by(d(before.held_ahead, now.held_ahead));
        const KINDS: [&str; 3] = ["ddos", "health", "popularity"];
        for (i, kind) in KINDS.iter().enumerate() {
            self.windows_closed.get_or_create(&Kind { kind }).inc_by(d(before.windows_closed[i], now.windows_closed[i]));
            self.windows_open.get_or_create(&Kind { kind }).set(open[i] as i64);
        }
        self.alerts.get_or_create(&Kind { kind: "ddos" }).inc_by(d(before.ddos_alerts, now.ddos_alerts));
        self.state_keys.set(size.open_keys as i64);
        self.dedup_ids.set(size.dedup_ids as i64);
        if watermark > i64::MIN {
            self.watermark_timestamp_seconds.set(watermark as f64 / 1000.0);
        }
    }
}
