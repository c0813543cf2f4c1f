//! The expected results of the pipeline, computed naively from the log files.
//!
//! A line is valid when it is UTF-8, matches the combined (or common) log
//! format, has a parseable timestamp with a UTC offset and a status in
//! 100..=599. Category: the segment after `/category/`, else the first path
//! segment, else `uncategorized` (the README's rule). Everything else is a
//! plain brute-force count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Timelike};
use regex::Regex;

/// One valid log line, as the reports see it.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Web server the file came from.
    pub host: String,
    /// Client address, lower-cased.
    pub client: String,
    /// Event time, UTC epoch milliseconds.
    pub time_ms: i64,
    /// HTTP status.
    pub status: u16,
    /// Response bytes (`-` counts as 0).
    pub bytes: u64,
    /// Category by the default rule.
    pub category: String,
    /// Request path without the query (`-` when the request line is not one).
    pub path: String,
}

fn line_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let q = r#""((?:[^"\\]|\\.)*)""#;
        Regex::new(&format!(r"^(\S+) \S+ \S+ \[([^\]]+)\] {q} (\d{{3}}) (\d+|-)(?: {q} {q})?\s*$")).unwrap()
    })
}

/// The path of a request line: its target up to the first `?`, or `-`.
pub fn path(request: &str) -> String {
    match request.split(' ').collect::<Vec<_>>().as_slice() {
        [_, target, _] => target.split('?').next().unwrap_or("").to_string(),
        _ => "-".into(),
    }
}

/// The category of a request line (`METHOD TARGET PROTOCOL`).
pub fn category(request: &str) -> String {
    let mut parts = request.split(' ');
    let target = match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(t), Some(_)) => t,
        _ => return "uncategorized".into(),
    };
    let path = target.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let chosen = segments.iter().position(|s| *s == "category").and_then(|i| segments.get(i + 1)).or(segments.first());
    chosen.map_or_else(|| "uncategorized".into(), |s| s.to_lowercase())
}

/// Parses one line; `None` when the pipeline must reject it.
pub fn parse(host: &str, raw: &[u8]) -> Option<Hit> {
    let line = std::str::from_utf8(raw).ok()?;
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let c = line_regex().captures(line)?;
    let time = DateTime::parse_from_str(&c[2], "%d/%b/%Y:%H:%M:%S %z").ok()?;
    let status: u16 = c[4].parse().ok()?;
    if !(100..=599).contains(&status) {
        return None;
    }
    Some(Hit {
        host: host.into(),
        client: c[1].to_lowercase(),
        time_ms: time.timestamp_millis(),
        status,
        bytes: c[5].parse().unwrap_or(0),
        category: category(&c[3]),
        path: path(&c[3]),
    })
}

/// Every line of `path`: the valid hits and the number of rejected lines.
pub fn read_log(host: &str, path: &Path) -> (Vec<Hit>, usize) {
    let data = std::fs::read(path).unwrap();
    let mut hits = Vec::new();
    let mut rejected = 0;
    for line in data.split_inclusive(|b| *b == b'\n') {
        match parse(host, line) {
            Some(h) => hits.push(h),
            None => rejected += 1,
        }
    }
    (hits, rejected)
}

/// One day of the batch reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Day {
    /// Valid lines of the day, each counted once.
    pub requests: u64,
    /// Distinct client addresses.
    pub visitors: u64,
    /// Requests with a status below 400.
    pub success: u64,
    /// Requests with a status of 400 or more.
    pub failure: u64,
    /// Response bytes (`-` counts 0).
    pub bytes: u64,
    /// Requests per status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Per UTC hour: requests, visitors, bytes.
    pub hours: BTreeMap<u32, (u64, u64, u64)>,
}

/// A day being summed up: its report, its visitors, each hour's visitors.
type DaySoFar<'a> = (Day, BTreeSet<&'a str>, BTreeMap<u32, BTreeSet<&'a str>>);

/// Batch reports per UTC day (`YYYY-MM-DD`); success = status < 400.
pub fn batch_days(hits: &[Hit]) -> BTreeMap<String, Day> {
    let mut days: BTreeMap<String, DaySoFar> = BTreeMap::new();
    for h in hits {
        let t = DateTime::from_timestamp_millis(h.time_ms).unwrap();
        let key = format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day());
        let (d, visitors, hour_visitors) = days.entry(key).or_default();
        d.requests += 1;
        d.bytes += h.bytes;
        if h.status < 400 {
            d.success += 1;
        } else {
            d.failure += 1;
        }
        *d.statuses.entry(h.status).or_default() += 1;
        visitors.insert(&h.client);
        let hour = d.hours.entry(t.hour()).or_default();
        hour.0 += 1;
        hour.2 += h.bytes;
        hour_visitors.entry(t.hour()).or_default().insert(&h.client);
    }
    days.into_iter()
        .map(|(k, (mut d, v, hv))| {
            d.visitors = v.len() as u64;
            for (hour, set) in hv {
                d.hours.get_mut(&hour).unwrap().1 = set.len() as u64;
            }
            (k, d)
        })
        .collect()
}

/// DDoS alerts: (client, second start ms) -> requests, where more than `threshold`.
pub fn ddos_alerts(hits: &[Hit], threshold: u64) -> BTreeMap<(String, i64), u64> {
    let mut n: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for h in hits {
        *n.entry((h.client.clone(), h.time_ms.div_euclid(1000) * 1000)).or_default() += 1;
    }
    n.retain(|_, c| *c > threshold);
    n
}

