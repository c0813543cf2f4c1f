//! `reconcile`: report again the recent days whose master copy changed
//! after they were reported.
//!
//! Logs arrive in batches: a web server that was offline, or an operator's
//! late drop, adds events to a day that a scheduled run already reported.
//! Every report records the listing it was counted from (paths and sizes of
//! the day's closed data files, `reported_inputs`); reconcile lists each of
//! the last N days again and re-runs exactly the days whose listing differs,
//! each as a run of its own whose `batch_runs.reason` says what changed.
//! A re-run is the ordinary idempotent day replacement, so reconciling
//! twice, or concurrently with a scheduled run, cannot double-count.
//!
//! Days never reported are left alone (that is the scheduler's catch-up or a
//! backfill), and so are days with a file still being written: the next
//! reconcile takes them once the HDFS sink has closed it.

use chrono::NaiveDate;

use crate::config::Settings;
use crate::error::BatchError;
use crate::run::{run_and_write, RunOutcome, RunRequest};
use crate::sink::{ReportedDay, Sink};
use crate::source::{DayListing, ListingFingerprint, MasterCopy};

/// What reconcile decided for one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No report to reconcile.
    NeverReported,
    /// The listing is the one that was counted.
    Unchanged,
    /// Files are still being written (`.avro.tmp`); look again next time.
    BeingWritten(usize),
    /// The listing differs from the one that was counted: report again.
    Changed {
        /// As last reported.
        was: ReportedDay,
        /// As listed now.
        now: ListingFingerprint,
    },
}

impl Verdict {
    /// The `batch_runs.reason` of the re-run this verdict asks for.
    pub fn reason(&self) -> Option<String> {
        match self {
            Verdict::Changed { was, now } => Some(format!(
                "reconcile: the day's files changed since run {} ({} files, {} bytes -> {} files, {} bytes)",
                was.run_id, was.listing.files, was.listing.bytes, now.files, now.bytes
            )),
            _ => None,
        }
    }
}

/// Decides one day from its last report and its listing now.
pub fn verdict(reported: Option<&ReportedDay>, listing: &DayListing) -> Verdict {
    let Some(was) = reported else { return Verdict::NeverReported };
    if !listing.in_progress.is_empty() {
        return Verdict::BeingWritten(listing.in_progress.len());
    }
    let now = listing.fingerprint();
    if now == was.listing {
        Verdict::Unchanged
    } else {
        Verdict::Changed { was: was.clone(), now }
    }
}

/// One day's outcome.
pub struct Reconciled {
    /// The day.
    pub day: NaiveDate,
    /// What was decided.
    pub verdict: Verdict,
    /// The re-run, for a changed day.
    pub rerun: Option<RunOutcome>,
}

/// The `days` days up to and including `through`, oldest first.
pub fn window(through: NaiveDate, days: u32) -> Vec<NaiveDate> {
    let first = through - chrono::Duration::days(i64::from(days.max(1)) - 1);
    first.iter_days().take(days.max(1) as usize).collect()
}

/// Lists every day of `days`, re-runs the changed ones one by one. Stops at
/// the first failure (a re-run's failure is recorded in `batch_runs` like
/// any run's; the error carries its run id).
pub fn reconcile(
    rt: &tokio::runtime::Runtime,
    store: &MasterCopy,
    sink: &mut Sink,
    settings: &Settings,
    days: &[NaiveDate],
    progress: bool,
) -> Result<Vec<Reconciled>, (Option<u64>, BatchError)> {
    let reported = sink.reported_days(days).map_err(|e| (None, e))?;
    let mut out = Vec::with_capacity(days.len());
    for &day in days {
        let verdict = match reported.get(&day) {
            None => Verdict::NeverReported,
            Some(r) => {
                let listing = rt.block_on(store.list_day(day)).map_err(|e| (None, e))?;
                verdict(Some(r), &listing)
            }
        };
        let rerun = match verdict.reason() {
            Some(reason) => {
                tracing::info!(%day, %reason, "reporting the day again");
                let req = RunRequest { days: vec![day], dry_run: false, skip_corrupt: false, progress, reason };
                Some(run_and_write(rt, store, sink, settings, &req)?)
            }
            None => None,
        };
        out.push(Reconciled { day, verdict, rerun });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::DataFile;

    fn listing(files: &[(&str, u64)]) -> DayListing {
        let mut l = DayListing { exists: true, ..DayListing::default() };
        for (p, len) in files {
            l.files.push(DataFile { url: format!("hdfs://nn{p}"), path: p.to_string(), hour: 0, len: *len });
        }
        l
    }

    #[test]
    fn only_a_changed_listing_of_a_reported_day_is_reported_again() {
        let first = listing(&[("/m/date=2026-12-01/hour=00/a.avro", 100)]);
        let reported = ReportedDay { listing: first.fingerprint(), run_id: 7 };
        assert_eq!(verdict(None, &first), Verdict::NeverReported);
        assert_eq!(verdict(Some(&reported), &first), Verdict::Unchanged);

        // A late file, a file that grew (a recovered one), a file moved away: all changes.
        let late = listing(&[("/m/date=2026-12-01/hour=00/a.avro", 100), ("/m/date=2026-12-01/hour=05/b.avro", 50)]);
        let v = verdict(Some(&reported), &late);
        assert!(matches!(&v, Verdict::Changed { now, .. } if now.files == 2 && now.bytes == 150), "{v:?}");
        assert_eq!(v.reason().unwrap(), "reconcile: the day's files changed since run 7 (1 files, 100 bytes -> 2 files, 150 bytes)");
        let grown = listing(&[("/m/date=2026-12-01/hour=00/a.avro", 101)]);
        assert!(matches!(verdict(Some(&reported), &grown), Verdict::Changed { .. }));
        let renamed = listing(&[("/m/date=2026-12-01/hour=00/c.avro", 100)]);
        assert!(matches!(verdict(Some(&reported), &renamed), Verdict::Changed { .. }));
        assert!(matches!(verdict(Some(&reported), &listing(&[])), Verdict::Changed { .. }));

        // A file still being written: wait for the sink to close it.
        let mut writing = late.clone();
        writing.in_progress.push("hdfs://nn/m/date=2026-12-01/hour=06/c.avro.tmp".into());
        assert_eq!(verdict(Some(&reported), &writing), Verdict::BeingWritten(1));
    }

    #[test]
    fn the_window_ends_with_the_given_day() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(window(d("2026-12-02"), 3), vec![d("2026-11-30"), d("2026-12-01"), d("2026-12-02")]);
        assert_eq!(window(d("2026-12-02"), 1), vec![d("2026-12-02")]);
    }
}
