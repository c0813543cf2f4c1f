//! The spooling-directory source: finds ready files, reads them line by line,
//! validates every line, and puts events into the channel in batches, each
//! together with the stream's position, so progress survives any crash.
//!
//! Identity: a file is a copy of (part of) a log *stream*, named by the
//! fingerprint of its first line ([`stream`]); every line's id is derived
//! from the host, the stream, the line's offset in the decompressed stream
//! and the line itself (`clickstream_contract::event_id`). So a shorter,
//! grown, repaired, compressed or renamed copy gives its lines the ids they
//! had, and what was delivered of a stream is recognised ([`streams`]).
//!
//! One file's life: ready (quiet) → its size and first line read → compared
//! with what was delivered of its stream (a copy of a delivered version is
//! a duplicate; a copy that extends the delivered prefix, checked against
//! its hash, is read from there) → read up to the size it had when picked
//! up → every line either an event or a dead letter → completed (renamed,
//! deleted or moved) and recorded in the stream ledger. A file that grew
//! while it was read is left in place (its extension is read once it is
//! quiet again); a file that cannot be read whole goes to quarantine with a
//! reason, what it delivered recorded; the source goes on.
//!
//! Order of effects at the end of a file, and why it is crash-safe:
//! 1. the last batch is put with the position `{at, complete: whole file}`;
//! 2. the file is renamed/deleted/moved;
//! 3. the stream ledger records what was delivered;
//! 4. an empty put forgets the position.
//!
//! A crash before 1 resumes at the last saved position (once the file's
//! bytes up to it match its hash); after 1, the restart records the
//! complete position in the ledger and forgets it, and the file, if still
//! there, is recognised as a duplicate and completed.

mod batch;
mod binary;
mod dead_letter;
mod lines;
mod pause;
mod position;
mod quarantine;
mod scan;
pub mod stream;
mod streams;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clickstream_channel::{Channel, Position};
use tracing::{debug, error, info, warn};

use self::batch::Batcher;
use self::dead_letter::DeadLetters;
use self::lines::{Boundary, LineReader};
use self::position::FilePosition;
use self::quarantine::quarantine;
use self::scan::{ReadyFile, Scanner};
use self::stream::is_gzip;
use self::streams::{push_checkpoint, StreamLedger};
use crate::config::{Completion, DuplicatePolicy, InvalidUtf8, Validated};
use crate::metrics::{label, Metrics, QuarantineReason, Skipped};

/// The source; run it on its own thread with [`SpoolSource::run`].
pub struct SpoolSource {
    cfg: Arc<Validated>,
    channel: Arc<dyn Channel>,
    metrics: Metrics,
    streams: StreamLedger,
    shutdown: Arc<AtomicBool>,
}

/// How reading a file ended.
enum Outcome {
    /// Every line is in the channel; `end` is the whole file.
    Complete { end: Boundary, lines: u64, rejected: u64 },
    /// Every line up to the size it had when picked up is in the channel;
    /// it grew since, and its extension is read later.
    Grew { lines: u64, rejected: u64 },
    /// Shutdown was requested; the position is saved.
    Interrupted,
    /// The file cannot be read whole.
    Quarantine { reason: QuarantineReason, detail: String },
}

/// A file being read: its stream, the size it is read up to, and the
/// checkpoints of its stream delivered so far.
struct Reading<'f> {
    file: &'f ReadyFile,
    stream: String,
    size: u64,
    checkpoints: Vec<Boundary>,
}

/// `path`, or `path.1`, `path.2`, … — a reused file name never overwrites
/// the completed file of its predecessor.
fn unused_name(path: PathBuf) -> PathBuf {
    if !path.exists() {
        return path;
    }
    (1u32..)
        .map(|n| {
            let mut p = path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        })
        .find(|p| !p.exists())
        .expect("some suffix is free")
}

/// Whether the file at `path` is now larger than `size` (appended to).
fn grew(path: &Path, size: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > size)
}

