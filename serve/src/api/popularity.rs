//! `GET /api/popularity?window=5m&points=N`: the top categories of the
//! newest popularity window, and requests per category over time.
//!
//! Windows start on multiples of the slide, so their keys are known without
//! listing: "now" (event time, see [`AppState::event_now`]) gives the
//! newest possible start, and one `IN` query over the recent starts finds
//! the newest window that has rows in `category_top`. The history uses
//! `category_popularity` (every category, not just the top N) over the
//! `points` windows that tile time (starts a multiple of the window length)
//! up to that window, so each request is counted once along the series.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use crate::state::AppState;
use crate::time::{floor_to, rfc3339};

const PARAMS: &[&str] = &["window", "points"];
/// Slides looked back for the newest window, past one window length.
const PROBE_EXTRA: i64 = 30;

/// One category's requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Rank in the window (1 first; ties broken by name, as the speed job does).
    pub rank: u32,
    /// The category.
    pub category: String,
    /// Requests in the window.
    pub requests: i64,
}

/// One window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Start, RFC 3339.
    pub window_start: String,
    /// End (exclusive).
    pub window_end: String,
    /// Every row of the window is final.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Requests in the window over all categories listed.
    pub total: i64,
    /// Most requested first.
    pub categories: Vec<Entry>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct Popularity {
    /// The window length, e.g. `5m`.
    pub window: String,
    /// The newest window with data (top N of `category_top`); `null` when none is recent.
    pub current: Option<Window>,
    /// Oldest first: `points` consecutive windows ending with the one holding `current`.
    pub history: Vec<Window>,
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<Popularity>, ApiError> {
    let p = Params::parse(q.as_deref(), PARAMS)?;
    let configured = state.cfg.speed.popularity.window;
    if let Some(w) = p.duration("window")? {
        if w != configured {
            return Err(ApiError::bad(
                "window",
                format!(
                    "`{}`: the speed layer keeps {} windows only (speed.popularity.window)",
                    p.get("window").unwrap_or_default(),
                    humantime::format_duration(configured)
                ),
            ));
        }
    }
    let points = p.int("points", 12, 1, state.cfg.api.max_points)?;
    Ok(Json(load(&state, points).await?))
}

/// The newest window and `points` windows of history.
pub async fn load(state: &AppState, points: u32) -> Result<Popularity, ApiError> {
    let cfg = state.cfg.speed.popularity;
    let (window, slide) = (ms(cfg.window), ms(cfg.slide));
    let now = state.event_now().await;
    let newest = floor_to(now, slide);
    let probe: Vec<i64> = (0..window / slide + PROBE_EXTRA).map(|i| newest - i * slide).collect();
    let top = state.cql.top(&probe).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    let current_start = top.iter().map(|r| r.window_start).max();
    let current = current_start.map(|start| {
        let mut rows: Vec<_> = top.iter().filter(|r| r.window_start == start).collect();
        rows.sort_by_key(|r| r.rank);
        Window {
            window_start: rfc3339(start),
            window_end: rfc3339(rows.first().map_or(start + window, |r| r.window_end)),
            is_final: rows.iter().all(|r| r.is_final),
            total: rows.iter().map(|r| r.requests).sum(),
            categories: rows.iter().map(|r| Entry { rank: r.rank.max(0) as u32, category: r.category.clone(), requests: r.requests }).collect(),
        }
    });

    let last = floor_to(current_start.unwrap_or(newest), window);
    let starts: Vec<i64> = (0..i64::from(points)).rev().map(|k| last - k * window).collect();
    let rows = state.cql.popularity(&starts).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    let mut by_start: BTreeMap<i64, Vec<_>> = starts.iter().map(|s| (*s, Vec::new())).collect();
    for r in rows {
        if let Some(v) = by_start.get_mut(&r.window_start) {
            v.push(r);
        }
    }
    let history = by_start
        .into_iter()
        .map(|(start, mut rows)| {
            rows.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.category.cmp(&b.category)));
            Window {
                window_start: rfc3339(start),
                window_end: rfc3339(start + window),
                is_final: !rows.is_empty() && rows.iter().all(|r| r.is_final),
                total: rows.iter().map(|r| r.requests).sum(),
                categories: rows
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| Entry { rank: i as u32 + 1, category: r.category, requests: r.requests })
                    .collect(),
            }
        })
        .collect();
    Ok(Popularity { window: humantime::format_duration(cfg.window).to_string(), current, history })
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}
