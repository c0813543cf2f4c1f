//! Finds files that are ready to read: matching the patterns, not hidden,
//! and quiet (size and modification time unchanged for the quiet period).
//!
//! File-system events from `notify` only wake the scan early; the periodic
//! rescan is what guarantees nothing is missed (events can be dropped, and
//! a spool directory can be removed and re-created under the watcher).
//!
//! What it passes over is reported as a [`Skipped`], defined in
//! `crate::metrics` because each kind is also a label value of `files_skipped`.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use globset::GlobSet;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{info, warn};

use crate::config::ConsumeOrder;
use crate::metrics::Skipped;

/// A file ready to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyFile {
    /// Its path.
    pub path: PathBuf,
    /// Size when it became quiet.
    pub size: u64,
    /// Modification time when it became quiet.
    pub mtime: SystemTime,
}

struct Observation {
    size: u64,
    mtime: SystemTime,
    stable_since: Instant,
}

/// Scans spool directories and tracks quiet periods.
pub struct Scanner {
    dirs: Vec<PathBuf>,
    recursive: bool,
    include: GlobSet,
    ignore: GlobSet,
    quiet: Duration,
    order: ConsumeOrder,
    /// Directories never entered (the agent's own quarantine/done dirs when inside a spool dir).
    skip_dirs: Vec<PathBuf>,
    observed: HashMap<PathBuf, Observation>,
    watcher: Option<RecommendedWatcher>,
    /// Spool dir -> inode it was watched with (re-watched when re-created).
    watched: HashMap<PathBuf, u64>,
    missing: HashMap<PathBuf, bool>,
    /// Skipped entries already reported (each is reported once while it stays).
    reported: HashSet<PathBuf>,
    /// Skipped entries not reported yet.
    newly_skipped: Vec<(PathBuf, Skipped)>,
}

/// Wakes the source when a spool directory changes.
pub type Wakeups = mpsc::Receiver<()>;

