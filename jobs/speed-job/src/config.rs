//! The TOML configuration (`conf/speed-job.toml`), validated once.
//!
//! Shape after Vector's component configs: `deny_unknown_fields` so a typo
//! is an error rather than a silently ignored key, defaults from functions,
//! and [`Config::validate`] checks every cross-field rule up front so the run
//! path never meets a bad value. Errors name the offending key
//! (`health.slide`), which `speed-job validate` prints before exiting 78.

use std::path::Path;
use std::time::Duration;

use clickstream_cql::config::WriteConsistency;
use clickstream_telemetry::config::{int, parse_toml, read_toml, secs};
use serde::Deserialize;

/// Why a configuration is unusable.
pub use clickstream_telemetry::config::ConfigError;

/// `[metrics]`: `/metrics` and `/health`, by default on 127.0.0.1:9464.
pub type MetricsConfig = clickstream_telemetry::config::MetricsConfig<9464>;
/// `[log]`.
pub use clickstream_telemetry::config::LogConfig;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where events come from.
    pub kafka: KafkaConfig,
    /// Where results go.
    #[serde(default)]
    pub cassandra: CassandraConfig,
    /// Event-time settings shared by all windows.
    #[serde(default)]
    pub windows: WindowsConfig,
    /// DDoS detection.
    #[serde(default)]
    pub ddos: DdosConfig,
    /// Server health.
    #[serde(default)]
    pub health: HealthConfig,
    /// Category popularity.
    #[serde(default)]
    pub popularity: PopularityConfig,
    /// Job identity and flushing.
    #[serde(default)]
    pub job: JobConfig,
    /// Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[kafka]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topic of click events.
    #[serde(default = "clickstream_contract::events_topic")]
    pub topic: String,
    /// Consumer group (committed offsets, lag monitoring).
    #[serde(default = "default_group")]
    pub group_id: String,
    /// How partitions are assigned: `static` (the job assigns itself its
    /// shard of the partitions, like Flink's or Spark's Kafka sources, and
    /// uses the group only for committed offsets) or `group` (join the
    /// consumer group and take what the coordinator assigns, rebalancing as
    /// instances come and go).
    #[serde(default)]
    pub assignment: Assignment,
    /// Static mode: how many instances share the partitions (partition `p`
    /// belongs to instance `p % shard_count`). 1: this one reads them all.
    #[serde(default = "int::<1, _>")]
    pub shard_count: u32,
    /// Static mode: which of the `shard_count` instances this is, from 0.
    #[serde(default)]
    pub shard_index: u32,
    /// `session.timeout.ms` (group mode); 6 s suits Tansu, whose group joins
    /// are slow with the default 45 s. Members heartbeat at a tenth of it
    /// (`source::heartbeat_interval`).
    #[serde(default = "secs::<6>", with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Where to start when a partition has neither a checkpoint nor a committed offset.
    #[serde(default)]
    pub auto_offset_reset: OffsetReset,
    /// Extra librdkafka properties, passed through as written.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
}

impl KafkaConfig {
    /// Whether static assignment gives `partition` to this instance.
    pub fn owns(&self, partition: i32) -> bool {
        partition.rem_euclid(self.shard_count as i32) == self.shard_index as i32
    }
}

/// `[cassandra]`: the writer's side of the section serve has too (its keys,
/// defaults and rules are `lib/cql`'s), with `replication`, `ttl`,
/// `create_schema` and `write_concurrency`.
pub type CassandraConfig = clickstream_cql::config::CassandraConfig<WriteConsistency>;

/// `kafka.assignment`: who decides which partitions this process reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Assignment {
    /// The job assigns itself every partition (like Flink's Kafka source);
    /// the group holds committed offsets only.
    #[default]
    Static,
    /// The group coordinator assigns partitions.
    Group,
}

/// `kafka.auto_offset_reset`: where a partition without a checkpoint or a
/// committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The oldest record kept: a new job counts the topic's history.
    #[default]
    Earliest,
    /// Only records produced from now on.
    Latest,
}

