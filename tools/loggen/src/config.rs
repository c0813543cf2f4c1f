//! What to generate: the options shared by the library API and the CLI.
//!
//! One plain struct with public fields (and a sensible [`Default`]) so a test
//! can write `Config { lines: 500, ..Config::default() }`; [`Config::validate`]
//! turns every impossible combination into a readable error before any line
//! is produced, so the generator itself never has to give up half-way.

use std::fmt;
use std::str::FromStr;

use crate::curve;
use crate::time::{self, format_rfc3339, parse_instant, UnixSeconds, UtcOffset};

/// Most requests one visitor address makes in one second in normal traffic.
///
/// Kept far below the DDoS threshold the speed job is tested with (100/s), so
/// that only injected bursts can trip it.
pub const NORMAL_MAX_PER_SECOND: u32 = 20;

/// Line layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// Apache `combined`: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`.
    #[default]
    Combined,
    /// Apache `common`: `%h %l %u %t "%r" %>s %b` (no referrer, no user agent).
    Common,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "combined" => Ok(Format::Combined),
            "common" => Ok(Format::Common),
            _ => Err(format!("unknown format `{s}` (expected combined or common)")),
        }
    }
}

/// A DDoS burst: `count` requests from one address, all within the one-second
/// interval `[at, at + 1)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ddos {
    /// The second of the burst (UTC).
    pub at: UnixSeconds,
    /// Exact number of lines of the burst.
    pub count: u32,
    /// The attacking address; `None` picks one from the seed that no normal
    /// visitor uses.
    pub addr: Option<String>,
}

impl Ddos {
    /// Parse the CLI form `AT,COUNT[,ADDR]`; `AT` is RFC 3339 or an offset from
    /// `start` such as `+26h`.
    pub fn parse(spec: &str, start: UnixSeconds) -> Result<Self, String> {
        let parts: Vec<&str> = spec.splitn(3, ',').map(str::trim).collect();
        if parts.len() < 2 {
            return Err(format!("invalid --ddos `{spec}` (expected AT,COUNT[,ADDR])"));
        }
        Ok(Ddos {
            at: parse_instant(parts[0], start)?,
            count: parse_count(parts[1], "--ddos COUNT")?,
            addr: parts.get(2).filter(|a| !a.is_empty()).map(|a| a.to_string()),
        })
    }
}

/// An error storm: `count` responses with a 5xx status spread over
/// `[at, at + window_secs)`.
///
/// 5xx only, so the count is the same whether a consumer defines failure as
/// "not 200", ">= 400" or ">= 500". Normal traffic answers 200 from
/// `at - window` to `at + 2 * window`, so *every* sliding window of that length
/// sees at most exactly `count` failures (useful for "exactly 10 does not
/// alert" boundary tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorStorm {
    /// Start of the storm (UTC).
    pub at: UnixSeconds,
    /// Exact number of failed responses.
    pub count: u32,
    /// Length of the window the failures are spread over, in seconds.
    pub window_secs: u64,
}

impl ErrorStorm {
    /// Parse the CLI form `AT,COUNT,WINDOW` (e.g. `+30h,12,5m`).
    pub fn parse(spec: &str, start: UnixSeconds) -> Result<Self, String> {
        let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(format!("invalid --error-storm `{spec}` (expected AT,COUNT,WINDOW)"));
        }
        Ok(ErrorStorm {
            at: parse_instant(parts[0], start)?,
            count: parse_count(parts[1], "--error-storm COUNT")?,
            window_secs: time::parse_duration(parts[2])?,
        })
    }

    /// The span in which normal traffic only answers 200.
    pub fn quiet_zone(&self) -> (UnixSeconds, UnixSeconds) {
        let w = self.window_secs as i64;
        (self.at - w, self.at + 2 * w)
    }
}

fn parse_count(s: &str, what: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("invalid {what} `{s}` (expected a whole number)"))
}

