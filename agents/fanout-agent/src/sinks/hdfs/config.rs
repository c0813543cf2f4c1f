//! `[sinks.hdfs]`: where the master copy goes, how files are named, compressed
//! and rolled. Parsed with `deny_unknown_fields` and checked once by
//! [`HdfsSinkConfig::validate`], which turns it into [`HdfsSinkSettings`]:
//! the URL and the path template parsed, the file prefix settled. The sink,
//! `validate --connect` and the tests take those, so nothing parses or checks
//! the table again and the write path never meets a bad value.
//!
//! `required`, `batch_size` and `[sinks.hdfs.channel]` belong to the agent's
//! sink section around this struct, not to the sink itself.

use std::collections::BTreeMap;
use std::time::Duration;

use clickstream_telemetry::config::{secs, ConfigError};
use serde::Deserialize;

use crate::sinks::StartError;
use clickstream_master_copy::layout::PathTemplate;
use clickstream_master_copy::storage::{AnyStorage, HdfsOptions, StorageUrl};
pub use clickstream_master_copy::Codec;

fn default_url() -> String {
    "file:///var/lib".into()
}
fn default_path() -> String {
    "/clickstream/master/date=%Y-%m-%d/hour=%H/".into()
}
fn default_deflate_level() -> u8 {
    1
}
fn default_roll_size() -> u64 {
    128 << 20
}
fn default_max_open_files() -> usize {
    64
}

/// The HDFS sink's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HdfsSinkConfig {
    /// The file system: `hdfs://namenode:port[/base]` (a real cluster, native
    /// RPC) or `file:///dir` (the local disk, same layout under `dir`; for
    /// development and single machines). The path template is a path inside
    /// it. Default `file:///var/lib`, so files land under
    /// `/var/lib/clickstream/master/…`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Directory template, by the event's UTC event time: `%Y` `%m` `%d`
    /// `%H`, `%{host}` (the event's source host, made path-safe) and `%%`.
    /// Default `/clickstream/master/date=%Y-%m-%d/hour=%H/`.
    #[serde(default = "default_path")]
    pub path: String,
    /// File name prefix; default: the agent's instance id. Must be unique per
    /// running writer: crash recovery takes over every leftover `.tmp` file
    /// with this prefix.
    #[serde(default)]
    pub file_prefix: Option<String>,
    /// `deflate` (default), `snappy` or `null`.
    #[serde(default)]
    pub codec: Codec,
    /// Deflate level, 1 (fastest, the default) to 12 (smallest). Measured
    /// on access-log events with libdeflate: level 1 packs 7.4:1 at about
    /// 240 MB/s of events per core, level 6 (zlib's default) 8:1 at about
    /// 75 MB/s; the agent's throughput target needs the former.
    #[serde(default = "default_deflate_level")]
    pub deflate_level: u8,
    /// Close a file once it holds this many bytes (default 128 MiB, one HDFS
    /// block). A file never grows past it unless a single batch is larger.
    #[serde(default = "default_roll_size")]
    pub roll_size: u64,
    /// Close a file this long after it was opened (default `1h`; `0s` never).
    #[serde(default = "secs::<3600>", with = "humantime_serde")]
    pub roll_interval: Duration,
    /// Close a file nothing was written to for this long (default `5m`; `0s`
    /// never). Closed files are what the batch layer waits for.
    #[serde(default = "secs::<300>", with = "humantime_serde")]
    pub roll_idle: Duration,
    /// Most files open at once (default 64); beyond it the least recently
    /// written file is closed (late events can touch many hours).
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Longest time one storage call (create, write+sync, close, rename…) may
    /// take before the batch fails as retryable (default `30s`).
    #[serde(default = "secs::<30>", with = "humantime_serde")]
    pub call_timeout: Duration,
    /// HDFS block size of new files in bytes (default: the cluster's
    /// `dfs.blocksize`). Keep it at least `roll_size` so that a file is one
    /// block: an open file reserves a whole block of DataNode space.
    #[serde(default)]
    pub block_size: Option<u64>,
    /// Extra Hadoop client settings for `hdfs://` (e.g. HA name services,
    /// `dfs.client.socket-timeout`); they override `HADOOP_CONF_DIR`.
    #[serde(default)]
    pub hdfs_config: BTreeMap<String, String>,
}

impl Default for HdfsSinkConfig {
    fn default() -> Self {
        HdfsSinkConfig {
            url: default_url(),
            path: default_path(),
            file_prefix: None,
            codec: Codec::default(),
            deflate_level: default_deflate_level(),
            roll_size: default_roll_size(),
            roll_interval: secs::<3600>(),
            roll_idle: secs::<300>(),
            max_open_files: default_max_open_files(),
            call_timeout: secs::<30>(),
            block_size: None,
            hdfs_config: BTreeMap::new(),
        }
    }
}

