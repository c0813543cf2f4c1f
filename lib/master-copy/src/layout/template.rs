//! The directory template: which directory an event goes to, by its UTC
//! event time (never arrival time, so a replay lands where live traffic did)
//! and optionally its source host.
//!
//! Escapes are Flume's: `%Y` (4-digit year), `%m`, `%d`, `%H` (2 digits),
//! `%{host}`, and `%%` for a literal `%`. Host names are made path-safe:
//! anything but ASCII letters, digits, `.`, `-` and `_` becomes `_` (HDFS
//! rejects `:` in names, which IPv6 addresses would bring).

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Year,
    Month,
    Day,
    Hour,
    Host,
}

/// A parsed directory template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    parts: Vec<Part>,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

impl PathTemplate {
    /// Parses an absolute template; the trailing `/` is optional.
    pub fn parse(template: &str) -> Result<PathTemplate, String> {
        if !template.starts_with('/') {
            return Err("must be an absolute path (start with '/')".into());
        }
        let trimmed = template.trim_end_matches('/');
        if trimmed.is_empty() {
            return Err("must name a directory below '/'".into());
        }
        if trimmed.split('/').skip(1).any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            return Err("must not contain empty, '.' or '..' segments".into());
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = trimmed.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            let part = match chars.next() {
                Some('%') => {
                    lit.push('%');
                    continue;
                }
                Some('Y') => Part::Year,
                Some('m') => Part::Month,
                Some('d') => Part::Day,
                Some('H') => Part::Hour,
                Some('{') => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    if name != "host" {
                        return Err(format!("unknown escape %{{{name}}} (only %{{host}} is supported)"));
                    }
                    Part::Host
                }
                Some(other) => return Err(format!("unknown escape %{other} (use %Y %m %d %H %{{host}} or %%)")),
                None => return Err("ends with a lone '%' (use %% for a literal '%')".into()),
            };
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(part);
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(PathTemplate { parts })
    }

    /// The same template below `base` (the URL's path, e.g. `/user/x`).
    pub fn under(mut self, base: &str) -> PathTemplate {
        let base = base.trim_end_matches('/');
        if !base.is_empty() {
            match self.parts.first_mut() {
                Some(Part::Lit(first)) => first.insert_str(0, base),
                _ => self.parts.insert(0, Part::Lit(base.to_string())),
            }
        }
        self
    }

    /// Whether `%{host}` is used (the host must then be known per event).
    pub fn uses_host(&self) -> bool {
        self.parts.contains(&Part::Host)
    }

    /// The deepest directory that holds every directory the template can
    /// produce: the literal text before the first escape, cut at its last `/`.
    /// Crash recovery lists this directory recursively.
    pub fn fixed_root(&self) -> String {
        let first_lit = match self.parts.first() {
            Some(Part::Lit(s)) => s.as_str(),
            _ => "",
        };
        if self.parts.len() == 1 {
            return first_lit.to_string();
        }
        match first_lit.rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => first_lit[..i].to_string(),
        }
    }

    /// The directory for an event at `time_ms` (UTC epoch ms) from `host`,
    /// without a trailing `/`.
    pub fn render(&self, time_ms: i64, host: &str, out: &mut String) {
        use std::fmt::Write;
        let (y, m, d) = civil_from_days(time_ms.div_euclid(DAY_MS));
        let h = time_ms.div_euclid(HOUR_MS).rem_euclid(24);
        out.clear();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Year => {
                    let _ = write!(out, "{y:04}");
                }
                Part::Month => {
                    let _ = write!(out, "{m:02}");
                }
                Part::Day => {
                    let _ = write!(out, "{d:02}");
                }
                Part::Hour => {
                    let _ = write!(out, "{h:02}");
                }
                Part::Host => push_safe(host, out),
            }
        }
    }

    /// The key that decides the directory: the hour (every escape but
    /// `%{host}` is coarser than an hour), plus the host if used.
    pub fn hour_of(time_ms: i64) -> i64 {
        time_ms.div_euclid(HOUR_MS)
    }
}

