//! The batch views in MySQL/MariaDB (`jobs/batch-job/migrations`), read only.
//!
//! The batch job replaces a day in one transaction (its `daily_traffic`
//! row, the 24 `hourly_traffic` rows with it), so a day is *covered by the
//! batch layer* exactly when its `daily_traffic` row exists, and a reader
//! never sees half a day. Diesel is synchronous: every query runs on the
//! blocking pool with a connection from an r2d2 pool, so a slow database
//! holds a blocking thread, never an async worker.
//!
//! Beside the day totals, the batch job writes in that same transaction
//! the day's breakdowns per web server and per category
//! (`daily_dimension_traffic`, `hourly_dimension_traffic`), its top paths
//! (`daily_top_paths`), and recomputes the exact visitors of the ISO week
//! and the month around it (`weekly_visitors`, `monthly_visitors`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, Pool, PooledConnection};
use diesel::sql_types::{BigInt, Date, Datetime, Integer, Nullable, SmallInt, Text, TinyInt, Unsigned};

use super::StoreError;
use crate::config::MysqlConfig;

/// One day the batch job computed.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct BatchDay {
    /// The UTC day.
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    /// Distinct events of the day.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub requests: u64,
    /// Distinct visitors of the day (not the sum of the hours').
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub unique_visitors: u64,
    /// `batch_runs.run_id` of the run that wrote it.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub run_id: u64,
    /// When (UTC).
    #[diesel(sql_type = Datetime)]
    pub computed_at: NaiveDateTime,
}

/// One row of `hourly_traffic`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct BatchHour {
    /// The UTC day.
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    /// UTC hour 0..23.
    #[diesel(sql_type = Unsigned<TinyInt>)]
    pub hour: u8,
    /// Distinct events.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub requests: u64,
    /// Distinct visitors in that hour.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub unique_visitors: u64,
}

/// What the batch layer holds for a range of days.
#[derive(Debug, Clone, Default)]
pub struct BatchRange {
    /// Covered days, ascending.
    pub days: Vec<BatchDay>,
    /// Their hours, by day then hour.
    pub hours: Vec<BatchHour>,
}

/// One value of a dimension (a web server, a category) on one day or in
/// one hour of it: `daily_dimension_traffic` or `hourly_dimension_traffic`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct DimensionRow {
    /// The UTC day.
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    /// UTC hour 0..23 for hourly rows, `None` for daily ones.
    #[diesel(sql_type = Nullable<Unsigned<TinyInt>>)]
    pub hour: Option<u8>,
    /// The web server or category.
    #[diesel(sql_type = Text)]
    pub value: String,
    /// Distinct events.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub requests: u64,
    /// Distinct visitors of this value in that day (or hour).
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub unique_visitors: u64,
    /// Requests the batch job counted as successful (status below `success_below`).
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub success_requests: u64,
    /// The others (`success_requests + failure_requests = requests`).
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub failure_requests: u64,
    /// Response bytes.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub bytes_sent: u64,
}

/// A dimension over a range of days.
#[derive(Debug, Clone, Default)]
pub struct BatchDimension {
    /// The covered days of the range, ascending.
    pub days: Vec<BatchDay>,
    /// Their rows: by day (and hour), most requests first, then by value.
    pub rows: Vec<DimensionRow>,
}

/// One row of `daily_top_paths`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct TopPath {
    /// 1 = most requested (ties broken by path).
    #[diesel(sql_type = Unsigned<SmallInt>)]
    pub rank: u16,
    /// The request path without its query.
    #[diesel(sql_type = Text)]
    pub path: String,
    /// Distinct events.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub requests: u64,
    /// Successful ones.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub success_requests: u64,
    /// The others.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub failure_requests: u64,
    /// Response bytes.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub bytes_sent: u64,
}

/// The top paths of one day.
#[derive(Debug, Clone, Default)]
pub struct BatchTopPaths {
    /// The day's `daily_traffic` row, if the batch layer covered it.
    pub day: Option<BatchDay>,
    /// Its paths by rank, at most the limit asked for plus one.
    pub paths: Vec<TopPath>,
}

/// Weeks or months for [`MysqlStore::visitors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// ISO weeks (Monday to Sunday): `weekly_visitors`.
    Week,
    /// Calendar months: `monthly_visitors`.
    Month,
}

