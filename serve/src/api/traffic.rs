//! `GET /api/traffic?from=D&to=D&granularity=hour|day`: requests and
//! visitors per hour (or day), each row marked with the layer it came from.
//!
//! The lambda architecture's serving rule: a day the batch layer computed
//! (its `daily_traffic` row exists) is answered from MySQL — exact,
//! deduplicated, with distinct visitors. Every other day is answered from
//! the speed layer's `server_health` windows in Cassandra: the windows whose
//! start is a multiple of their length (`:00, :05, …, :55` for 5-minute
//! windows) tile the hour exactly, so an hour's requests are the sum, over
//! the web servers, of those windows. Distinct visitors do not add up that
//! way (a visitor of two windows or two servers is one visitor), so each
//! window carries a HyperLogLog sketch of its client addresses
//! (`clickstream_sketch`): the sketches of those windows, merged, are the
//! sketch of the hour (or of the day), and its estimate (±1.6 % standard
//! error) is the speed row's `visitors`, marked `visitors_exact: false`.
//! Batch rows are exact (`visitors_exact: true`).
//!
//! Hours of a speed day without any window row are left out rather than
//! reported as 0: the speed layer cannot tell "no traffic" from "not seen
//! yet" or "expired" (its rows have a TTL).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::NaiveDate;
use clickstream_sketch::Hll;
use futures_util::future::try_join_all;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use crate::state::AppState;
use crate::stores::cql::{HealthWindow, Windows};
use crate::stores::mysql::BatchDay;
use crate::time::{day_of, day_start, floor_to, rfc3339, HOUR_MS};

const PARAMS: &[&str] = &["from", "to", "day", "granularity"];

/// Which layer a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// MySQL, written by the batch job.
    Batch,
    /// Cassandra, written by the speed job.
    Speed,
}

/// One hour (or day) of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrafficRow {
    /// Start of the hour (or day), RFC 3339 UTC.
    pub start: String,
    /// The UTC day.
    pub day: String,
    /// UTC hour 0..23 (absent with `granularity=day`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    /// Requests (distinct events for batch rows).
    pub requests: u64,
    /// Distinct visitors: exact for batch rows, a HyperLogLog estimate for
    /// speed rows; `null` when a speed window of the hour has no sketch (rows
    /// of a speed job older than the sketch).
    pub visitors: Option<u64>,
    /// `true` for batch rows (counted), `false` for speed rows (estimated).
    pub visitors_exact: bool,
    /// `batch` or `speed`.
    pub source: Source,
}

/// A day the batch layer covered.
#[derive(Debug, Clone, Serialize)]
pub struct BatchDayInfo {
    /// The day.
    pub day: String,
    /// `batch_runs.run_id` that wrote it.
    pub run_id: u64,
    /// When, RFC 3339 UTC.
    pub computed_at: String,
}

impl From<&BatchDay> for BatchDayInfo {
    fn from(d: &BatchDay) -> BatchDayInfo {
        BatchDayInfo { day: d.day.to_string(), run_id: d.run_id, computed_at: rfc3339(d.computed_at.and_utc().timestamp_millis()) }
    }
}

/// Where the rows came from.
#[derive(Debug, Clone, Serialize)]
pub struct Sources {
    /// Days answered by the batch layer.
    pub batch: Vec<BatchDayInfo>,
    /// Days answered by the speed layer.
    pub speed: Vec<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    /// First day.
    pub from: String,
    /// Last day (included).
    pub to: String,
    /// `hour` or `day`.
    pub granularity: &'static str,
    /// Rows in time order.
    pub rows: Vec<TrafficRow>,
    /// Which days each layer answered.
    pub sources: Sources,
}

