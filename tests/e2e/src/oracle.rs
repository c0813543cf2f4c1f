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
}

fn line_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let q = r#""((?:[^"\\]|\\.)*)""#;
        Regex::new(&format!(r"^(\S+) \S+ \S+ \[([^\]]+)\] {q} (\d{{3}}) (\d+|-)(?: {q} {q})?\s*$")).unwrap()
    })
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
