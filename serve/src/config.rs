//! The TOML configuration (`conf/serve.toml`), validated once.
//!
//! Same shape as the other binaries' configs: `deny_unknown_fields` so a
//! typo is an error rather than a silently ignored key, defaults from
//! functions, and [`Config::validate`] checks every cross-field rule up
//! front so the request path never meets a bad value. Errors name the
//! offending key (`speed.health.window`); `serve validate` prints them and
//! exits 78.
//!
//! `[speed]` repeats the window settings of the speed job (`[health]` and
//! `[popularity]` of `conf/speed-job.toml`): the serving layer reads the
//! rows those windows produced and needs to know their length to sum them
//! into hours without counting an event twice.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use clickstream_cql::config::ReadConsistency;
use clickstream_telemetry::config::{int, parse_toml, read_toml, secs};
use serde::Deserialize;

/// Environment variable that overrides `mysql.url` (keeps the password out of the file).
pub const MYSQL_URL_ENV: &str = "SERVE_MYSQL_URL";
/// Environment variable that overrides `cassandra.password`.
pub const CASSANDRA_PASSWORD_ENV: &str = "SERVE_CASSANDRA_PASSWORD";

/// Why a configuration is unusable.
pub use clickstream_telemetry::config::ConfigError;

/// `[metrics]`: `/metrics` and `/health`, by default on 127.0.0.1:9465.
pub type MetricsConfig = clickstream_telemetry::config::MetricsConfig<9465>;
/// `[log]`.
pub use clickstream_telemetry::config::LogConfig;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The API and dashboard listener.
    #[serde(default)]
    pub http: HttpConfig,
    /// The batch views.
    #[serde(default)]
    pub mysql: MysqlConfig,
    /// The speed views.
    #[serde(default)]
    pub cassandra: CassandraConfig,
    /// How the speed job windows its views (must match its config).
    #[serde(default)]
    pub speed: SpeedConfig,
    /// Limits of the API's parameters.
    #[serde(default)]
    pub api: ApiConfig,
    /// The dashboard's live updates.
    #[serde(default)]
    pub stream: StreamConfig,
    /// Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the API (`/api/...`) and the dashboard (`/`).
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
    /// A request taking longer is answered 503 (the database is then the bottleneck).
    #[serde(default = "secs::<10>", with = "humantime_serde")]
    pub request_timeout: Duration,
}

/// `[mysql]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database` of the batch job's
    /// database; the user needs SELECT only (docs/serving.md). Overridden by
    /// `$SERVE_MYSQL_URL`.
    #[serde(default = "default_mysql_url")]
    pub url: String,
    /// Connections kept open (each request holds one for one query).
    #[serde(default = "int::<8, _>")]
    pub pool_size: u32,
    /// How long a request waits for a connection (also the connect timeout).
    #[serde(default = "secs::<5>", with = "humantime_serde")]
    pub connect_timeout: Duration,
}

/// `[cassandra]`: the reader's side of the section the speed job has too
/// (its keys, defaults and rules are `lib/cql`'s): `consistency` refuses
/// `any` and the speed job's schema and write keys are refused.
pub type CassandraConfig = clickstream_cql::config::CassandraConfig<ReadConsistency>;

/// `[speed]`: what the speed job writes, and how to find it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedConfig {
    /// The speed job's `job.name` (key of its checkpoint rows, whose
    /// watermark tells which windows are newest in event time).
    #[serde(default = "clickstream_cql::config::speed_job_name")]
    pub job_name: String,
    /// The speed job's `kafka.topic` (the other half of the checkpoint key).
    #[serde(default = "clickstream_contract::events_topic")]
    pub topic: String,
    /// The speed job's `windows.allowed_lateness`: how far open windows run
    /// ahead of its watermark.
    #[serde(default = "secs::<10>", with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// Web servers whose `server_health` rows are read. Empty: discovered
    /// from the table (see `host_refresh`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// How long a discovered host list is reused before the table is read again.
    #[serde(default = "secs::<30>", with = "humantime_serde")]
    pub host_refresh: Duration,
    /// The speed job's `[health]` windows.
    #[serde(default)]
    pub health: WindowConfig,
    /// The speed job's `[popularity]` windows.
    #[serde(default)]
    pub popularity: WindowConfig,
}

