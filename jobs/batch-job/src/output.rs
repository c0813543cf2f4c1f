//! What the job prints: the four reports as text tables (`--dry-run`) and the
//! one summary line every run ends with.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::Datelike;

use crate::aggregate::DayReport;
use crate::run::Computed;

/// Report 3 per weekday: how the days of the range distribute.
#[derive(Debug, Clone, PartialEq)]
pub struct WeekdayRow {
    /// ISO weekday, 1 = Monday.
    pub weekday: u8,
    /// Days of the range falling on it.
    pub days: u64,
    /// Sum of their daily unique visitors.
    pub sum_unique_visitors: u64,
    /// Smallest daily count.
    pub min: u64,
    /// Largest daily count.
    pub max: u64,
}

/// Groups daily unique-visitor counts by weekday.
pub fn weekday_distribution(reports: &[DayReport]) -> Vec<WeekdayRow> {
    let mut by: BTreeMap<u8, WeekdayRow> = BTreeMap::new();
    for r in reports {
        let wd = r.day.weekday().number_from_monday() as u8;
        let row = by.entry(wd).or_insert(WeekdayRow { weekday: wd, days: 0, sum_unique_visitors: 0, min: u64::MAX, max: 0 });
        row.days += 1;
        row.sum_unique_visitors += r.unique_visitors;
        row.min = row.min.min(r.unique_visitors);
        row.max = row.max.max(r.unique_visitors);
    }
    by.into_values().collect()
}

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.2}", 100.0 * part as f64 / whole as f64)
    }
}

/// The four reports as text tables.
pub fn render_tables(reports: &[DayReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "== 1. unique visitors per day ==");
    let _ = writeln!(s, "{:<10}  {:<9}  {:>15}  {:>10}  visitor", "day", "weekday", "unique_visitors", "requests");
    for r in reports {
        let _ = writeln!(
            s,
            "{:<10}  {:<9}  {:>15}  {:>10}  {}",
            r.day,
            WEEKDAYS[r.day.weekday().num_days_from_monday() as usize],
            r.unique_visitors,
            r.requests,
            r.settings.visitor_key.as_str()
        );
    }
    let _ = writeln!(s, "\n== 2. success vs failure ==");
    let _ = writeln!(s, "{:<10}  {:>10}  {:>10}  {:>9}  by class / by code", "day", "success", "failure", "success%");
    for r in reports {
        let classes: Vec<String> = r.status_classes().iter().map(|(c, n)| format!("{c}xx={n}")).collect();
        let codes: Vec<String> = r.status_codes.iter().map(|(c, n)| format!("{c}={n}")).collect();
        let _ = writeln!(
            s,
            "{:<10}  {:>10}  {:>10}  {:>9}  {} / {}   (success = status < {})",
            r.day,
            r.success,
            r.failure,
            pct(r.success, r.requests),
            classes.join(" "),
            codes.join(" "),
            r.settings.success_below
        );
    }
    let total: u64 = reports.iter().map(|r| r.unique_visitors).sum();
    let _ = writeln!(s, "\n== 3. day-wise distribution of unique visitors ==");
    let _ = writeln!(s, "{:<10}  {:<9}  {:>15}  {:>8}", "day", "weekday", "unique_visitors", "share%");
    for r in reports {
        let wd = WEEKDAYS[r.day.weekday().num_days_from_monday() as usize];
        let _ = writeln!(s, "{:<10}  {:<9}  {:>15}  {:>8}", r.day, wd, r.unique_visitors, pct(r.unique_visitors, total));
    }
    let _ = writeln!(s, "{:<9}  {:>4}  {:>10}  {:>10}  {:>8}  {:>8}", "weekday", "days", "sum", "avg", "min", "max");
    for w in weekday_distribution(reports) {
        let _ = writeln!(
            s,
            "{:<9}  {:>4}  {:>10}  {:>10.1}  {:>8}  {:>8}",
            WEEKDAYS[(w.weekday - 1) as usize],
            w.days,
            w.sum_unique_visitors,
            w.sum_unique_visitors as f64 / w.days as f64,
            w.min,
            w.max
        );
    }
    let _ = writeln!(s, "\n== 4. hourly distribution (UTC) ==");
    let _ = writeln!(s, "{:<10}  {:>4}  {:>10}  {:>15}  {:>12}  {:>7}", "day", "hour", "requests", "unique_visitors", "bytes", "%ofday");
    for r in reports {
        for (h, row) in r.hours.iter().enumerate() {
            let _ = writeln!(
                s,
                "{:<10}  {:>4}  {:>10}  {:>15}  {:>12}  {:>7}",
                r.day,
                h,
                row.requests,
                row.unique_visitors,
                row.bytes,
                pct(row.requests, r.requests)
            );
        }
    }
    s
}

/// The one line every run ends with.
pub fn summary_line(status: &str, run_id: Option<u64>, c: &Computed, write_secs: f64) -> String {
    let files: usize = c.days.iter().map(|d| d.files_read).sum();
    let tmp: usize = c.days.iter().map(|d| d.listing.in_progress.len()).sum();
    let corrupt: usize = c.days.iter().map(|d| d.corrupt.len()).sum();
    let read: u64 = c.days.iter().filter_map(|d| d.report.as_ref()).map(|r| r.events_read).sum();
    let unique: u64 = c.days.iter().filter_map(|d| d.report.as_ref()).map(|r| r.requests).sum();
    let written = c.days.iter().filter(|d| d.report.is_some()).count();
    let missing: Vec<String> = c.days_without_data().iter().map(|d| d.to_string()).collect();
    let secs = c.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { read as f64 / secs } else { 0.0 };
    let mut line = format!(
        "batch-job {status}{}: {} day(s) {}..{}, {written} with data{}; {files} files read, {tmp} in progress skipped, {corrupt} corrupt skipped; {read} events read, {unique} unique, {} duplicates; read {secs:.2}s ({rate:.0} events/s), write {write_secs:.2}s",
        run_id.map(|id| format!(" (run {id})")).unwrap_or_default(),
        c.days.len(),
        c.days.first().map(|d| d.day.to_string()).unwrap_or_default(),
        c.days.last().map(|d| d.day.to_string()).unwrap_or_default(),
        if missing.is_empty() { String::new() } else { format!(", no data yet for {}", missing.join(",")) },
        read - unique,
    );
    for d in &c.days {
        for f in &d.corrupt {
            let _ = write!(line, "; skipped corrupt {} at byte {}", f.location.file, f.location.offset);
        }
        if !d.skipped.is_empty() {
            let rules: Vec<String> = d.skipped.records_by_rule().iter().map(|(r, n)| format!("{n} {r}")).collect();
            let _ = write!(
                line,
                "; {}: skipped {} invalid record(s) ({}) and {} damaged block(s)",
                d.day,
                d.skipped.records.len(),
                if rules.is_empty() { "none".into() } else { rules.join(", ") },
                d.skipped.blocks.len()
            );
        }
    }
    line
}
