//! Channel errors, each saying what happened, where, and what to do.

use std::path::PathBuf;

/// Why a channel operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// No room within the timeout; the sink is behind. Retry.
    #[error("channel full ({events} events, {bytes} bytes pending): the sink is behind; retrying applies backpressure")]
    Full {
        /// Pending events.
        events: u64,
        /// Pending bytes.
        bytes: u64,
    },
    /// One batch is larger than the whole channel.
    #[error("a batch of {events} events / {bytes} bytes can never fit a channel of {capacity_events} events / {capacity_bytes} bytes: lower the batch size or raise the capacity")]
    BatchTooLarge {
        /// Events in the batch.
        events: u64,
        /// Bytes in the batch.
        bytes: u64,
        /// Channel capacity in events.
        capacity_events: u64,
        /// Channel capacity in bytes.
        capacity_bytes: u64,
    },
    /// Free disk space is below the configured floor. Retry when space returns.
    #[error("free disk space under {dir} is {available} bytes, below the floor of {floor} bytes: writes paused until space is freed")]
    DiskFloor {
        /// Channel directory.
        dir: PathBuf,
        /// Bytes available.
        available: u64,
        /// Configured floor.
        floor: u64,
    },
    /// An I/O error on a channel file.
    #[error("channel I/O error on {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A commit named a take that is not outstanding.
    #[error("commit of batches {first}..={last}, which are not taken (already committed, or rolled back and re-taken)")]
    NotTaken {
        /// First batch.
        first: u64,
        /// Last batch.
        last: u64,
    },
    /// The channel directory is in use by another process.
    #[error("channel directory {0} is locked by another process: two agents must not share a channel directory")]
    Locked(PathBuf),
    /// Bad configuration.
    #[error("invalid channel configuration: {0}")]
    Config(#[from] ChannelConfigError),
}

/// A `[channel]` value that [`crate::ChannelConfig::validate`] refused: the
/// dotted key (under the prefix the caller gave, e.g.
/// `sinks.hdfs.channel.max_events`) and what is wrong with it, apart, so an
/// agent can report it as one of its own configuration errors by key. Its
/// text is the two joined: `channel.dir is required for a durable channel`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {message}")]
pub struct ChannelConfigError {
    /// Dotted key of the value, e.g. `channel.max_events`.
    pub key: String,
    /// What is wrong with it, e.g. `must be at least 1`.
    pub message: String,
}

impl ChannelConfigError {
    /// `key`'s value is wrong: `message` says how.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ChannelConfigError {
        ChannelConfigError { key: key.into(), message: message.into() }
    }
}

impl ChannelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ChannelError {
        ChannelError::Io { path: path.into(), source }
    }

    /// Whether waiting and retrying can succeed (full, disk floor).
    pub fn is_transient(&self) -> bool {
        matches!(self, ChannelError::Full { .. } | ChannelError::DiskFloor { .. })
    }
}
