//! The agent's TOML configuration: parsed with unknown keys refused, then
//! validated once, so the run path never meets a bad value. Every error names
//! the key at fault.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clickstream_avro_ipc::ClientTls;
use clickstream_channel::{ChannelConfig, ChannelKind};
use clickstream_logparse::ParserConfig;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// `[metrics]`: `/metrics` and `/health`, by default on 127.0.0.1:9101.
pub type MetricsConfig = clickstream_telemetry::config::MetricsConfig<9101>;
/// `[log]`.
pub use clickstream_telemetry::config::LogConfig;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[agent]`
    pub agent: AgentConfig,
    /// `[source]`
    pub source: SourceConfig,
    /// `[parser]`
    #[serde(default)]
    pub parser: ParserConfig,
    /// `[channel]`
    #[serde(default)]
    pub channel: ChannelConfig,
    /// `[sink]`
    pub sink: SinkConfig,
    /// `[metrics]`
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[log]`
    #[serde(default)]
    pub log: LogConfig,
}

/// `[agent]`: who this agent is and where it keeps its state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The web server's name, carried by every event as `source_host` and part of every event id.
    pub host: String,
    /// Done-file ledger, and the default place of the channel, dead letters and quarantine.
    pub state_dir: PathBuf,
}

/// What to do with a file once all its lines are in the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    /// Rename with `completed_suffix` (Flume's behaviour; the default).
    #[default]
    Rename,
    /// Delete the file.
    Delete,
    /// Move it to `done_dir`.
    Move,
}

/// Which ready file to read first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsumeOrder {
    /// Oldest modification time first, then by name (the default).
    #[default]
    Oldest,
    /// Youngest first.
    Youngest,
}

/// A file that is a copy of a delivered version of its log stream (the
/// same content under any name, compressed or not, or a shorter copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    /// Complete it without sending, with a warning and a metric (the default).
    #[default]
    Skip,
    /// Send it again (same event ids: the sinks deduplicate).
    Deliver,
}

/// Lines that are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InvalidUtf8 {
    /// Reject the line (`not_utf8`) into the dead-letter file (the default).
    #[default]
    Reject,
    /// Replace invalid bytes with U+FFFD and parse the line.
    Replace,
}

fn default_ignore() -> Vec<String> {
    vec!["*.tmp".into(), "*.part".into(), "*.swp".into(), "*.COMPLETED".into()]
}
fn default_include() -> Vec<String> {
    vec!["*".into()]
}
fn default_quiet() -> Duration {
    Duration::from_secs(2)
}
fn default_rescan() -> Duration {
    Duration::from_secs(5)
}
fn default_batch() -> usize {
    1000
}
fn default_suffix() -> String {
    ".COMPLETED".into()
}

/// `[source]`: the spooling directories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Directories to watch.
    pub spool_dirs: Vec<PathBuf>,
    /// Glob patterns a file name must match (default `*`).
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Glob patterns that exclude a file name; they win over `include`.
    /// Hidden files (`.name`) are always ignored.
    #[serde(default = "default_ignore")]
    pub ignore: Vec<String>,
    /// Also read files in sub-directories.
    #[serde(default)]
    pub recursive: bool,
    /// `oldest` (default) or `youngest`.
    #[serde(default)]
    pub consume_order: ConsumeOrder,
    /// A file is ready once its size and modification time have not changed for this long.
    #[serde(default = "default_quiet", with = "humantime_serde")]
    pub quiet_period: Duration,
    /// Full rescan interval, since file-system events can be missed.
    #[serde(default = "default_rescan", with = "humantime_serde")]
    pub rescan_interval: Duration,
    /// Events per channel put.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// `rename` (default), `delete` or `move`.
    #[serde(default)]
    pub completion: Completion,
    /// Suffix for `completion = "rename"`.
    #[serde(default = "default_suffix")]
    pub completed_suffix: String,
    /// Target of `completion = "move"`.
    pub done_dir: Option<PathBuf>,
    /// Where files that cannot be read whole go, each with a `.reason` file
    /// (default `<state_dir>/quarantine`).
    pub quarantine_dir: Option<PathBuf>,
    /// Where rejected lines go, one file per input file (default `<state_dir>/dead-letter`).
    pub dead_letter_dir: Option<PathBuf>,
    /// `skip` (default) or `deliver`.
    #[serde(default)]
    pub duplicates: DuplicatePolicy,
    /// `reject` (default) or `replace`.
    #[serde(default)]
    pub invalid_utf8: InvalidUtf8,
}

/// How the forwarder picks among receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// Highest priority first; the next one while it is down (the default).
    #[default]
    Failover,
    /// Each batch to the next healthy receiver.
    RoundRobin,
    /// Each batch to a random healthy receiver.
    Random,
}

