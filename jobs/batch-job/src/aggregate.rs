//! Turning a day's deduplicated hits into the day's report.
//!
//! One [`DayAggregator`] per day. Files arrive in any order (they are decoded
//! in parallel); each file's hits are first checked against the hour set of
//! ids ([`crate::dedup`]), and only first sightings are counted. The hour's
//! id set is dropped when its last file has been counted.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hashbrown::HashMap;

use crate::decode::{FileHits, VisitorKey};
use crate::dedup::IdSet;
use crate::intern::Interner;
use crate::visitors::Visitors;

/// How the reports define their terms (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSettings {
    /// Who counts as one visitor.
    pub visitor_key: VisitorKey,
    /// A response is a success when its status is below this (default 400).
    pub success_below: u16,
    /// How many of the day's most requested paths to keep (default 100).
    pub top_paths: u16,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings { visitor_key: VisitorKey::Client, success_below: 400, top_paths: 100 }
    }
}

/// Traffic of one slice (an hour, a web server's day, a path's day…).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Distinct events.
    pub requests: u64,
    /// Distinct visitors in this slice (0 for paths: not counted per path).
    pub unique_visitors: u64,
    /// Sum of response sizes.
    pub bytes: u64,
    /// Requests answered with a success status.
    pub success: u64,
    /// Requests answered with a failure status.
    pub failure: u64,
}

impl Traffic {
    /// Counts one distinct event; `new_visitor` when its visitor is new to this slice.
    #[inline]
    fn add(&mut self, success: bool, bytes: u64, new_visitor: bool) {
        self.requests += 1;
        self.bytes += bytes;
        if success {
            self.success += 1;
        } else {
            self.failure += 1;
        }
        self.unique_visitors += u64::from(new_visitor);
    }
}

/// One value of a dimension (a web server, a category) over a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    /// The value as its key column holds it: as the log gave it, unless
    /// [`key_value`] had to shorten it.
    pub value: String,
    /// The whole day.
    pub day: Traffic,
    /// Hour 0..24 (UTC), zeros included.
    pub hours: [Traffic; 24],
}

/// One of the day's most requested paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopPath {
    /// The request path without the query.
    pub path: String,
    /// Its traffic (`unique_visitors` is not counted per path: 0).
    pub traffic: Traffic,
}

/// Everything the reports need about one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReport {
    /// The UTC day.
    pub day: NaiveDate,
    /// Distinct events (after deduplication).
    pub requests: u64,
    /// Distinct visitors over the whole day.
    pub unique_visitors: u64,
    /// Requests with status below the success threshold.
    pub success: u64,
    /// The others.
    pub failure: u64,
    /// Sum of response sizes.
    pub bytes: u64,
    /// Records read, duplicates included.
    pub events_read: u64,
    /// Records dropped as repeats of an event already counted.
    pub duplicates: u64,
    /// Requests per status code.
    pub status_codes: BTreeMap<u16, u64>,
    /// Hour 0..24 of the day (UTC).
    pub hours: [Traffic; 24],
    /// Per web server (`source_host`), by value.
    pub servers: Vec<Breakdown>,
    /// Per category, by value.
    pub categories: Vec<Breakdown>,
    /// The most requested paths, most requested first (ties: by path).
    pub top_paths: Vec<TopPath>,
    /// The day's visitor set: XXH3-128 of each visitor key, sorted.
    pub visitor_hashes: Vec<[u8; 16]>,
    /// The definitions used.
    pub settings: ReportSettings,
}

impl DayReport {
    /// Requests per status class (1 = 1xx … 5 = 5xx).
    pub fn status_classes(&self) -> BTreeMap<u8, u64> {
        let mut out = BTreeMap::new();
        for (code, n) in &self.status_codes {
            *out.entry((code / 100) as u8).or_insert(0) += n;
        }
        out
    }
}

/// The values of one dimension over a day, with exact visitors per value.
#[derive(Default)]
struct DimensionTally {
    values: Interner,
    days: Vec<Traffic>,
    hours: Vec<[Traffic; 24]>,
    /// (value, visitor) -> the hours the visitor was seen in for that value.
    seen: HashMap<(u32, u32), u32>,
}

