//! `GET /api/alerts?kind=&day=|from=&to=&host=&limit=`: DDoS alerts
//! (`ddos_alerts`: a client address over the threshold in one window) and
//! health alerts (`health_alerts`: a web server with too many non-200
//! responses in one window), newest first.
//!
//! Both tables are partitioned by day and clustered newest first, so the
//! range is read day by day from `to` backwards, and reading stops once
//! `limit` alerts are in hand. `host` matches a health alert's web server,
//! or one of the web servers a DDoS source hit.

use std::cmp::Reverse;

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use crate::state::AppState;
use crate::time::{day_of, rfc3339};

const PARAMS: &[&str] = &["kind", "day", "from", "to", "host", "limit"];

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Alert {
    /// A client address with more requests in one window than the threshold.
    Ddos {
        /// Window start, RFC 3339.
        window_start: String,
        /// Window end (exclusive).
        window_end: String,
        /// The client address.
        client: String,
        /// Web servers it hit.
        hosts: Vec<String>,
        /// Its requests in the window.
        requests: i64,
        /// First request in the window.
        first_seen: String,
        /// Last request in the window.
        last_seen: String,
        /// The window is closed; the row will not change.
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// A web server with more non-200 responses in one window than the threshold.
    Health {
        /// Window start, RFC 3339.
        window_start: String,
        /// Window end (exclusive).
        window_end: String,
        /// The web server.
        host: String,
        /// Requests in the window.
        requests: i64,
        /// Responses other than 200.
        non_200: i64,
        /// Closed.
        #[serde(rename = "final")]
        is_final: bool,
    },
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct Alerts {
    /// First day searched.
    pub from: String,
    /// Last day searched.
    pub to: String,
    /// Newest first.
    pub alerts: Vec<Alert>,
    /// More alerts matched than `limit`.
    pub truncated: bool,
}

/// What to look for.
#[derive(Debug, Clone)]
pub struct Query {
    /// Include DDoS alerts.
    pub ddos: bool,
    /// Include health alerts.
    pub health: bool,
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Only alerts about this web server.
    pub host: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<Alerts>, ApiError> {
    let p = Params::parse(q.as_deref(), PARAMS)?;
    let api = &state.cfg.api;
    let kind = p.one_of("kind", &["all", "ddos", "health"], "all")?;
    let limit = p.int("limit", api.default_limit, 1, api.max_limit)?;
    let host = p.word("host")?.map(str::to_string);
    let today = day_of(state.event_now().await);
    let (from, to) = p.day_range(today, api.max_range_days)?;
    let query = Query { ddos: kind != "health", health: kind != "ddos", from, to, host, limit: limit as usize };
    Ok(Json(load(&state, &query).await?))
}

/// The alerts matching `q`, newest first.
pub async fn load(state: &AppState, q: &Query) -> Result<Alerts, ApiError> {
    let mut out: Vec<(i64, Alert)> = Vec::new();
    let mut truncated = false;
    for day in crate::time::days(q.from, q.to).rev() {
        let (ddos, health) = tokio::join!(
            async {
                if q.ddos {
                    state.cql.ddos_alerts(day).await
                } else {
                    Ok(Vec::new())
                }
            },
            async {
                if q.health {
                    state.cql.health_alerts(day).await
                } else {
                    Ok(Vec::new())
                }
            }
        );
        let (ddos, health) =
            (ddos.inspect_err(|e| state.metrics.store_error(e.store()))?, health.inspect_err(|e| state.metrics.store_error(e.store()))?);
        let mut of_day: Vec<(i64, Alert)> = Vec::new();
        for a in ddos {
            if q.host.as_ref().is_some_and(|h| !a.hosts.contains(h)) {
                continue;
            }
            of_day.push((
                a.window_start,
                Alert::Ddos {
                    window_start: rfc3339(a.window_start),
                    window_end: rfc3339(a.window_end),
                    client: a.client,
                    hosts: a.hosts,
                    requests: a.requests,
                    first_seen: rfc3339(a.first_seen),
                    last_seen: rfc3339(a.last_seen),
                    is_final: a.is_final,
                },
            ));
        }
        for a in health {
            if q.host.as_ref().is_some_and(|h| *h != a.host) {
                continue;
            }
            of_day.push((
                a.window_start,
                Alert::Health {
                    window_start: rfc3339(a.window_start),
                    window_end: rfc3339(a.window_end),
                    host: a.host,
                    requests: a.requests,
                    non_200: a.non_200,
                    is_final: a.is_final,
                },
            ));
        }
        // Newest first; within one window start, a fixed order (kind, then key).
        of_day.sort_by_key(|(start, a)| (Reverse(*start), sort_key(a)));
        out.extend(of_day);
        if out.len() > q.limit {
            truncated = true;
            out.truncate(q.limit);
            break;
        }
    }
    Ok(Alerts { from: q.from.to_string(), to: q.to.to_string(), alerts: out.into_iter().map(|(_, a)| a).collect(), truncated })
}

fn sort_key(a: &Alert) -> (u8, String) {
    match a {
        Alert::Ddos { client, .. } => (0, client.clone()),
        Alert::Health { host, .. } => (1, host.clone()),
    }
}