/// One row of `weekly_visitors` or `monthly_visitors`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct PeriodVisitors {
    /// The Monday, or the first of the month.
    #[diesel(sql_type = Date)]
    pub start: NaiveDate,
    /// ISO year (weeks only).
    #[diesel(sql_type = Nullable<Unsigned<SmallInt>>)]
    pub iso_year: Option<u16>,
    /// ISO week (weeks only).
    #[diesel(sql_type = Nullable<Unsigned<TinyInt>>)]
    pub iso_week: Option<u8>,
    /// Days of the period with a report.
    #[diesel(sql_type = Unsigned<TinyInt>)]
    pub days_reported: u8,
    /// Distinct events over those days.
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub requests: u64,
    /// Distinct visitors over those days (exact; not a sum of days).
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub unique_visitors: u64,
    /// When it was recomputed (UTC).
    #[diesel(sql_type = Datetime)]
    pub computed_at: NaiveDateTime,
}

#[derive(QueryableByName)]
struct NewestDay {
    #[diesel(sql_type = Nullable<Date>)]
    day: Option<NaiveDate>,
}

/// The covered days of `from..=to`, on `c` (inside the caller's transaction).
fn covered_days(c: &mut MysqlConnection, from: NaiveDate, to: NaiveDate) -> QueryResult<Vec<BatchDay>> {
    diesel::sql_query(
        "SELECT day, requests, unique_visitors, run_id, computed_at \
         FROM daily_traffic WHERE day BETWEEN ? AND ? ORDER BY day",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .load::<BatchDay>(c)
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Integer)]
    one: i32,
}

/// The pool's most recent connection error, cleared by the next success.
/// r2d2 retries failed connects until its timeout and then reports only
/// "timed out"; this keeps the cause (access denied, refused) for the message.
#[derive(Debug, Clone, Default)]
struct LastError(Arc<Mutex<Option<String>>>);

impl LastError {
    fn set(&self, e: Option<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl HandleError<diesel::r2d2::Error> for LastError {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::debug!(%error, "mysql connect failed");
        self.set(Some(error.to_string()));
    }
}

impl CustomizeConnection<MysqlConnection, diesel::r2d2::Error> for LastError {
    fn on_acquire(&self, _: &mut MysqlConnection) -> Result<(), diesel::r2d2::Error> {
        self.set(None);
        Ok(())
    }
}

/// A pool of read-only connections.
#[derive(Clone)]
pub struct MysqlStore {
    pool: Pool<ConnectionManager<MysqlConnection>>,
    last_error: LastError,
    /// `host:port/database` without credentials, for messages.
    target: String,
}

/// The URL without its user and password.
fn redact(url: &str) -> String {
    let rest = url.strip_prefix("mysql://").unwrap_or(url);
    rest.rsplit_once('@').map_or(rest, |(_, r)| r).to_string()
}

impl MysqlStore {
    /// Builds the pool. Connections are opened lazily, so the serving layer
    /// starts (and `/api/health` reports the outage) while MySQL is down.
    pub fn new(cfg: &MysqlConfig) -> MysqlStore {
        let last_error = LastError::default();
        let pool = Pool::builder()
            .error_handler(Box::new(last_error.clone()))
            .connection_customizer(Box::new(last_error.clone()))
            .max_size(cfg.pool_size)
            .min_idle(Some(0))
            .connection_timeout(cfg.connect_timeout)
            .test_on_check_out(false)
            .idle_timeout(Some(Duration::from_secs(300)))
            .build_unchecked(ConnectionManager::new(cfg.url.clone()));
        MysqlStore { pool, last_error, target: redact(&cfg.url) }
    }

    fn conn(&self) -> Result<PooledConnection<ConnectionManager<MysqlConnection>>, StoreError> {
        self.pool.get().map_err(|e| StoreError::Unavailable {
            store: "mysql",
            target: self.target.clone(),
            message: match self.last_error.get() {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            },
        })
    }

