//! What every handler shares: the configuration, both stores, the metrics
//! and the dashboard's stream [`Hub`]. Cheap to clone (everything is behind `Arc`).

use std::sync::Arc;

use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::stores::cql::CqlStore;
use crate::stores::mysql::MysqlStore;

/// Handler state.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub cfg: Arc<Config>,
    /// Batch views.
    pub mysql: MysqlStore,
    /// Speed views.
    pub cql: CqlStore,
    /// Request and store metrics.
    pub metrics: Arc<Metrics>,
    /// Live updates for open dashboards.
    pub hub: Hub,
}

impl AppState {
    /// "Now" in event time: the newest event time the speed job's checkpoint
    /// vouches for, else the wall clock (no checkpoint, or Cassandra down:
    /// the caller's own reads then report the outage).
    pub async fn event_now(&self) -> i64 {
        match self.cql.event_now().await {
            Ok(Some(t)) => t,
            Ok(None) => crate::time::now_ms(),
            Err(e) => {
                self.metrics.store_error(e.store());
                tracing::debug!(error = %e, "no event time from the checkpoint; using the clock");
                crate::time::now_ms()
            }
        }
    }
}
