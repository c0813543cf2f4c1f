//! Calendar arithmetic, Apache timestamps and the human time syntax of the CLI.
//!
//! Why hand-written instead of a date crate: the generator only needs the
//! proleptic Gregorian calendar at one-second resolution with fixed UTC
//! offsets, and doing it with integer arithmetic (Howard Hinnant's
//! `days_from_civil`) keeps output exact and dependency-free.

use std::fmt;
use std::str::FromStr;

/// English month abbreviations, as Apache writes them (`%b` in the C locale).
pub const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Seconds since the Unix epoch, UTC. All event times in this crate use it.
pub type UnixSeconds = i64;

/// A broken-down calendar time (no time zone attached).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day of month 1..=31.
    pub day: u32,
    /// Hour 0..=23.
    pub hour: u32,
    /// Minute 0..=59.
    pub minute: u32,
    /// Second 0..=59.
    pub second: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar time of `t` seconds since the epoch (interpreted as given,
/// i.e. add the UTC offset first to get local time).
pub fn civil_from_unix(t: UnixSeconds) -> Civil {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    Civil { year, month, day, hour: secs / 3600, minute: secs / 60 % 60, second: secs % 60 }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A fixed offset from UTC, in minutes east of Greenwich (`+0200` is 120).
///
/// Apache writes the server's local time with its offset; generating a
/// non-zero offset forces parsers to convert to UTC instead of ignoring it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcOffset {
    minutes: i32,
}

impl UtcOffset {
    /// UTC itself (`+0000`).
    pub const UTC: UtcOffset = UtcOffset { minutes: 0 };

    /// An offset of `minutes` east of UTC; `None` outside ±23:59.
    pub fn from_minutes(minutes: i32) -> Option<Self> {
        (minutes.abs() < 24 * 60).then_some(UtcOffset { minutes })
    }

    /// Minutes east of UTC.
    pub fn minutes(self) -> i32 {
        self.minutes
    }

    /// Seconds east of UTC.
    pub fn seconds(self) -> i64 {
        self.minutes as i64 * 60
    }
}

impl fmt::Display for UtcOffset {
    /// Apache's `%z` form: `+0200`, `-0530`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let m = self.minutes.unsigned_abs();
        write!(f, "{sign}{:02}{:02}", m / 60, m % 60)
    }
}

impl FromStr for UtcOffset {
    type Err = String;

    /// Accepts `+0200`, `-05:30`, `+02`, `Z` and `UTC`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
            return Ok(UtcOffset::UTC);
        }
        let err = || format!("invalid UTC offset `{s}` (expected e.g. +0200, -05:30)");
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1, &s[1..]),
            Some(b'-') => (-1, &s[1..]),
            _ => return Err(err()),
        };
        let digits: String = rest.chars().filter(|&c| c != ':').collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let (h, m) = match digits.len() {
            2 => (digits.parse::<i32>().map_err(|_| err())?, 0),
            4 => (digits[..2].parse::<i32>().map_err(|_| err())?, digits[2..].parse::<i32>().map_err(|_| err())?),
            _ => return Err(err()),
        };
        if m >= 60 {
            return Err(err());
        }
        UtcOffset::from_minutes(sign * (h * 60 + m)).ok_or_else(err)
    }
}

/// Write Apache's `%t` body (without brackets), e.g. `20/Nov/2026:14:03:07 +0200`,
/// for the UTC instant `t` shown in `offset`.
pub fn write_apache_time(out: &mut Vec<u8>, t: UnixSeconds, offset: UtcOffset) {
    let c = civil_from_unix(t + offset.seconds());
    push2(out, c.day);
    out.push(b'/');
    out.extend_from_slice(MONTHS[c.month as usize - 1].as_bytes());
    out.push(b'/');
    let y = c.year.clamp(0, 9999) as u32;
    push2(out, y / 100);
    push2(out, y % 100);
    out.push(b':');
    push2(out, c.hour);
    out.push(b':');
    push2(out, c.minute);
    out.push(b':');
    push2(out, c.second);
    out.push(b' ');
    out.push(if offset.minutes < 0 { b'-' } else { b'+' });
    let m = offset.minutes.unsigned_abs();
    push2(out, m / 60);
    push2(out, m % 60);
}

