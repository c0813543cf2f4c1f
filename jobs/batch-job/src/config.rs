//! `conf/batch-job.toml`: parsed, then validated once into [`Settings`], so
//! the run path never meets a bad value. Unknown keys are errors (a typo in
//! `sucess_below` must not silently fall back to the default).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::aggregate::ReportSettings;
use crate::decode::VisitorKey;
use crate::error::BatchError;

/// The file as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[source]`
    #[serde(default)]
    pub source: SourceConfig,
    /// `[mysql]`
    #[serde(default)]
    pub mysql: MysqlConfig,
    /// `[reports]`
    #[serde(default)]
    pub reports: ReportsConfig,
    /// `[completeness]`
    #[serde(default)]
    pub completeness: CompletenessConfig,
    /// `[run]`
    #[serde(default)]
    pub run: RunConfig,
    /// `[metrics]`
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// Where the run's metrics go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A node_exporter textfile (`*.prom` in its
    /// `--collector.textfile.directory`) rewritten by every `run` and
    /// `reconcile`; absent: none.
    #[serde(default)]
    pub textfile: Option<PathBuf>,
}

/// Where the master copy is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `hdfs://host:port/root` or `file:///root`.
    #[serde(default = "default_source_url")]
    pub url: String,
    /// Longest wait for the NameNode to answer one listing or open (and for
    /// a file's bytes, plus one second per MiB), before the job gives up
    /// with exit 75. hdfs-native itself retries an unreachable NameNode
    /// without end.
    #[serde(default = "default_source_timeout")]
    pub timeout_seconds: u64,
}

fn default_source_url() -> String {
    "hdfs://127.0.0.1:8020/clickstream/master".into()
}

fn default_source_timeout() -> u64 {
    30
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig { url: default_source_url(), timeout_seconds: default_source_timeout() }
    }
}

/// The reports database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database`.
    #[serde(default = "default_mysql_url")]
    pub url: String,
    /// Longest wait for a connection to MySQL before the job gives up with
    /// exit 75 (a silent host would otherwise hold the job for minutes).
    #[serde(default = "default_mysql_timeout")]
    pub connect_timeout_seconds: u64,
}

fn default_mysql_url() -> String {
    "mysql://clickstream:clickstream@127.0.0.1:3306/clickstream".into()
}

fn default_mysql_timeout() -> u64 {
    10
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig { url: default_mysql_url(), connect_timeout_seconds: default_mysql_timeout() }
    }
}

/// Definitions used by the reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// `client` (default) or `client_and_user_agent`.
    #[serde(default = "default_visitor")]
    pub visitor: VisitorKey,
    /// Success = status below this (default 400).
    #[serde(default = "default_success_below")]
    pub success_below: u16,
    /// How many of each day's most requested paths `daily_top_paths` keeps
    /// (default 100; 0 keeps none).
    #[serde(default = "default_top_paths")]
    pub top_paths: u16,
}

fn default_top_paths() -> u16 {
    100
}

fn default_visitor() -> VisitorKey {
    VisitorKey::Client
}

fn default_success_below() -> u16 {
    400
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig { visitor: default_visitor(), success_below: default_success_below(), top_paths: default_top_paths() }
    }
}

/// When a day counts as complete (`check-complete`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletenessConfig {
    /// Minutes after the end of the UTC day before it may count as complete:
    /// how late events may still arrive through the agents (default 60).
    #[serde(default = "default_grace")]
    pub grace_minutes: u64,
}

fn default_grace() -> u64 {
    60
}

impl Default for CompletenessConfig {
    fn default() -> Self {
        CompletenessConfig { grace_minutes: default_grace() }
    }
}

/// Execution knobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Decoding threads; 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    /// Where the records and blocks a run skips are kept aside
    /// (`<day>.run<id>.jsonl`).
    #[serde(default = "default_quarantine_dir")]
    pub quarantine_dir: PathBuf,
}

fn default_quarantine_dir() -> PathBuf {
    std::env::temp_dir().join("clickstream-batch-job-quarantine")
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { workers: 0, quarantine_dir: default_quarantine_dir() }
    }
}

/// The most paths a day may rank: a report for people, not a dump of the
/// day's paths (each is a row written in the day's transaction).
pub const MAX_TOP_PATHS: u16 = 10_000;

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Master-copy URL.
    pub source_url: String,
    /// MySQL URL.
    pub mysql_url: String,
    /// Report definitions.
    pub reports: ReportSettings,
    /// Grace period for completeness.
    pub grace: chrono::Duration,
    /// Decoding threads (at least 1).
    pub workers: usize,
    /// Bound on each master-copy call (`source.timeout_seconds`).
    pub source_timeout: std::time::Duration,
    /// Bound on connecting to MySQL (`mysql.connect_timeout_seconds`).
    pub mysql_connect_timeout: std::time::Duration,
    /// Where skipped records and blocks are kept aside (`run.quarantine_dir`).
    pub quarantine_dir: PathBuf,
    /// The node_exporter textfile for the run's metrics (`metrics.textfile`).
    pub metrics_textfile: Option<PathBuf>,
}

