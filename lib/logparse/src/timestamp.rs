//! Timestamps as access logs write them, converted to UTC milliseconds.
//!
//! The common-log form `10/Oct/2000:13:55:36 -0700` is parsed by hand: it is
//! fixed-width, and the hot path parses one per line (chrono's format-string
//! parser costs several times more). A property test checks this parser
//! against chrono's on generated timestamps. ISO 8601 (NGINX `$time_iso8601`,
//! allowed in custom formats) goes through chrono.

const MONTHS: [&[u8; 3]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

/// Parses `dd/Mon/yyyy:HH:MM:SS ±hhmm` into UTC epoch milliseconds.
/// Returns a short explanation on failure.
pub fn parse_clf(s: &str) -> Result<i64, &'static str> {
    let b = s.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' || b[20] != b' ' {
        return Err("expected dd/Mon/yyyy:HH:MM:SS ±hhmm");
    }
    let day = digits(&b[0..2]).ok_or("day is not a number")?;
    let month = MONTHS.iter().position(|m| m[..] == b[3..6]).ok_or("unknown month name")? as u32 + 1;
    let year = i64::from(digits(&b[7..11]).ok_or("year is not a number")?);
    let hour = digits(&b[12..14]).ok_or("hour is not a number")?;
    let min = digits(&b[15..17]).ok_or("minute is not a number")?;
    let sec = digits(&b[18..20]).ok_or("second is not a number")?;
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err("UTC offset must start with + or -"),
    };
    let off_h = digits(&b[22..24]).ok_or("UTC offset is not a number")?;
    let off_m = digits(&b[24..26]).ok_or("UTC offset is not a number")?;
    if day == 0 || day > days_in_month(year, month) {
        return Err("no such day in that month");
    }
    if hour > 23 || min > 59 || sec > 59 {
        return Err("time of day out of range");
    }
    if off_h > 23 || off_m > 59 {
        return Err("UTC offset out of range");
    }
    let local = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + min * 60 + sec);
    let offset = sign * i64::from(off_h * 3600 + off_m * 60);
    Ok((local - offset) * 1000)
}

/// Parses an RFC 3339 / ISO 8601 timestamp with offset (`2015-05-17T10:05:03+00:00`).
pub fn parse_iso8601(s: &str) -> Result<i64, &'static str> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| "expected an RFC 3339 timestamp such as 2015-05-17T10:05:03+00:00")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(parse_clf("17/May/2015:10:05:03 +0000"), Ok(1_431_857_103_000));
        assert_eq!(parse_clf("10/Oct/2000:13:55:36 -0700"), Ok(971_211_336_000));
        assert_eq!(parse_clf("01/Jan/1970:01:00:00 +0100"), Ok(0));
        assert_eq!(parse_clf("29/Feb/2024:00:00:00 +0000"), Ok(1_709_164_800_000));
        assert!(parse_clf("29/Feb/2023:00:00:00 +0000").is_err());
        assert!(parse_clf("31/Apr/2023:00:00:00 +0000").is_err());
        assert!(parse_clf("32/Foo/2015:00:00:00 +0000").is_err());
        assert!(parse_clf("17/May/2015:24:00:00 +0000").is_err());
        assert!(parse_clf("17/May/2015:10:05:03 0000").is_err());
        assert!(parse_clf("17/May/2015:10:05:03 +0000 ").is_err());
        assert!(parse_clf("").is_err());
        assert_eq!(parse_iso8601("2015-05-17T12:05:03+02:00"), Ok(1_431_857_103_000));
    }

    proptest! {
        #[test]
        fn agrees_with_chrono(secs in 0i64..4_102_444_800, off_min in -(23*60+59)..=(23*60+59i32)) {
            let offset = chrono::FixedOffset::east_opt(off_min * 60).unwrap();
            let t = chrono::DateTime::from_timestamp(secs, 0).unwrap().with_timezone(&offset);
            let text = t.format("%d/%b/%Y:%H:%M:%S %z").to_string();
            prop_assert_eq!(parse_clf(&text), Ok(secs * 1000), "{}", text);
            let chrono_says = chrono::DateTime::parse_from_str(&text, "%d/%b/%Y:%H:%M:%S %z").unwrap();
            prop_assert_eq!(chrono_says.timestamp_millis(), secs * 1000);
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = parse_clf(&s);
        }
    }
}