/// Everything that determines the output. Same `Config` => same bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Seed of every random choice.
    pub seed: u64,
    /// Exact number of lines to write, injected ones included.
    pub lines: u64,
    /// First second of the span (UTC).
    pub start: UnixSeconds,
    /// Length of the span in seconds; every event time is in `[start, start + duration)`.
    pub duration_secs: u64,
    /// Size of the visitor population (distinct client addresses of normal traffic).
    pub visitors: u32,
    /// Seed of the visitor population; `None` uses `seed`. Several web servers
    /// of one shop share their visitors: give them the same population seed
    /// and different seeds.
    pub population_seed: Option<u64>,
    /// UTC offset the server writes its local time in (also shifts the
    /// day/night curve, which follows local time).
    pub offset: UtcOffset,
    /// Line layout.
    pub format: Format,
    /// DDoS bursts to inject.
    pub ddos: Vec<Ddos>,
    /// Error storms to inject.
    pub error_storms: Vec<ErrorStorm>,
    /// Share of lines that are invalid (rounded to a whole count of the total).
    pub invalid_fraction: f64,
    /// Share of lines that repeat an earlier line verbatim.
    pub duplicate_fraction: f64,
    /// Share of lines to deliver after a newer neighbour (event time unchanged).
    pub out_of_order_fraction: f64,
    /// Largest event-time gap, in seconds, between a displaced line and the
    /// newer neighbour it is swapped with.
    pub out_of_order_max_secs: u64,
    /// Number of late lines.
    pub late: u64,
    /// How far, in seconds, a late line's time is behind the newest time already written.
    pub late_by_secs: u64,
    /// Number of lines longer than 64 KiB (invalid, on top of `invalid_fraction`).
    pub huge_lines: u64,
    /// Share of normal requests answered with something other than 200
    /// (304, 301, 404, 500, 503, by kind of page).
    pub non_200_fraction: f64,
    /// Share of normal lines that are Apache's request-less `"-" 408` lines
    /// (a client connected and sent nothing; valid in real logs).
    pub no_request_fraction: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 42,
            lines: 10_000,
            start: 1_795_132_800, // 2026-11-20T00:00:00Z
            duration_secs: 2 * 86_400,
            visitors: 2000,
            population_seed: None,
            offset: UtcOffset::UTC,
            format: Format::Combined,
            ddos: Vec::new(),
            error_storms: Vec::new(),
            invalid_fraction: 0.0,
            duplicate_fraction: 0.0,
            out_of_order_fraction: 0.0,
            out_of_order_max_secs: 10,
            late: 0,
            late_by_secs: 120,
            huge_lines: 0,
            non_200_fraction: 0.08,
            no_request_fraction: 0.002,
        }
    }
}