impl Scanner {
    /// A scanner over `dirs`; returns it and the channel its watcher signals.
    pub fn new(
        dirs: Vec<PathBuf>,
        recursive: bool,
        include: GlobSet,
        ignore: GlobSet,
        quiet: Duration,
        order: ConsumeOrder,
        skip_dirs: Vec<PathBuf>,
    ) -> (Scanner, Wakeups) {
        let (tx, rx) = mpsc::channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Opening or reading a file (or listing the directory, as every
            // scan does) creates no work: waking on those would make each
            // scan wake the next, forever.
            if !matches!(&event, Ok(e) if e.kind.is_access()) {
                let _ = tx.send(());
            }
        })
        .map_err(|e| warn!(error = %e, "file-system notifications unavailable; relying on periodic rescans"))
        .ok();
        let scanner = Scanner {
            dirs,
            recursive,
            include,
            ignore,
            quiet,
            order,
            skip_dirs,
            observed: HashMap::new(),
            watcher,
            watched: HashMap::new(),
            missing: HashMap::new(),
            reported: HashSet::new(),
            newly_skipped: Vec::new(),
        };
        (scanner, rx)
    }

    fn ensure_watched(&mut self, dir: &Path, ino: u64) {
        let Some(w) = self.watcher.as_mut() else { return };
        if self.watched.get(dir) == Some(&ino) {
            return;
        }
        let _ = w.unwatch(dir);
        let mode = if self.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        match w.watch(dir, mode) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf(), ino);
            }
            Err(e) => warn!(dir = %dir.display(), error = %e, "cannot watch spool directory; relying on rescans"),
        }
    }

    fn wanted(&self, name: &str) -> bool {
        !name.starts_with('.') && self.include.is_match(name) && !self.ignore.is_match(name)
    }

    fn list(&self, dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>, skipped: &mut Vec<(PathBuf, Skipped)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue }; // vanished meanwhile
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // hidden: never read, never reported
            }
            if meta.is_dir() {
                if self.skip_dirs.iter().any(|s| s == &path) {
                    continue; // the agent's own directories
                }
                if self.recursive {
                    self.list(&path, out, skipped);
                } else {
                    skipped.push((path, Skipped::Directory));
                }
            } else if meta.file_type().is_symlink() {
                if self.wanted(&name) {
                    skipped.push((path, Skipped::Symlink));
                }
            } else if meta.is_file() && self.wanted(&name) {
                out.push((path, meta));
            }
        }
    }

    /// Entries skipped by the scans so far and not reported before: each
    /// symlink or sub-directory is reported once while it stays (again if it
    /// is removed and comes back).
    pub fn newly_skipped(&mut self) -> Vec<(PathBuf, Skipped)> {
        std::mem::take(&mut self.newly_skipped)
    }

    /// Files that are quiet now, in consume order.
    pub fn ready_files(&mut self) -> Vec<ReadyFile> {
        let now = Instant::now();
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        for dir in self.dirs.clone() {
            match std::fs::metadata(&dir) {
                Ok(meta) if meta.is_dir() => {
                    if self.missing.remove(&dir).is_some() {
                        info!(dir = %dir.display(), "spool directory is back");
                    }
                    self.ensure_watched(&dir, meta.ino());
                    self.list(&dir, &mut found, &mut skipped);
                }
                _ => {
                    if self.missing.insert(dir.clone(), true).is_none() {
                        warn!(dir = %dir.display(), "spool directory missing; will pick it up when it exists again");
                    }
                    self.watched.remove(&dir);
                }
            }
        }
        let present: HashSet<&PathBuf> = skipped.iter().map(|(p, _)| p).collect();
        self.reported.retain(|p| present.contains(p));
        for (path, why) in skipped {
            if self.reported.insert(path.clone()) {
                self.newly_skipped.push((path, why));
            }
        }
        let mut ready = Vec::new();
        let mut still_present = HashMap::new();
        for (path, meta) in found {
            let (size, mtime) = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
            let obs = match self.observed.remove(&path) {
                Some(o) if o.size == size && o.mtime == mtime => o,
                _ => Observation { size, mtime, stable_since: now },
            };
            if now.duration_since(obs.stable_since) >= self.quiet {
                ready.push(ReadyFile { path: path.clone(), size, mtime });
            }
            still_present.insert(path, obs);
        }
        self.observed = still_present;
        match self.order {
            ConsumeOrder::Oldest => ready.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path))),
            ConsumeOrder::Youngest => ready.sort_by(|a, b| b.mtime.cmp(&a.mtime).then_with(|| a.path.cmp(&b.path))),
        }
        ready
    }

    /// Whether files are waiting for their quiet period (the caller then polls sooner).
    pub fn has_pending(&self) -> bool {
        !self.observed.is_empty()
    }

    /// Forgets a file (it was processed; if it comes back, it starts over).
    pub fn forget(&mut self, path: &Path) {
        self.observed.remove(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use globset::{Glob, GlobSetBuilder};

    fn set(p: &[&str]) -> GlobSet {
        let mut b = GlobSetBuilder::new();
        for g in p {
            b.add(Glob::new(g).unwrap());
        }
        b.build().unwrap()
    }

    #[test]
    fn quiet_period_patterns_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _rx) = Scanner::new(
            vec![dir.path().to_path_buf()],
            false,
            set(&["*"]),
            set(&["*.tmp"]),
            Duration::from_millis(100),
            ConsumeOrder::Oldest,
            vec![],
        );
        std::fs::write(dir.path().join("b.log"), "x").unwrap();
        std::fs::write(dir.path().join("a.log"), "x").unwrap();
        std::fs::write(dir.path().join("c.tmp"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        assert!(s.ready_files().is_empty(), "not quiet yet");
        assert!(s.has_pending());
        std::thread::sleep(Duration::from_millis(150));
        let names: Vec<String> = s.ready_files().iter().map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"a.log".to_string()) && names.contains(&"b.log".to_string()));
        // A write restarts the quiet period.
        std::fs::write(dir.path().join("a.log"), "xy").unwrap();
        let names: Vec<_> = s.ready_files().into_iter().map(|r| r.path).collect();
        assert_eq!(names, vec![dir.path().join("b.log")]);
    }

    #[test]
    fn symlinks_and_subdirectories_are_skipped_and_reported_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("quarantine");
        let (mut s, _rx) = Scanner::new(
            vec![dir.path().to_path_buf()],
            false,
            set(&["*"]),
            set(&["*.tmp"]),
            Duration::ZERO,
            ConsumeOrder::Oldest,
            vec![own.clone()],
        );
        std::fs::write(dir.path().join("real.log"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.log"), dir.path().join("link.log")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("dangling.log")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.log"), dir.path().join("ignored.tmp")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/inner.log"), "x").unwrap();
        std::fs::create_dir(&own).unwrap();
        std::fs::create_dir(dir.path().join(".hidden")).unwrap();
        let ready: Vec<_> = s.ready_files().into_iter().map(|r| r.path).collect();
        assert_eq!(ready, vec![dir.path().join("real.log")], "links and sub-directories are not read");
        let mut first = s.newly_skipped();
        first.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            first,
            vec![
                (dir.path().join("dangling.log"), Skipped::Symlink),
                (dir.path().join("link.log"), Skipped::Symlink),
                (dir.path().join("sub"), Skipped::Directory),
            ],
            "ignored names, hidden entries and the agent's own directories are not reported"
        );
        for _ in 0..3 {
            s.ready_files();
            assert!(s.newly_skipped().is_empty(), "reported once, not per scan");
        }
        std::fs::remove_file(dir.path().join("link.log")).unwrap();
        s.ready_files();
        std::os::unix::fs::symlink(dir.path().join("real.log"), dir.path().join("link.log")).unwrap();
        s.ready_files();
        assert_eq!(s.newly_skipped(), vec![(dir.path().join("link.log"), Skipped::Symlink)], "a link that comes back is reported again");
    }
}
