//! `GET /api/breakdown?dimension=server|category&from=D&to=D&granularity=day|hour`:
//! the batch layer's traffic per web server or per category, per day (or
//! hour), with totals per value over the range.
//!
//! Batch only: the batch job writes `daily_dimension_traffic` and
//! `hourly_dimension_traffic` in the transaction that reports a day, so a
//! covered day (its `daily_traffic` row exists) has all of its values, and
//! any other day has none. The speed layer keeps no such breakdown of past
//! days, so uncovered days are listed (`uncovered`) and have no rows rather
//! than being answered from elsewhere.
//!
//! Requests, successes, failures and bytes add up over days, so `totals`
//! sums them per value. Unique visitors do not (a visitor of two days is
//! one visitor of the range), so they are per row only and have no total;
//! `/api/visitors` has the exact visitors of weeks and months.
//!
//! Without `day`/`from`/`to`, the newest covered day is answered.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use super::traffic::{BatchDayInfo, Source};
use crate::state::AppState;
use crate::stores::mysql::BatchDay;
use crate::time::{day_start, rfc3339, HOUR_MS};

const PARAMS: &[&str] = &["dimension", "day", "from", "to", "granularity"];
/// The dimensions the batch job writes.
pub const DIMENSIONS: &[&str] = &["server", "category"];

/// One value on one day (or in one hour).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Start of the day (or hour), RFC 3339 UTC.
    pub start: String,
    /// The UTC day.
    pub day: String,
    /// UTC hour 0..23 (absent with `granularity=day`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    /// The web server or category.
    pub value: String,
    /// Distinct events.
    pub requests: u64,
    /// Distinct visitors of this value in that day (or hour), exact.
    pub unique_visitors: u64,
    /// Successful requests (status below the batch job's `success_below`).
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

/// One value over the whole range: only what adds up over days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Total {
    /// The web server or category.
    pub value: String,
    /// Covered days with a row for this value.
    pub days: u32,
    /// Sum of the requests.
    pub requests: u64,
    /// Sum of the successful requests.
    pub success_requests: u64,
    /// Sum of the others.
    pub failure_requests: u64,
    /// `failure_requests / requests` over the range.
    pub failure_share: Option<f64>,
    /// Sum of the response bytes.
    pub bytes_sent: u64,
}

/// The days the batch layer answered.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSources {
    /// Covered days of the range, with the run that wrote each.
    pub batch: Vec<BatchDayInfo>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    /// `server` or `category`.
    pub dimension: &'static str,
    /// First day.
    pub from: String,
    /// Last day (included).
    pub to: String,
    /// `day` or `hour`.
    pub granularity: &'static str,
    /// By day (and hour), most requests first, then by value.
    pub rows: Vec<Row>,
    /// Per value over the range, most requests first, then by value. No
    /// unique visitors: they do not add up over days.
    pub totals: Vec<Total>,
    /// The covered days.
    pub sources: BatchSources,
    /// Days of the range the batch layer has not covered (no rows).
    pub uncovered: Vec<String>,
}

/// `failure / requests`, `None` without requests.
pub fn share(failure: u64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| failure as f64 / requests as f64)
}

/// The covered days' audit information.
pub fn sources(days: &[BatchDay]) -> BatchSources {
    BatchSources { batch: days.iter().map(BatchDayInfo::from).collect() }
}

/// The days of `from..=to` not in `covered`.
pub fn uncovered(from: NaiveDate, to: NaiveDate, covered: &[BatchDay]) -> Vec<String> {
    crate::time::days(from, to).filter(|d| !covered.iter().any(|c| c.day == *d)).map(|d| d.to_string()).collect()
}

/// The newest day the batch layer covered, the default of the batch-only
/// routes; today (UTC, by the clock) when it covered none.
pub async fn newest_batch_day(state: &AppState) -> Result<NaiveDate, ApiError> {
    let newest = state.mysql.newest_day().await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    Ok(newest.unwrap_or_else(|| crate::time::day_of(crate::time::now_ms())))
}

