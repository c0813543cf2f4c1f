//! The agent's TOML configuration: parsed with unknown keys refused
//! ([`Config`], the file as written), then validated once into
//! [`Validated`], which holds every setting in the type it is used as, so
//! the run path never meets a bad value and nothing parses a setting again.
//! Every error is a [`ConfigError`] naming the key at fault.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clickstream_avro_ipc::client::ClientOptions;
use clickstream_avro_ipc::{ClientTls, TlsError};
use clickstream_channel::{ChannelConfig, ChannelKind};
use clickstream_logparse::{Parser, ParserConfig};
pub use clickstream_telemetry::config::ConfigError;
use clickstream_telemetry::config::{millis, secs};
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

/// `source.completion` as written: what to do with a file once all its
/// lines are in the channel. Validation turns it, with the suffix or
/// directory it needs, into a [`Completion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CompletionMode {
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
    #[serde(default = "secs::<2>", with = "humantime_serde")]
    pub quiet_period: Duration,
    /// Full rescan interval, since file-system events can be missed.
    #[serde(default = "secs::<5>", with = "humantime_serde")]
    pub rescan_interval: Duration,
    /// Events per channel put.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// `rename` (default), `delete` or `move`.
    #[serde(default)]
    pub completion: CompletionMode,
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

/// One entry of `sink.receivers` as written: a fan-out agent to send to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// `host:port` of its Avro source.
    pub address: String,
    /// Higher is preferred by the failover selector.
    #[serde(default)]
    pub priority: i32,
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
    /// The client TLS settings for receiver `i`, whose `address` is `host`
    /// and a port. An error names the key to fix: `sink.tls.ca` for the CA
    /// file, `sink.tls.server_name` or the receiver's address for a name
    /// that cannot be a certificate's, and the receiver it was made for.
    fn for_receiver(&self, i: usize, address: &str, host: &str) -> Result<ClientTls, ConfigError> {
        let name = self.server_name.as_deref().unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']'));
        ClientTls::from_pem_file(&self.ca, name).map_err(|e| {
            let key = match &e {
                TlsError::File { .. } => "sink.tls.ca".to_string(),
                TlsError::ServerName(_) if self.server_name.is_some() => "sink.tls.server_name".to_string(),
                TlsError::ServerName(_) => format!("sink.receivers[{i}].address"),
                TlsError::Setup(_) => "sink.tls".to_string(),
            };
            ConfigError::invalid(key, format!("{e} (for receiver {address})"))
        })
    }
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
    pub receivers: Vec<ReceiverConfig>,
    /// `failover` (default), `round_robin` or `random`.
    #[serde(default)]
    pub selector: Selector,
    /// Events per appendBatch call.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// TCP connect timeout.
    #[serde(default = "secs::<5>", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time to wait for a receiver's answer.
    #[serde(default = "secs::<20>", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// First wait before retrying a failed receiver; doubles per failure.
    #[serde(default = "millis::<250>", with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Longest wait before retrying a failed receiver.
    #[serde(default = "secs::<30>", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// `none` (default) or `deflate`.
    #[serde(default)]
    pub compression: Compression,
    /// TLS to the receivers; absent = plain TCP.
    #[serde(default)]
    pub tls: Option<SinkTlsConfig>,
    /// With nothing to send, each receiver not asked anything for this long
    /// gets an empty batch, so `/health` notices one that went away.
    #[serde(default = "secs::<10>", with = "humantime_serde")]
    pub health_probe_interval: Duration,
}

/// What to do with a file once all its lines are in the channel, with
/// what the action needs, so completing a file cannot meet a missing setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Rename it by appending `suffix` (Flume's behaviour; the default).
    Rename {
        /// `source.completed_suffix`: a non-empty file-name suffix.
        suffix: String,
    },
    /// Delete the file.
    Delete,
    /// Move it into `dir`.
    Move {
        /// `source.done_dir`.
        dir: PathBuf,
    },
}

/// `[source]` after validation: what the spooling-directory source reads
/// and how, every value checked.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Directories to watch; at least one.
    pub spool_dirs: Vec<PathBuf>,
    /// Also read files in sub-directories.
    pub recursive: bool,
    /// Which ready file to read first.
    pub consume_order: ConsumeOrder,
    /// A file is ready once its size and modification time have not changed for this long.
    pub quiet_period: Duration,
    /// Full rescan interval, since file-system events can be missed.
    pub rescan_interval: Duration,
    /// Events per channel put, 1 to 100000.
    pub batch_size: usize,
    /// What to do with a completed file.
    pub completion: Completion,
    /// `source.done_dir` as written, whatever the completion: a recursive
    /// scan never reads it (with `move` it is also in [`Completion::Move`]).
    pub done_dir: Option<PathBuf>,
    /// Copies of delivered content: skip or deliver again.
    pub duplicates: DuplicatePolicy,
    /// Lines that are not valid UTF-8: reject or repair.
    pub invalid_utf8: InvalidUtf8,
}