/// The handler.
pub async fn handler(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<Traffic>, ApiError> {
    let p = Params::parse(q.as_deref(), PARAMS)?;
    let granularity = p.one_of("granularity", &["hour", "day"], "hour")?;
    let today = day_of(state.event_now().await);
    let (from, to) = p.day_range(today, state.cfg.api.max_range_days)?;
    Ok(Json(load(&state, from, to, granularity == "day").await?))
}

/// Traffic of `from..=to`, per hour or per day.
pub async fn load(state: &AppState, from: NaiveDate, to: NaiveDate, per_day: bool) -> Result<Traffic, ApiError> {
    let batch = state.mysql.range(from, to).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    let covered: BTreeSet<NaiveDate> = batch.days.iter().map(|d| d.day).collect();
    let speed_days: Vec<NaiveDate> = crate::time::days(from, to).filter(|d| !covered.contains(d)).collect();

    let mut rows: Vec<TrafficRow> = Vec::new();
    if per_day {
        rows.extend(batch.days.iter().map(|d| TrafficRow {
            start: rfc3339(day_start(d.day)),
            day: d.day.to_string(),
            hour: None,
            requests: d.requests,
            visitors: Some(d.unique_visitors),
            visitors_exact: true,
            source: Source::Batch,
        }));
    } else {
        rows.extend(batch.hours.iter().map(|h| TrafficRow {
            start: rfc3339(day_start(h.day) + i64::from(h.hour) * HOUR_MS),
            day: h.day.to_string(),
            hour: Some(h.hour),
            requests: h.requests,
            visitors: Some(h.unique_visitors),
            visitors_exact: true,
            source: Source::Batch,
        }));
    }

    let window_ms = state.cfg.speed.health.window.as_millis() as i64;
    let windows = speed_windows(state, &speed_days, window_ms).await?;
    let hours = speed_hours(&windows, window_ms);
    if per_day {
        // A day's visitors: the union of its hours' sketches, not a sum.
        let mut by_day: BTreeMap<NaiveDate, SpeedHour> = BTreeMap::new();
        for (start, h) in hours {
            by_day.entry(day_of(start)).or_default().absorb(h);
        }
        rows.extend(by_day.into_iter().map(|(d, h)| TrafficRow {
            start: rfc3339(day_start(d)),
            day: d.to_string(),
            hour: None,
            requests: h.requests,
            visitors: h.visitors(),
            visitors_exact: false,
            source: Source::Speed,
        }));
    } else {
        rows.extend(hours.into_iter().map(|(start, h)| TrafficRow {
            start: rfc3339(start),
            day: day_of(start).to_string(),
            hour: Some(((start - day_start(day_of(start))) / HOUR_MS) as u8),
            requests: h.requests,
            visitors: h.visitors(),
            visitors_exact: false,
            source: Source::Speed,
        }));
    }
    // RFC 3339 strings of one format sort as the instants do.
    rows.sort_by(|a, b| a.start.cmp(&b.start));
    Ok(Traffic {
        from: from.to_string(),
        to: to.to_string(),
        granularity: if per_day { "day" } else { "hour" },
        rows,
        sources: Sources { batch: batch.days.iter().map(BatchDayInfo::from).collect(), speed: speed_days.iter().map(NaiveDate::to_string).collect() },
    })
}

/// The `server_health` rows of every web server on `days` that tile them
/// (windows of `window_ms` starting on a multiple of it), read concurrently.
async fn speed_windows(state: &AppState, days: &[NaiveDate], window_ms: i64) -> Result<Vec<HealthWindow>, ApiError> {
    let mut pairs = Vec::new();
    for d in days {
        for host in state.cql.hosts_on(*d).await.inspect_err(|e| state.metrics.store_error(e.store()))? {
            pairs.push((host, *d));
        }
    }
    let reads = pairs.iter().map(|(h, d)| state.cql.health_windows(h, *d, Windows::Tiles(window_ms)));
    let per_pair = try_join_all(reads).await.inspect_err(|e| state.metrics.store_error(e.store()))?;
    Ok(per_pair.into_iter().flatten().collect())
}

/// An hour (or a day) of the speed layer: requests summed, visitor
/// sketches merged.
#[derive(Debug, Clone)]
pub struct SpeedHour {
    /// Sum of the tiling windows' requests.
    pub requests: u64,
    /// Union of their sketches; `None` once one of them had no (readable) sketch.
    pub sketch: Option<Hll>,
}

impl Default for SpeedHour {
    fn default() -> SpeedHour {
        SpeedHour { requests: 0, sketch: Some(Hll::new()) }
    }
}

impl SpeedHour {
    /// Adds a window with `sketch`; one window without a (readable) sketch
    /// makes the whole hour's visitors unknown rather than undercounted.
    fn add(&mut self, requests: u64, sketch: Option<&Hll>) {
        self.requests += requests;
        self.sketch = match (self.sketch.take(), sketch) {
            (Some(mut mine), Some(other)) => {
                mine.merge(other);
                Some(mine)
            }
            _ => None,
        };
    }

    /// Adds a whole hour (for a day row): requests add, sketches merge, so
    /// a visitor of several hours counts once in the day.
    fn absorb(&mut self, other: SpeedHour) {
        self.add(other.requests, other.sketch.as_ref());
    }

    /// The estimated distinct visitors, if every window had a sketch.
    pub fn visitors(&self) -> Option<u64> {
        self.sketch.as_ref().map(Hll::estimate)
    }
}

/// Per hour start (ms): the sum of the requests of the windows that tile
/// the hour (length `window_ms`, start a multiple of it), over every host,
/// and the union of their visitor sketches. The other windows overlap these
/// and are ignored, so no event is counted twice (sketches would not mind,
/// but the tiles already cover the hour).
pub fn speed_hours(windows: &[HealthWindow], window_ms: i64) -> BTreeMap<i64, SpeedHour> {
    let mut hours: BTreeMap<i64, SpeedHour> = BTreeMap::new();
    for w in windows {
        let tiles = w.window_end - w.window_start == window_ms && w.window_start.rem_euclid(window_ms) == 0;
        if !tiles {
            continue;
        }
        let sketch = w.visitors_hll.as_deref().and_then(|b| {
            Hll::from_bytes(b)
                .inspect_err(|e| {
                    tracing::warn!(host = %w.host, window_start = w.window_start, error = %e,
                        "unreadable visitors_hll in server_health: the hour's visitors are unknown")
                })
                .ok()
        });
        hours.entry(floor_to(w.window_start, HOUR_MS)).or_default().add(w.requests.max(0) as u64, sketch.as_ref());
    }
    hours
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(host: &str, start_min: i64, len_min: i64, requests: i64) -> HealthWindow {
        let mut sketch = Hll::new();
        for v in 0..requests.min(50) {
            sketch.insert(format!("{host}-{v}").as_bytes());
        }
        HealthWindow {
            visitors_hll: Some(sketch.to_bytes()),
            visitors_estimate: None,
            host: host.into(),
            window_start: start_min * 60_000,
            window_end: (start_min + len_min) * 60_000,
            requests,
            non_200: 0,
            classes: [0; 5],
            unhealthy: false,
            is_final: true,
        }
    }

    #[test]
    fn only_the_tiling_windows_are_summed() {
        // 5-minute windows sliding by 1 minute: starts 0,1,2,...; only 0,5,10... tile.
        let mut ws = Vec::new();
        for start in 0..120 {
            ws.push(w("web1", start, 5, 1000 + start));
        }
        ws.push(w("web2", 55, 5, 7)); // the last tile of hour 0
        ws.push(w("web2", 60, 5, 3)); // the first tile of hour 1
        ws.push(w("web2", 61, 5, 100_000)); // overlaps: ignored
        ws.push(w("web2", 60, 10, 100_000)); // another window length: ignored
        let hours = speed_hours(&ws, 300_000);
        let tiles_hour0: i64 = (0..60).step_by(5).map(|s| 1000 + s).sum();
        let tiles_hour1: i64 = (60..120).step_by(5).map(|s| 1000 + s).sum();
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[&0].requests, (tiles_hour0 + 7) as u64);
        assert_eq!(hours[&3_600_000].requests, (tiles_hour1 + 3) as u64);
        // Visitors: web1-0..49 in every window, web2-0..6 and web2-0..2: a union, not a sum.
        assert_eq!(hours[&0].visitors(), Some(50 + 7));
        assert_eq!(hours[&3_600_000].visitors(), Some(50 + 3));
    }

    #[test]
    fn an_hour_with_a_window_without_sketch_has_unknown_visitors() {
        let mut old = w("web1", 5, 5, 10);
        old.visitors_hll = None;
        let mut garbled = w("web1", 60, 5, 10);
        garbled.visitors_hll = Some(vec![9, 9, 9]);
        let hours = speed_hours(&[w("web1", 0, 5, 10), old, garbled, w("web1", 65, 5, 10)], 300_000);
        assert_eq!((hours[&0].requests, hours[&0].visitors()), (20, None));
        assert_eq!((hours[&3_600_000].requests, hours[&3_600_000].visitors()), (20, None));
    }
}
