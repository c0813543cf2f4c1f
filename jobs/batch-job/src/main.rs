//! `batch-job`: flags in, exit code out. The work is in the library.

use std::process::ExitCode as ProcessExit;

use batch_job::cli::{Cli, Command};
use batch_job::complete::{check, Completeness};
use batch_job::config::{ConfigFile, Settings};
use batch_job::error::{BatchError, ExitCode};
use batch_job::output::{render_tables, summary_line};
use batch_job::reconcile::{self, Verdict};
use batch_job::run::{compute, run_and_write, RunOutcome, RunRequest};
use batch_job::sink::{redact, Sink};
use batch_job::source::MasterCopy;
use batch_job::textfile;
use clap::Parser;

fn main() -> ProcessExit {
    // Each file's bytes and decoded hits are large buffers freed on another
    // thread: without this, peak RSS on the 10-million-event benchmark nearly
    // doubled (316 MiB -> 178 MiB with it).
    clickstream_telemetry::alloc::pin_mmap_threshold();
    let cli = Cli::parse();
    clickstream_telemetry::init_logging(cli.log_json);
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("batch-job: error: {e}");
            e.exit_code()
        }
    };
    ProcessExit::from(code as u8)
}

fn settings(cli: &Cli) -> Result<Settings, BatchError> {
    let (file, shown) = match &cli.config {
        Some(p) => (ConfigFile::load(p)?, p.display().to_string()),
        None => (ConfigFile::default(), "(built-in defaults)".to_string()),
    };
    file.validate(&shown, cli.source.as_deref(), cli.mysql_url.as_deref())
}

fn connect_and_migrate(s: &Settings) -> Result<Sink, BatchError> {
    let mut sink = Sink::connect(&s.mysql_url, s.mysql_connect_timeout)?;
    let applied = sink.migrate()?;
    if !applied.is_empty() {
        tracing::info!("applied migrations {}", applied.join(", "));
    }
    Ok(sink)
}

fn run_summary(o: &RunOutcome) -> String {
    let status = if o.exit_code == ExitCode::OK { "succeeded" } else { "no data" };
    summary_line(status, o.run_id, &o.computed, o.write_elapsed.as_secs_f64())
}

/// Rewrites `metrics.textfile`, if configured, with this run's outcome and
/// the newest day MySQL holds (the previous file's when MySQL cannot say).
/// A file that cannot be written is logged, never a reason to fail the run.
fn write_metrics(s: &Settings, sink: Option<&mut Sink>, result: &Result<i32, BatchError>) {
    let Some(path) = &s.metrics_textfile else { return };
    let newest_day = sink.and_then(|k| k.newest_reported_day().ok()).flatten().or_else(|| textfile::previous_newest_day(path));
    let m = textfile::RunMetrics { ended_at: chrono::Utc::now(), success: matches!(result, Ok(code) if *code == ExitCode::OK), newest_day };
    if let Err(e) = textfile::write(path, &m) {
        tracing::warn!(path = %path.display(), error = %e, "could not write the metrics textfile (metrics.textfile); the run's outcome is in batch_runs");
    }
}

/// The error of a failed run, after saying where it was recorded.
fn recorded((run_id, e): (Option<u64>, BatchError)) -> BatchError {
    if let Some(id) = run_id {
        eprintln!("batch-job: run {id} failed (recorded in batch_runs)");
    }
    e
}

fn runtime() -> Result<tokio::runtime::Runtime, BatchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| BatchError::source("tokio", format!("cannot start the I/O runtime: {e}")))
}

/// The master copy, its root checked, and the runtime its calls run on.
fn open_master_copy(s: &Settings) -> Result<(MasterCopy, tokio::runtime::Runtime), BatchError> {
    let store = MasterCopy::open(&s.source_url, s.source_timeout)?;
    let rt = runtime()?;
    rt.block_on(store.check_root())?;
    Ok((store, rt))
}

/// Runs a command that writes reports (`run`, `reconcile`) with the master
/// copy and a migrated MySQL sink, then rewrites the metrics textfile with
/// its outcome, whether or not it got as far as connecting.
fn reporting(
    s: &Settings,
    work: impl FnOnce(&MasterCopy, &tokio::runtime::Runtime, &mut Sink) -> Result<i32, BatchError>,
) -> Result<i32, BatchError> {
    let mut sink = None;
    let result = (|| {
        let (store, rt) = open_master_copy(s)?;
        work(&store, &rt, sink.insert(connect_and_migrate(s)?))
    })();
    write_metrics(s, sink.as_mut(), &result);
    result
}

