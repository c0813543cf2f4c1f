//! The ledger of files already delivered, by content fingerprint, so a file
//! dropped again (same content, any name) is recognised. Append-only
//! `<state_dir>/done.jsonl`, one line per completed file, synced per entry.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

/// Fingerprints of completed files.
pub struct DoneLedger {
    path: PathBuf,
    seen: HashSet<String>,
    file: File,
}

impl DoneLedger {
    /// Loads (or creates) the ledger in `state_dir`.
    pub fn open(state_dir: &Path) -> std::io::Result<DoneLedger> {
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join("done.jsonl");
        let mut seen = HashSet::new();
        if let Ok(f) = File::open(&path) {
            for line in BufReader::new(f).lines() {
                let line = line?;
                // A torn last line (crash mid-write) is skipped: that file is
                // re-checked against the channel's positions instead.
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if let Some(fp) = v["fingerprint"].as_str() {
                        seen.insert(fp.to_string());
                    }
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(DoneLedger { path, seen, file })
    }

    /// Whether content with this fingerprint was delivered before.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.seen.contains(fingerprint)
    }

    /// Records a completed file.
    pub fn record(&mut self, fingerprint: &str, file: &Path, lines: u64, rejected: u64) -> std::io::Result<()> {
        let entry = json!({"fingerprint": fingerprint, "file": file.display().to_string(), "lines": lines, "rejected": rejected,
            "at_unix_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)});
        let mut text = entry.to_string();
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()?;
        self.seen.insert(fingerprint.to_string());
        Ok(())
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
