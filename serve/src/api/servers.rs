//! `GET /api/servers?points=N`: health of every web server — its newest
//! `server_health` windows (requests, non-200 responses, status classes,
//! unhealthy flag) on the newest event day.

use axum::extract::{RawQuery, State};
use axum::Json;
use futures_util::future::try_join_all;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use crate::state::AppState;
use crate::stores::cql::{HealthWindow, Windows};
use crate::time::{day_of, rfc3339};

const PARAMS: &[&str] = &["points"];

/// Responses per status class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classes {
    /// 1xx.
    #[serde(rename = "1xx")]
    pub c1: i64,
    /// 2xx.
    #[serde(rename = "2xx")]
    pub c2: i64,
    /// 3xx.
    #[serde(rename = "3xx")]
    pub c3: i64,
    /// 4xx.
    #[serde(rename = "4xx")]
    pub c4: i64,
    /// 5xx.
    #[serde(rename = "5xx")]
    pub c5: i64,
}

/// One window of one web server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Start, RFC 3339.
    pub window_start: String,
    /// End (exclusive).
    pub window_end: String,
    /// Requests.
    pub requests: i64,
    /// Responses other than 200.
    pub non_200: i64,
    /// By status class.
    pub status: Classes,
    /// `non_200` above the speed job's threshold.
    pub unhealthy: bool,
    /// Closed.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// One web server.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// Its name (`source_host`).
    pub host: String,
    /// Newest first, at most `points`.
    pub windows: Vec<Window>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct Servers {
    /// The event day read.
    pub day: String,
    /// By host name.
    pub servers: Vec<Server>,
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<Servers>, ApiError> {
    let p = Params::parse(q.as_deref(), PARAMS)?;
    let points = p.int("points", 1, 1, state.cfg.api.max_points)?;
    Ok(Json(load(&state, points).await?))
}

/// The newest `points` windows of every web server.
pub async fn load(state: &AppState, points: u32) -> Result<Servers, ApiError> {
    let day = day_of(state.event_now().await);
    let hosts = state.cql.hosts_on(day).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    let reads = hosts.iter().map(|h| state.cql.health_windows(h, day, Windows::Newest(points as i32)));
    let windows = try_join_all(reads).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    Ok(Servers {
        day: day.to_string(),
        servers: hosts.into_iter().zip(windows).map(|(host, ws)| Server { host, windows: ws.iter().map(window).collect() }).collect(),
    })
}

fn window(w: &HealthWindow) -> Window {
    Window {
        window_start: rfc3339(w.window_start),
        window_end: rfc3339(w.window_end),
        requests: w.requests,
        non_200: w.non_200,
        status: Classes { c1: w.classes[0], c2: w.classes[1], c3: w.classes[2], c4: w.classes[3], c5: w.classes[4] },
        unhealthy: w.unhealthy,
        is_final: w.is_final,
    }
}
