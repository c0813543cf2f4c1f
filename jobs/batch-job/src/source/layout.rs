//! The master copy's directory layout, in one place.
//!
//! `<root>/date=YYYY-MM-DD/hour=HH/<instance>-<first_event_ms>-<seq>.avro`,
//! partitioned by the events' UTC event time. A file the HDFS sink is still
//! writing is `_<name>.avro.tmp` (`<name>.avro.tmp` from earlier versions) and
//! is renamed when closed: the `_` hides it from Hive, Spark and Trino, but
//! not from this job, which must wait for it. Other names starting with `.`
//! or `_` are Hadoop's hidden/marker files and are ignored.

use chrono::NaiveDate;

/// What a directory entry inside an hour partition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A closed container file: read it.
    Data,
    /// Still being written by the sink: skip and report it.
    InProgress,
    /// Anything else (markers, hidden files, foreign files): ignore.
    Ignored,
}

/// Classifies a file name found in an hour partition.
pub fn classify(name: &str) -> EntryKind {
    if name.ends_with(".avro.tmp") && !name.starts_with('.') {
        EntryKind::InProgress
    } else if name.starts_with('.') || name.starts_with('_') {
        EntryKind::Ignored
    } else if name.ends_with(".avro") {
        EntryKind::Data
    } else {
        EntryKind::Ignored
    }
}

/// `date=YYYY-MM-DD`
pub fn day_dir(day: NaiveDate) -> String {
    format!("date={}", day.format("%Y-%m-%d"))
}

/// The hour of an `hour=HH` directory name.
pub fn parse_hour_dir(name: &str) -> Option<u8> {
    let hh = name.strip_prefix("hour=")?;
    if hh.len() != 2 {
        return None;
    }
    hh.parse::<u8>().ok().filter(|h| *h < 24)
}

/// The UTC day and hour an event time (epoch ms) belongs to.
pub fn partition_of(time_ms: i64) -> (NaiveDate, u8) {
    use chrono::Timelike;
    match chrono::DateTime::from_timestamp_millis(time_ms) {
        Some(t) => (t.date_naive(), t.hour() as u8),
        None => (NaiveDate::MIN, 0),
    }
}

/// Epoch milliseconds of the start of `day` (UTC).
pub fn day_start_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(classify("web1-1795132800000-3.avro"), EntryKind::Data);
        assert_eq!(classify("web1-1795132800000-4.avro.tmp"), EntryKind::InProgress);
        assert_eq!(classify("_web1-1795132800000-4.avro.tmp"), EntryKind::InProgress, "hidden from Hive, not from the batch job");
        assert_eq!(classify(".web1-1795132800000-4.avro.salvage"), EntryKind::Ignored);
        assert_eq!(classify("_SUCCESS"), EntryKind::Ignored);
        assert_eq!(classify(".web1-1.avro.crc"), EntryKind::Ignored);
        assert_eq!(parse_hour_dir("hour=07"), Some(7));
        assert_eq!(parse_hour_dir("hour=24"), None);
        assert_eq!(parse_hour_dir("hour=7"), None);
        let d = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(day_dir(d), "date=2026-11-20");
        assert_eq!(partition_of(day_start_ms(d)), (d, 0));
        assert_eq!(partition_of(day_start_ms(d) - 1), (d.pred_opt().unwrap(), 23));
        assert_eq!(partition_of(day_start_ms(d) + 7 * 3_600_000 + 59), (d, 7));
    }
}
