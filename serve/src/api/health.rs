//! `GET /api/health`: can the serving layer answer? Both stores are pinged
//! concurrently (MySQL `SELECT 1`, Cassandra `system.local`); 200 when both
//! answer, 503 naming the one that does not. The same report feeds the
//! `/health` of the metrics endpoint, refreshed in the background.

use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use crate::state::AppState;
use crate::stores::StoreError;

/// One store's state.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// It answered.
    pub ok: bool,
    /// How long the ping took.
    pub latency_ms: f64,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Per store.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// The batch views.
    pub mysql: Check,
    /// The speed views.
    pub cassandra: Check,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Per store.
    pub checks: Checks,
    /// Version of this binary.
    pub version: &'static str,
}

impl HealthReport {
    /// Both stores answered.
    pub fn ok(&self) -> bool {
        self.checks.mysql.ok && self.checks.cassandra.ok
    }
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<(StatusCode, Json<HealthReport>), ApiError> {
    Params::parse(q.as_deref(), &[])?;
    let report = check(&state).await;
    let code = if report.ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((code, Json(report)))
}

/// Pings both stores (each bounded by its own timeout).
pub async fn check(state: &AppState) -> HealthReport {
    let (mysql, cassandra) = tokio::join!(
        // The pool's own timeout first: its error says why (access denied, refused).
        timed(state.cfg.mysql.connect_timeout + Duration::from_secs(1), state.mysql.ping()),
        timed(state.cfg.cassandra.request_timeout, state.cql.ping()),
    );
    let checks = Checks { mysql, cassandra };
    let status = if checks.mysql.ok && checks.cassandra.ok { "ok" } else { "unavailable" };
    HealthReport { status, checks, version: env!("CARGO_PKG_VERSION") }
}

async fn timed(limit: Duration, ping: impl std::future::Future<Output = Result<(), StoreError>>) -> Check {
    let started = Instant::now();
    let result = match tokio::time::timeout(limit, ping).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {}", humantime::format_duration(limit))),
    };
    Check { ok: result.is_ok(), latency_ms: (started.elapsed().as_secs_f64() * 1e3 * 1000.0).round() / 1000.0, error: result.err() }
}
