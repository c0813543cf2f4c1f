//! Event time as the views store it: UTC epoch milliseconds, UTC days
//! (`YYYY-MM-DD`, the speed tables' `day` partition key and the batch
//! tables' `day` column) and RFC 3339 strings for the API.

use chrono::{DateTime, NaiveDate, Utc};

/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 3_600_000;

/// The UTC day of `ms`.
pub fn day_of(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().date_naive()
}

/// Midnight UTC of `day`, in ms.
pub fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis()
}

/// RFC 3339 with milliseconds and `Z`, e.g. `2026-11-20T13:05:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, in ms.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `ms` rounded down to a multiple of `step` (both in ms), as the speed job aligns windows.
pub fn floor_to(ms: i64, step: i64) -> i64 {
    ms.div_euclid(step) * step
}

/// Every day from `from` to `to`, both included.
pub fn days(from: NaiveDate, to: NaiveDate) -> impl DoubleEndedIterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to).collect::<Vec<_>>().into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_instants() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let ms = day_start(d);
        assert_eq!(rfc3339(ms + 13 * HOUR_MS), "2026-11-20T13:00:00.000Z");
        assert_eq!(day_of(ms + DAY_MS - 1), d);
        assert_eq!(day_of(ms + DAY_MS), d.succ_opt().unwrap());
        assert_eq!(floor_to(-1, 1000), -1000);
        assert_eq!(days(d, d.succ_opt().unwrap()).count(), 2);
        assert_eq!(days(d.succ_opt().unwrap(), d).count(), 0);
    }
}