/// A sliding window of the speed job.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Window length.
    #[serde(default = "secs::<300>", with = "humantime_serde")]
    pub window: Duration,
    /// Slide.
    #[serde(default = "secs::<60>", with = "humantime_serde")]
    pub slide: Duration,
}

/// `[api]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Longest `from`..`to` range of `/api/traffic` and `/api/alerts`, in days.
    #[serde(default = "int::<31, _>")]
    pub max_range_days: u32,
    /// `limit` of `/api/alerts` when not given.
    #[serde(default = "int::<100, _>")]
    pub default_limit: u32,
    /// Largest `limit` accepted.
    #[serde(default = "int::<1000, _>")]
    pub max_limit: u32,
    /// Largest `points` of `/api/popularity` and `/api/servers`.
    #[serde(default = "int::<288, _>")]
    pub max_points: u32,
}

/// `[stream]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// How often the views are read while at least one dashboard is open;
    /// a changed view is pushed to every open dashboard.
    #[serde(default = "secs::<1>", with = "humantime_serde")]
    pub interval: Duration,
    /// Alerts shown by the dashboard.
    #[serde(default = "int::<20, _>")]
    pub alerts: u32,
    /// Days of hourly traffic in the dashboard's chart (ending on the newest event day).
    #[serde(default = "int::<2, _>")]
    pub traffic_days: u32,
    /// Most dashboards open at once (each holds a connection).
    #[serde(default = "int::<256, _>")]
    pub max_clients: usize,
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_mysql_url() -> String {
    "mysql://clickstream_ro:clickstream_ro@127.0.0.1:3306/clickstream".into()
}
clickstream_telemetry::defaults_from_serde!(HttpConfig, MysqlConfig, SpeedConfig, WindowConfig, ApiConfig, StreamConfig);

impl Config {
    /// Reads, parses and validates `path`, then applies the environment overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = read_toml(path)?;
        cfg.validate()?;
        cfg.apply_env(|k| std::env::var(k).ok());
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates TOML text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = parse_toml(text, origin)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Secrets from the environment win over the file.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(url) = get(MYSQL_URL_ENV).filter(|s| !s.is_empty()) {
            self.mysql.url = url;
        }
        if let Some(pw) = get(CASSANDRA_PASSWORD_ENV).filter(|s| !s.is_empty()) {
            self.cassandra.password = Some(pw);
        }
    }

    /// Checks every rule that types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &'static str, message: String| Err(ConfigError::invalid(key, message));
        if self.http.request_timeout < Duration::from_millis(10) {
            return bad("http.request_timeout", "must be at least 10ms".into());
        }
        if !self.mysql.url.starts_with("mysql://") {
            return bad("mysql.url", "must be mysql://user:password@host:port/database".into());
        }
        if !(1..=256).contains(&self.mysql.pool_size) {
            return bad("mysql.pool_size", "must be between 1 and 256".into());
        }
        if self.mysql.connect_timeout < Duration::from_millis(10) {
            return bad("mysql.connect_timeout", "must be at least 10ms".into());
        }
        if let Err((key, message)) = self.cassandra.validate() {
            return bad(key, message);
        }
        if self.speed.job_name.is_empty() {
            return bad("speed.job_name", "must not be empty".into());
        }
        if self.speed.topic.is_empty() {
            return bad("speed.topic", "must not be empty".into());
        }
        if self.speed.allowed_lateness > Duration::from_secs(86_400) {
            return bad("speed.allowed_lateness", "must be at most 1 day".into());
        }
        check_window("speed.health.window", self.speed.health)?;
        // Hourly traffic sums the health windows that tile each hour, so
        // a window must divide the hour (and the day) exactly.
        if 3_600_000 % self.speed.health.window.as_millis() != 0 {
            return bad(
                "speed.health.window",
                format!(
                    "{} does not divide an hour: hourly traffic sums the windows that tile each hour",
                    humantime::format_duration(self.speed.health.window)
                ),
            );
        }
        check_window("speed.popularity.window", self.speed.popularity)?;
        if self.api.max_range_days == 0 || self.api.max_range_days > 366 {
            return bad("api.max_range_days", "must be between 1 and 366".into());
        }
        if self.api.max_limit == 0 || self.api.max_limit > 100_000 {
            return bad("api.max_limit", "must be between 1 and 100000".into());
        }
        if self.api.default_limit == 0 || self.api.default_limit > self.api.max_limit {
            return bad("api.default_limit", "must be between 1 and api.max_limit".into());
        }
        if self.api.max_points == 0 || self.api.max_points > 10_000 {
            return bad("api.max_points", "must be between 1 and 10000".into());
        }
        if self.stream.interval < Duration::from_millis(50) {
            return bad("stream.interval", "must be at least 50ms".into());
        }
        if self.stream.alerts == 0 || self.stream.alerts > self.api.max_limit {
            return bad("stream.alerts", "must be between 1 and api.max_limit".into());
        }
        if self.stream.traffic_days == 0 || self.stream.traffic_days > self.api.max_range_days {
            return bad("stream.traffic_days", "must be between 1 and api.max_range_days".into());
        }
        if self.stream.max_clients == 0 {
            return bad("stream.max_clients", "must be at least 1".into());
        }
        Ok(())
    }
}

