//! The rows the job writes: what changed since the last flush.
//!
//! Each row is a whole row of one table (see `schemas/cql`), so writing it is
//! an idempotent upsert; a window's row is written again whenever the window
//! changes and one last time with `is_final` when it closes.
//!
//! Health and popularity aggregate over every Kafka partition, which several
//! instances may share; so each instance writes its partitions' shares
//! ([`HealthPart`], [`PopularityPart`]), and [`crate::merge`] combines the
//! shares of a window into the rows readers see ([`HealthRow`],
//! [`PopularityRow`], [`TopRow`]). DDoS rows need no merge: a client
//! address is the Kafka key, so all its events are in one partition.

/// A `ddos_alerts` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdosRow {
    /// Window start, ms.
    pub window_start: i64,
    /// Window end, ms.
    pub window_end: i64,
    /// The client address.
    pub client_addr: String,
    /// Requests in the window.
    pub requests: u64,
    /// Earliest event time in the window, ms.
    pub first_seen: i64,
    /// Latest event time in the window, ms.
    pub last_seen: i64,
    /// Web servers that answered, sorted.
    pub source_hosts: Vec<String>,
    /// The window is closed.
    pub is_final: bool,
    /// The partition's next offset when the row was produced: the write
    /// timestamp orders writes of the same row by progress (see `sink`).
    pub progress: i64,
}

/// A `server_health` row (and a `health_alerts` row when `unhealthy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    /// The web server.
    pub source_host: String,
    /// Window start, ms.
    pub window_start: i64,
    /// Window end, ms.
    pub window_end: i64,
    /// Responses in the window.
    pub requests: u64,
    /// Responses whose status is not 200.
    pub non_200: u64,
    /// Responses by status class 1xx..5xx.
    pub classes: [u64; 5],
    /// Distinct client addresses: the HyperLogLog sketch in
    /// `clickstream_sketch`'s byte format (`visitors_hll`), mergeable by readers.
    pub visitors_hll: Vec<u8>,
    /// That sketch's estimate (`visitors_estimate`), for readers of one window.
    pub visitors_estimate: u64,
    /// `non_200` is over the threshold.
    pub unhealthy: bool,
    /// The window is closed.
    pub is_final: bool,
}

/// One Kafka partition's share of a web server's health window
/// (`server_health_parts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPart {
    /// Kafka partition.
    pub partition: i32,
    /// The web server.
    pub source_host: String,
    /// Window start, ms.
    pub window_start: i64,
    /// Window end, ms.
    pub window_end: i64,
    /// Responses in the window.
    pub requests: u64,
    /// Responses whose status is not 200.
    pub non_200: u64,
    /// Responses by status class 1xx..5xx.
    pub classes: [u64; 5],
    /// Distinct client addresses of this share (`clickstream_sketch` bytes).
    pub visitors_hll: Vec<u8>,
    /// The partition's share is complete: its watermark passed the window.
    pub is_final: bool,
    /// The partition's next offset when the row was produced: the write
    /// timestamp orders writes of the same row by progress (see `sink`).
    pub progress: i64,
}

/// One Kafka partition's share of a category's popularity window
/// (`category_popularity_parts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopularityPart {
    /// Kafka partition.
    pub partition: i32,
    /// Window start, ms.
    pub window_start: i64,
    /// Window end, ms.
    pub window_end: i64,
    /// The category.
    pub category: String,
    /// Requests in the window.
    pub requests: u64,
    /// The partition's share is complete.
    pub is_final: bool,
    /// The partition's next offset when the row was produced: the write
    /// timestamp orders writes of the same row by progress (see `sink`).
    pub progress: i64,
}

/// A `category_popularity` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopularityRow {
    /// Window start, ms.
    pub window_start: i64,
    /// Window end, ms.
    pub window_end: i64,
    /// The category.
    pub category: String,
    /// Requests in the window.
    pub requests: u64,
    /// The window is closed.
    pub is_final: bool,
}

/// A `category_top` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    /// Window start, ms.
    pub window_start: i64,
    /// Window end, ms.
    pub window_end: i64,
    /// 1 = most requested.
    pub rank: u32,
    /// The category.
    pub category: String,
    /// Its requests.
    pub requests: u64,
    /// The window is closed.
    pub is_final: bool,
}

/// Why an event is in `late_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateReason {
    /// Older than its partition's watermark when it arrived.
    BehindWatermark,
    /// Every window it belongs to was already final.
    WindowFinal,
}

impl LateReason {
    /// Every reason (metrics create their series up front).
    pub const ALL: [LateReason; 2] = [LateReason::BehindWatermark, LateReason::WindowFinal];

    /// The `reason` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            LateReason::BehindWatermark => "behind_watermark",
            LateReason::WindowFinal => "window_final",
        }
    }
}

/// A `late_events` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRow {
    /// Event time, ms.
    pub event_time: i64,
    /// Event id (32 hex digits).
    pub event_id: String,
    /// Web server.
    pub source_host: String,
    /// Client address.
    pub client_addr: String,
    /// Category.
    pub category: String,
    /// HTTP status.
    pub status: i32,
    /// The watermark it was behind, ms.
    pub watermark: i64,
    /// Why.
    pub reason: LateReason,
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
}

/// Everything one instance writes in one flush, before the merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Updates {
    /// DDoS alert rows.
    pub ddos: Vec<DdosRow>,
    /// Partitions' shares of health windows.
    pub health: Vec<HealthPart>,
    /// Partitions' shares of popularity windows.
    pub popularity: Vec<PopularityPart>,
    /// Late events.
    pub late: Vec<LateRow>,
}

impl Updates {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ddos.len() + self.health.len() + self.popularity.len() + self.late.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
