//! The fan-out agent's TOML configuration, validated once; every error names
//! its key.
//!
//! [`Config`] is the file as parsed; [`Config::validate`] checks it and
//! gives a [`Validated`], the same tables with each sink's settings in the
//! form its sink takes (the HDFS sink's URL and path template parsed, as
//! [`HdfsSinkSettings`]). Preflight, `run` and the sinks take that, so none
//! of them checks or parses a value again.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clickstream_avro_ipc::ServerTls;
use clickstream_channel::{ChannelConfig, ChannelKind};
use clickstream_logparse::ParserConfig;
use clickstream_telemetry::config::{secs, ConfigError};
use serde::Deserialize;

use crate::sinks::hdfs::{HdfsSinkConfig, HdfsSinkSettings};
use crate::sinks::kafka::KafkaSinkConfig;

/// `[metrics]`: `/metrics` and `/health`, by default on 127.0.0.1:9111.
pub type MetricsConfig = clickstream_telemetry::config::MetricsConfig<9111>;
/// `[log]`.
pub use clickstream_telemetry::config::LogConfig;

/// The whole file, as parsed: nothing is checked until [`Config::validate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[agent]`
    pub agent: AgentConfig,
    /// `[source]`
    pub source: SourceConfig,
    /// `[sinks.kafka]` and `[sinks.hdfs]`, each with its own channel.
    #[serde(default)]
    pub sinks: SinksConfig,
    /// `[metrics]`
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[log]`
    #[serde(default)]
    pub log: LogConfig,
}

/// `[agent]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Names this instance in HDFS file names; unique per running agent.
    pub instance_id: String,
    /// Where the channels live by default.
    pub state_dir: PathBuf,
    /// `/health` turns unhealthy when a sink has been failing (every batch
    /// failing) or stalled (events waiting, none written) this long; a sink
    /// that has not started yet makes it unhealthy at once.
    #[serde(default = "secs::<60>", with = "humantime_serde")]
    pub health_sink_failing_after: Duration,
}

fn default_listen() -> SocketAddr {
    ([127, 0, 0, 1], 41414).into()
}
fn default_max_frame() -> usize {
    16 << 20
}
fn default_max_batch() -> usize {
    10_000
}
fn default_max_conn() -> usize {
    256
}
fn default_max_first_frame() -> usize {
    4 << 20
}
fn default_max_buffered() -> usize {
    64 << 20
}
fn default_max_conn_per_address() -> usize {
    64
}

/// `[source]`: the Avro RPC listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Address to listen on (default 127.0.0.1:41414, Flume's customary port).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest request frame in bytes.
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// Most events per appendBatch.
    #[serde(default = "default_max_batch")]
    pub max_batch_events: usize,
    /// Most concurrent connections.
    #[serde(default = "default_max_conn")]
    pub max_connections: usize,
    /// Largest frame before a connection's handshake has completed (its
    /// first batch must fit): unknown peers cannot make the agent buffer more.
    #[serde(default = "default_max_first_frame")]
    pub max_first_frame_bytes: usize,
    /// Bytes all connections together may buffer (at least
    /// `max_frame_bytes`): the bound on the source's memory, whatever the
    /// peers send. A connection waits for room before reading more.
    #[serde(default = "default_max_buffered")]
    pub max_buffered_bytes: usize,
    /// Longest wait for a connection's first frame (and TLS handshake).
    #[serde(default = "secs::<10>", with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Longest a begun frame may take to arrive in full.
    #[serde(default = "secs::<60>", with = "humantime_serde")]
    pub frame_timeout: Duration,
    /// Most connections from one client address (0: no limit), so that one
    /// host cannot take every slot of `max_connections`.
    #[serde(default = "default_max_conn_per_address")]
    pub max_connections_per_address: usize,
    /// Idle connections are closed after this long.
    #[serde(default = "secs::<300>", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// zlib stream compression, as Flume's `compression-type = deflate`.
    #[serde(default)]
    pub deflate: bool,
    /// How long a batch may wait for room in a required channel before the
    /// sender is told FAILED (it retries: backpressure travels upstream).
    #[serde(default = "secs::<5>", with = "humantime_serde")]
    pub put_timeout: Duration,
    /// Client addresses allowed to connect; empty allows all.
    #[serde(default)]
    pub allow: Vec<IpAddr>,
    /// `[source.tls]`: serve TLS (Flume's `ssl = true`); absent = plain TCP.
    #[serde(default)]
    pub tls: Option<SourceTlsConfig>,
    /// What event bodies hold: see [`BodyFormat`].
    #[serde(default)]
    pub body: BodyFormat,
    /// The Flume header that names a raw line's web server (Flume's host
    /// interceptor writes `host`).
    #[serde(default = "default_host_header")]
    pub host_header: String,
    /// `[source.parser]`: how raw lines are parsed and categorised, the same
    /// table as a spool agent's `[parser]`.
    #[serde(default)]
    pub parser: ParserConfig,
}

