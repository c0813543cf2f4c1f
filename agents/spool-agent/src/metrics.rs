//! The agent's metrics, registered once and shared by source and sink, and
//! the label values the source gives them ([`QuarantineReason`], [`Skipped`],
//! [`SOURCE_PAUSE_REASONS`]): they are here, not in the source, so that
//! every series can be created at 0 on registration while the source
//! depends on this module and not the other way round.
//! Names follow Prometheus conventions; `docs/operations.md` lists them.

use std::sync::{Arc, Mutex};

use clickstream_channel::ChannelError;
use clickstream_telemetry::prometheus_client::metrics::counter::Counter;
use clickstream_telemetry::prometheus_client::metrics::family::Family;
use clickstream_telemetry::prometheus_client::metrics::gauge::Gauge;
use clickstream_telemetry::prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric of the spool agent.
#[derive(Clone, Default)]
pub struct Metrics {
    /// Times a file was found ready (quiet) in a spool directory and picked
    /// up; a file that changes before it is read is counted again when it is
    /// quiet again.
    pub files_seen: Counter,
    /// Files fully delivered into the channel and completed.
    pub files_completed: Counter,
    /// Files that were copies of a delivered version of their log stream
    /// (skipped, or delivered again with the same ids, per `source.duplicates`).
    pub files_duplicate: Counter,
    /// Files moved to quarantine, by reason.
    pub files_quarantined: Family<Labels, Counter>,
    /// Lines turned into events and put into the channel (durable there):
    /// counted when the put returns, not when the line is parsed.
    pub lines_accepted: Counter,
    /// Symbolic links and sub-directories of spool directories skipped, by
    /// `kind`; each counted once while it stays (as it is logged).
    pub files_skipped: Family<Labels, Counter>,
    /// Lines rejected into dead-letter files, by reason.
    pub lines_rejected: Family<Labels, Counter>,
    /// Bytes of log streams read and delivered (decompressed), not counting
    /// a delivered prefix that was only checked.
    pub bytes_read: Counter,
    /// Pauses of the source, by reason (`channel_full`, `disk_floor`,
    /// `channel_error`): one per pause, however many attempts it took (a
    /// pause ends when a put goes through, or when its reason changes).
    pub source_paused: Family<Labels, Counter>,
    /// Events in the channel, not yet acknowledged by a receiver.
    pub channel_events: Gauge,
    /// Their bytes.
    pub channel_bytes: Gauge,
    /// Channel capacity in events.
    pub channel_capacity_events: Gauge,
    /// Batches a receiver acknowledged with OK.
    pub batches_sent: Counter,
    /// Events in those batches.
    pub events_sent: Counter,
    /// Batches that failed (error, timeout or a non-OK status), by receiver.
    pub batches_failed: Family<Labels, Counter>,
    /// 1 while a receiver answers (its last request, a batch or an idle
    /// probe, did not fail), 0 from its first failure until it answers again.
    pub receiver_up: Family<Labels, Gauge>,
}

