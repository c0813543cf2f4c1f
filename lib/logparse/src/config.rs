//! The `[parser]` configuration table, validated once into a [`Parser`]
//! ([`ParserConfig::build`], or [`Parser::from_config`]). Building a parser
//! from its table happens here, not in `parser`, so that the parser does
//! not depend on its configuration.

use regex::Regex;
use serde::Deserialize;

use crate::category::CategoryConfig;
use crate::parser::{LineFormat, Parser, DEFAULT_MAX_LINE_BYTES};

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FormatName {
    /// Combined, or common when a line ends after the size (the default: one
    /// server can log both during a config change).
    #[default]
    Auto,
    /// `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`.
    Combined,
    /// `%h %l %u %t "%r" %>s %b`.
    Common,
    /// A regex with named groups, see [`ParserConfig::regex`].
    Regex,
}

/// `[parser]` in agent configuration files.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ParserConfig {
    /// `auto` (default), `combined`, `common` or `regex`.
    #[serde(default)]
    pub format: FormatName,
    /// For `format = "regex"`: named groups `client`, `time` and `status` are
    /// required; `user`, `request` (or `method` + `path` + `protocol`),
    /// `bytes`, `referrer`, `user_agent` are optional. `time` may be in
    /// common-log form or RFC 3339.
    pub regex: Option<String>,
    /// Lines longer than this are rejected whole (`too_long`). Default 64 KiB.
    pub max_line_bytes: Option<usize>,
    /// Category derivation.
    #[serde(default)]
    pub category: CategoryConfig,
}

/// A configuration error naming the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parser configuration: {0}")]
pub struct ConfigError(pub String);

impl ParserConfig {
    /// Validates the configuration and builds the parser.
    pub fn build(&self) -> Result<Parser, ConfigError> {
        let format = match (self.format, &self.regex) {
            (FormatName::Regex, None) => return Err(ConfigError("parser.format = \"regex\" needs parser.regex".into())),
            (FormatName::Regex, Some(re)) => LineFormat::Regex(Box::new(compile_format_regex(re)?)),
            (_, Some(_)) => return Err(ConfigError("parser.regex is only used with parser.format = \"regex\"".into())),
            (FormatName::Auto, None) => LineFormat::Auto,
            (FormatName::Combined, None) => LineFormat::Combined,
            (FormatName::Common, None) => LineFormat::Common,
        };
        let max_line_bytes = self.max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES);
        if max_line_bytes < 64 {
            return Err(ConfigError(format!("parser.max_line_bytes = {max_line_bytes} is too small (minimum 64)")));
        }
        let category = self.category.build().map_err(ConfigError)?;
        Ok(Parser::new(format, category, max_line_bytes))
    }
}

impl Parser {
    /// A parser from configuration; see [`ParserConfig::build`].
    pub fn from_config(config: &ParserConfig) -> Result<Parser, ConfigError> {
        config.build()
    }
}

fn compile_format_regex(re: &str) -> Result<Regex, ConfigError> {
    let regex = Regex::new(re).map_err(|e| ConfigError(format!("parser.regex does not compile: {e}")))?;
    let names: Vec<&str> = regex.capture_names().flatten().collect();
    for required in ["client", "time", "status"] {
        if !names.contains(&required) {
            return Err(ConfigError(format!("parser.regex needs a named group (?P<{required}>...)")));
        }
    }
    let split = ["method", "path", "protocol"].iter().filter(|n| names.contains(n)).count();
    if names.contains(&"request") && split > 0 {
        return Err(ConfigError("parser.regex: use either (?P<request>) or method/path/protocol groups".into()));
    }
    if split > 0 && !(names.contains(&"method") && names.contains(&"path")) {
        return Err(ConfigError("parser.regex: groups method and path go together".into()));
    }
    const KNOWN: [&str; 11] = ["client", "user", "time", "request", "method", "path", "protocol", "status", "bytes", "referrer", "user_agent"];
    if let Some(unknown) = names.iter().find(|n| !KNOWN.contains(n)) {
        return Err(ConfigError(format!("parser.regex: unknown group name {unknown:?}; known: {}", KNOWN.join(", "))));
    }
    Ok(regex)
}
