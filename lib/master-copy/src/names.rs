//! File names, in one place.
//!
//! - in use: `_<prefix>-<first_event_ms>-<seq>.avro.tmp`. The leading `_`
//!   hides it from Hive, Spark and Trino, which skip names starting with `_`
//!   or `.` (Flume users set `hdfs.inUsePrefix = _` for the same reason);
//!   the batch job still sees it, to wait for it. Files of earlier versions,
//!   in use without the `_`, are recognised and recovered all the same.
//! - closed: `<prefix>-<first_event_ms>-<seq>.avro` (the batch layer reads these)
//! - recovery's copy of a file's valid prefix while it is written:
//!   `.<prefix>-<first_event_ms>-<seq>.avro.salvage` (hidden: Hadoop tools and
//!   the batch job skip names starting with `.`)
//! - a leftover whose content was corrupt (not merely cut short) is kept for
//!   people as `<…>.avro.corrupt`, which no reader picks up.
//!
//! Readers ([`classify`]) take closed files, wait for in-use ones, and ignore
//! the rest (Hadoop's `_SUCCESS` markers and `.crc` files included).
//!
//! `first_event_ms` is the event time of the first event written to the
//! file, `seq` a counter that makes the name unique (the sink skips names
//! that exist, so a restart replaying the same events gets new names).

/// Prefix of files in use (hidden from Hadoop-ecosystem readers).
pub const IN_USE_PREFIX: &str = "_";
/// Suffix of files in use.
pub const TMP_SUFFIX: &str = ".avro.tmp";
/// Suffix of closed files.
pub const FINAL_SUFFIX: &str = ".avro";
const SALVAGE_SUFFIX: &str = ".avro.salvage";

/// `<dir>/<prefix>-<first_ms>-<seq>`, the path without suffix.
pub fn stem(dir: &str, prefix: &str, first_ms: i64, seq: u64) -> String {
    format!("{dir}/{prefix}-{first_ms}-{seq}")
}

/// `<dir>/_<name>.avro.tmp`: the in-use path of a [`stem`].
pub fn in_use_of(stem: &str) -> String {
    let (dir, name) = split(stem);
    format!("{dir}{IN_USE_PREFIX}{name}{TMP_SUFFIX}")
}

/// `(everything up to and including the last '/', the name after it)`.
fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    }
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
/// prefix that merely starts the same, such as `agent` vs `agent-2`), with
/// the in-use `_` or, written by an earlier version, without it.
pub fn is_tmp_of(prefix: &str, name: &str) -> bool {
    let name = name.strip_prefix(IN_USE_PREFIX).unwrap_or(name);
    name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).and_then(|r| r.strip_suffix(TMP_SUFFIX)).is_some_and(is_time_and_seq)
}

/// The name of an in-use path without its `_` and `.avro.tmp`.
fn closed_stem(tmp: &str) -> (&str, &str) {
    let (dir, name) = split(tmp);
    let name = name.strip_suffix(TMP_SUFFIX).map_or(name, |n| n.strip_prefix(IN_USE_PREFIX).unwrap_or(n));
    (dir, name)
}

/// Whether `name` is a salvage copy of this `prefix`'s files.
pub fn is_salvage_of(prefix: &str, name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|r| r.strip_prefix(prefix))
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(SALVAGE_SUFFIX))
        .is_some_and(is_time_and_seq)
}

/// `d/_x.avro.tmp` (or an earlier version's `d/x.avro.tmp`) -> `d/x.avro`.
pub fn final_of(tmp: &str) -> String {
    let (dir, stem) = closed_stem(tmp);
    format!("{dir}{stem}{FINAL_SUFFIX}")
}

/// `d/_x.avro.tmp` -> `d/.x.avro.salvage`.
pub fn salvage_of(tmp: &str) -> String {
    let (dir, stem) = closed_stem(tmp);
    format!("{dir}.{stem}{SALVAGE_SUFFIX}")
}

/// `d/x.avro.tmp` -> `d/x.avro.corrupt`.
pub fn corrupt_of(tmp: &str) -> String {
    format!("{}.corrupt", final_of(tmp))
}

/// What a directory entry inside an hour partition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A closed container file: read it.
    Data,
    /// Still being written by the sink: skip and report it.
    InProgress,
    /// Anything else (markers, hidden files, foreign files): ignore.
    Ignored,
}

/// Classifies a file name found in an hour partition.
pub fn classify(name: &str) -> EntryKind {
    if name.ends_with(TMP_SUFFIX) && !name.starts_with('.') {
        EntryKind::InProgress
    } else if name.starts_with('.') || name.starts_with('_') {
        EntryKind::Ignored
    } else if name.ends_with(FINAL_SUFFIX) {
        EntryKind::Data
    } else {
        EntryKind::Ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let s = stem("/m/date=2026-11-20/hour=00", "fanout-1", 1_795_132_800_000, 3);
        assert_eq!(s, "/m/date=2026-11-20/hour=00/fanout-1-1795132800000-3");
        let tmp = in_use_of(&s);
        assert_eq!(tmp, "/m/date=2026-11-20/hour=00/_fanout-1-1795132800000-3.avro.tmp");
        assert!(is_tmp_of("fanout-1", base_name(&tmp)));
        assert!(is_tmp_of("fanout-1", "fanout-1-1795132800000-3.avro.tmp"), "an earlier version's in-use name");
        assert_eq!(final_of("/m/fanout-1-1795132800000-3.avro.tmp"), "/m/fanout-1-1795132800000-3.avro");
        assert_eq!(final_of("hdfs://nn:8020/m/_a-1-2.avro.tmp"), "hdfs://nn:8020/m/a-1-2.avro", "URLs too (log lines)");
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
        assert_eq!(salvage_of("/_a-1-2.avro.tmp"), "/.a-1-2.avro.salvage");
    }

    #[test]
    fn readers_classify_what_the_sink_names() {
        let s = stem("/m", "web1", 1_795_132_800_000, 3);
        assert_eq!(classify(base_name(&final_of(&in_use_of(&s)))), EntryKind::Data);
        assert_eq!(classify(base_name(&in_use_of(&s))), EntryKind::InProgress, "hidden from Hive, not from the batch job");
        assert_eq!(classify("web1-1795132800000-4.avro.tmp"), EntryKind::InProgress, "an earlier version's in-use name");
        assert_eq!(classify(base_name(&salvage_of(&in_use_of(&s)))), EntryKind::Ignored);
        assert_eq!(classify(base_name(&corrupt_of(&in_use_of(&s)))), EntryKind::Ignored);
        assert_eq!(classify("_SUCCESS"), EntryKind::Ignored);
        assert_eq!(classify(".web1-1.avro.crc"), EntryKind::Ignored);
    }
}
