//! The speed views in Cassandra (`schemas/cql/002_speed_views.cql`), read only.
//!
//! Every statement is prepared once at start and marked idempotent (they
//! are reads). Two things the tables do not say directly are derived here:
//!
//! - **Which web servers exist.** `server_health` is partitioned by
//!   `(source_host, day)`, so reading a day needs the hosts. They come from
//!   `speed.hosts` when configured, else from the table's partition keys
//!   (`SELECT DISTINCT`, or a plain scan on servers without DISTINCT such
//!   as the CQL stand-in), cached for `speed.host_refresh`.
//! - **What "now" is in event time.** Windows are keyed by event time, and a
//!   replay of last week's logs fills last week's windows. The speed job's
//!   checkpoint rows carry its watermark (`closed_through`); the newest
//!   windows lie at most the allowed lateness past it. Without a checkpoint
//!   the wall clock is used.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures_util::TryStreamExt;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use tokio::sync::Mutex;

use super::StoreError;
use crate::config::{CassandraConfig, SpeedConfig};

/// One `server_health` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthWindow {
    /// The web server.
    pub host: String,
    /// Window start (ms).
    pub window_start: i64,
    /// Window end (ms, exclusive).
    pub window_end: i64,
    /// Requests in the window.
    pub requests: i64,
    /// Responses other than 200.
    pub non_200: i64,
    /// Responses per status class 1xx..5xx.
    pub classes: [i64; 5],
    /// The window's distinct client addresses as a HyperLogLog sketch
    /// (`clickstream_sketch` format); `None` in rows written before the
    /// speed job kept one.
    pub visitors_hll: Option<Vec<u8>>,
    /// That sketch's estimate for this window alone.
    pub visitors_estimate: Option<i64>,
    /// `non_200` above the speed job's threshold.
    pub unhealthy: bool,
    /// The window will not change any more.
    pub is_final: bool,
}

/// Which `server_health` windows to read.
#[derive(Debug, Clone, Copy)]
pub enum Windows {
    /// The newest `n`, without their visitor sketches (`/api/servers`
    /// shows counts only; a sketch is up to 4 KB a row).
    Newest(i32),
    /// The windows of this length (ms) that tile the day, with their
    /// sketches: `window_start IN (the day's 288 starts)` for 5-minute
    /// windows. Only these are summed and merged for `/api/traffic`, and
    /// reading the other 1,152 rows of the day would move their sketches
    /// for nothing (on the CQL stand-in the partition is still
    /// materialised whole; a real Cassandra reads a fifth of the rows).
    Tiles(i64),
}

/// One `ddos_alerts` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdosAlert {
    /// Window start (ms).
    pub window_start: i64,
    /// Window end (ms).
    pub window_end: i64,
    /// The attacking client address.
    pub client: String,
    /// Its requests in the window.
    pub requests: i64,
    /// First and last request in the window (ms).
    pub first_seen: i64,
    /// Last request (ms).
    pub last_seen: i64,
    /// Web servers it hit.
    pub hosts: Vec<String>,
    /// Final.
    pub is_final: bool,
}

/// One `health_alerts` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthAlert {
    /// Window start (ms).
    pub window_start: i64,
    /// Window end (ms).
    pub window_end: i64,
    /// The unhealthy web server.
    pub host: String,
    /// Requests in the window.
    pub requests: i64,
    /// Responses other than 200.
    pub non_200: i64,
    /// Final.
    pub is_final: bool,
}

/// One `category_top` or `category_popularity` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    /// Window start (ms).
    pub window_start: i64,
    /// Window end (ms).
    pub window_end: i64,
    /// Rank (1 first) in `category_top`; 0 from `category_popularity`.
    pub rank: i32,
    /// The category.
    pub category: String,
    /// Requests in the window.
    pub requests: i64,
    /// Final.
    pub is_final: bool,
}

struct Statements {
    checkpoint: PreparedStatement,
    partitions: PreparedStatement,
    health_tiles: PreparedStatement,
    health_latest: PreparedStatement,
    ddos_day: PreparedStatement,
    health_alerts_day: PreparedStatement,
    top_windows: PreparedStatement,
    popularity_windows: PreparedStatement,
    ping: PreparedStatement,
}

/// Discovered `(host, day)` partitions of `server_health`.
#[derive(Default)]
struct HostCache {
    read_at: Option<Instant>,
    partitions: BTreeMap<NaiveDate, BTreeSet<String>>,
}

