//! Writes rows to Cassandra through the `scylla` driver.
//!
//! One prepared statement per table, each an `INSERT` of a whole row: in
//! CQL an `INSERT` is an upsert, so writing a row twice (a window updated
//! again, a replay after a crash) leaves the same row. No counters, no
//! read-before-write. Rows of a flush go out concurrently (bounded by
//! `cassandra.write_concurrency`); the checkpoint row is written only after
//! all of them succeeded, by the caller.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use clickstream_cql::connect;
use futures_util::stream::{self, StreamExt};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use crate::config::CassandraConfig;
use crate::partition::{LaneCheckpoint, PartitionCheckpoint};
use crate::rows::Updates;
use crate::time::utc_day;

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
    checkpoint_write: PreparedStatement,
    checkpoint_read: PreparedStatement,
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
                 lane_max_time, lane_held_times, replay_until, closed_through, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            checkpoint_read: prepare(format!(
                "SELECT kafka_partition, resume_offset, lane_resume_offset, lane_max_time, lane_held_times, replay_until, closed_through \
                 FROM {ks}.speed_checkpoints WHERE job = ? AND topic = ?"
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

    /// Writes every row of `u`; returns how many rows were written. On error
    /// some rows may be written and others not: the caller retries the whole
    /// set (upserts make that harmless) and does not checkpoint meanwhile.
    pub async fn write(&self, u: &Updates) -> Result<usize, SinkError> {
        let s = &self.stmts;
        let mut writes: Vec<WriteFuture<'_>> = Vec::with_capacity(u.len());
        for r in &u.ddos {
            writes.push(self.exec(
                &s.ddos,
                "ddos_alerts",
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
            writes.push(self.exec(
                &s.health,
                "server_health",
                (
                    r.source_host.as_str(),
                    utc_day(r.window_start),
                    ts(r.window_start),
                    ts(r.window_end),
                    r.requests as i64,
                    r.non_200 as i64,
                    c[0],
                    c[1],
                    c[2],
                    c[3],
                    c[4],
                    r.visitors_hll.as_slice(),
                    r.visitors_estimate as i64,
                    r.unhealthy,
                    r.is_final,
                ),
            ));
            if r.unhealthy {
                writes.push(self.exec(
                    &s.health_alert,
                    "health_alerts",
                    (
                        utc_day(r.window_start),
                        ts(r.window_start),
                        r.source_host.as_str(),
                        ts(r.window_end),
                        r.requests as i64,
                        r.non_200 as i64,
                        r.is_final,
                    ),
                ));
            }
        }
        for r in &u.popularity {
            writes.push(self.exec(
                &s.popularity,
                "category_popularity",
                (ts(r.window_start), r.category.as_str(), ts(r.window_end), r.requests as i64, r.is_final),
            ));
        }
        for r in &u.top {
            writes.push(self.exec(
                &s.top,
                "category_top",
                (ts(r.window_start), r.rank as i32, r.category.as_str(), r.requests as i64, ts(r.window_end), r.is_final),
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

    /// Saves where each partition resumes, and the global watermark.
    pub async fn write_checkpoint(&self, cps: &[PartitionCheckpoint], closed_through: i64) -> Result<(), SinkError> {
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
                        closed_through,
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

    /// Loads the last checkpoint: per partition, and the global watermark (`i64::MIN` if none).
    pub async fn load_checkpoint(&self) -> Result<(Vec<PartitionCheckpoint>, i64), SinkError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::Execute { what: "reading", table: "speed_checkpoints", source: e };
        let result = self
            .session
            .execute_unpaged(&self.stmts.checkpoint_read, (self.job.as_str(), self.topic.as_str()))
            .await
            .map_err(|e| err(Box::new(e)))?
            .into_rows_result()
            .map_err(|e| err(Box::new(e)))?;
        let mut cps = Vec::new();
        let mut closed = i64::MIN;
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
            cps.push(PartitionCheckpoint { partition, resume_offset, replay_until, lanes });
            closed = closed.max(closed_through);
        }
        Ok((cps, closed))
    }
}