impl OffsetReset {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
        }
    }
}

/// `[windows]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// Watermark = newest event time seen (per partition and web server) minus this.
    #[serde(default = "secs::<10>", with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// A partition read to its end and then silent this long stops holding
    /// the watermark back; so does a web server with no event this long
    /// after its partition was read to its end (listening time: flushes do
    /// not count). A partition with unread records never goes idle.
    #[serde(default = "secs::<30>", with = "humantime_serde")]
    pub idle_partition_timeout: Duration,
    /// Web servers (source hosts) expected in the stream: each holds windows
    /// open in every partition until its first event arrives there (or it is
    /// idle), so a server that starts a little later is not late.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Event ids of each partition's last this-many records are remembered
    /// after their windows closed, so a batch re-sent after a crash is a
    /// duplicate, not late, even when it spans more event time than the
    /// windows (sparse or replayed logs). A restart re-reads this many
    /// records per partition to refill it; 0 turns it off.
    #[serde(default = "int::<20_000, _>")]
    pub dedup_recent_records: u64,
    /// An event more than this ahead of its web server's newest corroborated
    /// event time (in its partition) is *far ahead*: counted, but it moves
    /// the watermark only once `far_ahead_quorum` such events agree. Why: a
    /// single stray line (a clock step, a proxy, a mis-set timezone) would
    /// otherwise make every following line of its server late.
    #[serde(default = "secs::<60>", with = "humantime_serde")]
    pub far_ahead: Duration,
    /// How many far-ahead events (not yet caught up by the stream) make a
    /// real clock jump; also how many events a web server's first time in
    /// a partition needs. 1 turns the rule off (every event moves the
    /// watermark). At most [`crate::partition::MAX_QUORUM`].
    #[serde(default = "int::<3, _>")]
    pub far_ahead_quorum: usize,
}

/// `[ddos]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DdosConfig {
    /// Tumbling window length.
    #[serde(default = "secs::<1>", with = "humantime_serde")]
    pub window: Duration,
    /// Alert when a client address makes MORE than this many requests in one window.
    #[serde(default = "int::<100, _>")]
    pub threshold: u64,
}

/// `[health]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Window length.
    #[serde(default = "secs::<300>", with = "humantime_serde")]
    pub window: Duration,
    /// Slide (must divide the window).
    #[serde(default = "secs::<60>", with = "humantime_serde")]
    pub slide: Duration,
    /// Unhealthy when MORE than this many responses in a window are not 200.
    #[serde(default = "int::<10, _>")]
    pub threshold: u64,
}

/// `[popularity]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopularityConfig {
    /// Window length.
    #[serde(default = "secs::<300>", with = "humantime_serde")]
    pub window: Duration,
    /// Slide (must divide the window).
    #[serde(default = "secs::<60>", with = "humantime_serde")]
    pub slide: Duration,
    /// Rows of `category_top` per window.
    #[serde(default = "int::<10, _>")]
    pub top_n: usize,
}

/// `[job]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Name of this job: the key of its checkpoint rows.
    #[serde(default = "clickstream_cql::config::speed_job_name")]
    pub name: String,
    /// How often updated rows are written and the checkpoint advanced.
    #[serde(default = "secs::<1>", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Flush early after this many events.
    #[serde(default = "int::<50_000, _>")]
    pub max_batch_events: usize,
    /// How long Cassandra may fail (writes or idle pings) before `/health`
    /// says unhealthy: a node restarting should not page anyone.
    #[serde(default = "secs::<60>", with = "humantime_serde")]
    pub health_failing_after: Duration,
    /// Records of the topic not yet read (all partitions) above which
    /// `/health` says unhealthy: the job is not keeping up.
    #[serde(default = "int::<100_000, _>")]
    pub health_max_unread_records: u64,
}

