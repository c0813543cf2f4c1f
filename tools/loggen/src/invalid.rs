//! Makers of invalid lines.
//!
//! Most invalid lines start from a real, formatted line and break exactly one
//! thing (cut it, spoil the time, spoil the status, put raw non-UTF-8 bytes in
//! it), because that is how bad lines look in practice and because it tests
//! that a parser rejects the line for the right reason rather than by luck.
//! Each maker guarantees the result is invalid under both the combined and the
//! common format.

use crate::record::Layout;
use crate::rng::Rng;
use crate::time::{civil_from_unix, UnixSeconds, UtcOffset, MONTHS};
use crate::truth::InvalidKind;

/// Smallest length of an oversized line: 64 KiB.
pub const OVERSIZED_MIN: usize = 64 * 1024;

/// Draw the kind of an ordinary invalid line (all but `Oversized`).
pub(crate) fn draw_kind(rng: &mut Rng) -> InvalidKind {
    rng.choose(&[
        (InvalidKind::Truncated, 30),
        (InvalidKind::Garbage, 20),
        (InvalidKind::BadTimestamp, 20),
        (InvalidKind::BadStatus, 15),
        (InvalidKind::InvalidUtf8, 15),
    ])
}

/// Turn the valid line in `line` (with its `layout`) into an invalid line of
/// `kind`, in place. `ts`/`offset` are the line's time, for realistic garbage.
pub(crate) fn spoil(kind: InvalidKind, line: &mut Vec<u8>, layout: &Layout, ts: UnixSeconds, offset: UtcOffset, rng: &mut Rng) {
    match kind {
        InvalidKind::Truncated => {
            // Cut before the status: without a status no format accepts it.
            let lo = (layout.time_at + 2).min(layout.status_at - 1);
            let cut = rng.range(lo as u64, (layout.status_at - 1) as u64) as usize;
            line.truncate(cut);
            while line.last() == Some(&b' ') {
                line.pop();
            }
        }
        InvalidKind::BadTimestamp => {
            let bad = bad_time(ts, offset, rng);
            line.splice(layout.time_at..layout.time_end, bad.into_bytes());
        }
        InvalidKind::BadStatus => {
            let bad = *rng.pick(&["abc", "999", "2000", "20", "-", "2OO"]);
            line.splice(layout.status_at..layout.status_end, bad.bytes());
        }
        InvalidKind::InvalidUtf8 => {
            if rng.ratio(1, 3) {
                binary_noise(line, rng);
            } else {
                // Raw bytes in the target (Apache would have written \xhh).
                const RAW: [&[u8]; 5] = [&[0xC3, 0x28], &[0xFF, 0xFE], &[0xFC], &[0xE2, 0x82], &[0xC0, 0xAF]];
                let raw = rng.pick(&RAW);
                let at = (layout.target_at + 1).min(layout.status_at);
                line.splice(at..at, raw.iter().copied());
            }
        }
        InvalidKind::Garbage => garbage(line, ts, rng),
        InvalidKind::Oversized => unreachable!("oversized lines are built, not spoiled"),
    }
}

fn bad_time(ts: UnixSeconds, offset: UtcOffset, rng: &mut Rng) -> String {
    let c = civil_from_unix(ts + offset.seconds());
    let mon = MONTHS[c.month as usize - 1];
    let (d, y, h, mi, s) = (c.day, c.year, c.hour, c.minute, c.second);
    match rng.below(7) {
        0 => "[32/Foo/2015:25:61:61 +0000]".to_string(),
        1 => format!("[32/{mon}/{y}:{h:02}:{mi:02}:{s:02} {offset}]"),
        2 => format!("[{d:02}/Foo/{y}:{h:02}:{mi:02}:{s:02} {offset}]"),
        3 => format!("[{d:02}/{mon}/{y}:{h:02}:{mi:02}:{s:02}]"),
        4 => format!("[{y}-{:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z]", c.month),
        5 => format!("[{d:02}/{mon}/{y}:25:{mi:02}:{s:02} {offset}]"),
        _ => "[]".to_string(),
    }
}

fn binary_noise(line: &mut Vec<u8>, rng: &mut Rng) {
    let n = rng.range(16, 160) as usize;
    line.clear();
    for _ in 0..n {
        let b = rng.bits() as u8;
        line.push(if b == b'\n' || b == b'\r' { 0x80 } else { b });
    }
    let at = rng.index(n);
    line[at] = 0xFF; // never valid in UTF-8
}

fn garbage(line: &mut Vec<u8>, ts: UnixSeconds, rng: &mut Rng) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let c = civil_from_unix(ts);
    let text = match rng.below(5) {
        0 => format!(
            "[{} {} {:02} {:02}:{:02}:{:02}.{:06} {}] [core:error] [pid {}:tid {}] [client {}.{}.{}.{}:{}] \
             AH00126: Invalid URI in request GET /%%% HTTP/1.1",
            DAYS[ts.div_euclid(86_400).rem_euclid(7) as usize],
            MONTHS[c.month as usize - 1],
            c.day,
            c.hour,
            c.minute,
            c.second,
            rng.below(1_000_000),
            c.year,
            rng.range(1000, 65000),
            rng.range(139_000_000_000_000, 140_999_999_999_999),
            rng.range(1, 223),
            rng.below(256),
            rng.below(256),
            rng.range(1, 254),
            rng.range(1024, 65535),
        ),
        1 => format!("{{\"level\":\"info\",\"ts\":{ts},\"msg\":\"rotating access log\",\"pid\":{}}}", rng.range(1000, 65000)),
        2 => format!("GET /product/{} HTTP/1.1", rng.range(10_000, 99_999)),
        3 => {
            const WORDS: &[&str] = &[
                "lorem",
                "ipsum",
                "connection",
                "reset",
                "by",
                "peer",
                "buffer",
                "overflow",
                "null",
                "undefined",
                "retry",
                "segment",
                "EOF",
                "####",
                "0x7f3a",
                "kill",
                "-9",
            ];
            let n = rng.range(3, 14);
            (0..n).map(|_| *rng.pick(WORDS)).collect::<Vec<_>>().join(" ")
        }
        _ => {
            let n = rng.range(20, 120);
            (0..n).map(|_| (b'!' + rng.below(94) as u8) as char).collect()
        }
    };
    line.clear();
    line.extend_from_slice(text.as_bytes());
}

/// A target long enough to push a line past [`OVERSIZED_MIN`]: a search with
/// an enormous query string (as sent by broken clients and fuzzers).
pub(crate) fn oversized_target(rng: &mut Rng) -> String {
    let len = OVERSIZED_MIN + rng.range(1, 8192) as usize;
    let mut t = String::with_capacity(len + 10);
    t.push_str("/search?q=");
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+%-_";
    while t.len() < len {
        t.push(ALPHABET[rng.index(ALPHABET.len())] as char);
    }
    t
}