impl Metrics {
    /// Registers every metric in a new registry.
    pub fn register(&self) -> Arc<Mutex<Registry>> {
        let mut r = Registry::with_prefix("spool_agent");
        r.register("files_seen", "Times a file was found ready in a spool directory and picked up", self.files_seen.clone());
        r.register("files_completed", "Files fully delivered into the channel and completed", self.files_completed.clone());
        r.register("files_duplicate", "Files that were copies of a delivered version of their log stream", self.files_duplicate.clone());
        r.register("files_quarantined", "Files moved to quarantine, by reason", self.files_quarantined.clone());
        r.register("lines_accepted", "Lines turned into events and put into the channel", self.lines_accepted.clone());
        r.register(
            "files_skipped",
            "Symbolic links and sub-directories of spool directories skipped, by kind; once each",
            self.files_skipped.clone(),
        );
        r.register("lines_rejected", "Lines rejected into dead-letter files, by reason", self.lines_rejected.clone());
        r.register("bytes_read", "Bytes of log streams read and delivered (decompressed)", self.bytes_read.clone());
        r.register(
            "source_paused",
            "Pauses of the source (the channel refused its puts), by reason; one per pause, not per attempt",
            self.source_paused.clone(),
        );
        r.register("channel_events", "Events in the channel not yet acknowledged by a receiver", self.channel_events.clone());
        r.register("channel_bytes", "Bytes in the channel not yet acknowledged by a receiver", self.channel_bytes.clone());
        r.register("channel_capacity_events", "Channel capacity in events", self.channel_capacity_events.clone());
        r.register("batches_sent", "Batches acknowledged OK by a receiver", self.batches_sent.clone());
        r.register("events_sent", "Events acknowledged OK by a receiver", self.events_sent.clone());
        r.register("batches_failed", "Batches that failed, by receiver", self.batches_failed.clone());
        r.register("receiver_up", "1 while a receiver answers (last batch or idle probe succeeded), 0 while it fails", self.receiver_up.clone());
        // Every label value the code can produce exists from the start, at 0:
        // `increase()` and alerts then see the first event instead of a new series.
        for reason in QuarantineReason::ALL {
            let _ = self.files_quarantined.get_or_create(&label("reason", reason.as_str()));
        }
        for kind in Skipped::ALL {
            let _ = self.files_skipped.get_or_create(&label("kind", kind.as_str()));
        }
        for reason in clickstream_logparse::RejectReason::ALL {
            let _ = self.lines_rejected.get_or_create(&label("reason", reason.as_str()));
        }
        for reason in SOURCE_PAUSE_REASONS {
            let _ = self.source_paused.get_or_create(&label("reason", reason));
        }
        Arc::new(Mutex::new(r))
    }
}

/// Why a file was quarantined: the `reason` of its `.reason` file and the
/// label of `files_quarantined`. Defined with the metrics, which create
/// every label value at 0, so that they need not depend on the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineReason {
    /// Its first bytes changed between recognising and reading it (a file
    /// rewritten in place). Appending is not a modification: what was
    /// appended is read later as the file's extension.
    Modified,
    /// It became shorter than what was already read.
    Truncated,
    /// It could not be opened or read.
    Unreadable,
    /// It holds binary data, not text.
    NotText,
    /// A gzip file that ends before its end.
    TruncatedGzip,
}

impl QuarantineReason {
    /// All reasons, for metric labels.
    pub const ALL: [QuarantineReason; 5] = [
        QuarantineReason::Modified,
        QuarantineReason::Truncated,
        QuarantineReason::Unreadable,
        QuarantineReason::NotText,
        QuarantineReason::TruncatedGzip,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::Modified => "modified_while_read",
            QuarantineReason::Truncated => "truncated",
            QuarantineReason::Unreadable => "unreadable",
            QuarantineReason::NotText => "not_text",
            QuarantineReason::TruncatedGzip => "truncated_gzip",
        }
    }
}

/// An entry of a spool directory that is not read, and why: the label of
/// `files_skipped`. Defined with the metrics, which create every label
/// value at 0, so that they need not depend on the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// A symbolic link: links are not followed (the target may change or
    /// vanish under the agent, and its completion would rename the link).
    Symlink,
    /// A sub-directory while `source.recursive` is off.
    Directory,
}

impl Skipped {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Skipped::Symlink => "symlink",
            Skipped::Directory => "directory",
        }
    }

    /// Every value, for metrics registered at 0.
    pub const ALL: [Skipped; 2] = [Skipped::Symlink, Skipped::Directory];
}

/// Label values of `source_paused`: every value [`pause_reason`] returns.
pub const SOURCE_PAUSE_REASONS: [&str; 3] = ["channel_full", "disk_floor", "channel_error"];

/// The `source_paused` label of a refused put.
pub fn pause_reason(e: &ChannelError) -> &'static str {
    match e {
        ChannelError::Full { .. } => SOURCE_PAUSE_REASONS[0],
        ChannelError::DiskFloor { .. } => SOURCE_PAUSE_REASONS[1],
        _ => SOURCE_PAUSE_REASONS[2],
    }
}

/// A one-label set.
pub fn label(key: &'static str, value: impl Into<String>) -> Labels {
    vec![(key, value.into())]
}
