//! File names, in one place.
//!
//! - in use: `<prefix>-<first_event_ms>-<seq>.avro.tmp`
//! - closed: `<prefix>-<first_event_ms>-<seq>.avro` (the batch layer reads these)
//! - recovery's copy of a file's valid prefix while it is written:
//!   `.<prefix>-<first_event_ms>-<seq>.avro.salvage` (hidden: Hadoop tools and
//!   the batch job skip names starting with `.`)
//! - a leftover whose content was corrupt (not merely cut short) is kept for
//!   people as `<…>.avro.corrupt`, which no reader picks up.
//!
//! `first_event_ms` is the event time of the first event written to the
//! file, `seq` a counter that makes the name unique (the sink skips names
//! that exist, so a restart replaying the same events gets new names).

/// Suffix of files in use.
pub const TMP_SUFFIX: &str = ".avro.tmp";
/// Suffix of closed files.
pub const FINAL_SUFFIX: &str = ".avro";
const SALVAGE_SUFFIX: &str = ".avro.salvage";

/// `<dir>/<prefix>-<first_ms>-<seq>`, the path without suffix.
pub fn stem(dir: &str, prefix: &str, first_ms: i64, seq: u64) -> String {
    format!("{dir}/{prefix}-{first_ms}-{seq}")
}

/// The name part of a path.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The directory part of a path.
pub fn dir_name(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// Whether `rest` is `<digits>-<digits>` (an optional leading `-` for event
/// times before 1970).
fn is_time_and_seq(rest: &str) -> bool {
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    match rest.split_once('-') {
        Some((a, b)) => !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// Whether `name` is an in-use file of exactly this `prefix` (not of a
/// prefix that merely starts the same, such as `agent` vs `agent-2`).
pub fn is_tmp_of(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).and_then(|r| r.strip_suffix(TMP_SUFFIX)).is_some_and(is_time_and_seq)
}

/// Whether `name` is a salvage copy of this `prefix`'s files.
pub fn is_salvage_of(prefix: &str, name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|r| r.strip_prefix(prefix))
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(SALVAGE_SUFFIX))
        .is_some_and(is_time_and_seq)
}

/// `x.avro.tmp` -> `x.avro`.
pub fn final_of(tmp: &str) -> String {
    format!("{}{FINAL_SUFFIX}", tmp.strip_suffix(TMP_SUFFIX).unwrap_or(tmp))
}

/// `d/x.avro.tmp` -> `d/.x.avro.salvage`.
pub fn salvage_of(tmp: &str) -> String {
    let stem = base_name(tmp).strip_suffix(TMP_SUFFIX).unwrap_or(base_name(tmp));
    let dir = dir_name(tmp);
    let sep = if dir.ends_with('/') { "" } else { "/" };
    format!("{dir}{sep}.{stem}{SALVAGE_SUFFIX}")
}

/// `d/x.avro.tmp` -> `d/x.avro.corrupt`.
pub fn corrupt_of(tmp: &str) -> String {
    format!("{}.corrupt", final_of(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let s = stem("/m/date=2026-11-20/hour=00", "fanout-1", 1_795_132_800_000, 3);
        assert_eq!(s, "/m/date=2026-11-20/hour=00/fanout-1-1795132800000-3");
        let tmp = format!("{s}{TMP_SUFFIX}");
        assert!(is_tmp_of("fanout-1", base_name(&tmp)));
        assert!(!is_tmp_of("fanout", base_name(&tmp)), "a shorter prefix must not take over fanout-1's files");
        assert!(!is_tmp_of("fanout-1", "fanout-1-1795132800000-3.avro"));
        assert!(!is_tmp_of("fanout-1", "fanout-1-x-3.avro.tmp"));
        assert!(is_tmp_of("a", "a--5-0.avro.tmp"), "negative event times");
        assert_eq!(final_of(&tmp), format!("{s}.avro"));
        let salvage = salvage_of(&tmp);
        assert_eq!(salvage, "/m/date=2026-11-20/hour=00/.fanout-1-1795132800000-3.avro.salvage");
        assert!(is_salvage_of("fanout-1", base_name(&salvage)));
        assert!(!is_salvage_of("fanout", base_name(&salvage)));
        assert_eq!(corrupt_of(&tmp), format!("{s}.avro.corrupt"));
        assert_eq!(dir_name("/x"), "/");
        assert_eq!(salvage_of("/a-1-2.avro.tmp"), "/.a-1-2.avro.salvage");
    }
}