impl DimensionTally {
    fn id(&mut self, value: &[u8]) -> u32 {
        let (id, new) = self.values.intern(value);
        if new {
            self.days.push(Traffic::default());
            self.hours.push([Traffic::default(); 24]);
        }
        id
    }

    #[inline]
    fn count(&mut self, value: u32, visitor: u32, hour: u8, success: bool, bytes: u64) {
        let mask = self.seen.entry((value, visitor)).or_insert(0);
        let (new_day, bit) = (*mask == 0, 1u32 << hour);
        let new_hour = *mask & bit == 0;
        *mask |= bit;
        self.days[value as usize].add(success, bytes, new_day);
        self.hours[value as usize][hour as usize].add(success, bytes, new_hour);
    }

    /// Every value, sorted by value.
    fn finish(self) -> Vec<Breakdown> {
        let mut out: Vec<Breakdown> = (0..self.values.len())
            .map(|i| Breakdown { value: key_value(self.values.get(i as u32)), day: self.days[i], hours: self.hours[i] })
            .collect();
        out.sort_by(|a, b| a.value.cmp(&b.value));
        out
    }
}

/// The longest dimension value stored as is (`VARCHAR(255)`, in characters).
pub const MAX_VALUE_CHARS: usize = 255;

/// A dimension value as a key column can hold it: the value itself when it
/// is UTF-8, at most [`MAX_VALUE_CHARS`] characters and does not end in a
/// space (MySQL compares `VARCHAR`s with trailing spaces ignored, so `a ` and
/// `a` would be one key); otherwise its first 238 characters, `~` and 16 hex
/// digits of the XXH3-64 of its bytes, so two values never share a row.
pub fn key_value(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(v) if v.chars().count() <= MAX_VALUE_CHARS && !v.ends_with(' ') => v.to_string(),
        _ => {
            let lossy = String::from_utf8_lossy(bytes);
            let head: String = lossy.chars().take(MAX_VALUE_CHARS - 17).collect();
            format!("{}~{:016x}", head.trim_end_matches(' '), xxhash_rust::xxh3::xxh3_64(bytes))
        }
    }
}

/// Traffic per path over a day.
#[derive(Default)]
struct PathTally {
    paths: Interner,
    traffic: Vec<Traffic>,
}

impl PathTally {
    fn id(&mut self, path: &[u8]) -> u32 {
        let (id, new) = self.paths.intern(path);
        if new {
            self.traffic.push(Traffic::default());
        }
        id
    }

    /// The `n` most requested paths; ties in path order, so a rerun ranks the same.
    fn top(self, n: usize) -> Vec<TopPath> {
        let mut ids: Vec<u32> = (0..self.paths.len() as u32).collect();
        let key = |&i: &u32| (std::cmp::Reverse(self.traffic[i as usize].requests), self.paths.get(i));
        if ids.len() > n && n > 0 {
            ids.select_nth_unstable_by(n - 1, |a, b| key(a).cmp(&key(b)));
        }
        ids.truncate(n);
        ids.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        ids.into_iter()
            .map(|i| TopPath { path: String::from_utf8_lossy(self.paths.get(i)).into_owned(), traffic: self.traffic[i as usize] })
            .collect()
    }
}

/// Accumulates one day.
pub struct DayAggregator {
    day: NaiveDate,
    settings: ReportSettings,
    ids: Vec<Option<IdSet>>,
    files_left: [u32; 24],
    visitors: Visitors,
    status: Vec<u64>,
    hours: [Traffic; 24],
    servers: DimensionTally,
    categories: DimensionTally,
    paths: PathTally,
    events_read: u64,
    duplicates: u64,
}

impl DayAggregator {
    /// A day whose hour partitions hold `files_per_hour[h]` files each.
    pub fn new(day: NaiveDate, settings: ReportSettings, files_per_hour: [u32; 24]) -> Self {
        DayAggregator {
            day,
            settings,
            ids: (0..24).map(|h| (files_per_hour[h] > 0).then(IdSet::default)).collect(),
            files_left: files_per_hour,
            visitors: Visitors::default(),
            status: vec![0; 600],
            hours: [Traffic::default(); 24],
            servers: DimensionTally::default(),
            categories: DimensionTally::default(),
            paths: PathTally::default(),
            events_read: 0,
            duplicates: 0,
        }
    }