fn default_group() -> String {
    "speed-job".into()
}
clickstream_telemetry::defaults_from_serde!(WindowsConfig, DdosConfig, HealthConfig, PopularityConfig, JobConfig);

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = read_toml(path)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates TOML text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = parse_toml(text, origin)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every rule that types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &'static str, message: String| Err(ConfigError::invalid(key, message));
        if self.kafka.brokers.trim().is_empty() {
            return bad("kafka.brokers", "must name at least one broker".into());
        }
        if self.kafka.topic.is_empty() {
            return bad("kafka.topic", "must not be empty".into());
        }
        if self.kafka.session_timeout < Duration::from_secs(1) {
            return bad("kafka.session_timeout", "must be at least 1s".into());
        }
        if self.kafka.shard_count == 0 {
            return bad("kafka.shard_count", "must be at least 1".into());
        }
        if self.kafka.shard_index >= self.kafka.shard_count {
            return bad("kafka.shard_index", format!("must be below kafka.shard_count ({})", self.kafka.shard_count));
        }
        if self.kafka.assignment == Assignment::Group && (self.kafka.shard_count, self.kafka.shard_index) != (1, 0) {
            return bad("kafka.shard_count", "shards are for assignment = \"static\"; in group mode the coordinator divides the partitions".into());
        }
        // librdkafka judges the pass-through properties itself: a consumer
        // built from them with no broker checks every name and value against
        // what this build supports (TLS, SASL mechanisms) and loads the TLS
        // files, without touching the network.
        let mut offline = rdkafka::ClientConfig::new();
        offline.set("group.id", "validate").set("log_level", "3");
        for (k, v) in &self.kafka.properties {
            offline.set(k, v);
        }
        if let Err(e) = offline.create::<rdkafka::consumer::BaseConsumer>() {
            return bad("kafka.properties", format!("librdkafka refuses them: {e}"));
        }
        if let Err((key, message)) = self.cassandra.validate() {
            return bad(key, message);
        }
        if self.windows.dedup_recent_records > 10_000_000 {
            return bad("windows.dedup_recent_records", "must be at most 10000000 (about 400 MB of ids per partition)".into());
        }
        if self.windows.allowed_lateness.as_millis() > 86_400_000 {
            return bad("windows.allowed_lateness", "must be at most 1 day".into());
        }
        let quorum = self.windows.far_ahead_quorum;
        if quorum == 0 || quorum > crate::partition::MAX_QUORUM {
            return bad(
                "windows.far_ahead_quorum",
                format!("{quorum}: must be between 1 (off: every event moves the watermark) and {}", crate::partition::MAX_QUORUM),
            );
        }
        let far = self.windows.far_ahead;
        if far < Duration::from_secs(1) || far.as_millis() > 86_400_000 * 365 {
            return bad("windows.far_ahead", format!("{far:?}: must be between 1s and 365 days"));
        }
        check_window("ddos.window", self.ddos.window, self.ddos.window)?;
        check_window("health.window", self.health.window, self.health.slide)?;
        check_window("popularity.window", self.popularity.window, self.popularity.slide)?;
        if self.popularity.top_n == 0 || self.popularity.top_n > 1000 {
            return bad("popularity.top_n", format!("{}: must be between 1 and 1000", self.popularity.top_n));
        }
        if self.job.name.is_empty() {
            return bad("job.name", "must not be empty".into());
        }
        if self.job.flush_interval < Duration::from_millis(10) {
            return bad("job.flush_interval", "must be at least 10ms".into());
        }
        if self.job.max_batch_events == 0 {
            return bad("job.max_batch_events", "must be at least 1".into());
        }
        if self.job.health_failing_after < Duration::from_secs(1) {
            return bad("job.health_failing_after", "must be at least 1s".into());
        }
        if self.job.health_max_unread_records == 0 {
            return bad("job.health_max_unread_records", "must be at least 1".into());
        }
        Ok(())
    }
}