fn dispatch(cli: Cli) -> Result<i32, BatchError> {
    match &cli.command {
        Command::Validate(v) => {
            let file = ConfigFile::load(&v.file)?;
            let s = file.validate(&v.file.display().to_string(), None, None)?;
            println!(
                "{}: valid\n  source.url = {}\n  source.timeout_seconds = {}\n  mysql.url = {}\n  mysql.connect_timeout_seconds = {}\n  reports.visitor = {}\n  reports.success_below = {}\n  completeness.grace_minutes = {}\n  run.workers = {}\n  run.quarantine_dir = {}",
                v.file.display(),
                s.source_url,
                s.source_timeout.as_secs(),
                redact(&s.mysql_url),
                s.mysql_connect_timeout.as_secs(),
                s.reports.visitor_key.as_str(),
                s.reports.success_below,
                s.grace.num_minutes(),
                s.workers,
                s.quarantine_dir.display()
            );
            Ok(ExitCode::OK)
        }
        Command::Migrate => {
            let s = settings(&cli)?;
            let mut sink = Sink::connect(&s.mysql_url, s.mysql_connect_timeout)?;
            let applied = sink.migrate()?;
            if applied.is_empty() {
                println!("batch-job migrate: {} is up to date", redact(&s.mysql_url));
            } else {
                println!("batch-job migrate: applied {} to {}", applied.join(", "), redact(&s.mysql_url));
            }
            Ok(ExitCode::OK)
        }
        Command::CheckComplete(args) => {
            let mut s = settings(&cli)?;
            if let Some(g) = args.grace_minutes {
                s.grace = chrono::Duration::minutes(g as i64);
            }
            let (store, rt) = open_master_copy(&s)?;
            let listing = rt.block_on(store.list_day(args.date))?;
            match check(args.date, &listing, s.grace, chrono::Utc::now()) {
                Completeness::Complete { files } => {
                    println!("batch-job check-complete: {} is complete ({files} data files under {})", args.date, store.url());
                    Ok(ExitCode::OK)
                }
                Completeness::NotYet(why) => {
                    println!("batch-job check-complete: {} not complete yet: {why}", args.date);
                    Ok(ExitCode::NOT_READY)
                }
            }
        }
        Command::Run(args) => {
            let days = match args.days() {
                Ok(days) => days,
                Err(m) => {
                    eprintln!("batch-job: error: {m}");
                    return Ok(ExitCode::USAGE);
                }
            };
            let s = settings(&cli)?;
            let req =
                RunRequest { days, dry_run: args.dry_run, skip_corrupt: args.skip_corrupt, progress: !args.no_progress, reason: args.reason.clone() };
            if req.dry_run {
                let (store, rt) = open_master_copy(&s)?;
                let c = compute(&rt, &store, &s, &req)?;
                print!("{}", render_tables(&c.reports()));
                let code = if c.days_without_data().is_empty() { ExitCode::OK } else { ExitCode::NOT_READY };
                println!("{}", summary_line("dry run", None, &c, 0.0));
                return Ok(code);
            }
            reporting(&s, |store, rt, sink| match run_and_write(rt, store, sink, &s, &req) {
                Ok(o) => {
                    println!("{}", run_summary(&o));
                    Ok(o.exit_code)
                }
                Err(failed) => Err(recorded(failed)),
            })
        }
        Command::Reconcile(args) => {
            let s = settings(&cli)?;
            reporting(&s, |store, rt, sink| {
                let days = reconcile::window(args.through, args.days);
                let done = reconcile::reconcile(rt, store, sink, &s, &days, !args.no_progress).map_err(recorded)?;
                for d in &done {
                    let what = match (&d.verdict, &d.rerun) {
                        (Verdict::NeverReported, _) => "never reported, left alone".to_string(),
                        (Verdict::Unchanged, _) => "unchanged since its report".to_string(),
                        (Verdict::BeingWritten(n), _) => format!("{n} file(s) still being written, next time"),
                        (Verdict::Changed { .. }, Some(o)) => format!("changed, reported again: {}", run_summary(o)),
                        (Verdict::Changed { .. }, None) => unreachable!("a changed day is always re-run"),
                    };
                    println!("batch-job reconcile: {}: {what}", d.day);
                }
                Ok(ExitCode::OK)
            })
        }
    }
}