fn push_safe(host: &str, out: &mut String) {
    if host.is_empty() || host == "." || host == ".." {
        out.push_str("unknown");
        return;
    }
    out.extend(host.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }));
}

/// Proleptic Gregorian (year, month, day) of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &PathTemplate, ms: i64, host: &str) -> String {
        let mut s = String::new();
        t.render(ms, host, &mut s);
        s
    }

    #[test]
    fn renders_utc_hours_and_days() {
        let t = PathTemplate::parse("/clickstream/master/date=%Y-%m-%d/hour=%H/").unwrap();
        // 2026-11-20T00:00:00Z
        let day = 1_795_132_800_000;
        assert_eq!(render(&t, day, "h"), "/clickstream/master/date=2026-11-20/hour=00");
        assert_eq!(render(&t, day - 1, "h"), "/clickstream/master/date=2026-11-19/hour=23");
        assert_eq!(render(&t, day + 13 * HOUR_MS + 59_999, "h"), "/clickstream/master/date=2026-11-20/hour=13");
        assert_eq!(render(&t, 0, "h"), "/clickstream/master/date=1970-01-01/hour=00");
        assert_eq!(render(&t, -1, "h"), "/clickstream/master/date=1969-12-31/hour=23");
        // leap day
        assert_eq!(render(&t, 951_782_400_000, "h"), "/clickstream/master/date=2000-02-29/hour=00");
        assert!(!t.uses_host());
        assert_eq!(t.fixed_root(), "/clickstream/master");
    }

    #[test]
    fn civil_dates_match_a_day_by_day_walk() {
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for z in 0..200_000 {
            assert_eq!(civil_from_days(z), (y, m, d), "day {z}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m as usize - 1];
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn hosts_are_path_safe() {
        let t = PathTemplate::parse("/m/%{host}/%Y%%").unwrap();
        assert!(t.uses_host());
        assert_eq!(render(&t, 0, "web1.example.com"), "/m/web1.example.com/1970%");
        assert_eq!(render(&t, 0, "2600:7d3c::1"), "/m/2600_7d3c__1/1970%");
        assert_eq!(render(&t, 0, "../x/y"), "/m/.._x_y/1970%");
        assert_eq!(render(&t, 0, ".."), "/m/unknown/1970%");
        assert_eq!(render(&t, 0, ""), "/m/unknown/1970%");
        assert_eq!(t.fixed_root(), "/m");
    }

    #[test]
    fn base_paths_and_roots() {
        let t = PathTemplate::parse("/clickstream/master/date=%Y/").unwrap().under("/base/");
        assert_eq!(render(&t, 0, ""), "/base/clickstream/master/date=1970");
        assert_eq!(t.fixed_root(), "/base/clickstream/master");
        let t = PathTemplate::parse("/%Y/x").unwrap();
        assert_eq!(t.fixed_root(), "/");
        assert_eq!(PathTemplate::parse("/static/dir/").unwrap().fixed_root(), "/static/dir");
        assert_eq!(PathTemplate::parse("/a/b%Y").unwrap().fixed_root(), "/a");
    }

    #[test]
    fn bad_templates_say_why() {
        assert!(PathTemplate::parse("x/%Y").unwrap_err().contains("absolute"));
        assert!(PathTemplate::parse("/").unwrap_err().contains("below"));
        assert!(PathTemplate::parse("/a/../b").unwrap_err().contains(".."));
        assert!(PathTemplate::parse("/a//b").unwrap_err().contains("empty"));
        assert!(PathTemplate::parse("/a/%M").unwrap_err().contains("%M"));
        assert!(PathTemplate::parse("/a/%{header}").unwrap_err().contains("header"));
        assert!(PathTemplate::parse("/a/%").unwrap_err().contains("lone"));
    }
}