#[inline]
fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// RFC 3339 form of a UTC instant, e.g. `2026-11-20T00:00:00Z` (for humans:
/// summaries and error messages).
pub fn format_rfc3339(t: UnixSeconds) -> String {
    let c = civil_from_unix(t);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// Parse `YYYY-MM-DD[THH:MM[:SS]][Z|±HH:MM|±HHMM]` into UTC seconds.
/// A missing zone means UTC; a missing time means midnight.
pub fn parse_rfc3339(s: &str) -> Result<UnixSeconds, String> {
    let err = |why: &str| format!("invalid time `{s}`: {why} (expected e.g. 2026-11-20T00:00:00Z)");
    let s = s.trim();
    let (date, rest) = s.split_at(s.find(['T', 't', ' ']).unwrap_or(s.len()));
    let mut parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(err("date must be YYYY-MM-DD"));
    };
    let year: i64 = y.parse().map_err(|_| err("bad year"))?;
    let month: u32 = mo.parse().map_err(|_| err("bad month"))?;
    let day: u32 = d.parse().map_err(|_| err("bad day"))?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(err("no such date"));
    }
    let mut seconds = 0i64;
    let mut offset = UtcOffset::UTC;
    if !rest.is_empty() {
        let rest = &rest[1..];
        let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
        let (clock, zone) = rest.split_at(zone_at);
        let fields: Vec<&str> = clock.split(':').collect();
        if !(2..=3).contains(&fields.len()) {
            return Err(err("time must be HH:MM[:SS]"));
        }
        let num = |f: &str, max: i64| -> Result<i64, String> {
            let v: i64 = f.parse().map_err(|_| err("bad time field"))?;
            if f.len() != 2 || !(0..=max).contains(&v) {
                return Err(err("time field out of range"));
            }
            Ok(v)
        };
        let h = num(fields[0], 23)?;
        let m = num(fields[1], 59)?;
        let sec = if fields.len() == 3 { num(fields[2], 59)? } else { 0 };
        seconds = h * 3600 + m * 60 + sec;
        if !zone.is_empty() {
            offset = zone.parse().map_err(|e: String| err(&e))?;
        }
    }
    Ok(days_from_civil(year, month, day) * 86_400 + seconds - offset.seconds())
}

/// Parse a duration such as `2d`, `90m`, `1h30m`, `45s` or a bare number of
/// seconds into seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let err = || format!("invalid duration `{s}` (expected e.g. 2d, 36h, 5m, 1h30m, 90s)");
    let t = s.trim();
    if t.is_empty() {
        return Err(err());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| err());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(err()),
        };
        let n: u64 = num.parse().map_err(|_| err())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(err());
    }
    Ok(total)
}

/// Human form of a duration in seconds, e.g. `2d`, `1h30m`, `45s`.
pub fn format_duration(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if secs >= unit {
            out.push_str(&format!("{}{name}", secs / unit));
            secs %= unit;
        }
    }
    out
}

/// A point in time given either absolutely (RFC 3339) or relative to the
/// start of the generated span (`+30h`, `1d2h`, `90m`).
pub fn parse_instant(s: &str, start: UnixSeconds) -> Result<UnixSeconds, String> {
    let t = s.trim();
    if let Some(rel) = t.strip_prefix('+') {
        return Ok(start + parse_duration(rel)? as i64);
    }
    if t.len() >= 10 && t.as_bytes()[4] == b'-' {
        return parse_rfc3339(t);
    }
    parse_duration(t)
        .map(|d| start + d as i64)
        .map_err(|_| format!("invalid time `{s}` (expected RFC 3339 like 2026-11-20T14:00:00Z, or an offset from --start like +30h)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339("2026-11-20T00:00:00Z").unwrap(), 1_795_132_800);
        assert_eq!(parse_rfc3339("1970-01-01").unwrap(), 0);
        assert_eq!(parse_rfc3339("2026-11-20T02:00:00+02:00").unwrap(), 1_795_132_800);
        assert_eq!(parse_rfc3339("2026-11-19T19:00-0500").unwrap(), 1_795_132_800);
        assert!(parse_rfc3339("2026-02-29T00:00:00Z").is_err());
        assert!(parse_rfc3339("2026-11-20T24:00:00Z").is_err());
        assert_eq!(format_rfc3339(1_795_132_800), "2026-11-20T00:00:00Z");
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        let mut t = -5_000_000_000i64;
        while t < 10_000_000_000 {
            let c = civil_from_unix(t);
            let back = days_from_civil(c.year, c.month, c.day) * 86_400 + (c.hour * 3600 + c.minute * 60 + c.second) as i64;
            assert_eq!(back, t);
            t += 7_777_777;
        }
    }

    #[test]
    fn apache_time_with_offset() {
        let mut out = Vec::new();
        let off: UtcOffset = "+0200".parse().unwrap();
        write_apache_time(&mut out, 1_795_132_800 - 1, off);
        assert_eq!(out, b"20/Nov/2026:01:59:59 +0200");
        out.clear();
        write_apache_time(&mut out, 1_795_132_800, "-05:30".parse().unwrap());
        assert_eq!(out, b"19/Nov/2026:18:30:00 -0530");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("5m3").is_err());
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(parse_instant("+1d", 100).unwrap(), 86_500);
        assert_eq!(parse_instant("30m", 0).unwrap(), 1800);
        assert_eq!(parse_instant("2026-11-20T00:00:00Z", 0).unwrap(), 1_795_132_800);
    }
}