    /// Runs `f` with a connection on the blocking pool.
    async fn with_conn<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut MysqlConnection) -> QueryResult<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = store.conn()?;
            f(&mut c).map_err(|e| StoreError::Query { store: "mysql", what, message: e.to_string() })
        })
        .await
        .map_err(|e| StoreError::Query { store: "mysql", what, message: format!("query task failed: {e}") })?
    }

    /// `SELECT 1`: the database answers and the credentials work.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let one = self.with_conn("ping", |c| diesel::sql_query("SELECT 1 AS one").get_result::<One>(c)).await?;
        debug_assert_eq!(one.one, 1);
        Ok(())
    }

    /// The covered days in `from..=to` and their hours (two reads in one
    /// REPEATABLE READ transaction, so a day replaced in between cannot
    /// mix old days with new hours).
    pub async fn range(&self, from: NaiveDate, to: NaiveDate) -> Result<BatchRange, StoreError> {
        self.with_conn("reading daily_traffic and hourly_traffic", move |c| {
            c.transaction(|c| {
                let days = covered_days(c, from, to)?;
                let hours = diesel::sql_query(
                    "SELECT day, hour, requests, unique_visitors \
                     FROM hourly_traffic WHERE day BETWEEN ? AND ? ORDER BY day, hour",
                )
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .load::<BatchHour>(c)?;
                Ok(BatchRange { days, hours })
            })
        })
        .await
    }

    /// The newest day the batch layer covered, if any.
    pub async fn newest_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        self.with_conn("reading the newest day of daily_traffic", |c| {
            diesel::sql_query("SELECT MAX(day) AS day FROM daily_traffic").get_result::<NewestDay>(c).map(|r| r.day)
        })
        .await
    }

    /// `dimension` (`server` or `category`) on the covered days of
    /// `from..=to`, per day or per hour, with those days (one REPEATABLE
    /// READ transaction, like [`MysqlStore::range`]).
    pub async fn dimension(&self, dimension: &'static str, from: NaiveDate, to: NaiveDate, hourly: bool) -> Result<BatchDimension, StoreError> {
        self.with_conn("reading daily_traffic and the dimension tables", move |c| {
            c.transaction(|c| {
                let days = covered_days(c, from, to)?;
                let sql = if hourly {
                    "SELECT day, hour, value, requests, unique_visitors, success_requests, failure_requests, bytes_sent \
                     FROM hourly_dimension_traffic WHERE dimension = ? AND day BETWEEN ? AND ? \
                     ORDER BY day, hour, requests DESC, value"
                } else {
                    "SELECT day, NULL AS hour, value, requests, unique_visitors, success_requests, failure_requests, bytes_sent \
                     FROM daily_dimension_traffic WHERE dimension = ? AND day BETWEEN ? AND ? \
                     ORDER BY day, requests DESC, value"
                };
                let rows = diesel::sql_query(sql).bind::<Text, _>(dimension).bind::<Date, _>(from).bind::<Date, _>(to).load::<DimensionRow>(c)?;
                Ok(BatchDimension { days, rows })
            })
        })
        .await
    }

    /// The top paths of `day` by rank, at most `limit + 1` (so the caller
    /// can tell whether there were more), with the day's `daily_traffic` row.
    pub async fn top_paths(&self, day: NaiveDate, limit: u32) -> Result<BatchTopPaths, StoreError> {
        self.with_conn("reading daily_traffic and daily_top_paths", move |c| {
            c.transaction(|c| {
                let covered = covered_days(c, day, day)?.into_iter().next();
                let paths = diesel::sql_query(
                    "SELECT `rank`, path, requests, success_requests, failure_requests, bytes_sent \
                     FROM daily_top_paths WHERE day = ? ORDER BY `rank` LIMIT ?",
                )
                .bind::<Date, _>(day)
                .bind::<Unsigned<BigInt>, _>(u64::from(limit) + 1)
                .load::<TopPath>(c)?;
                Ok(BatchTopPaths { day: covered, paths })
            })
        })
        .await
    }

    /// The weeks (by their Monday) or months (by their first day) that
    /// start in `first..=last`, oldest first.
    pub async fn visitors(&self, period: Period, first: NaiveDate, last: NaiveDate) -> Result<Vec<PeriodVisitors>, StoreError> {
        let (what, sql) = match period {
            Period::Week => (
                "reading weekly_visitors",
                "SELECT week_start AS start, iso_year, iso_week, days_reported, requests, unique_visitors, computed_at \
                 FROM weekly_visitors WHERE week_start BETWEEN ? AND ? ORDER BY week_start",
            ),
            Period::Month => (
                "reading monthly_visitors",
                "SELECT month_start AS start, NULL AS iso_year, NULL AS iso_week, days_reported, requests, unique_visitors, computed_at \
                 FROM monthly_visitors WHERE month_start BETWEEN ? AND ? ORDER BY month_start",
            ),
        };
        self.with_conn(what, move |c| diesel::sql_query(sql).bind::<Date, _>(first).bind::<Date, _>(last).load::<PeriodVisitors>(c)).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_never_show_credentials() {
        assert_eq!(super::redact("mysql://u:secret@127.0.0.1:3306/clickstream"), "127.0.0.1:3306/clickstream");
        assert_eq!(super::redact("mysql://h/db"), "h/db");
    }
}
