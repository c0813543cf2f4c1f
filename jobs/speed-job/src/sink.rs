//! Writes rows to Cassandra through the `scylla` driver.
//!
//! One prepared statement per table, each an `INSERT` of a whole row: in
//! CQL an `INSERT` is an upsert, so writing a row twice (a window updated
//! again, a replay after a crash) leaves the same row. No counters. Rows of
//! a flush go out concurrently (bounded by `cassandra.write_concurrency`);
//! the checkpoint row is written only after all of them succeeded, by the
//! caller.
//!
//! Then [`Sink::merge`] recomputes the merged rows of the windows the flush
//! touched from every partition's share (see [`crate::merge`]), and writes
//! the final ones of every window all partitions have closed. Its writes
//! carry the time taken before its reads as their write timestamp, so of
//! two instances merging the same window the later read wins, whatever
//! order the writes land in; final rows are stamped [`FINAL_AHEAD`] later
//! still, so no open-window merge can overwrite them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use clickstream_cql::connect;
use futures_util::stream::{self, StreamExt};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use crate::config::CassandraConfig;
use crate::merge::{self, WindowKind};
use crate::partition::{LaneCheckpoint, PartitionCheckpoint};
use crate::rows::{HealthPart, PopularityPart, Updates};
use crate::time::utc_day;

/// How much later than its reads a final merged row is stamped: a merge of
/// a still-open window by an instance whose clock runs up to this much
/// ahead cannot overwrite a final row.
pub const FINAL_AHEAD: Duration = Duration::from_secs(600);

/// How often an owner rewrites its partitions' checkpoint rows even when
/// nothing changed (their `updated_at` says the partition has an owner).
pub const CHECKPOINT_HEARTBEAT: Duration = Duration::from_secs(5);

/// The window shapes and rules the merge needs.
#[derive(Debug, Clone, Copy)]
pub struct MergeRules {
    /// Health window length, ms.
    pub health_size: i64,
    /// Unhealthy above this many non-200 responses.
    pub health_threshold: u64,
    /// Popularity window length, ms.
    pub popularity_size: i64,
    /// Rows of the top list.
    pub top_n: usize,
}

impl MergeRules {
    /// From the core's configuration.
    pub fn from_core(c: &crate::core::CoreConfig) -> MergeRules {
        MergeRules { health_size: c.health.size, health_threshold: c.health_threshold, popularity_size: c.popularity.size, top_n: c.top_n }
    }