fn default_host_header() -> String {
    "host".into()
}

/// What the senders put in an event's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// An Avro `ClickEvent` datum, as the spool agents send (the default).
    #[default]
    Clickevent,
    /// A raw access-log line, as a stock Flume agent's LINE deserializer
    /// sends (spooldir, taildir or exec source with an Avro sink).
    Line,
    /// Each event on its own: a `ClickEvent` when it is one, else a line.
    /// For a tier where spool agents and Flume agents share the collector.
    Auto,
}

/// `[source.tls]`: the certificate the source presents. The senders must
/// trust its CA (a spool agent's `[sink.tls] ca`, a Flume Avro sink's
/// truststore).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTlsConfig {
    /// PEM certificate chain, the source's own certificate first.
    pub cert: PathBuf,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl SourceTlsConfig {
    /// Reads and checks the certificate and key; the error names
    /// `source.tls` and the file at fault.
    pub fn load(&self) -> Result<ServerTls, ConfigError> {
        ServerTls::from_pem_files(&self.cert, &self.key).map_err(|e| ConfigError::invalid("source.tls", e.to_string()))
    }
}

/// `[sinks]`: the agent runs the sinks whose tables are present, at least
/// one. Both is the lambda architecture's fan-out; one alone serves a site
/// without a speed layer (HDFS only) or without a batch layer (Kafka only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    /// The Kafka sink (speed layer).
    pub kafka: Option<SinkSection<KafkaSinkConfig>>,
    /// The HDFS sink (batch layer's master copy).
    pub hdfs: Option<SinkSection<HdfsSinkConfig>>,
}

/// The sinks of a [`Validated`] configuration: the same tables as
/// [`SinksConfig`], checked, each with its settings in the form its sink
/// takes.
#[derive(Debug, Clone)]
pub struct Sinks {
    /// The Kafka sink (speed layer); its table needs no parsing beyond serde.
    pub kafka: Option<SinkSection<KafkaSinkConfig>>,
    /// The HDFS sink (batch layer's master copy), URL and template parsed.
    pub hdfs: Option<SinkSection<HdfsSinkSettings>>,
}

impl Sinks {
    /// Names of the configured sinks, for logs and `validate`.
    pub fn names(&self) -> Vec<&'static str> {
        [self.kafka.as_ref().map(|_| "kafka"), self.hdfs.as_ref().map(|_| "hdfs")].into_iter().flatten().collect()
    }
}

/// A sink's table: its own settings, its channel, and whether it is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection<T> {
    /// A required sink's channel must accept a batch before the source answers
    /// OK; an optional sink is skipped (with a metric) while its channel is full.
    #[serde(default = "yes")]
    pub required: bool,
    /// Events per take from the channel.
    #[serde(default = "default_sink_batch")]
    pub batch_size: usize,
    /// The sink's channel.
    #[serde(default)]
    pub channel: ChannelConfig,
    /// The sink's own settings.
    #[serde(flatten)]
    pub settings: T,
}

impl<T> SinkSection<T> {
    /// Checks the agent's keys of the table and gives a durable channel
    /// without `dir` one under the state directory. The channel must hold
    /// the largest batch the source accepts (`max_batch`), or such a batch
    /// could never be put.
    fn validate_common(&mut self, name: &str, state_dir: &Path, max_batch: u64) -> Result<(), ConfigError> {
        if self.channel.kind == ChannelKind::Durable && self.channel.dir.is_none() {
            self.channel.dir = Some(state_dir.join(format!("channel-{name}")));
        }
        self.channel.validate(&format!("sinks.{name}.channel")).map_err(|e| ConfigError::invalid(e.key, e.message))?;
        if self.channel.max_events < max_batch {
            return Err(ConfigError::invalid(
                format!("sinks.{name}.channel.max_events"),
                format!(
                    "{} is below source.max_batch_events = {max_batch}: a full batch could never be put; raise it or lower the batch limit",
                    self.channel.max_events
                ),
            ));
        }
        if self.batch_size == 0 || self.batch_size > 100_000 {
            return Err(ConfigError::invalid(format!("sinks.{name}.batch_size"), format!("must be between 1 and 100000, not {}", self.batch_size)));
        }
        Ok(())
    }