/// One receiver after validation: its address is `host:port`, and its TLS
/// settings (CA loaded, expected name chosen) are ready to connect with.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `host:port` of its Avro source, as written (it names the receiver in
    /// logs, metrics and `/health`).
    pub address: String,
    /// Higher is preferred by the failover selector.
    pub priority: i32,
    /// The TLS settings for this receiver, made from `[sink.tls]` (the
    /// expected name differs per receiver); `None` is plain TCP.
    pub tls: Option<ClientTls>,
}

/// `[sink]` after validation: the receivers and how the forwarder talks to them.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// Receivers; at least one.
    pub receivers: Vec<Receiver>,
    /// How the forwarder picks among receivers.
    pub selector: Selector,
    /// Events per appendBatch call, 1 to 100000.
    pub batch_size: usize,
    /// The Avro client settings every receiver gets: timeouts and
    /// compression (`tls` is `None` here; each [`Receiver`] has its own).
    pub client: ClientOptions,
    /// First wait before retrying a failed receiver; above zero, doubles per failure.
    pub backoff_initial: Duration,
    /// Longest wait before retrying a failed receiver; at least `backoff_initial`.
    pub backoff_max: Duration,
    /// With nothing to send, each receiver not asked anything for this long
    /// gets an empty batch; at least 100ms.
    pub health_probe_interval: Duration,
}