/// The days asked for; without `day`/`from`/`to`, the newest covered day
/// (read only then), at most `max_days` long.
pub async fn batch_days(state: &AppState, p: &Params, max_days: u32) -> Result<(NaiveDate, NaiveDate), ApiError> {
    // The default is used only when no day is named, so it is read only then.
    let default = if p.names_days() { NaiveDate::MIN } else { newest_batch_day(state).await? };
    p.day_range(default, max_days)
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<Breakdown>, ApiError> {
    let p = Params::parse(q.as_deref(), PARAMS)?;
    if p.get("dimension").is_none() {
        return Err(ApiError::bad("dimension", format!("missing: expected one of {}", DIMENSIONS.join(", "))));
    }
    let dimension = dimension_name(p.one_of("dimension", DIMENSIONS, "")?);
    let granularity = p.one_of("granularity", &["day", "hour"], "day")?;
    let (from, to) = batch_days(&state, &p, state.cfg.api.max_range_days).await?;
    Ok(Json(load(&state, dimension, from, to, granularity == "hour").await?))
}

/// The `'static` name of a dimension checked against [`DIMENSIONS`].
fn dimension_name(d: &str) -> &'static str {
    DIMENSIONS.iter().find(|n| **n == d).copied().unwrap_or("server")
}

/// `dimension` over `from..=to`, per day (or per hour), with totals.
pub async fn load(state: &AppState, dimension: &'static str, from: NaiveDate, to: NaiveDate, hourly: bool) -> Result<Breakdown, ApiError> {
    let batch = state.mysql.dimension(dimension, from, to, hourly).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    let mut totals: BTreeMap<String, (Total, Option<NaiveDate>)> = BTreeMap::new();
    for r in &batch.rows {
        let (t, last_day) = totals.entry(r.value.clone()).or_insert_with(|| {
            let t =
                Total { value: r.value.clone(), days: 0, requests: 0, success_requests: 0, failure_requests: 0, failure_share: None, bytes_sent: 0 };
            (t, None)
        });
        if *last_day != Some(r.day) {
            t.days += 1;
            *last_day = Some(r.day);
        }
        t.requests += r.requests;
        t.success_requests += r.success_requests;
        t.failure_requests += r.failure_requests;
        t.bytes_sent += r.bytes_sent;
    }
    let mut totals: Vec<Total> = totals
        .into_values()
        .map(|(mut t, _)| {
            t.failure_share = share(t.failure_requests, t.requests);
            t
        })
        .collect();
    totals.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.value.cmp(&b.value)));
    let rows = batch
        .rows
        .into_iter()
        .map(|r| Row {
            start: rfc3339(day_start(r.day) + r.hour.map_or(0, |h| i64::from(h) * HOUR_MS)),
            day: r.day.to_string(),
            hour: r.hour,
            failure_share: share(r.failure_requests, r.requests),
            value: r.value,
            requests: r.requests,
            unique_visitors: r.unique_visitors,
            success_requests: r.success_requests,
            failure_requests: r.failure_requests,
            bytes_sent: r.bytes_sent,
            source: Source::Batch,
        })
        .collect();
    Ok(Breakdown {
        dimension,
        from: from.to_string(),
        to: to.to_string(),
        granularity: if hourly { "hour" } else { "day" },
        rows,
        totals,
        uncovered: uncovered(from, to, &batch.days),
        sources: sources(&batch.days),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_uncovered_days() {
        assert_eq!(share(5, 50), Some(0.1));
        assert_eq!(share(0, 0), None);
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let covered = BatchDay { day: d("2026-11-21"), requests: 1, unique_visitors: 1, run_id: 1, computed_at: Default::default() };
        assert_eq!(uncovered(d("2026-11-20"), d("2026-11-22"), &[covered]), ["2026-11-20", "2026-11-22"]);
        assert_eq!(dimension_name("category"), "category");
    }
}
