//! Reading a binary's TOML configuration file, with the errors every binary
//! reports the same way: which file could not be read or parsed, or which
//! key holds a bad value (`validate` subcommands exit 78 on any of them).

use std::net::SocketAddr;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `[metrics]` of every long-running binary: where `/metrics` and `/health`
/// listen, by default 127.0.0.1 on the binary's own `PORT` (spool agent
/// 9101, fan-out agent 9111, speed job 9464, serve 9465).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig<const PORT: u16> {
    /// Address of `/metrics` and `/health`.
    #[serde(default = "MetricsConfig::<PORT>::default_listen")]
    pub listen: Option<SocketAddr>,
}

impl<const PORT: u16> MetricsConfig<PORT> {
    fn default_listen() -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, 1], PORT)))
    }
}

impl<const PORT: u16> Default for MetricsConfig<PORT> {
    fn default() -> Self {
        MetricsConfig { listen: Self::default_listen() }
    }
}

/// `[log]` of every binary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// JSON log lines instead of text.
    #[serde(default)]
    pub json: bool,
}

/// A default of `N` seconds for a duration key:
/// `#[serde(default = "secs::<30>", with = "humantime_serde")]`, instead of
/// one function per value in every binary's config.
pub const fn secs<const N: u64>() -> std::time::Duration {
    std::time::Duration::from_secs(N)
}

/// A default of `N` for an integer key of any width:
/// `#[serde(default = "int::<100, _>")]` (the `_` is the field's type), instead
/// of one `fn hundred() -> u64` per value and type in every binary's config.
pub fn int<const N: u64, T: TryFrom<u64>>() -> T {
    match T::try_from(N) {
        Ok(v) => v,
        Err(_) => panic!("the default {N} does not fit its key's type"),
    }
}

/// A default of `N` milliseconds for a duration key (see [`secs`]).
pub const fn millis<const N: u64>() -> std::time::Duration {
    std::time::Duration::from_millis(N)
}

/// The value of a config section whose every key has a serde default:
/// what an empty TOML table gives, so `Default` cannot disagree with the
/// file's defaults. Implement `Default` with [`crate::defaults_from_serde`].
pub fn from_serde_defaults<T: DeserializeOwned>() -> T {
    toml::from_str("").expect("every field has a default")
}

/// `impl Default` for config sections whose every key has a serde default
/// (see [`from_serde_defaults`]).
#[macro_export]
macro_rules! defaults_from_serde {
    ($($t:ty),* $(,)?) => {$(
        impl Default for $t {
            fn default() -> Self {
                $crate::config::from_serde_defaults()
            }
        }
    )*};
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type...).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the TOML parser said, with the key and line.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("invalid `{key}`: {message}")]
    Invalid {
        /// Dotted key, e.g. `health.slide` or `sinks.hdfs.url`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// A value of `key` is out of range or inconsistent with another.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { key: key.into(), message: message.into() }
    }
}

/// A configuration file refused, worded so that every message names the
/// file: reading and parsing errors name it themselves, a refused value
/// (which names its key) gets it in front. What binaries that parse, then
/// validate into a separate type, report.
#[derive(Debug, thiserror::Error)]
pub enum RefusedFile {
    /// Unreadable, or not TOML of this schema.
    #[error(transparent)]
    Unreadable(ConfigError),
    /// The file parsed, but validation refused a value.
    #[error("{}: {error}", .path.display())]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// The key at fault and why.
        error: ConfigError,
    },
}

impl RefusedFile {
    /// Reads `path` as `C` ([`read_toml`]) and validates it into `V`.
    pub fn check<C: DeserializeOwned, V>(path: &Path, validate: impl FnOnce(C) -> Result<V, ConfigError>) -> Result<V, RefusedFile> {
        let parsed = read_toml(path).map_err(RefusedFile::Unreadable)?;
        validate(parsed).map_err(|error| RefusedFile::Invalid { path: path.to_path_buf(), error })
    }
}

/// Reads `path` and parses it as `T`; nothing is validated yet.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
    parse_toml(&text, &p)
}

/// Parses TOML `text` as `T`; `origin` names it in errors.
pub fn parse_toml<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse { path: origin.to_string(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_listen_defaults_to_the_binarys_port_and_can_be_set() {
        let absent: MetricsConfig<9101> = parse_toml("", "t").unwrap();
        assert_eq!(absent.listen, Some(([127, 0, 0, 1], 9101).into()));
        assert_eq!(MetricsConfig::<9464>::default().listen, Some(([127, 0, 0, 1], 9464).into()));
        let set: MetricsConfig<9101> = parse_toml("listen = \"0.0.0.0:1\"", "t").unwrap();
        assert_eq!(set.listen, Some(([0, 0, 0, 0], 1).into()));
        assert!(parse_toml::<MetricsConfig<1>>("lisen = 1", "t").is_err(), "unknown keys refused");
        assert!(!parse_toml::<LogConfig>("", "t").unwrap().json);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Timeouts {
        #[serde(default = "secs::<30>")]
        a: std::time::Duration,
        #[serde(default = "millis::<250>")]
        b: std::time::Duration,
    }

    #[test]
    fn duration_defaults_need_no_function_per_value() {
        let t: Timeouts = parse_toml("", "t").unwrap();
        assert_eq!((t.a, t.b), (std::time::Duration::from_secs(30), std::time::Duration::from_millis(250)));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[allow(dead_code)]
        port: u16,
    }

    #[test]
    fn errors_name_the_file_and_what_is_wrong() {
        let missing = read_toml::<Sample>(Path::new("/nonexistent/x.toml")).unwrap_err();
        assert!(matches!(missing, ConfigError::Read { .. }) && missing.to_string().starts_with("reading /nonexistent/x.toml"), "{missing}");
        let unknown = parse_toml::<Sample>("port = 1\ncolour = 2\n", "a.toml").unwrap_err();
        assert!(unknown.to_string().starts_with("a.toml: ") && unknown.to_string().contains("colour"), "{unknown}");
        let range = parse_toml::<Sample>("port = 70000\n", "a.toml").unwrap_err();
        assert!(matches!(range, ConfigError::Parse { .. }), "{range}");
        assert_eq!(parse_toml::<Sample>("port = 9000\n", "a.toml").unwrap().port, 9000);
    }
}