/// The configuration after validation, with defaults resolved: every value
/// in the type it is used as (compiled globs, a built parser, TLS material,
/// resolved directories), so no component reads a setting that was not
/// checked. The file as written ([`Config`]) is not kept. Tables whose
/// values were already in their final types (`[agent]`, `[channel]`,
/// `[metrics]`, `[log]`) are kept as such, checked.
#[derive(Debug, Clone)]
pub struct Validated {
    /// `[agent]`: the host name (non-empty, no spaces) and the state directory.
    pub agent: AgentConfig,
    /// `[source]`, checked.
    pub source: SourceSettings,
    /// Compiled `source.include` patterns.
    pub include: GlobSet,
    /// Compiled `source.ignore` patterns, plus the completed suffix's with
    /// `completion = "rename"`.
    pub ignore: GlobSet,
    /// Resolved quarantine directory.
    pub quarantine_dir: PathBuf,
    /// Resolved dead-letter directory.
    pub dead_letter_dir: PathBuf,
    /// Channel configuration, checked, with its directory resolved.
    pub channel: ChannelConfig,
    /// The parser built from `[parser]`.
    pub parser: Parser,
    /// `[sink]`, checked.
    pub sink: SinkSettings,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[log]`.
    pub log: LogConfig,
}

/// Compiles glob patterns, each given with the key it comes from
/// (`source.include[0]`, …), which names it when it does not compile.
fn globs(set: &str, patterns: &[(String, String)]) -> Result<GlobSet, ConfigError> {
    let mut b = GlobSetBuilder::new();
    for (key, p) in patterns {
        b.add(Glob::new(p).map_err(|e| ConfigError::invalid(key, format!("pattern {p:?}: {e}")))?);
    }
    b.build().map_err(|e| ConfigError::invalid(set, e.to_string()))
}

/// `patterns` keyed by their place in the list `key`.
fn keyed(key: &str, patterns: &[String]) -> Vec<(String, String)> {
    patterns.iter().enumerate().map(|(i, p)| (format!("{key}[{i}]"), p.clone())).collect()
}

/// A batch size: between 1 and 100000.
fn batch_size(key: &str, n: usize) -> Result<usize, ConfigError> {
    if n == 0 || n > 100_000 {
        return Err(ConfigError::invalid(key, format!("must be between 1 and 100000, not {n}")));
    }
    Ok(n)
}

impl Config {
    /// Reads and parses a configuration file; the error names the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        clickstream_telemetry::config::read_toml(path)
    }

    /// Checks every value and resolves defaults, into the types the agent
    /// runs with; the error names the key at fault and its value.
    pub fn validate(self) -> Result<Validated, ConfigError> {
        let Config { agent, source: s, parser, channel, sink: k, metrics, log } = self;
        if agent.host.is_empty() || agent.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::invalid("agent.host", format!("{:?} must be a non-empty name without spaces", agent.host)));
        }
        if s.spool_dirs.is_empty() {
            return Err(ConfigError::invalid("source.spool_dirs", "must list at least one directory"));
        }
        let source_batch = batch_size("source.batch_size", s.batch_size)?;
        let completion = match s.completion {
            CompletionMode::Rename if s.completed_suffix.is_empty() || s.completed_suffix.contains('/') => {
                return Err(ConfigError::invalid(
                    "source.completed_suffix",
                    format!("{:?} must be a non-empty file-name suffix (no `/`)", s.completed_suffix),
                ));
            }
            CompletionMode::Rename => Completion::Rename { suffix: s.completed_suffix.clone() },
            CompletionMode::Delete => Completion::Delete,
            CompletionMode::Move => match &s.done_dir {
                Some(dir) => Completion::Move { dir: dir.clone() },
                None => return Err(ConfigError::invalid("source.done_dir", "is required with source.completion = \"move\"")),
            },
        };
        let include = globs("source.include", &keyed("source.include", &s.include))?;
        let mut ignore_patterns = keyed("source.ignore", &s.ignore);
        if let Completion::Rename { suffix } = &completion {
            ignore_patterns.push(("source.completed_suffix".into(), format!("*{suffix}")));
            ignore_patterns.push(("source.completed_suffix".into(), format!("*{suffix}.*")));
        }
        let ignore = globs("source.ignore", &ignore_patterns)?;
        if k.receivers.is_empty() {
            return Err(ConfigError::invalid("sink.receivers", "must list at least one receiver"));
        }
        let mut hosts = Vec::with_capacity(k.receivers.len());
        for (i, r) in k.receivers.iter().enumerate() {
            match r.address.rsplit_once(':') {
                Some((host, port)) if port.parse::<u16>().is_ok() => hosts.push(host),
                _ => return Err(ConfigError::invalid(format!("sink.receivers[{i}].address"), format!("{:?} must be host:port", r.address))),
            }
        }
        let sink_batch = batch_size("sink.batch_size", k.batch_size)?;
        if k.backoff_initial.is_zero() || k.backoff_max < k.backoff_initial {
            return Err(ConfigError::invalid(
                "sink.backoff_initial",
                format!("{:?} must be above zero and at most sink.backoff_max ({:?})", k.backoff_initial, k.backoff_max),
            ));
        }
        if k.health_probe_interval < Duration::from_millis(100) {
            return Err(ConfigError::invalid("sink.health_probe_interval", format!("must be at least 100ms, not {:?}", k.health_probe_interval)));
        }
        let mut receivers = Vec::with_capacity(k.receivers.len());
        for (i, (r, host)) in k.receivers.iter().zip(hosts).enumerate() {
            let tls = k.tls.as_ref().map(|tls| tls.for_receiver(i, &r.address, host)).transpose()?;
            receivers.push(Receiver { address: r.address.clone(), priority: r.priority, tls });
        }
        let mut channel = channel;
        if channel.kind == ChannelKind::Durable && channel.dir.is_none() {
            channel.dir = Some(agent.state_dir.join("channel"));
        }
        channel.validate("channel").map_err(|e| ConfigError::invalid(e.key, e.message))?;
        let parser = parser.build().map_err(|e| ConfigError::invalid("parser", e.0))?;
        let client = ClientOptions {
            connect_timeout: k.connect_timeout,
            request_timeout: k.request_timeout,
            deflate: k.compression == Compression::Deflate,
            ..ClientOptions::default()
        };
        Ok(Validated {
            include,
            ignore,
            quarantine_dir: s.quarantine_dir.unwrap_or_else(|| agent.state_dir.join("quarantine")),
            dead_letter_dir: s.dead_letter_dir.unwrap_or_else(|| agent.state_dir.join("dead-letter")),
            channel,
            parser,
            source: SourceSettings {
                spool_dirs: s.spool_dirs,
                recursive: s.recursive,
                consume_order: s.consume_order,
                quiet_period: s.quiet_period,
                rescan_interval: s.rescan_interval,
                batch_size: source_batch,
                completion,
                done_dir: s.done_dir,
                duplicates: s.duplicates,
                invalid_utf8: s.invalid_utf8,
            },
            sink: SinkSettings {
                receivers,
                selector: k.selector,
                batch_size: sink_batch,
                client,
                backoff_initial: k.backoff_initial,
                backoff_max: k.backoff_max,
                health_probe_interval: k.health_probe_interval,
            },
            agent,
            metrics,
            log,
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

    fn check(extra: &str) -> Result<Validated, ConfigError> {
        let text = format!("{MINIMAL}\n{extra}");
        let c: Config = clickstream_telemetry::config::parse_toml(&text, "test.toml")?;
        c.validate()
    }

    /// The key `validate` refuses `text` for; its message names the value.
    fn invalid_key(text: &str) -> String {
        match toml::from_str::<Config>(text).unwrap().validate() {
            Err(ConfigError::Invalid { key, message }) => {
                assert!(!message.is_empty(), "{key}");
                key
            }
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let v = check("").unwrap();
        assert_eq!(v.channel.dir.as_deref(), Some(Path::new("/tmp/x/channel")));
        assert_eq!(v.source.quiet_period, Duration::from_secs(2));
        assert_eq!(v.source.completion, Completion::Rename { suffix: ".COMPLETED".into() });
        assert!(v.ignore.is_match("a.log.COMPLETED") && v.ignore.is_match("x.tmp"));
        assert!(v.include.is_match("access.log"));
    }

    #[test]
    fn errors_name_the_key() {
        let e = |s: &str| check(s).unwrap_err().to_string();
        assert!(e("[metrics]\nlisten = \"nope\"").contains("listen"));
        assert!(toml::from_str::<Config>(&format!("{MINIMAL}\n[channel]\nkind = \"durable\"\nmax_event = 3"))
            .unwrap_err()
            .to_string()
            .contains("max_event"));
        let bad_recv = MINIMAL.replace("127.0.0.1:41414", "nohost");
        assert_eq!(invalid_key(&bad_recv), "sink.receivers[0].address");
        let bad_host = MINIMAL.replace("\"weblog1\"", "\"web log\"");
        assert_eq!(invalid_key(&bad_host), "agent.host");
        let err = toml::from_str::<Config>(&bad_host).unwrap().validate().unwrap_err().to_string();
        assert!(err.starts_with("invalid `agent.host`: \"web log\""), "{err}");
        let mv = MINIMAL.replace("[sink]", "completion = \"move\"\n[sink]");
        assert_eq!(invalid_key(&mv), "source.done_dir");
        let glob = MINIMAL.replace("[sink]", "include = [\"*.log\", \"[\"]\n[sink]");
        assert_eq!(invalid_key(&glob), "source.include[1]");
        let suffix = MINIMAL.replace("[sink]", "completed_suffix = \".[done\"\n[sink]");
        assert_eq!(invalid_key(&suffix), "source.completed_suffix");
        let parser = format!("{MINIMAL}\n[parser]\nformat = \"regex\"");
        assert!(check("[parser]\nformat = \"regex\"").unwrap_err().to_string().contains("parser.regex"));
        assert_eq!(invalid_key(&parser), "parser");
        let batch = toml::from_str::<Config>(&MINIMAL.replace("[sink]", "[sink]\nbatch_size = 0")).unwrap().validate().unwrap_err().to_string();
        assert!(batch.contains("sink.batch_size") && batch.contains("not 0"), "{batch}");
        let channel = check("[channel]\nmax_events = 0").unwrap_err().to_string();
        assert!(channel.contains("channel.max_events"), "{channel}");
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
        let names: Vec<String> = v.sink.receivers.iter().map(|r| r.tls.as_ref().unwrap().server_name()).collect();
        assert_eq!(names, ["127.0.0.1", "fanout2.example.org"]);
        let v = toml::from_str::<Config>(&with_tls("server_name = \"localhost\"")).unwrap().validate().unwrap();
        assert!(v.sink.receivers.iter().all(|r| r.tls.as_ref().unwrap().server_name() == "localhost"));
        let plain = toml::from_str::<Config>(MINIMAL).unwrap().validate().unwrap();
        assert!(plain.sink.receivers[0].tls.is_none());
        let missing = with_tls("").replace("ca.pem", "nope.pem");
        let err = toml::from_str::<Config>(&missing).unwrap().validate().unwrap_err().to_string();
        assert!(err.contains("sink.tls") && err.contains("nope.pem") && err.contains("127.0.0.1:41414"), "{err}");
        assert_eq!(invalid_key(&missing), "sink.tls.ca");
        assert_eq!(invalid_key(&with_tls("server_name = \"not a name\"")), "sink.tls.server_name");
    }
}
