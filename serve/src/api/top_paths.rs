//! `GET /api/top-paths?day=D&limit=N`: the most requested paths of one
//! day, as the batch job ranked them (`daily_top_paths`, ties broken by
//! path).
//!
//! One day only: the batch job keeps each day's top N, and a path outside
//! one day's top N has no count there, so the days' lists cannot be summed
//! into a range's. Batch only, like `/api/breakdown`: a day the batch layer
//! has not covered has no paths. Without `day`, the newest covered day.

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Serialize;

use super::breakdown::{batch_days, share, sources, uncovered, BatchSources};
use super::error::ApiError;
use super::params::Params;
use super::traffic::Source;
use crate::state::AppState;

const PARAMS: &[&str] = &["day", "limit"];

/// One path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathRow {
    /// 1 = most requested.
    pub rank: u16,
    /// The request path without its query.
    pub path: String,
    /// Distinct events.
    pub requests: u64,
    /// Successful requests.
    pub success_requests: u64,
    /// The others.
    pub failure_requests: u64,
    /// `failure_requests / requests` (0..1), `null` without requests.
    pub failure_share: Option<f64>,
    /// Response bytes.
    pub bytes_sent: u64,
    /// Always `batch`.
    pub source: Source,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct TopPaths {
    /// The day.
    pub day: String,
    /// By rank.
    pub paths: Vec<PathRow>,
    /// The batch job ranked more paths than `limit`.
    pub truncated: bool,
    /// The day, if the batch layer covered it.
    pub sources: BatchSources,
    /// The day, if it did not (no paths).
    pub uncovered: Vec<String>,
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<TopPaths>, ApiError> {
    let p = Params::parse(q.as_deref(), PARAMS)?;
    let limit = p.int("limit", state.cfg.api.default_limit, 1, state.cfg.api.max_limit)?;
    let (day, _) = batch_days(&state, &p, 1).await?;
    Ok(Json(load(&state, day, limit).await?))
}

/// The first `limit` paths of `day`.
pub async fn load(state: &AppState, day: NaiveDate, limit: u32) -> Result<TopPaths, ApiError> {
    let mut batch = state.mysql.top_paths(day, limit).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    let truncated = batch.paths.len() > limit as usize;
    batch.paths.truncate(limit as usize);
    let covered: Vec<_> = batch.day.into_iter().collect();
    Ok(TopPaths {
        day: day.to_string(),
        paths: batch
            .paths
            .into_iter()
            .map(|p| PathRow {
                rank: p.rank,
                path: p.path,
                requests: p.requests,
                success_requests: p.success_requests,
                failure_requests: p.failure_requests,
                failure_share: share(p.failure_requests, p.requests),
                bytes_sent: p.bytes_sent,
                source: Source::Batch,
            })
            .collect(),
        truncated,
        uncovered: uncovered(day, day, &covered),
        sources: sources(&covered),
    })
}
