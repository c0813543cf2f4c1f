//! The batch job's metrics for Prometheus, as a file: a oneshot run by a
//! timer or Airflow is gone before any scrape, so each `run` and `reconcile`
//! rewrites a node_exporter textfile (`--collector.textfile.directory`, the
//! usual way for cron jobs) with when it ended, whether it succeeded and the
//! newest day MySQL holds. `conf/prometheus/clickstream-rules.yml` alerts on
//! a failed run and on a day that is not reported in time.
//!
//! The file is replaced atomically (written beside it, then renamed), so a
//! scrape never reads half of it. A run that fails before it could ask MySQL
//! keeps the newest day of the previous file: the "day missing" alert then
//! still counts from the last day really reported.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

const NEWEST_DAY: &str = "batch_job_newest_reported_day_timestamp_seconds";

/// What one run says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetrics {
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// It reported what it was asked to (exit 0).
    pub success: bool,
    /// The newest day with a report in MySQL, when known.
    pub newest_day: Option<NaiveDate>,
}

/// The file's text (Prometheus exposition format).
pub fn render(m: &RunMetrics) -> String {
    let mut out = String::new();
    out.push_str("# HELP batch_job_last_run_timestamp_seconds When the last batch-job run or reconcile ended (Unix time).\n");
    out.push_str("# TYPE batch_job_last_run_timestamp_seconds gauge\n");
    out.push_str(&format!("batch_job_last_run_timestamp_seconds {}\n", m.ended_at.timestamp()));
    out.push_str("# HELP batch_job_last_run_success 1 if the last run reported its days (exit 0), 0 if it failed or found no data.\n");
    out.push_str("# TYPE batch_job_last_run_success gauge\n");
    out.push_str(&format!("batch_job_last_run_success {}\n", u8::from(m.success)));
    if let Some(day) = m.newest_day {
        out.push_str(&format!("# HELP {NEWEST_DAY} Start (00:00 UTC) of the newest day reported in MySQL.\n"));
        out.push_str(&format!("# TYPE {NEWEST_DAY} gauge\n"));
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp();
        out.push_str(&format!("{NEWEST_DAY} {midnight}\n"));
    }
    out
}

/// The newest day a previous file recorded.
pub fn previous_newest_day(path: &Path) -> Option<NaiveDate> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(&format!("{NEWEST_DAY} ")))?;
    let secs: i64 = line.rsplit(' ').next()?.parse().ok()?;
    Some(DateTime::from_timestamp(secs, 0)?.date_naive())
}

/// Replaces `path` with `m`, atomically.
pub fn write(path: &Path, m: &RunMetrics) -> std::io::Result<()> {
    let tmp = path.with_extension("prom.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(render(m).as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back_the_newest_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clickstream_batch.prom");
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let ended_at = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        write(&path, &RunMetrics { ended_at, success: true, newest_day: Some(day) }).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("batch_job_last_run_timestamp_seconds 1764000000\n"), "{text}");
        assert!(text.contains("batch_job_last_run_success 1\n"));
        assert!(text.contains("batch_job_newest_reported_day_timestamp_seconds 1795132800\n"), "2026-11-20T00:00Z: {text}");
        assert_eq!(previous_newest_day(&path), Some(day));
        write(&path, &RunMetrics { ended_at, success: false, newest_day: None }).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("batch_job_last_run_success 0\n"));
        assert_eq!(previous_newest_day(&path), None);
        assert!(!path.with_extension("prom.tmp").exists());
    }
}