    fn size(&self, kind: WindowKind) -> i64 {
        match kind {
            WindowKind::Health => self.health_size,
            WindowKind::Popularity => self.popularity_size,
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// The merged views' watermark: the oldest `closed_through` over all
    /// partitions of the topic (`i64::MIN` while one has no checkpoint).
    pub watermark: i64,
    /// Partitions without a checkpoint (nobody has processed them yet).
    pub unowned: Vec<i32>,
    /// The newest partition watermark of the topic (see [`crate::core::Core::topic_progress`]).
    pub topic_max: i64,
    /// Every partition's owner was idle.
    pub topic_idle: bool,
    /// When each partition's checkpoint was last written (ms since the
    /// epoch): owners rewrite it at least every [`CHECKPOINT_HEARTBEAT`],
    /// so an old one means nobody reads the partition.
    pub checkpointed_at: Vec<(i32, i64)>,
    /// Windows merged while still open.
    pub open: usize,
    /// Windows merged for the last time (final).
    pub finalized: usize,
    /// Final merged health rows over the threshold.
    pub health_alerts: u64,
    /// Rows written.
    pub rows: usize,
    /// Shares whose visitor sketch could not be read (left out of the union).
    pub unreadable_sketches: Vec<String>,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// No session could be opened.
    #[error("connecting to Cassandra at {contact_points}: {source}")]
    Connect {
        /// The configured nodes.
        contact_points: String,
        /// The driver's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Applying `schemas/cql` failed.
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    /// A statement could not be prepared.
    #[error("preparing `{statement}`: {source}")]
    Prepare {
        /// The statement.
        statement: String,
        /// The driver's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A write or read failed (retryable: every write is idempotent).
    #[error("{what} in {table}: {source}")]
    Execute {
        /// `writing` or `reading`.
        what: &'static str,
        /// The table.
        table: &'static str,
        /// The driver's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

struct Statements {
    ddos: PreparedStatement,
    health: PreparedStatement,
    health_alert: PreparedStatement,
    popularity: PreparedStatement,
    top: PreparedStatement,
    late: PreparedStatement,
    health_part: PreparedStatement,
    popularity_part: PreparedStatement,
    health_parts_read: PreparedStatement,
    popularity_parts_read: PreparedStatement,
    pending_write: PreparedStatement,
    pending_read: PreparedStatement,
    pending_delete: PreparedStatement,
    checkpoint_write: PreparedStatement,
    checkpoint_read: PreparedStatement,
    closed_read: PreparedStatement,
}

/// The Cassandra side of the job.
pub struct Sink {
    session: Session,
    stmts: Statements,
    job: String,
    topic: String,
    concurrency: usize,
}

type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

fn ts(ms: i64) -> CqlTimestamp {
    CqlTimestamp(ms)
}

impl Sink {
    /// Connects, applies the schema (if configured) and prepares every statement.
    pub async fn connect(cfg: &CassandraConfig, job: &str, topic: &str) -> Result<Sink, SinkError> {
        let session = connect(cfg.connect(cfg.request_timeout))
            .await
            .map_err(|e| SinkError::Connect { contact_points: cfg.contact_points.join(","), source: Box::new(e) })?;
        if cfg.create_schema() {
            crate::schema::apply(&session, cfg).await?;
        }
        let consistency = cfg.consistency.0;
        let ks = &cfg.keyspace;
        let prepare = |cql: String| {
            let session = &session;
            async move {
                let mut p = session.prepare(cql.clone()).await.map_err(|e| SinkError::Prepare { statement: cql, source: Box::new(e) })?;
                p.set_consistency(consistency);
                p.set_is_idempotent(true);
                p.set_request_timeout(Some(cfg.request_timeout));
                Ok::<_, SinkError>(p)
            }
        };
        let stmts = Statements {
            ddos: prepare(format!(
                "INSERT INTO {ks}.ddos_alerts (day, window_start, client_addr, window_end, requests, first_seen, last_seen, \
                 source_hosts, is_final) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            health: prepare(format!(
                "INSERT INTO {ks}.server_health (source_host, day, window_start, window_end, requests, non_200, status_1xx, \
                 status_2xx, status_3xx, status_4xx, status_5xx, visitors_hll, visitors_estimate, unhealthy, is_final) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            health_alert: prepare(format!(
                "INSERT INTO {ks}.health_alerts (day, window_start, source_host, window_end, requests, non_200, is_final) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            popularity: prepare(format!(
                "INSERT INTO {ks}.category_popularity (window_start, category, window_end, requests, is_final) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            top: prepare(format!(
                "INSERT INTO {ks}.category_top (window_start, rank, category, requests, window_end, is_final) VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            late: prepare(format!(
                "INSERT INTO {ks}.late_events (day, event_time, event_id, source_host, client_addr, category, status, watermark, \
                 reason, kafka_partition, kafka_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            checkpoint_write: prepare(format!(
                "INSERT INTO {ks}.speed_checkpoints (job, topic, kafka_partition, resume_offset, lane_resume_offset, \
                 lane_max_time, lane_held_times, replay_until, closed_through, max_watermark, idle, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            checkpoint_read: prepare(format!(
                "SELECT kafka_partition, resume_offset, lane_resume_offset, lane_max_time, lane_held_times, replay_until, closed_through \
                 FROM {ks}.speed_checkpoints WHERE job = ? AND topic = ?"
            ))
            .await?,
            closed_read: prepare(format!(
                "SELECT kafka_partition, closed_through, max_watermark, idle, updated_at FROM {ks}.speed_checkpoints WHERE job = ? AND topic = ?"
            ))
            .await?,
            health_part: prepare(format!(
                "INSERT INTO {ks}.server_health_parts (window_start, source_host, kafka_partition, window_end, requests, non_200, \
                 status_1xx, status_2xx, status_3xx, status_4xx, status_5xx, visitors_hll, is_final) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            popularity_part: prepare(format!(
                "INSERT INTO {ks}.category_popularity_parts (window_start, category, kafka_partition, window_end, requests, is_final) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            health_parts_read: prepare(format!(
                "SELECT source_host, kafka_partition, window_end, requests, non_200, status_1xx, status_2xx, status_3xx, status_4xx, \
                 status_5xx, visitors_hll, is_final FROM {ks}.server_health_parts WHERE window_start = ?"
            ))
            .await?,
            popularity_parts_read: prepare(format!(
                "SELECT category, kafka_partition, window_end, requests, is_final FROM {ks}.category_popularity_parts WHERE window_start = ?"
            ))
            .await?,
            pending_write: prepare(format!(
                "INSERT INTO {ks}.speed_pending_windows (job, topic, window_end, kind, window_start) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            pending_read: prepare(format!(
                "SELECT kind, window_start FROM {ks}.speed_pending_windows WHERE job = ? AND topic = ? AND window_end <= ?"
            ))
            .await?,
            pending_delete: prepare(format!(
                "DELETE FROM {ks}.speed_pending_windows WHERE job = ? AND topic = ? AND window_end = ? AND kind = ? AND window_start = ?"
            ))
            .await?,
        };
        Ok(Sink { session, stmts, job: job.to_string(), topic: topic.to_string(), concurrency: cfg.write_concurrency() })
    }

    /// Asks Cassandra a trivial question (`system.local`) within `timeout`:
    /// `/health`'s check while there is nothing to write.
    pub async fn ping(&self, timeout: std::time::Duration) -> Result<(), SinkError> {
        let fail = |source: Box<dyn std::error::Error + Send + Sync>| SinkError::Execute { what: "pinging", table: "system.local", source };
        match tokio::time::timeout(timeout, self.session.query_unpaged("SELECT release_version FROM system.local", ())).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(fail(Box::new(e))),
            Err(_) => Err(fail(format!("no answer within {timeout:?}").into())),
        }
    }

    /// The driver session (tests read the tables through it).
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn exec<'a, V>(&'a self, stmt: &'a PreparedStatement, table: &'static str, values: V) -> WriteFuture<'a>
    where
        V: scylla::serialize::row::SerializeRow + Send + Sync + 'a,
    {
        Box::pin(async move {
            self.session.execute_unpaged(stmt, values).await.map(|_| ()).map_err(|e| SinkError::Execute {
                what: "writing",
                table,
                source: Box::new(e),
            })
        })
    }

    /// [`Sink::exec`] with an explicit write timestamp (µs since the epoch).
    fn exec_at<'a, V>(&'a self, stmt: &'a PreparedStatement, table: &'static str, stamp: i64, values: V) -> WriteFuture<'a>
    where
        V: scylla::serialize::row::SerializeRow + Send + Sync + 'a,
    {
        let mut stmt = stmt.clone();
        stmt.set_timestamp(Some(stamp));
        Box::pin(async move {
            self.session.execute_unpaged(&stmt, values).await.map(|_| ()).map_err(|e| SinkError::Execute {
                what: "writing",
                table,
                source: Box::new(e),
            })
        })
    }

    /// Writes every row of `u` (and marks the windows it `touched` as
    /// pending a merge); returns how many rows were written. On error some
    /// rows may be written and others not: the caller retries the whole set
    /// (upserts make that harmless) and does not checkpoint meanwhile.
    pub async fn write(&self, u: &Updates, touched: &BTreeSet<(WindowKind, i64)>, rules: &MergeRules) -> Result<usize, SinkError> {
        let s = &self.stmts;
        let touched = touched.iter().copied();
        let mut writes: Vec<WriteFuture<'_>> = Vec::with_capacity(u.len());
        for r in &u.ddos {
            writes.push(self.exec_at(
                &s.ddos,
                "ddos_alerts",
                progress_stamp(r.progress, r.is_final),
                (
                    utc_day(r.window_start),
                    ts(r.window_start),
                    r.client_addr.as_str(),
                    ts(r.window_end),
                    r.requests as i64,
                    ts(r.first_seen),
                    ts(r.last_seen),
                    r.source_hosts.clone(),
                    r.is_final,
                ),
            ));
        }
        for r in &u.health {
            let c = r.classes.map(|n| n as i64);
            writes.push(self.exec_at(
                &s.health_part,
                "server_health_parts",
                progress_stamp(r.progress, r.is_final),
                (
                    ts(r.window_start),
                    r.source_host.as_str(),
                    r.partition,
                    ts(r.window_end),
                    r.requests as i64,
                    r.non_200 as i64,
                    c[0],
                    c[1],
                    c[2],
                    c[3],
                    c[4],
                    r.visitors_hll.as_slice(),
                    r.is_final,
                ),
            ));
        }
        for r in &u.popularity {
            writes.push(self.exec_at(
                &s.popularity_part,
                "category_popularity_parts",
                progress_stamp(r.progress, r.is_final),
                (ts(r.window_start), r.category.as_str(), r.partition, ts(r.window_end), r.requests as i64, r.is_final),
            ));
        }
        // Until a merge writes their final rows, the windows of these
        // shares are pending: any instance finishes them (see `merge`).
        for (kind, start) in touched {
            let end = start + rules.size(kind);
            writes.push(self.exec(
                &s.pending_write,
                "speed_pending_windows",
                (self.job.as_str(), self.topic.as_str(), ts(end), kind.as_str(), ts(start)),
            ));
        }
        for r in &u.late {
            writes.push(self.exec(
                &s.late,
                "late_events",
                (
                    utc_day(r.event_time),
                    ts(r.event_time),
                    r.event_id.as_str(),
                    r.source_host.as_str(),
                    r.client_addr.as_str(),
                    r.category.as_str(),
                    r.status,
                    ts(r.watermark),
                    r.reason.as_str(),
                    r.partition,
                    r.offset,
                ),
            ));
        }
        let n = writes.len();
        let mut results = stream::iter(writes).buffer_unordered(self.concurrency);
        let mut first_error = None;
        while let Some(r) = results.next().await {
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// Saves where each partition resumes and which of its windows are closed.
    pub async fn write_checkpoint(&self, cps: &[PartitionCheckpoint]) -> Result<(), SinkError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let writes: Vec<WriteFuture<'_>> = cps
            .iter()
            .map(|cp| {
                let lane_resume: HashMap<&str, i64> = cp.lanes.iter().map(|l| (l.host.as_str(), l.resume_offset)).collect();
                let lane_max: HashMap<&str, i64> = cp.lanes.iter().map(|l| (l.host.as_str(), l.max_time)).collect();
                // Only lanes holding far-ahead times: usually none.
                let lane_held: HashMap<&str, &[i64]> =
                    cp.lanes.iter().filter(|l| !l.held.is_empty()).map(|l| (l.host.as_str(), l.held.as_slice())).collect();
                self.exec(
                    &self.stmts.checkpoint_write,
                    "speed_checkpoints",
                    (
                        self.job.as_str(),
                        self.topic.as_str(),
                        cp.partition,
                        cp.resume_offset,
                        lane_resume,
                        lane_max,
                        lane_held,
                        cp.replay_until,
                        cp.closed_through,
                        cp.max_watermark,
                        cp.idle,
                        ts(now),
                    ),
                )
            })
            .collect();
        for r in futures_util::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }

    /// Loads the last checkpoint of every partition that has one.
    pub async fn load_checkpoint(&self) -> Result<Vec<PartitionCheckpoint>, SinkError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::Execute { what: "reading", table: "speed_checkpoints", source: e };
        let result = self
            .session
            .execute_unpaged(&self.stmts.checkpoint_read, (self.job.as_str(), self.topic.as_str()))
            .await
            .map_err(|e| err(Box::new(e)))?
            .into_rows_result()
            .map_err(|e| err(Box::new(e)))?;
        let mut cps = Vec::new();
        type Row = (i32, i64, Option<HashMap<String, i64>>, Option<HashMap<String, i64>>, Option<HashMap<String, Vec<i64>>>, i64, i64);
        for row in result.rows::<Row>().map_err(|e| err(Box::new(e)))? {
            let (partition, resume_offset, lane_resume, lane_max, lane_held, replay_until, closed_through) = row.map_err(|e| err(Box::new(e)))?;
            let lane_max = lane_max.unwrap_or_default();
            // Absent in checkpoints written before the far-ahead rule: nothing held.
            let mut lane_held = lane_held.unwrap_or_default();
            let mut lanes: Vec<LaneCheckpoint> = lane_resume
                .unwrap_or_default()
                .into_iter()
                .map(|(host, resume_offset)| LaneCheckpoint {
                    max_time: lane_max.get(&host).copied().unwrap_or(i64::MIN),
                    held: lane_held.remove(&host).unwrap_or_default(),
                    host,
                    resume_offset,
                })
                .collect();
            lanes.sort_by(|a, b| a.host.cmp(&b.host));
            // The owner's progress beyond the resume offset: the next owner recomputes it.
            cps.push(PartitionCheckpoint { partition, resume_offset, replay_until, lanes, closed_through, max_watermark: i64::MIN, idle: false });
        }
        Ok(cps)
    }

    /// What every partition's checkpoint says (see [`MergeReport`]).
    async fn topic_progress(&self, partitions: &[i32], report: &mut MergeReport) -> Result<(), SinkError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::Execute { what: "reading", table: "speed_checkpoints", source: e };
        let result = self
            .session
            .execute_unpaged(&self.stmts.closed_read, (self.job.as_str(), self.topic.as_str()))
            .await
            .map_err(|e| err(Box::new(e)))?
            .into_rows_result()
            .map_err(|e| err(Box::new(e)))?;
        let mut closed = HashMap::new();
        let (mut newest, mut all_idle, mut updated) = (i64::MIN, true, Vec::new());
        // Rows written before issue 21 have neither max_watermark nor idle.
        type Row = (i32, i64, Option<i64>, Option<bool>, Option<CqlTimestamp>);
        for row in result.rows::<Row>().map_err(|e| err(Box::new(e)))? {
            let (p, c, max, idle, at) = row.map_err(|e| err(Box::new(e)))?;
            if partitions.contains(&p) {
                closed.insert(p, c);
                newest = newest.max(max.unwrap_or(i64::MIN));
                all_idle &= idle.unwrap_or(false);
                updated.push((p, at.map_or(i64::MIN, |t| t.0)));
            }
        }
        report.unowned = partitions.iter().copied().filter(|p| !closed.contains_key(p)).collect();
        report.watermark = if report.unowned.is_empty() { partitions.iter().map(|p| closed[p]).min().unwrap_or(i64::MIN) } else { i64::MIN };
        report.topic_max = newest;
        report.topic_idle = all_idle && report.unowned.is_empty();
        report.checkpointed_at = updated;
        Ok(())
    }

    /// Recomputes the merged rows of the windows in `touched` (open or
    /// final) and of every pending window all `partitions` (the topic's)
    /// have closed, from every partition's share; then forgets the pending
    /// windows it wrote final. Call after the checkpoint: a share is final
    /// in Cassandra before its partition's `closed_through` passes its
    /// window, so a window found closed here has all its final shares.
    pub async fn merge(&self, touched: &BTreeSet<(WindowKind, i64)>, partitions: &[i32], rules: &MergeRules) -> Result<MergeReport, SinkError> {
        let read_at = now_micros();
        let mut report = MergeReport::default();
        self.topic_progress(partitions, &mut report).await?;
        let watermark = report.watermark;
        let mut windows: BTreeMap<(WindowKind, i64), bool> =
            touched.iter().map(|&(k, start)| ((k, start), start + rules.size(k) <= watermark)).collect();
        let mut pending_final = Vec::new();
        if watermark > i64::MIN {
            let err = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::Execute { what: "reading", table: "speed_pending_windows", source: e };
            let result = self
                .session
                .execute_unpaged(&self.stmts.pending_read, (self.job.as_str(), self.topic.as_str(), ts(watermark)))
                .await
                .map_err(|e| err(Box::new(e)))?
                .into_rows_result()
                .map_err(|e| err(Box::new(e)))?;
            for row in result.rows::<(String, CqlTimestamp)>().map_err(|e| err(Box::new(e)))? {
                let (kind, start) = row.map_err(|e| err(Box::new(e)))?;
                let kind = WindowKind::parse(&kind).ok_or_else(|| err(format!("unknown window kind `{kind}`").into()))?;
                windows.insert((kind, start.0), true);
                pending_final.push((kind, start.0));
            }
        }
        let merges: Vec<_> = windows.iter().map(|(&(kind, start), &is_final)| self.merge_window(kind, start, is_final, rules, read_at)).collect();
        let mut results = stream::iter(merges).buffer_unordered(self.concurrency.clamp(1, 16));
        while let Some(r) = results.next().await {
            let (is_final, rows, alerts, unreadable) = r?;
            if is_final {
                report.finalized += 1;
            } else {
                report.open += 1;
            }
            report.rows += rows;
            report.health_alerts += alerts;
            report.unreadable_sketches.extend(unreadable);
        }
        drop(results);
        let deletes: Vec<WriteFuture<'_>> = pending_final
            .iter()
            .map(|&(kind, start)| {
                let end = start + rules.size(kind);
                self.exec(
                    &self.stmts.pending_delete,
                    "speed_pending_windows",
                    (self.job.as_str(), self.topic.as_str(), ts(end), kind.as_str(), ts(start)),
                )
            })
            .collect();
        for r in stream::iter(deletes).buffer_unordered(self.concurrency).collect::<Vec<_>>().await {
            r?;
        }
        Ok(report)
    }

    /// Reads one window's shares and writes its merged rows; returns
    /// (final, rows written, final alerts, unreadable sketches).
    async fn merge_window(
        &self,
        kind: WindowKind,
        start: i64,
        is_final: bool,
        rules: &MergeRules,
        read_at: i64,
    ) -> Result<(bool, usize, u64, Vec<String>), SinkError> {
        let stamp = if is_final { read_at + FINAL_AHEAD.as_micros() as i64 } else { read_at };
        let end = start + rules.size(kind);
        let mut writes: Vec<WriteFuture<'_>> = Vec::new();
        let mut alerts = 0;
        let mut unreadable = Vec::new();
        match kind {
            WindowKind::Health => {
                let parts = self.health_parts(start).await?;
                let (rows, bad) = merge::health(start, end, &parts, rules.health_threshold, is_final);
                unreadable = bad;
                for r in rows {
                    let c = r.classes.map(|n| n as i64);
                    let day = utc_day(r.window_start);
                    if r.unhealthy {
                        alerts += u64::from(is_final);
                        let values = (day.clone(), ts(start), r.source_host.clone(), ts(end), r.requests as i64, r.non_200 as i64, is_final);
                        writes.push(self.exec_at(&self.stmts.health_alert, "health_alerts", stamp, values));
                    }
                    let values = (
                        r.source_host,
                        day,
                        ts(start),
                        ts(end),
                        r.requests as i64,
                        r.non_200 as i64,
                        c[0],
                        c[1],
                        c[2],
                        c[3],
                        c[4],
                        r.visitors_hll,
                        r.visitors_estimate as i64,
                        r.unhealthy,
                        is_final,
                    );
                    writes.push(self.exec_at(&self.stmts.health, "server_health", stamp, values));
                }
            }
            WindowKind::Popularity => {
                let parts = self.popularity_parts(start).await?;
                let (rows, top) = merge::popularity(start, end, &parts, rules.top_n, is_final);
                for r in rows {
                    let values = (ts(start), r.category, ts(end), r.requests as i64, is_final);
                    writes.push(self.exec_at(&self.stmts.popularity, "category_popularity", stamp, values));
                }
                for r in top {
                    let values = (ts(start), r.rank as i32, r.category, r.requests as i64, ts(end), is_final);
                    writes.push(self.exec_at(&self.stmts.top, "category_top", stamp, values));
                }
            }
        }
        let n = writes.len();
        for r in futures_util::future::join_all(writes).await {
            r?;
        }
        Ok((is_final, n, alerts, unreadable))
    }

    async fn health_parts(&self, start: i64) -> Result<Vec<HealthPart>, SinkError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::Execute { what: "reading", table: "server_health_parts", source: e };
        let result = self
            .session
            .execute_unpaged(&self.stmts.health_parts_read, (ts(start),))
            .await
            .map_err(|e| err(Box::new(e)))?
            .into_rows_result()
            .map_err(|e| err(Box::new(e)))?;
        type Row = (String, i32, CqlTimestamp, i64, i64, i64, i64, i64, i64, i64, Option<Vec<u8>>, bool);
        let mut parts = Vec::new();
        for row in result.rows::<Row>().map_err(|e| err(Box::new(e)))? {
            let (host, partition, end, requests, non_200, c1, c2, c3, c4, c5, hll, is_final) = row.map_err(|e| err(Box::new(e)))?;
            parts.push(HealthPart {
                partition,
                source_host: host,
                window_start: start,
                window_end: end.0,
                requests: requests as u64,
                non_200: non_200 as u64,
                classes: [c1, c2, c3, c4, c5].map(|n| n as u64),
                visitors_hll: hll.unwrap_or_default(),
                is_final,
                progress: 0, // not read back: only the write order needs it
            });
        }
        Ok(parts)
    }

    async fn popularity_parts(&self, start: i64) -> Result<Vec<PopularityPart>, SinkError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::Execute { what: "reading", table: "category_popularity_parts", source: e };
        let result = self
            .session
            .execute_unpaged(&self.stmts.popularity_parts_read, (ts(start),))
            .await
            .map_err(|e| err(Box::new(e)))?
            .into_rows_result()
            .map_err(|e| err(Box::new(e)))?;
        let mut parts = Vec::new();
        for row in result.rows::<(String, i32, CqlTimestamp, i64, bool)>().map_err(|e| err(Box::new(e)))? {
            let (category, partition, end, requests, is_final) = row.map_err(|e| err(Box::new(e)))?;
            parts.push(PopularityPart {
                partition,
                window_start: start,
                window_end: end.0,
                category,
                requests: requests as u64,
                is_final,
                progress: 0,
            });
        }
        Ok(parts)
    }
}

/// The write timestamp of a row one partition's owner produces (a share, a
/// DDoS row): its partition's progress (next offset), and any final row
/// above every open one. Two instances may briefly both hold a partition
/// (a rebalance that completes without the old owner; a restart replaying
/// from an older checkpoint), and their writes may land in any order; with
/// these stamps a row only moves forward — to a state computed from more
/// of the partition, and never from final back to open.
fn progress_stamp(progress: i64, is_final: bool) -> i64 {
    const FINAL: i64 = 1 << 62;
    if is_final {
        FINAL | progress
    } else {
        progress
    }
}

/// Now, µs since the epoch (CQL write timestamps).
fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}