fn check_window(key: &'static str, window: Duration, slide: Duration) -> Result<(), ConfigError> {
    let (w, s) = (window.as_millis(), slide.as_millis());
    let message = if w == 0 || s == 0 {
        "window and slide must be at least 1ms".to_string()
    } else if s > w {
        "slide must not exceed the window".to_string()
    } else if w % s != 0 {
        format!("the slide ({s} ms) must divide the window ({w} ms)")
    } else if w / s > 60 {
        "at most 60 overlapping windows (window / slide)".to_string()
    } else if w > 86_400_000 {
        "must be at most 1 day".to_string()
    } else {
        return Ok(());
    };
    Err(ConfigError::invalid(key, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_the_issue_defaults() {
        let c = Config::parse("[kafka]\nbrokers = \"127.0.0.1:9092\"\n", "t").unwrap();
        assert_eq!(c.kafka.topic, "clickstream.events");
        assert_eq!(c.kafka.session_timeout, Duration::from_secs(6));
        assert_eq!((c.ddos.window, c.ddos.threshold), (Duration::from_secs(1), 100));
        assert_eq!((c.health.window, c.health.slide, c.health.threshold), (Duration::from_secs(300), Duration::from_secs(60), 10));
        assert_eq!(c.windows.allowed_lateness, Duration::from_secs(10));
        assert_eq!((c.windows.far_ahead, c.windows.far_ahead_quorum), (Duration::from_secs(60), 3));
        assert_eq!(c.cassandra.consistency, WriteConsistency(scylla::statement::Consistency::LocalQuorum));
        assert_eq!(
            (c.cassandra.ttl(), c.cassandra.write_concurrency(), c.cassandra.request_timeout),
            (Duration::from_secs(3 * 86_400), 64, Duration::from_secs(10))
        );
    }

    #[test]
    fn the_far_ahead_rule_is_validated() {
        for (table, key) in [
            ("far_ahead_quorum = 0", "windows.far_ahead_quorum"),
            ("far_ahead_quorum = 9", "windows.far_ahead_quorum"),
            ("far_ahead = \"500ms\"", "windows.far_ahead"),
        ] {
            let e = Config::parse(&format!("[kafka]\nbrokers = \"b\"\n[windows]\n{table}\n"), "t").unwrap_err();
            assert!(matches!(&e, ConfigError::Invalid { key: k, .. } if k == key), "{table}: {e}");
        }
        let c = Config::parse("[kafka]\nbrokers = \"b\"\n[windows]\nfar_ahead = \"2m\"\nfar_ahead_quorum = 1\n", "t").unwrap();
        assert_eq!((c.windows.far_ahead, c.windows.far_ahead_quorum), (Duration::from_secs(120), 1));
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse("[kafka]\nbrokers = \"b\"\n[health]\nslide = \"7m\"\n", "t").unwrap_err();
        assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "health.window"), "{e}");
        let e = Config::parse("[kafka]\nbrokers = \"b\"\n[cassandra]\nconsistency = \"most\"\n", "t").unwrap_err();
        assert!(e.to_string().contains("consistency level `most`: expected any, one"), "refused when the file is read: {e}");
        let e = Config::parse("[kafka]\nbrokers = \"b\"\n[cassandra]\nttl = \"1500ms\"\n", "t").unwrap_err();
        assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "cassandra.ttl"), "{e}");
        let e = Config::parse("[kafka]\nbrokers = \"b\"\ntopik = \"x\"\n", "t").unwrap_err();
        assert!(e.to_string().contains("topik"), "{e}");
    }
    /// TLS and SASL are in the build; librdkafka refuses, without a broker,
    /// a property it does not know and a TLS file that is not there.
    #[test]
    fn librdkafka_judges_the_consumer_properties_offline() {
        let with = |props: &str| Config::parse(&format!("[kafka]\nbrokers = \"b\"\n[kafka.properties]\n{props}\n"), "t");
        with("\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"p\"")
            .unwrap();
        let e = with("\"no.such.property\" = \"1\"").unwrap_err().to_string();
        assert!(e.contains("kafka.properties") && e.contains("no.such.property"), "{e}");
        let e = with("\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"/nonexistent/ca.pem\"").unwrap_err().to_string();
        assert!(e.contains("ssl.ca.location"), "{e}");
    }
}