/// Health alerts: (host, window start ms) -> responses that are not 200, where
/// more than `threshold`, over 5-minute windows sliding by 1 minute.
pub fn health_alerts(hits: &[Hit], threshold: u64) -> BTreeMap<(String, i64), u64> {
    let mut n: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for h in hits.iter().filter(|h| h.status != 200) {
        for (start, _) in sliding_windows(h.time_ms) {
            *n.entry((h.host.clone(), start)).or_default() += 1;
        }
    }
    n.retain(|_, c| *c > threshold);
    n
}

/// Requests per (window start ms, category), 5-minute windows sliding by 1 minute.
pub fn popularity(hits: &[Hit]) -> BTreeMap<(i64, String), u64> {
    let mut n: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for h in hits {
        for (start, _) in sliding_windows(h.time_ms) {
            *n.entry((start, h.category.clone())).or_default() += 1;
        }
    }
    n
}

/// The five (start, end) of the 5-minute windows sliding by 1 minute that hold `t`.
pub fn sliding_windows(t: i64) -> impl Iterator<Item = (i64, i64)> {
    let last = t.div_euclid(60_000) * 60_000;
    (0..5).map(move |k| (last - k * 60_000, last - k * 60_000 + 300_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_like_a_person_would() {
        let ok = br#"1.2.3.4 - - [20/Nov/2026:01:00:07 +0100] "GET /category/Books/x?a=1 HTTP/1.1" 200 512 "-" "UA \"x\"""#;
        let h = parse("w", ok).unwrap();
        assert_eq!((h.time_ms, h.status, h.bytes, h.category.as_str()), (1_795_132_807_000, 200, 512, "books"));
        assert_eq!(parse("w", br#"h - - [20/Nov/2026:01:00:07 +0100] "-" 408 - "-" "-""#).unwrap().category, "uncategorized");
        assert!(parse("w", br#"1.2.3.4 - - [32/Foo/2015:01:00:07 +0100] "GET / HTTP/1.1" 200 1"#).is_none());
        assert!(parse("w", br#"1.2.3.4 - - [20/Nov/2026:01:00:07 +0100] "GET / HTTP/1.1" 999 1"#).is_none());
        assert!(parse("w", b"\xff\xfe binary").is_none());
        assert_eq!(category("GET /static/app.js HTTP/1.1"), "static");
        assert_eq!(category("GET / HTTP/1.1"), "uncategorized");
    }
}

/// Counters of one slice: (requests, distinct visitors, success, failure, bytes).
pub type Slice = (u64, u64, u64, u64, u64);

/// The reports by web server, category, path, week and month.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Slices {
    /// (day, `server` | `category`, value) -> the day's counters.
    pub daily: BTreeMap<(String, String, String), Slice>,
    /// (day, hour, dimension, value) -> the hour's counters, hours with traffic only.
    pub hourly: BTreeMap<(String, u32, String, String), Slice>,
    /// day -> the `top` most requested paths with their requests, most first, ties by path.
    pub top_paths: BTreeMap<String, Vec<(String, u64)>>,
    /// ISO week's Monday -> (days with traffic, requests, distinct visitors).
    pub weeks: BTreeMap<String, (u64, u64, u64)>,
    /// First of the month -> (days with traffic, requests, distinct visitors).
    pub months: BTreeMap<String, (u64, u64, u64)>,
}

/// A slice being summed up: its counters and its visitors.
type SliceSoFar<'a> = (Slice, BTreeSet<&'a str>);

/// A week or month being summed up: its days, requests and visitors.
type RangeSoFar<'a> = (BTreeSet<String>, u64, BTreeSet<&'a str>);

/// Everything in [`Slices`], by brute force over sets of client addresses.
pub fn slices(hits: &[Hit], top: usize) -> Slices {
    let mut sets: BTreeMap<(String, Option<u32>, String, String), SliceSoFar> = BTreeMap::new();
    let mut paths: BTreeMap<String, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut ranges: BTreeMap<(bool, String), RangeSoFar> = BTreeMap::new();
    for h in hits {
        let t = DateTime::from_timestamp_millis(h.time_ms).unwrap();
        let day = t.date_naive();
        for (dimension, value) in [("server", &h.host), ("category", &h.category)] {
            for hour in [None, Some(t.hour())] {
                let (c, visitors) = sets.entry((day.to_string(), hour, dimension.into(), value.clone())).or_default();
                c.0 += 1;
                c.4 += h.bytes;
                if h.status < 400 {
                    c.2 += 1;
                } else {
                    c.3 += 1;
                }
                visitors.insert(&h.client);
            }
        }
        *paths.entry(day.to_string()).or_default().entry(&h.path).or_default() += 1;
        let monday = day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()));
        for key in [(true, monday.to_string()), (false, day.with_day(1).unwrap().to_string())] {
            let r = ranges.entry(key).or_default();
            r.0.insert(day.to_string());
            r.1 += 1;
            r.2.insert(&h.client);
        }
    }
    let mut out = Slices::default();
    for ((day, hour, dimension, value), (mut c, visitors)) in sets {
        c.1 = visitors.len() as u64;
        match hour {
            None => out.daily.insert((day, dimension, value), c),
            Some(h) => out.hourly.insert((day, h, dimension, value), c),
        };
    }
    for (day, counts) in paths {
        let mut ranked: Vec<(String, u64)> = counts.into_iter().map(|(p, n)| (p.to_string(), n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(top);
        out.top_paths.insert(day, ranked);
    }
    for ((week, start), (days, requests, visitors)) in ranges {
        let row = (days.len() as u64, requests, visitors.len() as u64);
        if week {
            out.weeks.insert(start, row);
        } else {
            out.months.insert(start, row);
        }
    }
    out
}
