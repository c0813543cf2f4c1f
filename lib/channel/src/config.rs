//! `[channel]` configuration, validated once into a channel.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::{Channel, ChannelConfigError, ChannelError, DurableChannel, MemoryChannel};

/// Which channel implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Write-ahead log on disk (the default): nothing lost on a crash.
    #[default]
    Durable,
    /// In memory: faster, loses its content when the process dies.
    Memory,
}

fn default_max_events() -> u64 {
    1_000_000
}
fn default_max_bytes() -> u64 {
    1 << 30
}
fn default_segment_bytes() -> u64 {
    64 << 20
}
fn default_min_free_disk_bytes() -> u64 {
    512 << 20
}
fn default_fsync() -> bool {
    true
}

/// The `[channel]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// `durable` (default) or `memory`.
    #[serde(default)]
    pub kind: ChannelKind,
    /// Directory of the write-ahead log (durable only; one per channel).
    pub dir: Option<PathBuf>,
    /// Most events held (default 1,000,000, as Flume's file channel).
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    /// Most bytes held (default 1 GiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Segment file size at which a new one starts (default 64 MiB).
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Puts are refused while the disk has less free space (default 512 MiB).
    #[serde(default = "default_min_free_disk_bytes")]
    pub min_free_disk_bytes: u64,
    /// fsync every put (default true). Off only for tests and benchmarks of
    /// everything but the disk.
    #[serde(default = "default_fsync")]
    pub fsync: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            kind: ChannelKind::Durable,
            dir: None,
            max_events: default_max_events(),
            max_bytes: default_max_bytes(),
            segment_bytes: default_segment_bytes(),
            min_free_disk_bytes: default_min_free_disk_bytes(),
            fsync: true,
        }
    }
}

impl ChannelConfig {
    /// Checks the values; `prefix` names the table in the error's key (e.g.
    /// `channel`, so a bad size is `channel.max_events`).
    pub fn validate(&self, prefix: &str) -> Result<(), ChannelConfigError> {
        let bad = |key: &str, message: &str| Err(ChannelConfigError::new(format!("{prefix}.{key}"), message));
        if self.max_events == 0 {
            return bad("max_events", "must be at least 1");
        }
        if self.max_bytes < 4096 {
            return bad("max_bytes", "must be at least 4096");
        }
        if self.kind == ChannelKind::Durable {
            if self.dir.is_none() {
                return bad("dir", "is required for a durable channel");
            }
            if self.segment_bytes < 4096 {
                return bad("segment_bytes", "must be at least 4096");
            }
        }
        Ok(())
    }

    /// Opens (and for a durable channel, recovers) the channel.
    pub fn open(&self, prefix: &str) -> Result<Arc<dyn Channel>, ChannelError> {
        self.validate(prefix)?;
        Ok(match self.kind {
            ChannelKind::Durable => Arc::new(DurableChannel::open(self)?),
            ChannelKind::Memory => Arc::new(MemoryChannel::new(self.max_events, self.max_bytes)),
        })
    }
}
