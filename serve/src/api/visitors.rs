//! `GET /api/visitors?period=week|month&from=D&to=D`: exact unique visitors
//! of ISO weeks or calendar months (`weekly_visitors`, `monthly_visitors`).
//!
//! Daily unique visitors do not add up (a visitor of Monday and Tuesday is
//! one visitor of the week), so the batch job keeps each day's set of
//! visitors and recomputes the distinct count of the week and the month
//! around a day whenever it reports that day. A period is listed once at
//! least one of its days is reported; `days_reported` against `days` says
//! how complete it is.
//!
//! The periods listed are those overlapping `from..=to` (at most
//! [`MAX_RANGE_DAYS`] days, so a year of weeks or months). Without
//! `day`/`from`/`to`, the period of the newest covered day.

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Serialize;

use super::breakdown::batch_days;
use super::error::ApiError;
use super::params::Params;
use super::traffic::Source;
use crate::state::AppState;
use crate::stores::mysql::Period;
use crate::time::rfc3339;

const PARAMS: &[&str] = &["period", "day", "from", "to"];
/// The longest range of days asked for: 53 weeks or 13 months of rows.
pub const MAX_RANGE_DAYS: u32 = 366;

/// One week or month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodRow {
    /// Its first day (a Monday, or the first of the month).
    pub start: String,
    /// Its last day (included).
    pub end: String,
    /// ISO year (weeks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iso_year: Option<u16>,
    /// ISO week 1..53 (weeks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iso_week: Option<u8>,
    /// Days in the period (7, or 28..31).
    pub days: u8,
    /// Days of it with a batch report.
    pub days_reported: u8,
    /// Every day of it is reported.
    pub complete: bool,
    /// Distinct events over the reported days.
    pub requests: u64,
    /// Distinct visitors over the reported days: exact, not a sum of days.
    pub unique_visitors: u64,
    /// When the batch job recomputed it, RFC 3339 UTC.
    pub computed_at: String,
    /// Always `batch`.
    pub source: Source,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct Visitors {
    /// `week` or `month`.
    pub period: &'static str,
    /// First day asked for.
    pub from: String,
    /// Last day asked for (included).
    pub to: String,
    /// The periods overlapping `from..=to` that have a report, oldest first.
    pub rows: Vec<PeriodRow>,
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<Visitors>, ApiError> {
    let p = Params::parse(q.as_deref(), PARAMS)?;
    let period = if p.one_of("period", &["week", "month"], "week")? == "month" { Period::Month } else { Period::Week };
    let (from, to) = batch_days(&state, &p, MAX_RANGE_DAYS).await?;
    Ok(Json(load(&state, period, from, to).await?))
}

/// The first day of the period holding `d`.
pub fn period_start(period: Period, d: NaiveDate) -> NaiveDate {
    match period {
        Period::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
        Period::Month => d.with_day(1).expect("the first exists"),
    }
}

/// The last day of the period starting on `start`.
pub fn period_end(period: Period, start: NaiveDate) -> NaiveDate {
    match period {
        Period::Week => start + Days::new(6),
        Period::Month => start + Months::new(1) - Days::new(1),
    }
}

/// The weeks or months overlapping `from..=to`.
pub async fn load(state: &AppState, period: Period, from: NaiveDate, to: NaiveDate) -> Result<Visitors, ApiError> {
    let rows = state.mysql.visitors(period, period_start(period, from), to).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    Ok(Visitors {
        period: match period {
            Period::Week => "week",
            Period::Month => "month",
        },
        from: from.to_string(),
        to: to.to_string(),
        rows: rows
            .into_iter()
            .map(|r| {
                let end = period_end(period, r.start);
                let days = ((end - r.start).num_days() + 1) as u8;
                PeriodRow {
                    start: r.start.to_string(),
                    end: end.to_string(),
                    iso_year: r.iso_year,
                    iso_week: r.iso_week,
                    days,
                    days_reported: r.days_reported,
                    complete: r.days_reported >= days,
                    requests: r.requests,
                    unique_visitors: r.unique_visitors,
                    computed_at: rfc3339(r.computed_at.and_utc().timestamp_millis()),
                    source: Source::Batch,
                }
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_monday_and_the_first() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(period_start(Period::Week, d("2026-11-22")), d("2026-11-16"));
        assert_eq!(period_start(Period::Week, d("2026-11-16")), d("2026-11-16"));
        assert_eq!(period_end(Period::Week, d("2026-11-16")), d("2026-11-22"));
        assert_eq!(period_start(Period::Month, d("2026-11-22")), d("2026-11-01"));
        assert_eq!(period_end(Period::Month, d("2026-11-01")), d("2026-11-30"));
        assert_eq!(period_end(Period::Month, d("2028-02-01")), d("2028-02-29"));
    }
}