impl ConfigFile {
    /// Reads and parses a file, the way every binary of the project does
    /// (`clickstream_telemetry::config`: the same messages for a missing
    /// file, bad TOML or an unknown key).
    pub fn load(path: &Path) -> Result<ConfigFile, BatchError> {
        use clickstream_telemetry::config::{read_toml, ConfigError};
        read_toml(path).map_err(|e| match e {
            ConfigError::Read { path, source } => BatchError::Config { path, message: format!("cannot read: {source}") },
            ConfigError::Parse { path, message } => BatchError::Config { path, message },
            ConfigError::Invalid { key, message } => BatchError::Config { path: path.display().to_string(), message: format!("{key}: {message}") },
        })
    }

    /// Checks every value and applies command-line overrides.
    pub fn validate(&self, path: &str, source_override: Option<&str>, mysql_override: Option<&str>) -> Result<Settings, BatchError> {
        let bad = |message: String| BatchError::Config { path: path.to_string(), message };
        let source_url = source_override.unwrap_or(&self.source.url).to_string();
        if !(source_url.starts_with("hdfs://") || source_url.starts_with("file:///")) {
            return Err(bad(format!("source.url `{source_url}` must start with hdfs:// or file:///")));
        }
        let mysql_url = mysql_override.unwrap_or(&self.mysql.url).to_string();
        if !mysql_url.starts_with("mysql://") {
            return Err(bad("mysql.url must be mysql://user:password@host:port/database".into()));
        }
        let sb = self.reports.success_below;
        if !(101..=600).contains(&sb) {
            return Err(bad(format!("reports.success_below = {sb} must be between 101 and 600")));
        }
        let top_paths = self.reports.top_paths;
        if top_paths > MAX_TOP_PATHS {
            return Err(bad(format!("reports.top_paths = {top_paths} must be at most {MAX_TOP_PATHS}")));
        }
        if self.completeness.grace_minutes > 7 * 24 * 60 {
            return Err(bad("completeness.grace_minutes must be at most 10080 (a week)".into()));
        }
        let seconds = |key: &str, v: u64| {
            if (1..=3600).contains(&v) {
                Ok(std::time::Duration::from_secs(v))
            } else {
                Err(bad(format!("{key} = {v} must be between 1 and 3600 seconds")))
            }
        };
        let source_timeout = seconds("source.timeout_seconds", self.source.timeout_seconds)?;
        let mysql_connect_timeout = seconds("mysql.connect_timeout_seconds", self.mysql.connect_timeout_seconds)?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Settings {
            source_url,
            mysql_url,
            reports: ReportSettings { visitor_key: self.reports.visitor, success_below: sb, top_paths },
            grace: chrono::Duration::minutes(self.completeness.grace_minutes as i64),
            workers: if self.run.workers == 0 { cores } else { self.run.workers.min(64) },
            source_timeout,
            mysql_connect_timeout,
            quarantine_dir: self.run.quarantine_dir.clone(),
            metrics_textfile: match &self.metrics.textfile {
                Some(p) if p.extension().is_none_or(|e| e != "prom") => {
                    return Err(bad(format!("metrics.textfile {} must end in .prom (node_exporter reads only those)", p.display())))
                }
                other => other.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../conf/batch-job.toml");
        let cfg = ConfigFile::load(Path::new(path)).unwrap();
        let s = cfg.validate(path, None, None).unwrap();
        assert_eq!(s.reports, ReportSettings::default());
    }

    #[test]
    fn typos_and_bad_values_are_rejected() {
        let e = toml::from_str::<ConfigFile>("[reports]\nsucess_below = 500\n").unwrap_err();
        assert!(e.to_string().contains("sucess_below"), "{e}");
        let cfg: ConfigFile = toml::from_str("[reports]\nsuccess_below = 50\n").unwrap();
        assert!(cfg.validate("x", None, None).is_err());
        let cfg: ConfigFile = toml::from_str("[reports]\nvisitor = \"client_and_user_agent\"\n").unwrap();
        assert_eq!(cfg.validate("x", None, None).unwrap().reports.visitor_key, VisitorKey::ClientAndUserAgent);
        let cfg: ConfigFile = toml::from_str("[reports]\ntop_paths = 10001\n").unwrap();
        let e = cfg.validate("x", None, None).unwrap_err().to_string();
        assert!(e.contains("reports.top_paths = 10001 must be at most 10000"), "{e}");
        let cfg: ConfigFile = toml::from_str("[reports]\ntop_paths = 0\n").unwrap();
        assert_eq!(cfg.validate("x", None, None).unwrap().reports.top_paths, 0);
        let cfg: ConfigFile = toml::from_str("[source]\nurl = \"s3://x\"\n").unwrap();
        assert!(cfg.validate("x", None, None).is_err());
        let cfg: ConfigFile = toml::from_str("[source]\ntimeout_seconds = 0\n").unwrap();
        let e = cfg.validate("x", None, None).unwrap_err().to_string();
        assert!(e.contains("source.timeout_seconds = 0"), "{e}");
        let cfg: ConfigFile = toml::from_str("[mysql]\nconnect_timeout_seconds = 5\n").unwrap();
        assert_eq!(cfg.validate("x", None, None).unwrap().mysql_connect_timeout, std::time::Duration::from_secs(5));
    }
}