/// Whether `s` may be a file name prefix: letters, digits, `-`, `_`, `.`
/// (not first: names starting with `.` or `_` are hidden from Hadoop tools).
pub fn valid_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) && !s.starts_with(['.', '_'])
}

impl HdfsSinkConfig {
    /// Checks every value and parses the URL and the path template, once;
    /// errors name the key under `prefix` (e.g. `sinks.hdfs`). The file
    /// prefix is `file_prefix`, else `instance_id` (the agent's), which must
    /// then make a valid prefix too.
    pub fn validate(&self, prefix: &str, instance_id: &str) -> Result<HdfsSinkSettings, ConfigError> {
        let bad = |key: &str, message: String| ConfigError::invalid(format!("{prefix}.{key}"), message);
        let url = StorageUrl::parse(&self.url).map_err(|e| bad("url", format!("{:?}: {e}", self.url)))?;
        let template = PathTemplate::parse(&self.path).map_err(|e| bad("path", format!("{:?}: {e}", self.path)))?;
        let file_prefix = match &self.file_prefix {
            Some(p) if !valid_prefix(p) => {
                return Err(bad("file_prefix", format!("{p:?} must be 1-128 letters, digits, '-', '_' or '.', not starting with '.' or '_'")));
            }
            Some(p) => p.clone(),
            None if !valid_prefix(instance_id) => {
                return Err(bad(
                    "file_prefix",
                    format!(
                        "is not set, so HDFS file names start with agent.instance_id {instance_id:?}, which must then be 1-128 letters, digits, '-', '_' or '.', not starting with '.' or '_': set {prefix}.file_prefix"
                    ),
                ));
            }
            None => instance_id.to_string(),
        };
        if !(1..=12).contains(&self.deflate_level) {
            return Err(bad("deflate_level", format!("must be between 1 and 12, not {}", self.deflate_level)));
        }
        if self.roll_size < 1024 {
            return Err(bad("roll_size", format!("must be at least 1024 bytes, not {}", self.roll_size)));
        }
        if self.max_open_files == 0 {
            return Err(bad("max_open_files", "must be at least 1".into()));
        }
        if self.call_timeout < Duration::from_millis(100) {
            return Err(bad("call_timeout", format!("must be at least 100ms, not {:?}", self.call_timeout)));
        }
        if let Some(b) = self.block_size {
            if b < 1 << 20 || b % 512 != 0 {
                return Err(bad("block_size", format!("must be a multiple of 512 and at least 1048576 (HDFS's minimum), not {b}")));
            }
        }
        if !self.hdfs_config.is_empty() && !matches!(url, StorageUrl::Hdfs { .. }) {
            return Err(bad("hdfs_config", format!("only applies to hdfs:// URLs, and {prefix}.url is {:?}", self.url)));
        }
        Ok(HdfsSinkSettings { table: self.clone(), url, template, file_prefix })
    }
}

/// `[sinks.hdfs]` as [`HdfsSinkConfig::validate`] accepted it, in the form
/// the sink uses: the URL and the path template parsed and the file prefix
/// settled, once. Only validation makes one, so whoever holds it (the sink,
/// `validate --connect`, tests) neither re-checks nor re-parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdfsSinkSettings {
    table: HdfsSinkConfig,
    url: StorageUrl,
    template: PathTemplate,
    file_prefix: String,
}

impl HdfsSinkSettings {
    /// The table as written, every value checked: roll policy, codec,
    /// timeouts, and the URL's text for messages.
    pub fn table(&self) -> &HdfsSinkConfig {
        &self.table
    }

    /// `url`, as written (for messages and logs).
    pub fn url(&self) -> &str {
        &self.table.url
    }

    /// `url`, parsed.
    pub fn storage_url(&self) -> &StorageUrl {
        &self.url
    }

    /// `path`, parsed: the directory template inside the file system (not
    /// yet below the URL's base path, which [`HdfsSinkSettings::open_storage`]
    /// gives).
    pub fn template(&self) -> &PathTemplate {
        &self.template
    }

    /// The file name prefix: `file_prefix`, else the agent's instance id.
    pub fn file_prefix(&self) -> &str {
        &self.file_prefix
    }

