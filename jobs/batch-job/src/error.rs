//! Typed errors of the batch job, and the exit code each one maps to.
//!
//! Operators and Airflow tell outcomes apart by exit code alone, so the
//! mapping lives here, next to the errors, instead of being scattered over
//! the command handlers. Every message says where (file, byte offset, URL)
//! and, where there is one, what to do about it.

use std::fmt;

/// Process exit codes, one per kind of outcome, so that a scheduler can act
/// on the code alone: Airflow's DAG (`conf/airflow/clickstream_batch.py`)
/// and the systemd unit (`conf/systemd/clickstream-batch-job.service`) wait
/// on [`ExitCode::NOT_READY`], retry [`ExitCode::FAILURE`] and
/// [`ExitCode::UNAVAILABLE`], and fail at once on [`ExitCode::USAGE`],
/// [`ExitCode::CORRUPT_INPUT`] and [`ExitCode::CONFIG`], which no retry fixes.
pub struct ExitCode;

impl ExitCode {
    /// Success.
    pub const OK: i32 = 0;
    /// A runtime failure: MySQL or the master copy unreachable, I/O errors.
    pub const FAILURE: i32 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: i32 = 2;
    /// No data for a requested day yet (`run`), or a day's partitions are not
    /// complete yet (`check-complete`). Not an error: try again later.
    pub const NOT_READY: i32 = 3;
    /// An Avro file whose header cannot be read was found and `--skip-corrupt`
    /// was not given. Nothing was written; fix or move the file, or re-run
    /// with `--skip-corrupt`. (Damaged blocks and invalid records inside a
    /// readable file are skipped and reported, not fatal.)
    pub const CORRUPT_INPUT: i32 = 4;
    /// HDFS or MySQL did not answer within the configured time, or refused
    /// the connection (`EX_TEMPFAIL` from sysexits.h): retry later.
    pub const UNAVAILABLE: i32 = 75;
    /// The configuration is invalid, or points at something that does not
    /// exist, such as a master-copy root (`EX_CONFIG` from sysexits.h).
    pub const CONFIG: i32 = 78;
}

/// Where in a file a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLocation {
    /// Full URL or path of the file.
    pub file: String,
    /// Byte offset into the (compressed) file where the bad block or header starts.
    pub offset: u64,
}

impl fmt::Display for FileLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.file, self.offset)
    }
}

/// An Avro container file whose header cannot be read: nothing in it can be
/// trusted (codec, schema, sync marker), so the whole file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt Avro file {location}: {what}")]
pub struct CorruptFile {
    /// File and offset of the header or block that failed.
    pub location: FileLocation,
    /// What was wrong, e.g. "sync marker mismatch" or "block 3, record 17: truncated field `status`".
    pub what: String,
}

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The configuration file is missing or invalid.
    #[error("configuration {path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The master copy could not be listed or read.
    #[error("master copy {url}: {message}")]
    Source {
        /// URL or path being accessed.
        url: String,
        /// The underlying error and what to check.
        message: String,
    },
    /// A corrupt input file (without `--skip-corrupt`).
    #[error("{0}. MySQL was not changed. Move the file out of the master copy or re-run with --skip-corrupt to count the day without it")]
    Corrupt(#[from] CorruptFile),
    /// A service did not answer in time or refused the connection: worth a
    /// retry, unlike [`BatchError::Config`].
    #[error("{service} at {url} is unreachable: {message}")]
    Unavailable {
        /// `HDFS` or `MySQL`.
        service: &'static str,
        /// Where (passwords redacted).
        url: String,
        /// What happened and what to check.
        message: String,
    },
    /// MySQL refused a connection, migration or statement.
    #[error("MySQL: {context}: {message}")]
    Mysql {
        /// What the job was doing.
        context: String,
        /// The server's or driver's message.
        message: String,
    },
}

impl BatchError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            BatchError::Config { .. } => ExitCode::CONFIG,
            BatchError::Corrupt(_) => ExitCode::CORRUPT_INPUT,
            BatchError::Unavailable { .. } => ExitCode::UNAVAILABLE,
            BatchError::Source { .. } | BatchError::Mysql { .. } => ExitCode::FAILURE,
        }
    }

    /// Shorthand for a MySQL error with context.
    pub fn mysql(context: impl Into<String>, err: impl fmt::Display) -> Self {
        BatchError::Mysql { context: context.into(), message: err.to_string() }
    }

    /// Shorthand for a master-copy error.
    pub fn source(url: impl Into<String>, err: impl fmt::Display) -> Self {
        BatchError::Source { url: url.into(), message: err.to_string() }
    }
}