/// One fan-out agent to send to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// `host:port` of its Avro source.
    pub address: String,
    /// Higher is preferred by the failover selector.
    #[serde(default)]
    pub priority: i32,
    /// The TLS settings for this receiver, made from `[sink.tls]` by
    /// [`Config::validate`] (the expected name differs per receiver).
    #[serde(skip)]
    pub tls: Option<ClientTls>,
}

/// `[sink.tls]`: speak TLS to the receivers (Flume's `ssl = true`),
/// checking each one's certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkTlsConfig {
    /// PEM file of the CA certificates to trust: the private CA that signed
    /// the fan-out agents' certificates, or a system bundle.
    pub ca: PathBuf,
    /// Name every receiver's certificate must carry; by default each
    /// receiver's own host (the part of its address before the port).
    #[serde(default)]
    pub server_name: Option<String>,
}

impl SinkTlsConfig {
    /// The client TLS settings for a receiver at `address` (`host:port`).
    fn for_receiver(&self, address: &str) -> Result<ClientTls, String> {
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let name = self.server_name.as_deref().unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']'));
        ClientTls::from_pem_file(&self.ca, name).map_err(|e| format!("sink.tls (receiver {address}): {e}"))
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(20)
}
fn default_backoff_initial() -> Duration {
    Duration::from_millis(250)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_health_probe_interval() -> Duration {
    Duration::from_secs(10)
}

/// Stream compression between agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// None (the default).
    #[default]
    None,
    /// zlib stream compression, as Flume's `compression-type = deflate`.
    Deflate,
}

/// `[sink]`: the Avro forwarder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Receivers; at least one.
    pub receivers: Vec<Receiver>,
    /// `failover` (default), `round_robin` or `random`.
    #[serde(default)]
    pub selector: Selector,
    /// Events per appendBatch call.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// TCP connect timeout.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time to wait for a receiver's answer.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// First wait before retrying a failed receiver; doubles per failure.
    #[serde(default = "default_backoff_initial", with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Longest wait before retrying a failed receiver.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// `none` (default) or `deflate`.
    #[serde(default)]
    pub compression: Compression,
    /// TLS to the receivers; absent = plain TCP.
    #[serde(default)]
    pub tls: Option<SinkTlsConfig>,
    /// With nothing to send, each receiver not asked anything for this long
    /// gets an empty batch, so `/health` notices one that went away.
    #[serde(default = "default_health_probe_interval", with = "humantime_serde")]
    pub health_probe_interval: Duration,
}

/// The configuration after validation, with defaults resolved.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The file as written.
    pub config: Config,
    /// Compiled include patterns.
    pub include: GlobSet,
    /// Compiled ignore patterns.
    pub ignore: GlobSet,
    /// Resolved quarantine directory.
    pub quarantine_dir: PathBuf,
    /// Resolved dead-letter directory.
    pub dead_letter_dir: PathBuf,
    /// Channel configuration with its directory resolved.
    pub channel: ChannelConfig,
    /// The parser.
    pub parser: clickstream_logparse::Parser,
}

fn globs(key: &str, patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("{key}: pattern {p:?}: {e}"))?);
    }
    b.build().map_err(|e| format!("{key}: {e}"))
}

impl Config {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, String> {
        clickstream_telemetry::config::read_toml(path).map_err(|e| e.to_string())
    }