/// A session with every statement prepared.
struct Connected {
    session: Session,
    stmts: Statements,
}

/// The speed views. Connects on first use (and again after a failed
/// attempt), so the serving layer starts while Cassandra is down or before
/// the speed job created the keyspace, and `/api/health` says so.
#[derive(Clone)]
pub struct CqlStore {
    cfg: Arc<CassandraConfig>,
    conn: Arc<tokio::sync::OnceCell<Connected>>,
    job: String,
    topic: String,
    fixed_hosts: Vec<String>,
    host_refresh: Duration,
    lateness_ms: i64,
    hosts: Arc<Mutex<HostCache>>,
    target: String,
}

fn ts(ms: i64) -> CqlTimestamp {
    CqlTimestamp(ms)
}

impl CqlStore {
    /// A store that connects on first use.
    pub fn new(cfg: &CassandraConfig, speed: &SpeedConfig) -> CqlStore {
        CqlStore {
            cfg: Arc::new(cfg.clone()),
            conn: Arc::new(tokio::sync::OnceCell::new()),
            job: speed.job_name.clone(),
            topic: speed.topic.clone(),
            fixed_hosts: speed.hosts.clone(),
            host_refresh: speed.host_refresh,
            lateness_ms: speed.allowed_lateness.as_millis() as i64,
            hosts: Arc::new(Mutex::new(HostCache::default())),
            target: cfg.contact_points.join(","),
        }
    }

    /// The connected session, connecting first if needed.
    async fn connected(&self) -> Result<&Connected, StoreError> {
        self.conn.get_or_try_init(|| connect(&self.cfg)).await
    }
}

/// Opens a session and prepares every statement (the keyspace and tables
/// must exist: the speed job creates them).
async fn connect(cfg: &CassandraConfig) -> Result<Connected, StoreError> {
    let target = cfg.contact_points.join(",");
    let unavailable = |e: String| StoreError::Unavailable { store: "cassandra", target: target.clone(), message: e };
    let session = clickstream_cql::connect(cfg.connect(cfg.request_timeout)).await.map_err(|e| unavailable(e.to_string()))?;
    let consistency = cfg.consistency.0;
    let ks = &cfg.keyspace;
    let prepare = |cql: String| {
        let session = &session;
        async move {
            let mut p = session.prepare(cql.clone()).await.map_err(|e| StoreError::Query {
                store: "cassandra",
                what: "preparing statements (does the keyspace exist? the speed job creates it)",
                message: format!("`{cql}`: {e}"),
            })?;
            p.set_consistency(consistency);
            p.set_is_idempotent(true);
            p.set_request_timeout(Some(cfg.request_timeout));
            Ok::<_, StoreError>(p)
        }
    };
    let partitions = match prepare(format!("SELECT DISTINCT source_host, day FROM {ks}.server_health")).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "SELECT DISTINCT not supported: host discovery scans server_health");
            prepare(format!("SELECT source_host, day FROM {ks}.server_health")).await?
        }
    };
    let health_cols = "source_host, window_start, window_end, requests, non_200, \
                       status_1xx, status_2xx, status_3xx, status_4xx, status_5xx, unhealthy, is_final";
    let stmts = Statements {
        checkpoint: prepare(format!("SELECT closed_through FROM {ks}.speed_checkpoints WHERE job = ? AND topic = ?")).await?,
        partitions,
        health_tiles: prepare(format!(
            "SELECT {health_cols}, visitors_hll, visitors_estimate FROM {ks}.server_health \
             WHERE source_host = ? AND day = ? AND window_start IN ?"
        ))
        .await?,
        health_latest: prepare(format!("SELECT {health_cols} FROM {ks}.server_health WHERE source_host = ? AND day = ? LIMIT ?")).await?,
        ddos_day: prepare(format!(
            "SELECT window_start, window_end, client_addr, requests, first_seen, last_seen, source_hosts, is_final \
             FROM {ks}.ddos_alerts WHERE day = ?"
        ))
        .await?,
        health_alerts_day: prepare(format!(
            "SELECT window_start, window_end, source_host, requests, non_200, is_final \
             FROM {ks}.health_alerts WHERE day = ?"
        ))
        .await?,
        top_windows: prepare(format!(
            "SELECT window_start, window_end, rank, category, requests, is_final \
             FROM {ks}.category_top WHERE window_start IN ?"
        ))
        .await?,
        popularity_windows: prepare(format!(
            "SELECT window_start, window_end, category, requests, is_final \
             FROM {ks}.category_popularity WHERE window_start IN ?"
        ))
        .await?,
        ping: prepare("SELECT release_version FROM system.local".to_string()).await?,
    };
    Ok(Connected { session, stmts })
}

