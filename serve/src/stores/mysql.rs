//! The batch views in MySQL/MariaDB (`jobs/batch-job/migrations`), read only.
//!
//! The batch job replaces a day in one transaction (its `daily_traffic`
//! row, the 24 `hourly_traffic` rows with it), so a day is *covered by the
//! batch layer* exactly when its `daily_traffic` row exists, and a reader
//! never sees half a day. Diesel is synchronous: every query runs on the
//! blocking pool with a connection from an r2d2 pool, so a slow database
//! holds a blocking thread, never an async worker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, Pool, PooledConnection};
use diesel::sql_types::{BigInt, Date, Datetime, Integer, TinyInt, Unsigned};

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
                let days = diesel::sql_query(
                    "SELECT day, requests, unique_visitors, run_id, computed_at \
                     FROM daily_traffic WHERE day BETWEEN ? AND ? ORDER BY day",
                )
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .load::<BatchDay>(c)?;
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
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_never_show_credentials() {
        assert_eq!(super::redact("mysql://u:secret@127.0.0.1:3306/clickstream"), "127.0.0.1:3306/clickstream");
        assert_eq!(super::redact("mysql://h/db"), "h/db");
    }
}