impl SpoolSource {
    /// A source over the configured spool directories.
    pub fn new(cfg: Arc<Validated>, channel: Arc<dyn Channel>, metrics: Metrics, shutdown: Arc<AtomicBool>) -> Result<SpoolSource> {
        let streams = StreamLedger::open(&cfg.agent.state_dir).with_context(|| {
            format!("opening the stream ledger in {} (check that the agent's user can write there)", cfg.agent.state_dir.display())
        })?;
        Ok(SpoolSource { cfg, channel, metrics, streams, shutdown })
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Runs until shutdown is requested. Returns an error only for what the
    /// agent cannot go on without (its state directory).
    pub fn run(mut self) -> Result<()> {
        self.settle_positions();
        let cfg = Arc::clone(&self.cfg);
        let s = &cfg.source;
        let mut skip_dirs = vec![self.cfg.quarantine_dir.clone(), self.cfg.dead_letter_dir.clone(), self.cfg.agent.state_dir.clone()];
        skip_dirs.extend(s.done_dir.clone());
        let (mut scanner, wakeups) = Scanner::new(
            s.spool_dirs.clone(),
            s.recursive,
            self.cfg.include.clone(),
            self.cfg.ignore.clone(),
            s.quiet_period,
            s.consume_order,
            skip_dirs,
        );
        let poll = (s.quiet_period / 4).clamp(Duration::from_millis(20), Duration::from_millis(250));
        info!(dirs = ?s.spool_dirs, "spool source started");
        while !self.stopping() {
            let ready = scanner.ready_files();
            for (path, why) in scanner.newly_skipped() {
                self.metrics.files_skipped.get_or_create(&label("kind", why.as_str())).inc();
                match why {
                    Skipped::Symlink => {
                        warn!(path = %path.display(), "symbolic link in a spool directory skipped: links are not followed; drop (rename in) the file itself")
                    }
                    Skipped::Directory => {
                        warn!(path = %path.display(), "sub-directory of a spool directory skipped (source.recursive = false)")
                    }
                }
            }
            for file in ready {
                if self.stopping() {
                    break;
                }
                self.process(&file);
                scanner.forget(&file.path);
            }
            let wait = if scanner.has_pending() { poll } else { s.rescan_interval.min(Duration::from_millis(500)) };
            // Wake early on file-system events; drain bursts.
            if wakeups.recv_timeout(wait).is_ok() {
                while wakeups.try_recv().is_ok() {}
            }
        }
        info!("spool source stopped");
        Ok(())
    }

    /// At start-up: a complete position (a crash between the last put and
    /// the ledger entry) goes to the ledger; a position of an earlier agent
    /// version (keyed by a whole-file fingerprint) is forgotten.
    fn settle_positions(&mut self) {
        for (key, value) in self.channel.positions() {
            match FilePosition::decode(&value) {
                Some(FilePosition { at, complete: Some(end) }) => {
                    if let Err(e) = self.streams.record(&key, Path::new("(completed before a restart)"), &[at], Some(end), 0, 0) {
                        error!(ledger = %self.streams.path().display(), error = %e, "cannot record a completed stream; it stays in the channel's positions");
                        continue;
                    }
                }
                Some(_) => continue,
                None => warn!(key, "forgetting a position saved by an earlier agent version (a whole-file fingerprint); that file, if still in a spool directory, is read again from its start"),
            }
            self.put_blocking(&[], Some(FilePosition::forget(&key)));
        }
    }

    fn process(&mut self, file: &ReadyFile) {
        self.metrics.files_seen.inc();
        let head = match stream::head(&file.path) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                let reason = if is_gzip(&file.path) { QuarantineReason::TruncatedGzip } else { QuarantineReason::Unreadable };
                return self.quarantine(file, reason, &format!("cannot read its first line: {e}"), None, &[]);
            }
        };
        if head.size != file.size || head.mtime != file.mtime {
            debug!(file = %file.path.display(), "changed since it was found quiet; waiting again");
            return;
        }
        let Some(stream) = head.stream else {
            // Empty: no line to deliver, no stream to identify.
            return self.complete(file, None, &[], None, 0, 0);
        };
        if !is_gzip(&file.path) {
            match binary::looks_binary(&file.path) {
                Ok(true) => {
                    return self.quarantine(
                        file,
                        QuarantineReason::NotText,
                        "more than 10% of the first 64 KiB is not text (NUL or control bytes, invalid UTF-8)",
                        Some(&stream),
                        &[],
                    )
                }
                Ok(false) => {}
                Err(e) => return self.quarantine(file, QuarantineReason::Unreadable, &e.to_string(), Some(&stream), &[]),
            }
        }
        let known = self.streams.get(&stream).cloned().unwrap_or_default();
        let mut checkpoints = known.checkpoints;
        if let Some(p) = self.channel.positions().get(&stream).and_then(|v| FilePosition::decode(v)) {
            // Reading was interrupted (a restart): its position is one more checkpoint.
            checkpoints.retain(|c| c.offset != p.at.offset);
            checkpoints.push(p.at);
            checkpoints.sort_by_key(|c| c.offset);
        }
        let r = if checkpoints.is_empty() && known.versions.is_empty() {
            // A stream never seen: nothing to compare with, no second pass.
            stream::Recognition { from: stream::Boundary::START, end: None, duplicate: false }
        } else {
            stream::recognise(&file.path, head.size, self.cfg.parser.max_line_bytes(), &checkpoints, &known.versions)
        };
        let verified: Vec<Boundary> = checkpoints.into_iter().filter(|c| c.offset <= r.from.offset).collect();
        let mut from = r.from;
        if r.duplicate {
            self.metrics.files_duplicate.inc();
            match self.cfg.source.duplicates {
                DuplicatePolicy::Skip => {
                    warn!(file = %file.path.display(), stream = %stream, "content already delivered (a copy of a delivered version of this log); completing without sending");
                    return self.complete(file, Some(&stream), &verified, r.end, 0, 0);
                }
                DuplicatePolicy::Deliver => {
                    info!(file = %file.path.display(), "content already delivered; delivering again as configured (same ids)");
                    from = Boundary::START;
                }
            }
        }
        if from.offset > 0 {
            info!(file = %file.path.display(), stream = %stream, offset = from.offset, "the first bytes of this log were delivered before (checked against their hash); reading from there");
        }
        let checkpoints = if from.offset > 0 { verified } else { Vec::new() };
        let mut reading = Reading { file, stream, size: head.size, checkpoints };
        match self.read_file(&mut reading, from) {
            Outcome::Complete { end, lines, rejected } => {
                self.complete(file, Some(&reading.stream), &reading.checkpoints, Some(end), lines, rejected)
            }
            Outcome::Grew { lines, rejected } => {
                let upto = reading.checkpoints.last().map_or(0, |c| c.offset);
                info!(file = %file.path.display(), size = head.size, delivered_up_to = upto, lines, rejected, "file grew while it was read: delivered up to the size it had when picked up; the rest is read as its extension once it is quiet again");
                self.record_progress(&reading, None, lines, rejected);
            }
            Outcome::Interrupted => {}
            Outcome::Quarantine { reason, detail } => {
                self.quarantine(file, reason, &detail, Some(&reading.stream.clone()), &reading.checkpoints.clone())
            }
        }
    }

    /// Reads the file from `from` up to the size it had when picked up,
    /// putting batches into the channel.
    fn read_file(&mut self, reading: &mut Reading<'_>, from: Boundary) -> Outcome {
        let cfg = Arc::clone(&self.cfg);
        let file = reading.file;
        let source_file = file.path.to_string_lossy().into_owned();
        let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dead = DeadLetters::new(&cfg.dead_letter_dir, &name, &reading.stream);
        let stream_id = reading.stream.clone();
        let replace = cfg.source.invalid_utf8 == InvalidUtf8::Replace;
        let metrics = self.metrics.clone();
        let mut b = Batcher::new(&cfg.parser, &cfg.agent.host, &source_file, &stream_id, replace, &metrics, dead);
        let gz = is_gzip(&file.path);
        let fail = |e: std::io::Error, at: u64| {
            let reason = if gz { QuarantineReason::TruncatedGzip } else { QuarantineReason::Unreadable };
            Outcome::Quarantine { reason, detail: format!("read error at offset {at} of the decompressed stream: {e}") }
        };
        let mut reader = match stream::open(&file.path, reading.size) {
            Ok(s) => LineReader::new(s, cfg.parser.max_line_bytes()).hold_tail(),
            Err(e) => return Outcome::Quarantine { reason: QuarantineReason::Unreadable, detail: e.to_string() },
        };
        match reader.skip_to(from.offset) {
            Ok(true) if reader.hash() == from.hash => {}
            Ok(_) => {
                return Outcome::Quarantine {
                    reason: QuarantineReason::Modified,
                    detail: format!("its first {} bytes changed between recognising and reading it", from.offset),
                }
            }
            Err(e) => return fail(e, from.offset),
        }
        let batch_size = cfg.source.batch_size;
        loop {
            match reader.next_line() {
                Ok(Some(line)) => b.add(line),
                Ok(None) => break,
                Err(e) => {
                    let at = reader.boundary();
                    self.flush(reading, &mut b, at, None);
                    return fail(e, at.offset);
                }
            }
            if b.batch.len() >= batch_size && (!self.flush(reading, &mut b, reader.boundary(), None) || self.stopping()) {
                return Outcome::Interrupted;
            }
        }
        // Appended to since it was picked up: a final line without its
        // newline is half of a line being written, read with the extension.
        let grown = grew(&file.path, reading.size);
        if !grown {
            if let Some(tail) = reader.tail() {
                b.add(tail);
            }
        }
        let end = Boundary { offset: reader.offset(), hash: reader.hash() };
        let at = reader.boundary();
        self.metrics.bytes_read.inc_by(end.offset.saturating_sub(from.offset));
        if let Ok(m) = std::fs::metadata(&file.path) {
            if m.len() < reading.size {
                self.flush(reading, &mut b, at, None);
                return Outcome::Quarantine {
                    reason: QuarantineReason::Truncated,
                    detail: format!("size went from {} to {} bytes while reading", reading.size, m.len()),
                };
            }
        }
        let complete = (!grown).then_some(end);
        if !self.flush(reading, &mut b, at, complete) {
            return Outcome::Interrupted;
        }
        if grown {
            Outcome::Grew { lines: b.lines, rejected: b.rejected }
        } else {
            Outcome::Complete { end, lines: b.lines, rejected: b.rejected }
        }
    }

    /// Puts the batch with the stream's position at `at`; `false` if
    /// shutdown interrupted the wait.
    fn flush(&self, reading: &mut Reading<'_>, b: &mut Batcher<'_>, at: Boundary, complete: Option<Boundary>) -> bool {
        if let Err(e) = b.dead.sync() {
            error!(file = %b.dead.path().display(), error = %e, "cannot sync dead-letter file");
        }
        let refs: Vec<&[u8]> = b.batch.iter().map(Vec::as_slice).collect();
        let ok = self.put_blocking(&refs, Some(FilePosition { at, complete }.to_position(&reading.stream)));
        if ok {
            self.metrics.lines_accepted.inc_by(b.batch.len() as u64);
            b.pool.append(&mut b.batch);
            push_checkpoint(&mut reading.checkpoints, at);
        }
        ok
    }

    /// Puts until it succeeds or shutdown is requested: a full channel or a
    /// disk below its floor pauses the source (backpressure), never drops.
    /// Each pause is logged and counted once, and ends with a log line; the
    /// attempts in between are spaced out ([`pause::Pause`]), never spun.
    fn put_blocking(&self, events: &[&[u8]], position: Option<Position>) -> bool {
        let mut pause = pause::Pause::default();
        loop {
            match self.channel.put(events, position.clone(), Duration::from_millis(500)) {
                Ok(()) => {
                    self.metrics.channel_events.set(self.channel.stats().events as i64);
                    if let Some((reason, waited)) = pause.ended() {
                        info!(reason, waited_ms = waited.as_millis() as u64, "source resumed");
                    }
                    return true;
                }
                Err(e) => {
                    let refusal = pause.refused(&e);
                    if let Some(reason) = refusal.started {
                        self.metrics.source_paused.get_or_create(&label("reason", reason)).inc();
                        warn!(reason, error = %e, "source paused; retrying until the channel takes the batch");
                    }
                    if !self.sleep_unless_stopping(refusal.wait) {
                        return false;
                    }
                }
            }
        }
    }

    /// Sleeps `wait` in short steps; `false` as soon as shutdown is requested.
    fn sleep_unless_stopping(&self, wait: Duration) -> bool {
        let step = Duration::from_millis(50);
        let mut left = wait;
        loop {
            if self.stopping() {
                return false;
            }
            if left.is_zero() {
                return true;
            }
            let now = left.min(step);
            std::thread::sleep(now);
            left -= now;
        }
    }

    fn complete(&mut self, file: &ReadyFile, stream: Option<&str>, checkpoints: &[Boundary], version: Option<Boundary>, lines: u64, rejected: u64) {
        let result = match &self.cfg.source.completion {
            Completion::Rename { suffix } => {
                let mut target = file.path.clone().into_os_string();
                target.push(suffix);
                std::fs::rename(&file.path, unused_name(PathBuf::from(target)))
            }
            Completion::Delete => std::fs::remove_file(&file.path),
            Completion::Move { dir } => std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::rename(&file.path, unused_name(dir.join(file.path.file_name().unwrap_or_default())))),
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                warn!(file = %file.path.display(), "file vanished before completion (renamed or deleted while read); its lines were delivered")
            }
            Err(e) => error!(file = %file.path.display(), error = %e, "cannot complete file; it will be recognised as delivered if seen again"),
        }
        if let Some(stream) = stream {
            let reading = Reading { file, stream: stream.to_string(), size: 0, checkpoints: checkpoints.to_vec() };
            self.record_progress(&reading, version, lines, rejected);
        }
        self.metrics.files_completed.inc();
        info!(file = %file.path.display(), lines, rejected, "file completed");
    }

    /// Records what was delivered of the file's stream in the ledger, then
    /// forgets the stream's position (in that order: a crash between the
    /// two leaves both, which agree).
    fn record_progress(&mut self, reading: &Reading<'_>, version: Option<Boundary>, lines: u64, rejected: u64) {
        if !reading.checkpoints.is_empty() || version.is_some() {
            if let Err(e) = self.streams.record(&reading.stream, &reading.file.path, &reading.checkpoints, version, lines, rejected) {
                error!(ledger = %self.streams.path().display(), error = %e, "cannot record what was delivered of a stream; a copy dropped again is delivered again (same ids)");
            }
        }
        self.put_blocking(&[], Some(FilePosition::forget(&reading.stream)));
    }

    fn quarantine(&mut self, file: &ReadyFile, reason: QuarantineReason, detail: &str, stream: Option<&str>, checkpoints: &[Boundary]) {
        let delivered_up_to = checkpoints.last().map_or(0, |c| c.offset);
        self.metrics.files_quarantined.get_or_create(&label("reason", reason.as_str())).inc();
        match quarantine(&self.cfg.quarantine_dir, &file.path, reason, detail, stream, delivered_up_to) {
            Ok(to) => {
                warn!(file = %file.path.display(), quarantined_as = %to.display(), reason = reason.as_str(), detail, delivered_up_to, "file quarantined; fix it and drop it again: what was delivered is recognised and not sent again")
            }
            Err(e) => error!(file = %file.path.display(), reason = reason.as_str(), error = %e, "cannot quarantine file"),
        }
        if let Some(stream) = stream {
            let reading = Reading { file, stream: stream.to_string(), size: 0, checkpoints: checkpoints.to_vec() };
            self.record_progress(&reading, None, 0, 0);
        }
    }
}