    /// Opens the storage the URL names, with the HDFS client settings;
    /// returns it and the base path in front of the template. Connecting is
    /// lazy: an unreachable NameNode shows at the first call, so an error
    /// here is one of the client settings.
    pub fn open_storage(&self) -> Result<(AnyStorage, String), StartError> {
        let hdfs = HdfsOptions { config: self.table.hdfs_config.clone(), block_size: self.table.block_size };
        AnyStorage::open(&self.url, &hdfs).map_err(|message| StartError::Storage { url: self.table.url.clone(), message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let c: HdfsSinkConfig = toml::from_str("").unwrap();
        assert_eq!(c, HdfsSinkConfig::default());
        assert_eq!(c.path, "/clickstream/master/date=%Y-%m-%d/hour=%H/");
        assert_eq!(c.codec, Codec::Deflate);
        assert_eq!(c.roll_size, 134_217_728);
        assert_eq!(c.roll_interval, Duration::from_secs(3600));
        assert_eq!(c.roll_idle, Duration::from_secs(300));
        assert_eq!(c.max_open_files, 64);
        let ready = c.validate("sinks.hdfs", "fanout-1").unwrap();
        assert_eq!(ready.storage_url(), &StorageUrl::Local { root: "/var/lib".into() });
        assert_eq!(ready.template().fixed_root(), "/clickstream/master");
        assert_eq!(ready.file_prefix(), "fanout-1", "no file_prefix: the instance id");
        assert_eq!(ready.table(), &c);
    }

    #[test]
    fn parses_a_full_table() {
        let c: HdfsSinkConfig = toml::from_str(
            r#"
            url = "hdfs://127.0.0.1:8020"
            path = "/m/%{host}/date=%Y-%m-%d/hour=%H/"
            file_prefix = "fanout-2"
            codec = "snappy"
            roll_size = 1048576
            roll_interval = "10m"
            roll_idle = "30s"
            max_open_files = 8
            call_timeout = "5s"
            block_size = 268435456
            [hdfs_config]
            "dfs.client.socket-timeout" = "10000"
            "#,
        )
        .unwrap();
        let ready = c.validate("sinks.hdfs", "ignored").unwrap();
        assert_eq!(c.codec, Codec::Snappy);
        assert_eq!(ready.file_prefix(), "fanout-2");
        assert_eq!(ready.storage_url(), &StorageUrl::Hdfs { authority: "hdfs://127.0.0.1:8020".into(), base: String::new() });
        assert!(ready.template().uses_host());
        assert_eq!(c.roll_idle, Duration::from_secs(30));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = toml::from_str::<HdfsSinkConfig>("roll_sise = 5").unwrap_err().to_string();
        assert!(err.contains("roll_sise"), "{err}");
        let err = toml::from_str::<HdfsSinkConfig>("codec = \"lz4\"").unwrap_err().to_string();
        assert!(err.contains("lz4"), "{err}");
        // Each refusal names its key.
        let bad = |f: &dyn Fn(&mut HdfsSinkConfig)| {
            let mut c = HdfsSinkConfig::default();
            f(&mut c);
            match c.validate("sinks.hdfs", "fanout-1").unwrap_err() {
                ConfigError::Invalid { key, .. } => key,
                other => panic!("not a bad value: {other}"),
            }
        };
        assert_eq!(bad(&|c| c.url = "s3://bucket".into()), "sinks.hdfs.url");
        assert_eq!(bad(&|c| c.url = "file://relative".into()), "sinks.hdfs.url");
        assert_eq!(bad(&|c| c.path = "/x/%Q/".into()), "sinks.hdfs.path");
        assert_eq!(bad(&|c| c.path = "relative/%Y".into()), "sinks.hdfs.path");
        assert_eq!(bad(&|c| c.file_prefix = Some("a/b".into())), "sinks.hdfs.file_prefix");
        assert_eq!(bad(&|c| c.file_prefix = Some(".hidden".into())), "sinks.hdfs.file_prefix");
        assert_eq!(bad(&|c| c.deflate_level = 0), "sinks.hdfs.deflate_level");
        assert_eq!(bad(&|c| c.roll_size = 10), "sinks.hdfs.roll_size");
        assert_eq!(bad(&|c| c.max_open_files = 0), "sinks.hdfs.max_open_files");
        assert_eq!(bad(&|c| c.call_timeout = Duration::ZERO), "sinks.hdfs.call_timeout");
        assert_eq!(bad(&|c| c.block_size = Some(1000)), "sinks.hdfs.block_size");
        assert_eq!(
            bad(&|c| {
                c.hdfs_config.insert("a".into(), "b".into());
            }),
            "sinks.hdfs.hdfs_config"
        );
        let e = HdfsSinkConfig::default().validate("sinks.hdfs", "_hidden").unwrap_err().to_string();
        assert!(e.starts_with("invalid `sinks.hdfs.file_prefix`: is not set") && e.contains("\"_hidden\""), "{e}");
        let e = HdfsSinkConfig { url: "s3://bucket".into(), ..HdfsSinkConfig::default() }.validate("sinks.hdfs", "f").unwrap_err().to_string();
        assert!(e.starts_with("invalid `sinks.hdfs.url`: \"s3://bucket\": unsupported scheme"), "{e}");
    }
}
