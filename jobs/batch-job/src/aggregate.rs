//! Turning a day's deduplicated hits into the day's report.
//!
//! One [`DayAggregator`] per day. Files arrive in any order (they are decoded
//! in parallel); each file's hits are first checked against the hour set of
//! ids ([`crate::dedup`]), and only first sightings are counted. The hour's
//! id set is dropped when its last file has been counted.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::decode::{FileHits, VisitorKey};
use crate::dedup::IdSet;
use crate::visitors::Visitors;

/// How the reports define their terms (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSettings {
    /// Who counts as one visitor.
    pub visitor_key: VisitorKey,
    /// A response is a success when its status is below this (default 400).
    pub success_below: u16,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings { visitor_key: VisitorKey::Client, success_below: 400 }
    }
}

/// Traffic of one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourRow {
    /// Distinct events.
    pub requests: u64,
    /// Distinct visitors in this hour.
    pub unique_visitors: u64,
    /// Sum of response sizes.
    pub bytes: u64,
    /// Requests answered with a success status.
    pub success: u64,
    /// Requests answered with a failure status.
    pub failure: u64,
}

/// Everything the four reports need about one day.
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
    pub hours: [HourRow; 24],
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

/// Accumulates one day.
pub struct DayAggregator {
    day: NaiveDate,
    settings: ReportSettings,
    ids: Vec<Option<IdSet>>,
    files_left: [u32; 24],
    visitors: Visitors,
    status: Vec<u64>,
    hours: [HourRow; 24],
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
            hours: [HourRow::default(); 24],
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
        let row = &mut self.hours[h];
        self.events_read += file.hits.len() as u64;
        for hit in &file.hits {
            if !ids.first_sighting(hit.id()) {
                self.duplicates += 1;
                continue;
            }
            row.requests += 1;
            row.bytes += hit.bytes;
            let status = hit.status();
            if status < success_below {
                row.success += 1;
            } else {
                row.failure += 1;
            }
            self.status[status as usize] += 1;
            if self.visitors.visit(file.visitor(hit), hour) {
                row.unique_visitors += 1;
            }
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
        let sum = |f: fn(&HourRow) -> u64| self.hours.iter().map(f).sum::<u64>();
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
            settings: self.settings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Hit;

    fn hits(spec: &[(u128, &str, u16, u64)]) -> FileHits {
        let mut f = FileHits::default();
        for &(id, v, status, bytes) in spec {
            let start = f.arena.len() as u32;
            f.arena.extend_from_slice(v.as_bytes());
            f.hits.push(Hit::new(id, status, bytes, start, v.len() as u32));
        }
        f
    }

    #[test]
    fn duplicates_are_counted_once_across_files() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let mut per_hour = [0; 24];
        per_hour[3] = 2;
        per_hour[4] = 1;
        let mut a = DayAggregator::new(day, ReportSettings::default(), per_hour);
        a.add_file(3, &hits(&[(1, "a", 200, 10), (2, "b", 404, 5), (1, "a", 200, 10)]));
        a.file_done(3);
        a.add_file(3, &hits(&[(2, "b", 404, 5), (3, "a", 500, 0)]));
        a.file_done(3);
        a.add_file(4, &hits(&[(4, "a", 304, 1)]));
        a.file_done(4);
        let r = a.finish();
        assert_eq!((r.requests, r.unique_visitors, r.success, r.failure, r.bytes), (4, 2, 2, 2, 16));
        assert_eq!((r.events_read, r.duplicates), (6, 2));
        assert_eq!(r.hours[3], HourRow { requests: 3, unique_visitors: 2, bytes: 15, success: 1, failure: 2 });
        assert_eq!(r.hours[4], HourRow { requests: 1, unique_visitors: 1, bytes: 1, success: 1, failure: 0 });
        assert_eq!(r.status_codes, BTreeMap::from([(200, 1), (304, 1), (404, 1), (500, 1)]));
        assert_eq!(r.status_classes(), BTreeMap::from([(2, 1), (3, 1), (4, 1), (5, 1)]));
    }
}
