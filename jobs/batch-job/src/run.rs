//! The `run` command: list the requested days, read and count them, then
//! write all of them to MySQL in one transaction (or print them, `--dry-run`).
//!
//! Order matters for the guarantees: everything that can fail on the input
//! side (listing, reading, decoding) happens before the first write, so a
//! failed run leaves MySQL's report rows untouched; only the `batch_runs`
//! audit row records that it happened.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::json;

use crate::aggregate::DayReport;
use crate::config::Settings;
use crate::error::{BatchError, CorruptFile, ExitCode};
use crate::pipeline::{read_day, ReadOptions, Skipped};
use crate::sink::{NewRun, RunEnd, Sink};
use crate::source::{DayListing, ListingFingerprint, MasterCopy};

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Days, in order, without gaps.
    pub days: Vec<NaiveDate>,
    /// Print instead of writing.
    pub dry_run: bool,
    /// Skip corrupt files instead of failing.
    pub skip_corrupt: bool,
    /// Show a progress bar (only honoured on a terminal).
    pub progress: bool,
    /// Why: recorded in `batch_runs.reason`.
    pub reason: String,
}

/// One day's outcome.
#[derive(Debug)]
pub struct DayOutcome {
    /// The day.
    pub day: NaiveDate,
    /// What the partitions held.
    pub listing: DayListing,
    /// The counted report; `None` = no data yet for this day.
    pub report: Option<DayReport>,
    /// Files counted.
    pub files_read: usize,
    /// Bytes of those files.
    pub bytes_read: u64,
    /// Corrupt files skipped.
    pub corrupt: Vec<CorruptFile>,
    /// Records and blocks skipped inside the files read.
    pub skipped: Skipped,
}

/// The whole run's outcome, before anything is written.
#[derive(Debug)]
pub struct Computed {
    /// Per day, in order.
    pub days: Vec<DayOutcome>,
    /// Time spent listing, reading and counting.
    pub elapsed: Duration,
}

impl Computed {
    /// Reports of the days that had data.
    pub fn reports(&self) -> Vec<DayReport> {
        self.days.iter().filter_map(|d| d.report.clone()).collect()
    }

    /// The listing each of [`Computed::reports`] was counted from, in the same order.
    pub fn reported_listings(&self) -> Vec<ListingFingerprint> {
        self.days.iter().filter(|d| d.report.is_some()).map(|d| d.listing.fingerprint()).collect()
    }

    /// Days without data.
    pub fn days_without_data(&self) -> Vec<NaiveDate> {
        self.days.iter().filter(|d| d.report.is_none()).map(|d| d.day).collect()
    }

    /// The audit-row ending for this result.
    pub fn run_end(&self, outcome: &str) -> RunEnd {
        let sum = |f: fn(&DayOutcome) -> u64| self.days.iter().map(f).sum::<u64>();
        RunEnd {
            finished_at: Some(chrono::Utc::now().naive_utc()),
            outcome: outcome.to_string(),
            days_written: self.days.iter().filter(|d| d.report.is_some()).count() as u32,
            days_without_data: self.days_without_data().len() as u32,
            files_read: sum(|d| d.files_read as u64) as u32,
            files_in_progress: sum(|d| d.listing.in_progress.len() as u64) as u32,
            files_corrupt: sum(|d| d.corrupt.len() as u64) as u32,
            records_skipped: sum(|d| d.skipped.records.len() as u64),
            blocks_skipped: sum(|d| d.skipped.blocks.len() as u64),
            bytes_read: sum(|d| d.bytes_read),
            events_read: sum(|d| d.report.as_ref().map_or(0, |r| r.events_read)),
            events_unique: sum(|d| d.report.as_ref().map_or(0, |r| r.requests)),
            inputs: Some(self.inputs_json()),
            error: None,
        }
    }

    /// Per-day inputs for the audit table: counts, in-progress and corrupt files.
    pub fn inputs_json(&self) -> String {
        let days: Vec<_> = self
            .days
            .iter()
            .map(|d| {
                json!({
                    "day": d.day.to_string(),
                    "data": d.report.is_some(),
                    "files": d.listing.files.len(),
                    "files_read": d.files_read,
                    "bytes_read": d.bytes_read,
                    "in_progress": d.listing.in_progress,
                    "corrupt": d.corrupt.iter().map(|c| json!({"file": c.location.file, "offset": c.location.offset, "error": c.what})).collect::<Vec<_>>(),
                    "records_skipped": d.skipped.records_by_rule(),
                    "blocks_skipped": d.skipped.blocks.iter().map(|(f, b)| json!({"file": f, "from": b.offset, "to": b.end, "error": b.what})).collect::<Vec<_>>(),
                    "ignored": d.listing.ignored,
                })
            })
            .collect();
        json!({ "days": days }).to_string()
    }
}

/// Lists, reads and counts the requested days. Nothing is written.
pub fn compute(rt: &tokio::runtime::Runtime, store: &MasterCopy, settings: &Settings, req: &RunRequest) -> Result<Computed, BatchError> {
    let t0 = Instant::now();
    let listings = req.days.iter().map(|&day| rt.block_on(store.list_day(day)).map(|l| (day, l))).collect::<Result<Vec<_>, _>>()?;
    for (day, l) in &listings {
        for tmp in &l.in_progress {
            tracing::warn!(%day, file = %tmp, "skipping a file still being written (.avro.tmp)");
        }
    }
    let total: u64 = listings.iter().map(|(_, l)| l.bytes()).sum();
    let bar = if req.progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut days = Vec::with_capacity(listings.len());
    for (day, listing) in listings {
        bar.set_message(day.to_string());
        let mut outcome = DayOutcome { day, report: None, files_read: 0, bytes_read: 0, corrupt: Vec::new(), skipped: Skipped::default(), listing };
        if !outcome.listing.files.is_empty() {
            let opts = ReadOptions { settings: settings.reports, workers: settings.workers, skip_corrupt: req.skip_corrupt };
            let read = read_day(rt.handle(), store, day, &outcome.listing, opts, &|n| bar.inc(n))?;
            outcome.files_read = read.files_read;
            outcome.bytes_read = read.bytes_read;
            outcome.corrupt = read.corrupt;
            outcome.skipped = read.skipped;
            // A day whose every file was corrupt has nothing to count.
            if read.files_read > 0 {
                outcome.report = Some(read.report);
            }
        }
        days.push(outcome);
    }
    bar.finish_and_clear();
    Ok(Computed { days, elapsed: t0.elapsed() })
}