    /// Checks every value and resolves defaults.
    pub fn validate(mut self) -> Result<Validated, String> {
        let a = &self.agent;
        if a.host.is_empty() || a.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("agent.host {:?} must be a non-empty name without spaces", a.host));
        }
        let s = &self.source;
        if s.spool_dirs.is_empty() {
            return Err("source.spool_dirs must list at least one directory".into());
        }
        if s.batch_size == 0 || s.batch_size > 100_000 {
            return Err(format!("source.batch_size = {} must be between 1 and 100000", s.batch_size));
        }
        if s.completion == Completion::Rename && (s.completed_suffix.is_empty() || s.completed_suffix.contains('/')) {
            return Err("source.completed_suffix must be a non-empty file-name suffix".into());
        }
        if s.completion == Completion::Move && s.done_dir.is_none() {
            return Err("source.done_dir is required with source.completion = \"move\"".into());
        }
        let include = globs("source.include", &s.include)?;
        let mut ignore_patterns = s.ignore.clone();
        if s.completion == Completion::Rename {
            ignore_patterns.push(format!("*{}", s.completed_suffix));
            ignore_patterns.push(format!("*{}.*", s.completed_suffix));
        }
        let ignore = globs("source.ignore", &ignore_patterns)?;
        let k = &self.sink;
        if k.receivers.is_empty() {
            return Err("sink.receivers must list at least one receiver".into());
        }
        for (i, r) in k.receivers.iter().enumerate() {
            if r.address.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
                return Err(format!("sink.receivers[{i}].address {:?} must be host:port", r.address));
            }
        }
        if k.batch_size == 0 || k.batch_size > 100_000 {
            return Err(format!("sink.batch_size = {} must be between 1 and 100000", k.batch_size));
        }
        if k.backoff_initial.is_zero() || k.backoff_max < k.backoff_initial {
            return Err("sink.backoff_initial must be > 0 and <= sink.backoff_max".into());
        }
        if k.health_probe_interval < Duration::from_millis(100) {
            return Err("sink.health_probe_interval must be at least 100ms".into());
        }
        if let Some(tls) = self.sink.tls.clone() {
            for r in &mut self.sink.receivers {
                r.tls = Some(tls.for_receiver(&r.address)?);
            }
        }
        let (a, s) = (&self.agent, &self.source);
        let mut channel = self.channel.clone();
        if channel.kind == ChannelKind::Durable && channel.dir.is_none() {
            channel.dir = Some(a.state_dir.join("channel"));
        }
        channel.validate("channel")?;
        let parser = self.parser.build().map_err(|e| e.to_string())?;
        Ok(Validated {
            include,
            ignore,
            quarantine_dir: s.quarantine_dir.clone().unwrap_or_else(|| a.state_dir.join("quarantine")),
            dead_letter_dir: s.dead_letter_dir.clone().unwrap_or_else(|| a.state_dir.join("dead-letter")),
            channel,
            parser,
            config: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [agent]
        host = "weblog1"
        state_dir = "/tmp/x"
        [source]
        spool_dirs = ["/tmp/spool"]
        [sink]
        receivers = [{ address = "127.0.0.1:41414" }]
    "#;

    fn check(extra: &str) -> Result<Validated, String> {
        let text = format!("{MINIMAL}\n{extra}");
        let c: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
        c.validate()
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let v = check("").unwrap();
        assert_eq!(v.channel.dir.as_deref(), Some(Path::new("/tmp/x/channel")));
        assert_eq!(v.config.source.quiet_period, Duration::from_secs(2));
        assert!(v.ignore.is_match("a.log.COMPLETED") && v.ignore.is_match("x.tmp"));
        assert!(v.include.is_match("access.log"));
    }

    #[test]
    fn errors_name_the_key() {
        let e = |s: &str| check(s).unwrap_err();
        assert!(e("[metrics]\nlisten = \"nope\"").contains("listen"));
        assert!(toml::from_str::<Config>(&format!("{MINIMAL}\n[channel]\nkind = \"durable\"\nmax_event = 3"))
            .unwrap_err()
            .to_string()
            .contains("max_event"));
        let bad_recv = MINIMAL.replace("127.0.0.1:41414", "nohost");
        assert!(toml::from_str::<Config>(&bad_recv).unwrap().validate().unwrap_err().contains("sink.receivers[0].address"));
        let bad_host = MINIMAL.replace("\"weblog1\"", "\"web log\"");
        assert!(toml::from_str::<Config>(&bad_host).unwrap().validate().unwrap_err().contains("agent.host"));
        let mv = MINIMAL.replace("[sink]", "completion = \"move\"\n[sink]");
        assert!(toml::from_str::<Config>(&mv).unwrap().validate().unwrap_err().contains("source.done_dir"));
        let glob = MINIMAL.replace("[sink]", "include = [\"[\"]\n[sink]");
        assert!(toml::from_str::<Config>(&glob).unwrap().validate().unwrap_err().contains("source.include"));
        let parser = format!("{MINIMAL}\n[parser]\nformat = \"regex\"");
        assert!(toml::from_str::<Config>(&parser).unwrap().validate().unwrap_err().contains("parser.regex"));
    }

    #[test]
    fn sink_tls_expects_each_receivers_host_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let pki = clickstream_avro_ipc::test_pki::write_test_pki(dir.path());
        let two = MINIMAL.replace(
            r#"receivers = [{ address = "127.0.0.1:41414" }]"#,
            r#"receivers = [{ address = "127.0.0.1:41414" }, { address = "fanout2.example.org:41414" }]"#,
        );
        let with_tls = |extra: &str| format!("{two}\n[sink.tls]\nca = \"{}\"\n{extra}", pki.ca.display());
        let v = toml::from_str::<Config>(&with_tls("")).unwrap().validate().unwrap();
        let names: Vec<String> = v.config.sink.receivers.iter().map(|r| r.tls.as_ref().unwrap().server_name()).collect();
        assert_eq!(names, ["127.0.0.1", "fanout2.example.org"]);
        let v = toml::from_str::<Config>(&with_tls("server_name = \"localhost\"")).unwrap().validate().unwrap();
        assert!(v.config.sink.receivers.iter().all(|r| r.tls.as_ref().unwrap().server_name() == "localhost"));
        let plain = toml::from_str::<Config>(MINIMAL).unwrap().validate().unwrap();
        assert!(plain.config.sink.receivers[0].tls.is_none());
        let missing = with_tls("").replace("ca.pem", "nope.pem");
        let err = toml::from_str::<Config>(&missing).unwrap().validate().unwrap_err();
        assert!(err.contains("sink.tls") && err.contains("nope.pem"), "{err}");
    }
}
