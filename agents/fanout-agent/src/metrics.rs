//! The fan-out agent's metrics.

use std::sync::{Arc, Mutex};

use clickstream_avro_ipc::StatsSnapshot;
use clickstream_channel::Channel;
use clickstream_telemetry::prometheus_client::metrics::counter::Counter;
use clickstream_telemetry::prometheus_client::metrics::family::Family;
use clickstream_telemetry::prometheus_client::metrics::gauge::Gauge;
use clickstream_telemetry::prometheus_client::registry::Registry;

/// The label set of a per-sink series.
pub type Labels = Vec<(&'static str, String)>;

/// Every metric of the fan-out agent.
#[derive(Clone, Default)]
pub struct Metrics {
    /// Batches received from senders.
    pub batches_received: Counter,
    /// Events received.
    pub events_received: Counter,
    /// Events whose body is not a ClickEvent (kept in a dead-letter file).
    pub events_invalid: Counter,
    /// Raw access-log lines (stock Flume senders) turned into ClickEvents.
    pub events_from_lines: Counter,
    /// Pauses of the source: a required sink's channel refused batches
    /// (full, or its disk below the floor), by sink and reason; one per pause.
    pub source_paused: Family<Labels, Counter>,
    /// Bytes of frames the source's connections buffer (bounded by source.max_buffered_bytes).
    pub source_buffered_bytes: Gauge,
    /// Times a connection waited for room in source.max_buffered_bytes.
    pub source_buffer_waits: Counter,
    /// Batches answered FAILED because a required channel had no room or failed.
    pub batches_refused: Counter,
    /// Events not put into an optional sink's full channel, by sink.
    pub events_skipped: Family<Labels, Counter>,
    /// Events waiting in each sink's channel (the sink's lag in events).
    pub channel_events: Family<Labels, Gauge>,
    /// Bytes waiting in each sink's channel.
    pub channel_bytes: Family<Labels, Gauge>,
    /// Events a sink wrote durably.
    pub sink_events: Family<Labels, Counter>,
    /// Batches a sink wrote durably.
    pub sink_batches: Family<Labels, Counter>,
    /// Failed sink writes (Kafka delivery errors, HDFS errors) and failed
    /// start-up attempts (topic creation, HDFS crash recovery), by sink.
    pub sink_errors: Family<Labels, Counter>,
    /// Unix time of each sink's last durable write.
    pub sink_last_success: Family<Labels, Gauge>,
    /// Open sender connections.
    pub connections: Gauge,
    /// Sender connections the source closed, by reason: `refused` (over
    /// `max_connections` or not in `allow`), `per_address` (over
    /// `max_connections_per_address`), `tls_handshake`, `bad_frame`, `idle`,
    /// `slow` (no handshake within `handshake_timeout`, or a frame not
    /// finished within `frame_timeout`).
    pub connections_closed: Family<Labels, Counter>,
    /// The HDFS sink's own figures (files open, rolled, recovered, bytes, sync time).
    pub hdfs: crate::sinks::hdfs::HdfsSinkStats,
}

impl Metrics {
    /// Registers every metric.
    pub fn register(&self) -> Arc<Mutex<Registry>> {
        let mut r = Registry::with_prefix("fanout_agent");
        r.register("batches_received", "Batches received from senders", self.batches_received.clone());
        r.register("events_received", "Events received from senders", self.events_received.clone());
        r.register(
            "events_invalid",
            "Events kept in the dead-letter file: not a valid ClickEvent (nor, with source.body = line or auto, a valid access-log line)",
            self.events_invalid.clone(),
        );
        r.register(
            "source_buffered_bytes",
            "Bytes of frames the source's connections buffer (at most source.max_buffered_bytes)",
            self.source_buffered_bytes.clone(),
        );
        r.register(
            "source_buffer_waits",
            "Times a connection waited for room in source.max_buffered_bytes before reading more",
            self.source_buffer_waits.clone(),
        );
        r.register("source_paused", "Pauses of the source (a required channel refused batches: channel_full, disk_floor, channel_error), by sink and reason; one per pause, not per refused batch", self.source_paused.clone());
        r.register("events_from_lines", "Raw access-log lines from stock Flume senders turned into ClickEvents", self.events_from_lines.clone());
        r.register("batches_refused", "Batches answered FAILED (required channel full or failing)", self.batches_refused.clone());
        r.register("events_skipped", "Events not put into an optional sink's full channel", self.events_skipped.clone());
        r.register("channel_events", "Events waiting in each sink's channel", self.channel_events.clone());
        r.register("channel_bytes", "Bytes waiting in each sink's channel", self.channel_bytes.clone());
        r.register("sink_events", "Events written durably by each sink", self.sink_events.clone());
        r.register("sink_batches", "Batches written durably by each sink", self.sink_batches.clone());
        r.register("sink_errors", "Failed sink writes and start-up attempts, by sink", self.sink_errors.clone());
        r.register("sink_last_success_timestamp_seconds", "Unix time of each sink's last durable write", self.sink_last_success.clone());
        r.register("connections", "Open sender connections", self.connections.clone());
        r.register("connections_closed", "Sender connections closed by the source, by reason", self.connections_closed.clone());
        self.hdfs.register(&mut r);
        Arc::new(Mutex::new(r))
    }

    /// Updates the source's series from its server's counters; `last` is
    /// the snapshot of the previous call (the counters only grow).
    pub fn observe_source(&self, now: &StatsSnapshot, last: &mut StatsSnapshot) {
        self.connections.set(now.connections_open as i64);
        let closed = [
            ("refused", now.connections_refused, last.connections_refused),
            ("tls_handshake", now.tls_handshakes_failed, last.tls_handshakes_failed),
            ("bad_frame", now.frames_rejected, last.frames_rejected),
            ("idle", now.connections_idle_closed, last.connections_idle_closed),
            ("slow", now.connections_slow_closed, last.connections_slow_closed),
            ("per_address", now.connections_refused_per_address, last.connections_refused_per_address),
        ];
        self.source_buffered_bytes.set(now.buffered_bytes as i64);
        self.source_buffer_waits.inc_by(now.buffer_waits.saturating_sub(last.buffer_waits));
        for (reason, now, before) in closed {
            self.connections_closed.get_or_create(&label("reason", reason)).inc_by(now.saturating_sub(before));
        }
        *last = *now;
    }

    /// Updates a sink's channel gauges.
    pub fn observe_channel(&self, sink: &'static str, channel: &dyn Channel) {
        let s = channel.stats();
        self.channel_events.get_or_create(&label("sink", sink)).set(s.events as i64);
        self.channel_bytes.get_or_create(&label("sink", sink)).set(s.bytes as i64);
    }
}

/// A one-label set.
pub fn label(key: &'static str, value: impl Into<String>) -> Labels {
    vec![(key, value.into())]
}
