//! The HDFS sink's metrics: plain `prometheus-client` counters and gauges
//! (cheap atomics, cloned handles share the value), registered by the agent
//! with [`HdfsSinkStats::register`].

use clickstream_telemetry::prometheus_client::metrics::counter::Counter;
use clickstream_telemetry::prometheus_client::metrics::gauge::Gauge;
use clickstream_telemetry::prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Counters and gauges of one HDFS sink.
#[derive(Debug, Clone, Default)]
pub struct HdfsSinkStats {
    /// Files open for writing (`.avro.tmp`).
    pub files_open: Gauge,
    /// Files closed and renamed to `.avro` (rolled by size, interval, idle
    /// time, the open-file limit, or at shutdown).
    pub files_rolled: Counter,
    /// Leftover or failed `.tmp` files finalised by crash recovery.
    pub files_recovered: Counter,
    /// Events found in those files' complete blocks.
    pub events_recovered: Counter,
    /// `.tmp` files waiting to be finalised (lease recovery or rename pending).
    pub files_pending: Gauge,
    /// Bytes appended to files (headers and blocks).
    pub bytes_written: Counter,
    /// Events written durably: counted when their batch's sync succeeded.
    pub events_written: Counter,
    /// Blocks written (one per file per batch).
    pub blocks_written: Counter,
    /// Events skipped because their body is not a ClickEvent datum.
    pub events_rejected: Counter,
    /// Failed storage calls (each fails its batch as retryable).
    pub write_errors: Counter,
    /// Time spent in hsync/fsync, in seconds (Prometheus base unit), summed
    /// over files (the files of one batch are synced at once, in the background).
    pub sync_seconds: Counter<f64, AtomicU64>,
}

impl HdfsSinkStats {
    /// Registers every metric under the `hdfs_sink_` prefix of `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("hdfs_sink");
        r.register("files_open", "Files open for writing (_*.avro.tmp)", self.files_open.clone());
        r.register("files_rolled", "Files closed and renamed to .avro", self.files_rolled.clone());
        r.register("files_recovered", "Leftover or failed .tmp files finalised by crash recovery", self.files_recovered.clone());
        r.register("events_recovered", "Events kept from recovered files", self.events_recovered.clone());
        r.register("files_pending", ".tmp files waiting for lease recovery or rename", self.files_pending.clone());
        r.register("bytes_written", "Bytes appended to master-copy files", self.bytes_written.clone());
        r.register("events_written", "Events written durably", self.events_written.clone());
        r.register("blocks_written", "Avro blocks written (per file and batch, one per core-sized piece of it)", self.blocks_written.clone());
        r.register("events_rejected", "Events skipped: body is not a ClickEvent datum", self.events_rejected.clone());
        r.register("write_errors", "Failed storage calls", self.write_errors.clone());
        r.register("sync_seconds", "Seconds spent in hsync/fsync, summed over files", self.sync_seconds.clone());
    }
}