/// Facts about the process for `batch_runs`.
pub fn new_run(settings: &Settings, req: &RunRequest) -> NewRun {
    NewRun {
        started_at: chrono::Utc::now().naive_utc(),
        outcome: "running".into(),
        reason: req.reason.clone(),
        day_from: *req.days.first().expect("at least one day"),
        day_to: *req.days.last().expect("at least one day"),
        source_url: settings.source_url.clone(),
        visitor_definition: settings.reports.visitor_key.as_str().into(),
        success_below: settings.reports.success_below,
        skip_corrupt: req.skip_corrupt,
        host: hostname(),
        pid: std::process::id(),
        job_version: env!("CARGO_PKG_VERSION").into(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Writes what the run skipped inside files (records with their datum,
/// damaged byte ranges) to `<dir>/<day>.run<id>.jsonl`, one line each, before
/// anything is reported: skipped is never lost. Nothing is written for a day
/// that skipped nothing.
pub fn keep_aside(computed: &Computed, dir: &std::path::Path, run_id: u64) -> Result<(), BatchError> {
    use base64::Engine as _;
    use std::io::Write as _;
    for d in computed.days.iter().filter(|d| !d.skipped.is_empty()) {
        let path = dir.join(format!("{}.run{run_id}.jsonl", d.day));
        let fail = |e: std::io::Error| {
            BatchError::source(
                path.display().to_string(),
                format!("cannot keep the skipped records aside: {e} (run.quarantine_dir must be writable)"),
            )
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(fail)?);
        for (file, r) in &d.skipped.records {
            let line = json!({
                "kind": "record", "file": file, "block_offset": r.block_offset, "record": r.record,
                "rule": r.rule, "error": r.what,
                "datum_base64": base64::engine::general_purpose::STANDARD.encode(&r.datum),
            });
            writeln!(out, "{line}").map_err(fail)?;
        }
        for (file, b) in &d.skipped.blocks {
            let line = json!({"kind": "block", "file": file, "from": b.offset, "to": b.end, "error": b.what});
            writeln!(out, "{line}").map_err(fail)?;
        }
        out.into_inner().map_err(|e| fail(e.into_error()))?.sync_all().map_err(fail)?;
        tracing::warn!(day = %d.day, records = d.skipped.records.len(), blocks = d.skipped.blocks.len(), path = %path.display(), "skipped records and blocks kept aside");
    }
    Ok(())
}

/// The result of a whole `run` command.
pub struct RunOutcome {
    /// `batch_runs.run_id` (none for a dry run).
    pub run_id: Option<u64>,
    /// What was computed.
    pub computed: Computed,
    /// Time spent in MySQL.
    pub write_elapsed: Duration,
    /// Exit code.
    pub exit_code: i32,
}

/// `run` without `--dry-run`: audit row, compute, one transaction.
pub fn run_and_write(
    rt: &tokio::runtime::Runtime,
    store: &MasterCopy,
    sink: &mut Sink,
    settings: &Settings,
    req: &RunRequest,
) -> Result<RunOutcome, (Option<u64>, BatchError)> {
    let run_id = sink.start_run(&new_run(settings, req)).map_err(|e| (None, e))?;
    let computed = match compute(rt, store, settings, req) {
        Ok(c) => c,
        Err(e) => {
            let end = RunEnd {
                finished_at: Some(chrono::Utc::now().naive_utc()),
                outcome: "failed".into(),
                error: Some(e.to_string()),
                ..RunEnd::default()
            };
            if let Err(e2) = sink.end_run(run_id, &end) {
                tracing::error!("could not record the failure in batch_runs: {e2}");
            }
            return Err((Some(run_id), e));
        }
    };
    if let Err(e) = keep_aside(&computed, &settings.quarantine_dir, run_id) {
        let end =
            RunEnd { finished_at: Some(chrono::Utc::now().naive_utc()), outcome: "failed".into(), error: Some(e.to_string()), ..RunEnd::default() };
        let _ = sink.end_run(run_id, &end);
        return Err((Some(run_id), e));
    }
    let no_data = !computed.days_without_data().is_empty();
    let outcome = if no_data { "no_data" } else { "succeeded" };
    let t = Instant::now();
    let reports = computed.reports();
    let end = computed.run_end(outcome);
    let written =
        if reports.is_empty() { sink.end_run(run_id, &end) } else { sink.replace_days(run_id, &reports, &computed.reported_listings(), &end) };
    if let Err(e) = written {
        let fail = RunEnd { finished_at: Some(chrono::Utc::now().naive_utc()), outcome: "failed".into(), error: Some(e.to_string()), ..end };
        let _ = sink.end_run(run_id, &fail);
        return Err((Some(run_id), e));
    }
    Ok(RunOutcome { run_id: Some(run_id), write_elapsed: t.elapsed(), exit_code: if no_data { ExitCode::NOT_READY } else { ExitCode::OK }, computed })
}