/// The speed job's own rule for its windows (so a copy of its values passes).
fn check_window(key: &'static str, w: WindowConfig) -> Result<(), ConfigError> {
    let (window, slide) = (w.window.as_millis(), w.slide.as_millis());
    let message = if window == 0 || slide == 0 {
        "window and slide must be at least 1ms".to_string()
    } else if slide > window {
        "slide must not exceed the window".to_string()
    } else if window % slide != 0 {
        format!("the slide ({slide} ms) must divide the window ({window} ms)")
    } else if window > 86_400_000 {
        "must be at most 1 day".to_string()
    } else {
        return Ok(());
    };
    Err(ConfigError::invalid(key, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid_key(text: &str) -> String {
        match Config::parse(text, "t") {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_the_local_stack_defaults() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.speed.health.window, Duration::from_secs(300));
        assert_eq!(c.speed.health.slide, Duration::from_secs(60));
        assert_eq!(c.cassandra.keyspace, "clickstream_speed");
        assert!(c.mysql.url.contains("clickstream_ro"));
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(invalid_key("[speed.health]\nwindow = \"7m\"\nslide = \"1m\"\n"), "speed.health.window");
        assert_eq!(invalid_key("[speed.health]\nwindow = \"5m\"\nslide = \"2m\"\n"), "speed.health.window");
        for level in ["most", "any"] {
            let e = Config::parse(&format!("[cassandra]\nconsistency = \"{level}\"\n"), "t").unwrap_err().to_string();
            assert!(
                e.contains("consistency") && e.contains(&format!("`{level}` (for reads): expected one, two")),
                "refused when the file is read: {e}"
            );
        }
        assert_eq!(invalid_key("[cassandra]\nusername = \"u\"\n"), "cassandra.username");
        let e = Config::parse("[cassandra]\nkeyspace = \"ks\"\nttl = \"1d\"\n", "t").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("only the speed job's [cassandra] has this key"), "the writer's keys are refused: {e}");
        assert_eq!(invalid_key("[mysql]\nurl = \"postgres://x\"\n"), "mysql.url");
        assert_eq!(invalid_key("[api]\ndefault_limit = 5000\n"), "api.default_limit");
        let e = Config::parse("[http]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n", "t").unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
    }

    #[test]
    fn environment_overrides_the_secrets() {
        let mut c = Config::parse("", "t").unwrap();
        c.apply_env(|k| match k {
            MYSQL_URL_ENV => Some("mysql://u:p@h:1/db".into()),
            CASSANDRA_PASSWORD_ENV => Some("s3cret".into()),
            _ => None,
        });
        assert_eq!(c.mysql.url, "mysql://u:p@h:1/db");
        assert_eq!(c.cassandra.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/serve.toml");
        let c = Config::load(Path::new(path)).unwrap();
        assert_eq!(c.speed.health.window, Duration::from_secs(300));
    }
}