/// Why a [`Config`] cannot be generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// One past the last second of the span.
    pub fn end(&self) -> UnixSeconds {
        self.start + self.duration_secs as i64
    }

    /// Exact number of invalid lines drawn from `invalid_fraction` (without `huge_lines`).
    pub fn invalid_count(&self) -> u64 {
        fraction_count(self.invalid_fraction, self.lines)
    }

    /// Exact number of duplicate lines.
    pub fn duplicate_count(&self) -> u64 {
        fraction_count(self.duplicate_fraction, self.lines)
    }

    /// Number of lines the generator tries to displace (the realised number
    /// can be lower when neighbours are too far apart; see the summary).
    pub fn out_of_order_target(&self) -> u64 {
        fraction_count(self.out_of_order_fraction, self.lines)
    }

    /// Lines of DDoS bursts and error storms.
    pub fn scheduled_count(&self) -> u64 {
        self.ddos.iter().map(|d| d.count as u64).sum::<u64>() + self.error_storms.iter().map(|s| s.count as u64).sum::<u64>()
    }

    /// Check that the configuration can be generated as asked.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |m: String| Err(ConfigError(m));
        for (name, f) in [
            ("invalid fraction", self.invalid_fraction),
            ("duplicate fraction", self.duplicate_fraction),
            ("out-of-order fraction", self.out_of_order_fraction),
            ("non-200 fraction", self.non_200_fraction),
            ("no-request fraction", self.no_request_fraction),
        ] {
            if !(0.0..=1.0).contains(&f) {
                return fail(format!("{name} must be between 0 and 1, got {f}"));
            }
        }
        if self.lines == 0 {
            return Ok(());
        }
        if self.duration_secs == 0 {
            return fail("duration must be at least one second".into());
        }
        let (start, end) = (self.start, self.end());
        for d in &self.ddos {
            if d.at < start || d.at >= end {
                return fail(format!("DDoS at {} is outside the span {} .. {}", format_rfc3339(d.at), format_rfc3339(start), format_rfc3339(end)));
            }
            if let Some(a) = &d.addr {
                if a.is_empty() || a.bytes().any(|b| b <= b' ' || b == b'"' || b >= 0x7f) {
                    return fail(format!("DDoS address `{a}` must be one printable word"));
                }
            }
        }
        for s in &self.error_storms {
            if s.window_secs == 0 {
                return fail("error-storm window must be at least one second".into());
            }
            if s.at < start || s.at + s.window_secs as i64 > end {
                return fail(format!(
                    "error storm {} + {} does not fit in the span {} .. {}",
                    format_rfc3339(s.at),
                    time::format_duration(s.window_secs),
                    format_rfc3339(start),
                    format_rfc3339(end)
                ));
            }
        }
        let fixed = self.scheduled_count() + self.invalid_count() + self.duplicate_count() + self.late + self.huge_lines;
        if fixed > self.lines {
            return fail(format!("{} lines requested but the injections alone need {fixed}", self.lines));
        }
        let base = self.lines - self.scheduled_count();
        let specials = fixed - self.scheduled_count();
        if specials > 0 && specials >= base {
            return fail(format!(
                "{} lines leave no room for normal traffic: invalid, duplicate, late and huge lines \
                 ({specials}) need at least one normal line before them",
                self.lines
            ));
        }
        if self.visitors == 0 && (base > 0 || !self.error_storms.is_empty()) {
            return fail("at least one visitor is needed for normal traffic and error storms".into());
        }
        // Keep every visitor under NORMAL_MAX_PER_SECOND even at the busiest
        // second (estimated with a safety factor of 2 over the curve's peak).
        let peak = base as f64 / self.duration_secs as f64 * curve::PEAK_TO_MEAN * 2.0;
        let needed = (peak / NORMAL_MAX_PER_SECOND as f64).ceil() as u64;
        if base > 0 && (self.visitors as u64) < needed {
            return fail(format!(
                "{} visitors are too few for {base} lines in {}: at least {needed} are needed so no \
                 visitor exceeds {NORMAL_MAX_PER_SECOND} requests/s at peak (use --visitors or a longer --duration)",
                self.visitors,
                time::format_duration(self.duration_secs)
            ));
        }
        Ok(())
    }
}

fn fraction_count(fraction: f64, lines: u64) -> u64 {
    (fraction * lines as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let start = 1_795_132_800;
        let d = Ddos::parse("+26h,150,203.0.113.7", start).unwrap();
        assert_eq!((d.at, d.count, d.addr.as_deref()), (start + 26 * 3600, 150, Some("203.0.113.7")));
        let d = Ddos::parse("2026-11-21T10:00:00Z,100", start).unwrap();
        assert_eq!((d.at, d.count, d.addr), (start + 34 * 3600, 100, None));
        let d = Ddos::parse("+1h,5,2001:db8::1", start).unwrap();
        assert_eq!(d.addr.as_deref(), Some("2001:db8::1"));
        let s = ErrorStorm::parse("+30h,12,5m", start).unwrap();
        assert_eq!((s.at, s.count, s.window_secs), (start + 30 * 3600, 12, 300));
        assert!(ErrorStorm::parse("+30h,12", start).is_err());
        assert!(Ddos::parse("+30h", start).is_err());
    }

    #[test]
    fn validation_catches_mistakes() {
        assert!(Config::default().validate().is_ok());
        let c = Config { invalid_fraction: 1.5, ..Config::default() };
        assert!(c.validate().is_err());
        let c = Config { ddos: vec![Ddos { at: 0, count: 10, addr: None }], ..Config::default() };
        assert!(c.validate().is_err());
        let c = Config { lines: 10, late: 11, ..Config::default() };
        assert!(c.validate().is_err());
        let c = Config { visitors: 1, lines: 10_000_000, duration_secs: 3600, ..Config::default() };
        assert!(c.validate().is_err());
    }
}
