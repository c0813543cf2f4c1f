//! Command-line flags (parsed and checked here; turned into ready objects in
//! `main.rs`).

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

/// Daily reports of the clickstream batch layer: reads the HDFS master copy
/// (Avro container files partitioned by event time), deduplicates events by
/// id and writes unique visitors, success vs failure, day-wise and hourly
/// distributions to MySQL.
///
/// Exit codes: 0 done; 1 runtime failure (retry); 2 bad command line;
/// 3 no data yet for a requested day / day not complete yet (try later);
/// 4 an input file whose header cannot be read (nothing written; see
/// --skip-corrupt; damaged blocks and invalid records are skipped, not fatal); 75 HDFS or
/// MySQL unreachable within the configured time (retry); 78 invalid
/// configuration, including a master-copy root that does not exist.
#[derive(Debug, Parser)]
#[command(name = "batch-job", version, max_term_width = 100)]
pub struct Cli {
    /// Configuration file (TOML; see conf/batch-job.toml). Without it, the
    /// built-in defaults apply (the local stack's HDFS and MariaDB).
    #[arg(long, short, global = true, env = "BATCH_JOB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Master-copy URL, overriding source.url (hdfs://host:port/root or file:///root).
    #[arg(long, global = true, env = "BATCH_JOB_SOURCE_URL")]
    pub source: Option<String>,
    /// MySQL URL, overriding mysql.url (mysql://user:password@host:port/database).
    #[arg(long, global = true, env = "BATCH_JOB_MYSQL_URL", hide_env_values = true)]
    pub mysql_url: Option<String>,
    /// Log as JSON lines on stderr (for log shippers).
    #[arg(long, global = true)]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the MySQL tables and views (also done before every run).
    Migrate,
    /// Compute the reports for a day or a range of days and replace those
    /// days' rows in MySQL in one transaction.
    Run(RunArgs),
    /// Exit 0 when a day's partitions are complete (day over plus the grace
    /// period, no .avro.tmp file left, at least one data file); exit 3 if not yet.
    /// Airflow's sensor calls this.
    CheckComplete(CheckArgs),
    /// Report again each of the last days whose master copy changed since it
    /// was reported (late logs, recovered or removed files); each re-run is
    /// its own batch_runs row with the reason. Days never reported, and days
    /// with a file still being written, are left for later.
    Reconcile(ReconcileArgs),
    /// Check a configuration file and print the settings it results in.
    Validate(ValidateArgs),
}

/// `run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The UTC day to compute (YYYY-MM-DD).
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
    pub date: Option<NaiveDate>,
    /// First day of a range (inclusive).
    #[arg(long, requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of a range (inclusive).
    #[arg(long, requires = "from")]
    pub to: Option<NaiveDate>,
    /// Print the reports as tables instead of writing them (MySQL is not contacted).
    #[arg(long)]
    pub dry_run: bool,
    /// Skip Avro files whose header cannot be read (listed in the summary and
    /// in batch_runs) instead of failing. Damaged blocks and invalid records
    /// inside readable files are always skipped alone, reported and kept aside.
    #[arg(long)]
    pub skip_corrupt: bool,
    /// Never show the progress bar (it is shown only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Why this run happens, recorded in batch_runs.reason (the Airflow DAG
    /// says `scheduled`, `manual` or `backfill`).
    #[arg(long, default_value = "manual", value_parser = reason)]
    pub reason: String,
}

fn reason(s: &str) -> Result<String, String> {
    match s.chars().count() {
        0 => Err("the reason must not be empty".into()),
        1..=200 => Ok(s.to_string()),
        n => Err(format!("the reason has {n} characters; at most 200")),
    }
}

/// `reconcile`
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The last day to look at (YYYY-MM-DD; the DAG gives the day it just reported).
    #[arg(long)]
    pub through: NaiveDate,
    /// How many days, ending with --through, to look at.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl RunArgs {
    /// The requested days, checked.
    pub fn days(&self) -> Result<Vec<NaiveDate>, String> {
        let (from, to) = match (self.date, self.from, self.to) {
            (Some(d), _, _) => (d, d),
            (None, Some(f), Some(t)) => (f, t),
            _ => return Err("give --date, or --from and --to".into()),
        };
        if to < from {
            return Err(format!("--to {to} is before --from {from}"));
        }
        let n = (to - from).num_days() + 1;
        if n > 366 {
            return Err(format!("{n} days requested; at most 366 per run (split the range)"));
        }
        Ok(from.iter_days().take(n as usize).collect())
    }
}

/// `check-complete`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The UTC day to check (YYYY-MM-DD).
    #[arg(long)]
    pub date: NaiveDate,
    /// Override completeness.grace_minutes.
    #[arg(long)]
    pub grace_minutes: Option<u64>,
}

/// `validate`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The configuration file to check.
    pub file: PathBuf,
}
