//! A strict, independent reader of Apache combined/common lines for the tests.
//!
//! Written separately from the generator (regex + its own calendar code) so
//! that a formatting bug in the generator cannot be mirrored by the check.

#![allow(dead_code)]

use std::sync::OnceLock;

use regex::Regex;

/// What the strict reader finds in a line.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub client: String,
    pub user: Option<String>,
    pub ts: i64,
    pub offset: String,
    pub method: Option<String>,
    pub target: Option<String>,
    pub protocol: Option<String>,
    pub status: u16,
    pub bytes: Option<u64>,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
}

fn combined() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r#"^(?P<host>[0-9A-Za-z.:\-]+) - (?P<user>[^ "]+) "#,
            r#"\[(?P<d>\d{2})/(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(?P<y>\d{4}):(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2}) (?P<z>[+-]\d{4})\] "#,
            r#""(?:-|(?P<method>GET|POST|HEAD) (?P<target>/(?:[^"\\ ]|\\.)*) (?P<proto>HTTP/(?:1\.0|1\.1|2\.0)))" "#,
            r#"(?P<status>[1-5]\d\d) (?P<bytes>[1-9]\d*|-)"#,
            r#"(?: "(?P<ref>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)")?$"#,
        ))
        .unwrap()
    })
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Independent formulation: count days year by year from 1970 (slow but obvious).
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    for year in 1970..y {
        days += if leap(year) { 366 } else { 365 };
    }
    let month_len = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for len in &month_len[..(m - 1) as usize] {
        days += len;
    }
    days + d - 1
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o)
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse a line strictly; `None` if it is not a valid combined (or, with
/// `common`, common) line.
pub fn parse(line: &[u8], common: bool) -> Option<Parsed> {
    let text = std::str::from_utf8(line).ok()?;
    if line.len() > 64 * 1024 {
        return None;
    }
    let c = combined().captures(text)?;
    if common != c.name("ua").is_none() {
        return None;
    }
    let num = |n: &str| c[n].parse::<i64>().unwrap();
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == &c["mon"]).unwrap() as i64 + 1;
    let (y, d, h, mi, s) = (num("y"), num("d"), num("h"), num("mi"), num("s"));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mlen = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month as usize - 1];
    if d < 1 || d > mlen || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let z = &c["z"];
    let zh: i64 = z[1..3].parse().unwrap();
    let zm: i64 = z[3..5].parse().unwrap();
    if zh > 23 || zm > 59 {
        return None;
    }
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let local = days_from_civil(y, month, d) * 86_400 + h * 3600 + mi * 60 + s;
    let ts = local - sign * (zh * 3600 + zm * 60);
    let dash = |v: &str| (v != "-").then(|| unescape(v));
    Some(Parsed {
        client: c["host"].to_string(),
        user: dash(&c["user"]),
        ts,
        offset: z.to_string(),
        method: c.name("method").map(|m| m.as_str().to_string()),
        target: c.name("target").map(|m| unescape(m.as_str())),
        protocol: c.name("proto").map(|m| m.as_str().to_string()),
        status: c["status"].parse().unwrap(),
        bytes: (&c["bytes"] != "-").then(|| c["bytes"].parse().unwrap()),
        referrer: c.name("ref").and_then(|m| dash(m.as_str())),
        user_agent: c.name("ua").and_then(|m| dash(m.as_str())),
    })
}

/// The address a line starts with (also for invalid lines, when it has one).
pub fn first_word(line: &[u8]) -> &[u8] {
    line.split(|&b| b == b' ').next().unwrap_or(&[])
}
