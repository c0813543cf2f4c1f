//! `check-complete`: may the day be counted yet?
//!
//! A day is complete when (1) it ended, in UTC, at least the grace period
//! ago, so late events the agents still forward have landed; (2) no
//! `.avro.tmp` file is left under `date=D`, i.e. the HDFS sink has closed
//! every file it was writing into that day; and (3) at least one closed data
//! file exists (a shop without a single request all day is more likely a
//! broken pipeline than a quiet day, and waiting makes the sensor time out
//! loudly instead of writing zeros).

use chrono::{DateTime, NaiveDate, Utc};

use crate::source::DayListing;

/// The verdict, with the reason for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// Safe to run.
    Complete {
        /// Data files found.
        files: usize,
    },
    /// Not yet; the reason says what is missing.
    NotYet(String),
}

/// Decides completeness of `day` at time `now`.
pub fn check(day: NaiveDate, listing: &DayListing, grace: chrono::Duration, now: DateTime<Utc>) -> Completeness {
    let ready_at = day.succ_opt().unwrap_or(day).and_hms_opt(0, 0, 0).expect("midnight").and_utc() + grace;
    if now < ready_at {
        return Completeness::NotYet(format!("{day} is not over plus the {} min grace period until {ready_at}", grace.num_minutes()));
    }
    if !listing.in_progress.is_empty() {
        return Completeness::NotYet(format!(
            "{} file(s) still being written under date={day}: {}",
            listing.in_progress.len(),
            listing.in_progress.join(", ")
        ));
    }
    if listing.files.is_empty() {
        return Completeness::NotYet(format!("no data files under date={day} yet"));
    }
    Completeness::Complete { files: listing.files.len() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::DataFile;

    #[test]
    fn grace_tmp_files_and_empty_days() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let grace = chrono::Duration::minutes(60);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let mut l = DayListing::default();
        l.files.push(DataFile { url: "u".into(), path: "p".into(), hour: 0, len: 1 });
        assert!(matches!(check(day, &l, grace, at("2026-11-21T00:59:59Z")), Completeness::NotYet(_)));
        assert_eq!(check(day, &l, grace, at("2026-11-21T01:00:00Z")), Completeness::Complete { files: 1 });
        l.in_progress.push("x.avro.tmp".into());
        assert!(matches!(check(day, &l, grace, at("2026-11-22T00:00:00Z")), Completeness::NotYet(r) if r.contains("x.avro.tmp")));
        assert!(matches!(check(day, &DayListing::default(), grace, at("2026-11-22T00:00:00Z")), Completeness::NotYet(_)));
    }
}