impl CqlStore {
    fn query_err(&self, what: &'static str) -> impl Fn(String) -> StoreError + '_ {
        move |message| {
            if message.contains("connection") || message.contains("No connections") {
                StoreError::Unavailable { store: "cassandra", target: self.target.clone(), message }
            } else {
                StoreError::Query { store: "cassandra", what, message }
            }
        }
    }

    /// Reads every row of `stmt` with `values`, page by page.
    async fn all<R>(
        &self,
        what: &'static str,
        pick: fn(&Statements) -> &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> + Send + 'static,
    {
        let c = self.connected().await?;
        let err = self.query_err(what);
        let pager = c.session.execute_iter(pick(&c.stmts).clone(), values).await.map_err(|e| err(e.to_string()))?;
        pager.rows_stream::<R>().map_err(|e| err(e.to_string()))?.try_collect().await.map_err(|e| err(e.to_string()))
    }

    /// A trivial read: the node answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: Vec<(Option<String>,)> = self.all("ping", |s: &Statements| &s.ping, ()).await?;
        Ok(())
    }

    /// The newest event time the speed layer has seen, as far as its
    /// checkpoint tells: watermark + allowed lateness; `None` without a checkpoint.
    pub async fn event_now(&self) -> Result<Option<i64>, StoreError> {
        let rows: Vec<(Option<i64>,)> =
            self.all("reading speed_checkpoints", |s: &Statements| &s.checkpoint, (self.job.as_str(), self.topic.as_str())).await?;
        Ok(rows.into_iter().filter_map(|(c,)| c).filter(|c| *c > 0).max().map(|c| c + self.lateness_ms))
    }

    /// The web servers with `server_health` rows on `day`.
    pub async fn hosts_on(&self, day: NaiveDate) -> Result<Vec<String>, StoreError> {
        if !self.fixed_hosts.is_empty() {
            return Ok(self.fixed_hosts.clone());
        }
        let mut cache = self.hosts.lock().await;
        let fresh = cache.read_at.is_some_and(|t| t.elapsed() < self.host_refresh);
        if !fresh {
            let rows: Vec<(String, String)> = self.all("discovering hosts in server_health", |s: &Statements| &s.partitions, ()).await?;
            let mut partitions: BTreeMap<NaiveDate, BTreeSet<String>> = BTreeMap::new();
            for (host, d) in rows {
                if let Ok(d) = d.parse::<NaiveDate>() {
                    partitions.entry(d).or_default().insert(host);
                }
            }
            *cache = HostCache { read_at: Some(Instant::now()), partitions };
        }
        Ok(cache.partitions.get(&day).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }

    /// `server_health` rows of `host` on `day`, newest first: the newest few, or all.
    pub async fn health_windows(&self, host: &str, day: NaiveDate, select: Windows) -> Result<Vec<HealthWindow>, StoreError> {
        type Row = (
            String,
            CqlTimestamp,
            CqlTimestamp,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<bool>,
            Option<bool>,
        );
        fn window(r: Row, visitors_hll: Option<Vec<u8>>, visitors_estimate: Option<i64>) -> HealthWindow {
            HealthWindow {
                host: r.0,
                window_start: r.1 .0,
                window_end: r.2 .0,
                requests: r.3.unwrap_or(0),
                non_200: r.4.unwrap_or(0),
                classes: [r.5, r.6, r.7, r.8, r.9].map(|c| c.unwrap_or(0)),
                unhealthy: r.10.unwrap_or(false),
                is_final: r.11.unwrap_or(false),
                visitors_hll,
                visitors_estimate,
            }
        }
        let d = day.to_string();
        match select {
            Windows::Newest(n) => {
                let rows: Vec<Row> = self.all("reading server_health", |s: &Statements| &s.health_latest, (host, d.as_str(), n)).await?;
                Ok(rows.into_iter().map(|r| window(r, None, None)).collect())
            }
            Windows::Tiles(len) => {
                let first = crate::time::day_start(day);
                let starts: Vec<CqlTimestamp> = (0..crate::time::DAY_MS / len.max(1)).map(|k| CqlTimestamp(first + k * len)).collect();
                type TileRow = (
                    String,
                    CqlTimestamp,
                    CqlTimestamp,
                    Option<i64>,
                    Option<i64>,
                    Option<i64>,
                    Option<i64>,
                    Option<i64>,
                    Option<i64>,
                    Option<i64>,
                    Option<bool>,
                    Option<bool>,
                    Option<Vec<u8>>,
                    Option<i64>,
                );
                let rows: Vec<TileRow> = self.all("reading server_health", |s: &Statements| &s.health_tiles, (host, d.as_str(), starts)).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let base = (r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11);
                        window(base, r.12, r.13)
                    })
                    .collect())
            }
        }
    }

    /// The DDoS alerts of `day`, newest first.
    pub async fn ddos_alerts(&self, day: NaiveDate) -> Result<Vec<DdosAlert>, StoreError> {
        type Row = (CqlTimestamp, CqlTimestamp, String, Option<i64>, Option<CqlTimestamp>, Option<CqlTimestamp>, Option<Vec<String>>, Option<bool>);
        let d = day.to_string();
        let rows: Vec<Row> = self.all("reading ddos_alerts", |s: &Statements| &s.ddos_day, (d.as_str(),)).await?;
        Ok(rows
            .into_iter()
            .map(|r| DdosAlert {
                window_start: r.0 .0,
                window_end: r.1 .0,
                client: r.2,
                requests: r.3.unwrap_or(0),
                first_seen: r.4.map_or(r.0 .0, |t| t.0),
                last_seen: r.5.map_or(r.1 .0, |t| t.0),
                hosts: r.6.unwrap_or_default(),
                is_final: r.7.unwrap_or(false),
            })
            .collect())
    }

    /// The health alerts of `day`, newest first.
    pub async fn health_alerts(&self, day: NaiveDate) -> Result<Vec<HealthAlert>, StoreError> {
        type Row = (CqlTimestamp, CqlTimestamp, String, Option<i64>, Option<i64>, Option<bool>);
        let d = day.to_string();
        let rows: Vec<Row> = self.all("reading health_alerts", |s: &Statements| &s.health_alerts_day, (d.as_str(),)).await?;
        Ok(rows
            .into_iter()
            .map(|r| HealthAlert {
                window_start: r.0 .0,
                window_end: r.1 .0,
                host: r.2,
                requests: r.3.unwrap_or(0),
                non_200: r.4.unwrap_or(0),
                is_final: r.5.unwrap_or(false),
            })
            .collect())
    }

    /// `category_top` rows of the windows starting at `starts` (ms).
    pub async fn top(&self, starts: &[i64]) -> Result<Vec<CategoryCount>, StoreError> {
        type Row = (CqlTimestamp, CqlTimestamp, i32, Option<String>, Option<i64>, Option<bool>);
        let keys: Vec<CqlTimestamp> = starts.iter().copied().map(ts).collect();
        let rows: Vec<Row> = self.all("reading category_top", |s: &Statements| &s.top_windows, (keys,)).await?;
        Ok(rows
            .into_iter()
            .map(|r| CategoryCount {
                window_start: r.0 .0,
                window_end: r.1 .0,
                rank: r.2,
                category: r.3.unwrap_or_default(),
                requests: r.4.unwrap_or(0),
                is_final: r.5.unwrap_or(false),
            })
            .collect())
    }

    /// `category_popularity` rows of the windows starting at `starts` (ms).
    pub async fn popularity(&self, starts: &[i64]) -> Result<Vec<CategoryCount>, StoreError> {
        type Row = (CqlTimestamp, CqlTimestamp, String, Option<i64>, Option<bool>);
        let keys: Vec<CqlTimestamp> = starts.iter().copied().map(ts).collect();
        let rows: Vec<Row> = self.all("reading category_popularity", |s: &Statements| &s.popularity_windows, (keys,)).await?;
        Ok(rows
            .into_iter()
            .map(|r| CategoryCount {
                window_start: r.0 .0,
                window_end: r.1 .0,
                rank: 0,
                category: r.2,
                requests: r.3.unwrap_or(0),
                is_final: r.4.unwrap_or(false),
            })
            .collect())
    }
}