    /// Counts one file of partition `hour`. Every hit's event time must lie
    /// in that hour (the decoder checks this before handing the file over).
    pub fn add_file(&mut self, hour: u8, file: &FileHits) {
        let h = hour as usize;
        let ids = self.ids[h].get_or_insert_with(IdSet::default);
        let success_below = self.settings.success_below;
        // The file's ids of servers, categories and paths, translated to the
        // day's on first use (a damaged block may have interned values
        // whose records were then dropped: those must not become rows).
        let mut groups: Vec<Option<(u32, u32)>> = vec![None; file.groups.len()];
        let mut paths: Vec<Option<u32>> = vec![None; file.paths.len()];
        self.events_read += file.hits.len() as u64;
        for hit in &file.hits {
            if !ids.first_sighting(hit.id()) {
                self.duplicates += 1;
                continue;
            }
            let status = hit.status();
            let success = status < success_below;
            self.status[status as usize] += 1;
            let visit = self.visitors.visit(file.visitor(hit), hour);
            self.hours[h].add(success, hit.bytes, visit.first_in_hour);
            let (server, category) = *groups[hit.group() as usize].get_or_insert_with(|| {
                let (server, category) = file.group(hit.group());
                (self.servers.id(server), self.categories.id(category))
            });
            self.servers.count(server, visit.visitor, hour, success, hit.bytes);
            self.categories.count(category, visit.visitor, hour, success, hit.bytes);
            let path = *paths[hit.path() as usize].get_or_insert_with(|| self.paths.id(file.path(hit.path())));
            self.paths.traffic[path as usize].add(success, hit.bytes, false);
        }
    }

    /// Marks one file of `hour` as done (counted or skipped); the hour's id
    /// set is freed after the last one.
    pub fn file_done(&mut self, hour: u8) {
        let h = hour as usize;
        self.files_left[h] = self.files_left[h].saturating_sub(1);
        if self.files_left[h] == 0 {
            self.ids[h] = None;
        }
    }

