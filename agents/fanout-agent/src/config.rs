//! The fan-out agent's TOML configuration, validated once; every error names
//! its key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clickstream_avro_ipc::ServerTls;
use clickstream_channel::{ChannelConfig, ChannelKind};
use clickstream_logparse::ParserConfig;
use serde::Deserialize;

use crate::sinks::hdfs::HdfsSinkConfig;
use crate::sinks::kafka::KafkaSinkConfig;

/// `[metrics]`: `/metrics` and `/health`, by default on 127.0.0.1:9111.
pub type MetricsConfig = clickstream_telemetry::config::MetricsConfig<9111>;
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
    #[serde(default = "default_health_sink_failing_after", with = "humantime_serde")]
    pub health_sink_failing_after: Duration,
}

fn default_health_sink_failing_after() -> Duration {
    Duration::from_secs(60)
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
fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_frame_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_conn_per_address() -> usize {
    64
}
fn default_idle() -> Duration {
    Duration::from_secs(300)
}
fn default_put_timeout() -> Duration {
    Duration::from_secs(5)
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
    #[serde(default = "default_handshake_timeout", with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Longest a begun frame may take to arrive in full.
    #[serde(default = "default_frame_timeout", with = "humantime_serde")]
    pub frame_timeout: Duration,
    /// Most connections from one client address (0: no limit), so that one
    /// host cannot take every slot of `max_connections`.
    #[serde(default = "default_max_conn_per_address")]
    pub max_connections_per_address: usize,
    /// Idle connections are closed after this long.
    #[serde(default = "default_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// zlib stream compression, as Flume's `compression-type = deflate`.
    #[serde(default)]
    pub deflate: bool,
    /// How long a batch may wait for room in a required channel before the
    /// sender is told FAILED (it retries: backpressure travels upstream).
    #[serde(default = "default_put_timeout", with = "humantime_serde")]
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
    /// Reads and checks the certificate and key.
    pub fn load(&self) -> Result<ServerTls, String> {
        ServerTls::from_pem_files(&self.cert, &self.key).map_err(|e| format!("source.tls: {e}"))
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

impl SinksConfig {
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
    fn validate_common(&mut self, name: &str, state_dir: &Path, max_batch: u64) -> Result<(), String> {
        if self.channel.kind == ChannelKind::Durable && self.channel.dir.is_none() {
            self.channel.dir = Some(state_dir.join(format!("channel-{name}")));
        }
        self.channel.validate(&format!("sinks.{name}.channel"))?;
        if self.channel.max_events < max_batch {
            return Err(format!(
                "sinks.{name}.channel.max_events = {} is below source.max_batch_events = {max_batch}: a full batch could never be put; raise it or lower the batch limit",
                self.channel.max_events
            ));
        }
        if self.batch_size == 0 || self.batch_size > 100_000 {
            return Err(format!("sinks.{name}.batch_size = {} must be between 1 and 100000", self.batch_size));
        }
        Ok(())
    }
}

fn yes() -> bool {
    true
}
fn default_sink_batch() -> usize {
    2000
}

impl Config {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, String> {
        clickstream_telemetry::config::read_toml(path).map_err(|e| e.to_string())
    }

    /// Checks every value and resolves channel directories.
    pub fn validate(mut self) -> Result<Config, String> {
        let id = &self.agent.instance_id;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("agent.instance_id {id:?} must be non-empty letters, digits, '-' or '_' (it is part of file names)"));
        }
        let after = self.agent.health_sink_failing_after;
        if after < Duration::from_secs(1) || after > Duration::from_secs(86_400) {
            return Err(format!(
                "agent.health_sink_failing_after = {:?} must be between 1s and 24h (how long a sink may fail or stall before /health says unhealthy)",
                after
            ));
        }
        let s = &self.source;
        if s.max_batch_events == 0 || s.max_frame_bytes < 1024 || s.max_connections == 0 {
            return Err("source.max_batch_events, source.max_frame_bytes (>= 1024) and source.max_connections must be positive".into());
        }
        if s.max_first_frame_bytes < 1024 || s.max_first_frame_bytes > s.max_frame_bytes {
            return Err(format!(
                "source.max_first_frame_bytes = {} must be between 1024 and source.max_frame_bytes = {}",
                s.max_first_frame_bytes, s.max_frame_bytes
            ));
        }
        if s.max_buffered_bytes < s.max_frame_bytes {
            return Err(format!(
                "source.max_buffered_bytes = {} must hold at least one frame (source.max_frame_bytes = {})",
                s.max_buffered_bytes, s.max_frame_bytes
            ));
        }
        if s.handshake_timeout.is_zero() || s.frame_timeout.is_zero() {
            return Err("source.handshake_timeout and source.frame_timeout must be positive".into());
        }
        if let Some(tls) = &s.tls {
            tls.load()?;
        }
        s.parser.build().map_err(|e| format!("[source.parser]: {e}"))?;
        if s.host_header.is_empty() {
            return Err("source.host_header must name a Flume header (Flume's host interceptor writes `host`)".into());
        }
        let state = self.agent.state_dir.clone();
        let sinks = &mut self.sinks;
        if sinks.kafka.is_none() && sinks.hdfs.is_none() {
            return Err("no sink is configured: add [sinks.kafka] (speed layer) and/or [sinks.hdfs] (master copy)".into());
        }
        let max_batch = s.max_batch_events as u64;
        let mut channels = Vec::new();
        if let Some(k) = &mut sinks.kafka {
            k.validate_common("kafka", &state, max_batch)?;
            k.settings.validate("sinks.kafka")?;
            channels.push(k.channel.dir.clone());
        }
        if let Some(h) = &mut sinks.hdfs {
            h.validate_common("hdfs", &state, max_batch)?;
            h.settings.validate("sinks.hdfs")?;
            channels.push(h.channel.dir.clone());
        }
        if let [Some(a), Some(b)] = channels.as_slice() {
            if a == b {
                return Err("sinks.kafka.channel.dir and sinks.hdfs.channel.dir must differ: one channel per sink".into());
            }
        }
        Ok(self)
    }
}
