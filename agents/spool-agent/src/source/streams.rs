//! The ledger of log streams delivered: per stream fingerprint, checkpoints
//! of the delivered prefix (to recognise a copy that extends it) and the
//! delivered versions (size and hash of whole files, to recognise a copy
//! dropped again). Append-only `<state_dir>/streams.jsonl`, one line per
//! file finished (completed, grown while read, or quarantined after a
//! partial delivery), synced per entry.
//!
//! Of several records of one stream, the one reaching furthest gives the
//! checkpoints (a shorter copy delivered later does not shorten what is
//! known); versions accumulate.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::lines::Boundary;

/// Most checkpoints kept per stream: when a file adds more, every other one
/// is dropped (the last one always stays), so a copy that differs from the
/// delivered stream is read again from at most about 1/16 of it back (the
/// spacing is between 1/32 and 1/16 of the delivered prefix once thinned).
pub const MAX_CHECKPOINTS: usize = 32;

/// What is known of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRecord {
    /// Line boundaries of the delivered prefix, ascending.
    pub checkpoints: Vec<Boundary>,
    /// Whole files delivered (size and hash of their decompressed content).
    pub versions: HashSet<Boundary>,
}

/// Adds `b` to ascending `checkpoints`, thinning them to [`MAX_CHECKPOINTS`].
pub fn push_checkpoint(checkpoints: &mut Vec<Boundary>, b: Boundary) {
    if checkpoints.last().is_some_and(|l| l.offset >= b.offset) || b.offset == 0 {
        return;
    }
    checkpoints.push(b);
    if checkpoints.len() > MAX_CHECKPOINTS {
        let last = checkpoints.pop().expect("not empty");
        let mut i = 0;
        checkpoints.retain(|_| {
            i += 1;
            i % 2 == 0
        });
        checkpoints.push(last);
    }
}

/// The stream ledger.
pub struct StreamLedger {
    path: PathBuf,
    streams: HashMap<String, StreamRecord>,
    file: File,
}

fn hex(h: u128) -> String {
    format!("{h:032x}")
}

fn parse_boundary(v: &serde_json::Value) -> Option<Boundary> {
    Some(Boundary { offset: v[0].as_u64()?, hash: u128::from_str_radix(v[1].as_str()?, 16).ok()? })
}

impl StreamLedger {
    /// Loads (or creates) the ledger in `state_dir`.
    pub fn open(state_dir: &Path) -> std::io::Result<StreamLedger> {
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join("streams.jsonl");
        let mut streams: HashMap<String, StreamRecord> = HashMap::new();
        if let Ok(f) = File::open(&path) {
            for line in BufReader::new(f).lines() {
                // A torn last line (crash mid-write) is skipped: that file's
                // progress is still in the channel's positions.
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line?) else { continue };
                let Some(stream) = v["stream"].as_str() else { continue };
                let checkpoints: Vec<Boundary> = v["checkpoints"].as_array().into_iter().flatten().filter_map(parse_boundary).collect();
                let version = parse_boundary(&v["version"]);
                merge(streams.entry(stream.to_string()).or_default(), checkpoints, version);
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(StreamLedger { path, streams, file })
    }

    /// What is known of `stream`.
    pub fn get(&self, stream: &str) -> Option<&StreamRecord> {
        self.streams.get(stream)
    }

    /// Records a file of `stream` finished: the checkpoints of what was
    /// delivered, and the whole file as a `version` when it was complete.
    pub fn record(
        &mut self,
        stream: &str,
        file: &Path,
        checkpoints: &[Boundary],
        version: Option<Boundary>,
        lines: u64,
        rejected: u64,
    ) -> std::io::Result<()> {
        let entry = json!({
            "stream": stream,
            "file": file.display().to_string(),
            "checkpoints": checkpoints.iter().map(|b| json!([b.offset, hex(b.hash)])).collect::<Vec<_>>(),
            "version": version.map(|b| json!([b.offset, hex(b.hash)])),
            "lines": lines,
            "rejected": rejected,
            "at_unix_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
        });
        let mut text = entry.to_string();
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()?;
        merge(self.streams.entry(stream.to_string()).or_default(), checkpoints.to_vec(), version);
        Ok(())
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn merge(record: &mut StreamRecord, checkpoints: Vec<Boundary>, version: Option<Boundary>) {
    let reach = |c: &[Boundary]| c.last().map_or(0, |b| b.offset);
    if reach(&checkpoints) >= reach(&record.checkpoints) && !checkpoints.is_empty() {
        record.checkpoints = checkpoints;
    }
    record.versions.extend(version);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(offset: u64) -> Boundary {
        Boundary { offset, hash: u128::from(offset) * 7 }
    }

    #[test]
    fn checkpoints_stay_few_and_keep_the_last() {
        let mut c = Vec::new();
        for o in 1..=1000 {
            push_checkpoint(&mut c, b(o));
            assert!(c.len() <= MAX_CHECKPOINTS);
            assert_eq!(c.last(), Some(&b(o)));
        }
        assert!(c.windows(2).all(|w| w[0].offset < w[1].offset));
        push_checkpoint(&mut c, b(5));
        assert_eq!(c.last(), Some(&b(1000)), "never goes back");
    }

    #[test]
    fn the_furthest_record_wins_and_versions_accumulate_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut l = StreamLedger::open(dir.path()).unwrap();
            l.record("s", Path::new("/a"), &[b(10), b(20)], Some(b(25)), 3, 0).unwrap();
            l.record("s", Path::new("/b"), &[b(10)], Some(b(12)), 1, 0).unwrap();
            l.record("t", Path::new("/c"), &[b(5)], None, 1, 0).unwrap();
        }
        std::fs::OpenOptions::new().append(true).open(dir.path().join("streams.jsonl")).unwrap().write_all(b"{\"stream\":\"s\",\"torn").unwrap();
        let l = StreamLedger::open(dir.path()).unwrap();
        let s = l.get("s").unwrap();
        assert_eq!(s.checkpoints, vec![b(10), b(20)], "a shorter copy does not shorten what is known");
        assert_eq!(s.versions, [b(25), b(12)].into());
        assert_eq!(l.get("t").unwrap().versions.len(), 0);
        assert!(l.get("u").is_none());
    }
}