    /// The same section with `settings` in place of the table's own: its
    /// validated form.
    fn with_settings<U>(self, settings: U) -> SinkSection<U> {
        SinkSection { required: self.required, batch_size: self.batch_size, channel: self.channel, settings }
    }
}

fn yes() -> bool {
    true
}
fn default_sink_batch() -> usize {
    2000
}

/// A configuration [`Config::validate`] accepted: every value in range, the
/// channel directories resolved, and each sink's settings ready for its sink
/// ([`Sinks`]). Only validation makes one, so whoever holds it checks nothing
/// again.
#[derive(Debug, Clone)]
pub struct Validated {
    /// `[agent]`
    pub agent: AgentConfig,
    /// `[source]`
    pub source: SourceConfig,
    /// `[source.tls]` with its certificate and key read, when set.
    pub source_tls: Option<ServerTls>,
    /// `[source.parser]` built: how line bodies (`source.body` = `line` or
    /// `auto`) become events.
    pub parser: clickstream_logparse::Parser,
    /// `[sinks.kafka]` and `[sinks.hdfs]`, each with its own channel.
    pub sinks: Sinks,
    /// `[metrics]`
    pub metrics: MetricsConfig,
    /// `[log]`
    pub log: LogConfig,
}

impl Config {
    /// Reads and parses a file; the error names the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        clickstream_telemetry::config::read_toml(path)
    }

    /// Checks every value, resolves channel directories and readies each
    /// sink's settings; the error names the key at fault.
    pub fn validate(self) -> Result<Validated, ConfigError> {
        let bad = |key: &str, message: String| Err(ConfigError::invalid(key, message));
        let id = &self.agent.instance_id;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad("agent.instance_id", format!("{id:?} must be non-empty letters, digits, '-' or '_' (it is part of file names)"));
        }
        let after = self.agent.health_sink_failing_after;
        if after < Duration::from_secs(1) || after > Duration::from_secs(86_400) {
            return bad(
                "agent.health_sink_failing_after",
                format!("{after:?} must be between 1s and 24h (how long a sink may fail or stall before /health says unhealthy)"),
            );
        }
        let s = &self.source;
        if s.max_batch_events == 0 {
            return bad("source.max_batch_events", "must be positive".into());
        }
        if s.max_frame_bytes < 1024 {
            return bad("source.max_frame_bytes", format!("must be at least 1024, not {}", s.max_frame_bytes));
        }
        if s.max_connections == 0 {
            return bad("source.max_connections", "must be positive".into());
        }
        if s.max_first_frame_bytes < 1024 || s.max_first_frame_bytes > s.max_frame_bytes {
            return bad(
                "source.max_first_frame_bytes",
                format!("must be between 1024 and source.max_frame_bytes = {}, not {}", s.max_frame_bytes, s.max_first_frame_bytes),
            );
        }
        if s.max_buffered_bytes < s.max_frame_bytes {
            return bad(
                "source.max_buffered_bytes",
                format!("must hold at least one frame (source.max_frame_bytes = {}), not {}", s.max_frame_bytes, s.max_buffered_bytes),
            );
        }
        if s.handshake_timeout.is_zero() {
            return bad("source.handshake_timeout", "must be positive".into());
        }
        if s.frame_timeout.is_zero() {
            return bad("source.frame_timeout", "must be positive".into());
        }
        let source_tls = s.tls.as_ref().map(|tls| tls.load()).transpose()?;
        let parser = s.parser.build().map_err(|e| ConfigError::invalid("source.parser", e.to_string()))?;
        if s.host_header.is_empty() {
            return bad("source.host_header", "must name a Flume header (Flume's host interceptor writes `host`)".into());
        }
        let Config { agent, source, sinks, metrics, log } = self;
        if sinks.kafka.is_none() && sinks.hdfs.is_none() {
            return bad("sinks", "no sink is configured: add [sinks.kafka] (speed layer) and/or [sinks.hdfs] (master copy)".into());
        }
        let max_batch = source.max_batch_events as u64;
        let kafka = match sinks.kafka {
            Some(mut k) => {
                k.validate_common("kafka", &agent.state_dir, max_batch)?;
                k.settings.validate("sinks.kafka")?;
                Some(k)
            }
            None => None,
        };
        let hdfs = match sinks.hdfs {
            Some(mut h) => {
                h.validate_common("hdfs", &agent.state_dir, max_batch)?;
                let settings = h.settings.validate("sinks.hdfs", &agent.instance_id)?;
                Some(h.with_settings(settings))
            }
            None => None,
        };
        if let (Some(k), Some(h)) = (&kafka, &hdfs) {
            if k.channel.dir.is_some() && k.channel.dir == h.channel.dir {
                return bad("sinks.hdfs.channel.dir", "must differ from sinks.kafka.channel.dir: one channel per sink".into());
            }
        }
        Ok(Validated { agent, source, source_tls, parser, sinks: Sinks { kafka, hdfs }, metrics, log })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        clickstream_telemetry::config::parse_toml(text, "t.toml").unwrap()
    }

    const BOTH: &str = "[agent]\ninstance_id = \"fanout-1\"\nstate_dir = \"/var/lib/fanout\"\n[source]\n[sinks.kafka]\nbrokers = \"127.0.0.1:9\"\n[sinks.hdfs]\nurl = \"hdfs://nn:8020/user/x\"\n";

    /// Validation resolves the channels and readies the HDFS sink's settings once.
    #[test]
    fn validation_readies_every_sink() {
        let v = parse(BOTH).validate().unwrap();
        assert_eq!(v.sinks.names(), ["kafka", "hdfs"]);
        let h = v.sinks.hdfs.as_ref().unwrap();
        assert_eq!(h.channel.dir.as_deref(), Some(Path::new("/var/lib/fanout/channel-hdfs")));
        assert_eq!(h.settings.url(), "hdfs://nn:8020/user/x");
        assert_eq!(h.settings.file_prefix(), "fanout-1");
        assert_eq!(h.settings.template().fixed_root(), "/clickstream/master");
        assert_eq!(v.sinks.kafka.as_ref().unwrap().channel.dir.as_deref(), Some(Path::new("/var/lib/fanout/channel-kafka")));
    }

    /// Every refusal is a [`ConfigError::Invalid`] naming its key.
    #[test]
    fn refusals_name_their_key() {
        let key = |text: &str| match parse(text).validate().unwrap_err() {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("not a bad value: {other}"),
        };
        assert_eq!(key(&BOTH.replace("fanout-1", "a/b")), "agent.instance_id");
        assert_eq!(key(&BOTH.replace("fanout-1", "_hidden")), "sinks.hdfs.file_prefix", "the instance id would start hidden file names");
        assert_eq!(key(&BOTH.replace("[source]\n", "[source]\nmax_connections = 0\n")), "source.max_connections");
        assert_eq!(key(&BOTH.replace("[sinks.hdfs]\n", "[sinks.hdfs]\nbatch_size = 0\n")), "sinks.hdfs.batch_size");
        assert_eq!(key(&BOTH.replace("hdfs://nn", "s3://nn")), "sinks.hdfs.url");
        assert_eq!(key(&BOTH.replace("[sinks.hdfs]\n", "[sinks.hdfs]\nchannel = { max_bytes = 10 }\n")), "sinks.hdfs.channel.max_bytes");
        let same = "[sinks.kafka.channel]\ndir = \"/c\"\n[sinks.hdfs.channel]\ndir = \"/c\"\n";
        assert_eq!(key(&format!("{BOTH}{same}")), "sinks.hdfs.channel.dir");
        let none = parse("[agent]\ninstance_id = \"f\"\nstate_dir = \"/s\"\n[source]\n").validate().unwrap_err().to_string();
        assert!(none.starts_with("invalid `sinks`: no sink is configured"), "{none}");
        let small = parse(&BOTH.replace("[sinks.hdfs]\n", "[sinks.hdfs]\nchannel = { max_events = 100 }\n")).validate().unwrap_err().to_string();
        assert!(small.starts_with("invalid `sinks.hdfs.channel.max_events`: 100 is below source.max_batch_events = 10000"), "{small}");
    }
}