    /// The finished report.
    pub fn finish(self) -> DayReport {
        let status_codes: BTreeMap<u16, u64> = self.status.iter().enumerate().filter(|(_, n)| **n > 0).map(|(code, n)| (code as u16, *n)).collect();
        let sum = |f: fn(&Traffic) -> u64| self.hours.iter().map(f).sum::<u64>();
        DayReport {
            day: self.day,
            requests: sum(|r| r.requests),
            unique_visitors: self.visitors.len() as u64,
            success: sum(|r| r.success),
            failure: sum(|r| r.failure),
            bytes: sum(|r| r.bytes),
            events_read: self.events_read,
            duplicates: self.duplicates,
            status_codes,
            hours: self.hours,
            servers: self.servers.finish(),
            categories: self.categories.finish(),
            top_paths: self.paths.top(self.settings.top_paths as usize),
            visitor_hashes: self.visitors.hashes(),
            settings: self.settings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Hit, HitText};

    /// (id, visitor, server, category, path, status, bytes)
    type Spec<'a> = (u128, &'a str, &'a str, &'a str, &'a str, u16, u64);

    fn hits(spec: &[Spec]) -> FileHits {
        let mut f = FileHits::default();
        for &(id, v, server, category, path, status, bytes) in spec {
            let visitor_start = f.arena.len() as u32;
            f.arena.extend_from_slice(v.as_bytes());
            let text = HitText {
                visitor_start,
                visitor_len: v.len() as u32,
                group: f.intern_group(server.as_bytes(), category.as_bytes()),
                path: f.paths.intern(path.as_bytes()).0,
            };
            f.hits.push(Hit::new(id, status, bytes, text));
        }
        f
    }

    fn traffic(requests: u64, unique_visitors: u64, bytes: u64, success: u64, failure: u64) -> Traffic {
        Traffic { requests, unique_visitors, bytes, success, failure }
    }

    #[test]
    fn duplicates_are_counted_once_across_files() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let mut per_hour = [0; 24];
        per_hour[3] = 2;
        per_hour[4] = 1;
        let mut a = DayAggregator::new(day, ReportSettings::default(), per_hour);
        a.add_file(3, &hits(&[(1, "a", "w1", "c", "/x", 200, 10), (2, "b", "w1", "c", "/x", 404, 5), (1, "a", "w1", "c", "/x", 200, 10)]));
        a.file_done(3);
        a.add_file(3, &hits(&[(2, "b", "w1", "c", "/x", 404, 5), (3, "a", "w2", "d", "/y", 500, 0)]));
        a.file_done(3);
        a.add_file(4, &hits(&[(4, "a", "w2", "c", "/y", 304, 1)]));
        a.file_done(4);
        let r = a.finish();
        assert_eq!((r.requests, r.unique_visitors, r.success, r.failure, r.bytes), (4, 2, 2, 2, 16));
        assert_eq!((r.events_read, r.duplicates), (6, 2));
        assert_eq!(r.hours[3], traffic(3, 2, 15, 1, 2));
        assert_eq!(r.hours[4], traffic(1, 1, 1, 1, 0));
        assert_eq!(r.status_codes, BTreeMap::from([(200, 1), (304, 1), (404, 1), (500, 1)]));
        assert_eq!(r.status_classes(), BTreeMap::from([(2, 1), (3, 1), (4, 1), (5, 1)]));
        // Per web server: visitor "a" counts once for each server it used.
        let servers: Vec<(&str, Traffic)> = r.servers.iter().map(|b| (b.value.as_str(), b.day)).collect();
        assert_eq!(servers, [("w1", traffic(2, 2, 15, 1, 1)), ("w2", traffic(2, 1, 1, 1, 1))]);
        assert_eq!(r.servers[1].hours[3], traffic(1, 1, 0, 0, 1));
        assert_eq!(r.servers[1].hours[4], traffic(1, 1, 1, 1, 0), "hourly uniques are per hour: a is new to w2's hour 4");
        let categories: Vec<(&str, u64, u64)> = r.categories.iter().map(|b| (b.value.as_str(), b.day.requests, b.day.unique_visitors)).collect();
        assert_eq!(categories, [("c", 3, 2), ("d", 1, 1)]);
        assert_eq!(r.visitor_hashes.len(), 2);
        let paths: Vec<(&str, u64)> = r.top_paths.iter().map(|p| (p.path.as_str(), p.traffic.requests)).collect();
        assert_eq!(paths, [("/x", 2), ("/y", 2)], "ties ranked by path");
    }

    #[test]
    fn values_a_key_column_cannot_hold_get_a_hash_suffix() {
        assert_eq!(key_value(b"web1"), "web1");
        let long = "x".repeat(300);
        let stored = key_value(long.as_bytes());
        assert_eq!(stored.chars().count(), 255);
        assert!(stored.starts_with(&"x".repeat(238)) && stored.as_bytes()[238] == b'~', "{stored}");
        assert_ne!(stored, key_value("x".repeat(301).as_bytes()), "distinct long values stay distinct");
        assert_ne!(key_value(b"a "), "a ");
        assert_ne!(key_value(b"a\xff"), key_value(b"a\xfe"), "invalid UTF-8 is not merged by the lossy conversion");
        assert_eq!(key_value("é".repeat(255).as_bytes()), "é".repeat(255), "characters, not bytes");
    }

    #[test]
    fn top_paths_keep_the_most_requested_and_rank_ties_by_path() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let mut per_hour = [0; 24];
        per_hour[0] = 1;
        let settings = ReportSettings { top_paths: 2, ..ReportSettings::default() };
        let mut a = DayAggregator::new(day, settings, per_hour);
        let spec: Vec<Spec> = [("/c", 3), ("/b", 1), ("/a", 1), ("/d", 3), ("/e", 2)]
            .iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .enumerate()
            .map(|(i, p)| (i as u128 + 1, "v", "w", "k", p, 200, 1))
            .collect();
        a.add_file(0, &hits(&spec));
        let r = a.finish();
        let paths: Vec<(&str, u64)> = r.top_paths.iter().map(|p| (p.path.as_str(), p.traffic.requests)).collect();
        assert_eq!(paths, [("/c", 3), ("/d", 3)]);
        let none = DayAggregator::new(day, ReportSettings { top_paths: 0, ..settings }, per_hour).finish();
        assert!(none.top_paths.is_empty());
    }
}
