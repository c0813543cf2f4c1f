//! The master copy's directory layout, in one place.
//!
//! ```text
//! <root>/date=YYYY-MM-DD/hour=HH/<prefix>-<first_event_ms>-<seq>.avro
//! ```
//!
//! partitioned by the events' UTC event time (never arrival time, so a
//! replay lands where live traffic did). The HDFS sink renders the
//! directories from a Flume-style [`template::PathTemplate`] (default
//! `/clickstream/master/date=%Y-%m-%d/hour=%H/`, optionally with `%{host}`);
//! the batch job reads `date=…/hour=…` below the template's fixed part. File
//! names are in [`crate::names`].

pub mod template;

use chrono::NaiveDate;

pub use template::PathTemplate;

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
    fn partitions() {
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
