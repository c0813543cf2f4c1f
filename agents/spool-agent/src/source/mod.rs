//! The spooling-directory source: finds ready files, reads them line by line,
//! validates every line, and puts events into the channel in batches, each
//! together with the file's position, so progress survives any crash.
//!
//! One file's life: ready (quiet) → fingerprinted → skipped if its content
//! was delivered before → read from its saved position → every line either
//! an event or a dead letter → verified unchanged → completed (renamed,
//! deleted or moved) and recorded in the done ledger. A file that cannot be
//! read whole goes to quarantine with a reason; the source goes on.
//!
//! Order of effects at the end of a file, and why it is crash-safe:
//! 1. the last batch is put with position `{offset: EOF, complete: true}`;
//! 2. the file is renamed/deleted/moved;
//! 3. the done ledger records its fingerprint;
//! 4. an empty put forgets the position.
//!
//! A crash before 1 resumes reading at the last saved offset; between 1 and
//! 3 the restart finds the file complete and finishes 2–3; after 3 the stale
//! position is forgotten at start-up.

mod dead_letter;
mod done;
pub mod fingerprint;
mod lines;
mod pause;
mod position;
mod quarantine;
mod scan;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clickstream_channel::{Channel, Position};
use clickstream_logparse::{LineOrigin, Parser};
use flate2::read::MultiGzDecoder;
use tracing::{debug, error, info, warn};

use self::dead_letter::DeadLetters;
use self::done::DoneLedger;
use self::fingerprint::{fingerprint, FileId, Hasher};
use self::lines::{Line, LineReader};
use self::position::FilePosition;
use self::quarantine::{quarantine, Reason};
use self::scan::{ReadyFile, Scanner};
use crate::config::{Completion, DuplicatePolicy, InvalidUtf8, Validated};
use crate::metrics::{label, Metrics};

pub use self::quarantine::Reason as QuarantineReason;
pub use self::scan::Skipped;

/// The source; run it on its own thread with [`SpoolSource::run`].
pub struct SpoolSource {
    cfg: Arc<Validated>,
    channel: Arc<dyn Channel>,
    metrics: Metrics,
    done: DoneLedger,
    shutdown: Arc<AtomicBool>,
}

/// How reading a file ended.
enum Outcome {
    /// Every line is in the channel.
    Complete { lines: u64, rejected: u64 },
    /// Shutdown was requested; the position is saved.
    Interrupted,
    /// The file cannot be read whole.
    Quarantine { reason: Reason, detail: String, delivered_up_to: u64 },
}

/// Reads raw bytes and hashes them, so the content can be checked against
/// the fingerprint taken before reading (gzip files are hashed compressed).
struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: Read> HashingReader<R> {
    fn drain(&mut self) -> std::io::Result<()> {
        std::io::copy(self, &mut std::io::sink()).map(|_| ())
    }
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

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Share of the first 64 KiB that cannot be text (NUL and other control
/// bytes, invalid UTF-8) above which a file is binary, not a log.
const BINARY_SHARE: f64 = 0.10;

/// Whether the file's head says "binary" (a core dump, an image, random
/// bytes). A log with a few corrupted lines is text: those lines are
/// rejected one by one (`not_utf8`) and everything else is delivered.
fn looks_binary(path: &Path) -> std::io::Result<bool> {
    let mut head = vec![0u8; 64 * 1024];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(not_text_share(&head[..n]) > BINARY_SHARE)
}

/// Fraction of `bytes` that are NUL or other control bytes, or not valid UTF-8.
fn not_text_share(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut bad = 0usize;
    for chunk in bytes.utf8_chunks() {
        bad += chunk.invalid().len();
        bad += chunk.valid().bytes().filter(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)).count();
    }
    bad as f64 / bytes.len() as f64
}

impl SpoolSource {
    /// A source over the configured spool directories.
    pub fn new(cfg: Arc<Validated>, channel: Arc<dyn Channel>, metrics: Metrics, shutdown: Arc<AtomicBool>) -> Result<SpoolSource> {
        let done = DoneLedger::open(&cfg.config.agent.state_dir)
            .with_context(|| format!("opening the done ledger in {}", cfg.config.agent.state_dir.display()))?;
        Ok(SpoolSource { cfg, channel, metrics, done, shutdown })
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Runs until shutdown is requested. Returns an error only for what the
    /// agent cannot go on without (its state directory).
    pub fn run(mut self) -> Result<()> {
        self.forget_positions_of_done_files();
        let cfg = Arc::clone(&self.cfg);
        let s = &cfg.config.source;
        let mut skip_dirs = vec![self.cfg.quarantine_dir.clone(), self.cfg.dead_letter_dir.clone(), self.cfg.config.agent.state_dir.clone()];
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
                    scan::Skipped::Symlink => warn!(path = %path.display(), "symbolic link in a spool directory skipped: links are not followed; drop (rename in) the file itself"),
                    scan::Skipped::Directory => warn!(path = %path.display(), "sub-directory of a spool directory skipped (source.recursive = false)"),
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

    fn forget_positions_of_done_files(&self) {
        for fp in self.channel.positions().keys() {
            if self.done.contains(fp) {
                self.put_blocking(&[], Some(FilePosition::forget(fp)));
            }
        }
    }

    fn process(&mut self, file: &ReadyFile) {
        self.metrics.files_seen.inc();
        let id = match fingerprint(&file.path) {
            Ok(id) => id,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => return self.quarantine(file, Reason::Unreadable, &format!("cannot read: {e}"), None, 0),
        };
        if id.size != file.size || id.mtime != file.mtime {
            debug!(file = %file.path.display(), "changed since it was found quiet; waiting again");
            return;
        }
        let saved = self.channel.positions().get(&id.fingerprint).and_then(|v| FilePosition::decode(v));
        if saved.is_none() && self.done.contains(&id.fingerprint) {
            self.metrics.files_duplicate.inc();
            match self.cfg.config.source.duplicates {
                DuplicatePolicy::Skip => {
                    warn!(file = %file.path.display(), fingerprint = %id.fingerprint, "content already delivered (duplicate drop); completing without sending");
                    return self.complete(file, &id, 0, 0);
                }
                DuplicatePolicy::Deliver => {
                    info!(file = %file.path.display(), "content already delivered; delivering again as configured");
                }
            }
        }
        if let Some(pos) = saved {
            if pos.complete {
                return self.complete(file, &id, 0, 0);
            }
        }
        if !is_gzip(&file.path) {
            match looks_binary(&file.path) {
                Ok(true) => return self.quarantine(file, Reason::NotText, "more than 10% of the first 64 KiB is not text (NUL or control bytes, invalid UTF-8)", Some(&id.fingerprint), 0),
                Ok(false) => {}
                Err(e) => return self.quarantine(file, Reason::Unreadable, &e.to_string(), Some(&id.fingerprint), 0),
            }
        }
        let resume = saved.map_or(0, |p| p.offset);
        if resume > 0 {
            info!(file = %file.path.display(), offset = resume, "resuming after restart");
        }
        match self.read_file(file, &id, resume) {
            Outcome::Complete { lines, rejected } => self.complete(file, &id, lines, rejected),
            Outcome::Interrupted => {}
            Outcome::Quarantine { reason, detail, delivered_up_to } => {
                self.quarantine(file, reason, &detail, Some(&id.fingerprint), delivered_up_to)
            }
        }
    }

    /// Reads from `resume` to the end, putting batches into the channel.
    fn read_file(&mut self, file: &ReadyFile, id: &FileId, resume: u64) -> Outcome {
        let cfg = Arc::clone(&self.cfg);
        let parser: &Parser = &cfg.parser;
        let host = cfg.config.agent.host.as_str();
        let source_file = file.path.to_string_lossy().into_owned();
        let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut dead = DeadLetters::new(&cfg.dead_letter_dir, &name, &id.fingerprint);
        let raw = match File::open(&file.path) {
            Ok(f) => HashingReader { inner: f, hasher: Hasher::default(), bytes: 0 },
            Err(e) => return Outcome::Quarantine { reason: Reason::Unreadable, detail: e.to_string(), delivered_up_to: resume },
        };
        let gz = is_gzip(&file.path);
        // The hashing reader sits under the decompressor; keep a handle to it.
        let mut reader: LineReader<Box<dyn Read>> = if gz {
            LineReader::new(Box::new(MultiGzDecoder::new(raw)), parser.max_line_bytes())
        } else {
            LineReader::new(Box::new(raw), parser.max_line_bytes())
        };
        let fail = |e: std::io::Error, at: u64| {
            let reason = if gz { Reason::TruncatedGzip } else { Reason::Unreadable };
            Outcome::Quarantine { reason, detail: format!("read error at offset {at}: {e}"), delivered_up_to: at }
        };
        if let Err(e) = reader.skip_to(resume) {
            return fail(e, resume);
        }
        let batch_size = cfg.config.source.batch_size;
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(batch_size);
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let (mut lines, mut rejected) = (0u64, 0u64);
        let mut datum = Vec::with_capacity(1024);
        let mut id_buf = [0u8; 32];
        let replace = cfg.config.source.invalid_utf8 == InvalidUtf8::Replace;
        loop {
            let line = match reader.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => {
                    let at = reader.offset();
                    self.flush(&mut batch, &mut pool, &mut dead, &id.fingerprint, at, false);
                    return fail(e, at);
                }
            };
            lines += 1;
            match line {
                Line::TooLong { offset, len, prefix } => {
                    rejected += 1;
                    let msg = format!("line of {len} bytes exceeds max_line_bytes = {} (first {} bytes kept)", parser.max_line_bytes(), prefix.len());
                    self.reject(&mut dead, offset, "too_long", &msg, prefix);
                }
                Line::Ok { offset, bytes } => {
                    let origin = LineOrigin { source_host: host, source_file: &source_file, file_fingerprint: &id.fingerprint, byte_offset: offset };
                    let replaced;
                    let text: &[u8] = if replace && std::str::from_utf8(bytes).is_err() {
                        replaced = String::from_utf8_lossy(bytes).into_owned();
                        replaced.as_bytes()
                    } else {
                        bytes
                    };
                    match parser.parse_event(text, &origin) {
                        Ok(event) => {
                            datum.clear();
                            event.encode_datum(&mut datum);
                            id_buf.copy_from_slice(event.event_id.as_bytes());
                            let ts = event.event_time_ms.to_string();
                            let headers = [
                                ("timestamp", ts.as_str()),
                                ("host", host),
                                ("event_id", std::str::from_utf8(&id_buf).unwrap_or_default()),
                                ("category", event.category.as_ref()),
                            ];
                            let mut encoded = pool.pop().unwrap_or_default();
                            encoded.clear();
                            clickstream_avro_ipc::flume::encode_event(&headers, &datum, &mut encoded);
                            batch.push(encoded);
                        }
                        Err(rej) => {
                            rejected += 1;
                            self.reject(&mut dead, offset, rej.reason.as_str(), &rej.message, bytes);
                        }
                    }
                }
            }
            if batch.len() >= batch_size {
                if !self.flush(&mut batch, &mut pool, &mut dead, &id.fingerprint, reader.offset(), false) {
                    return Outcome::Interrupted;
                }
                if self.stopping() {
                    return Outcome::Interrupted;
                }
            }
        }
        let end = reader.offset();
        // Drain and verify: the bytes read must be the bytes fingerprinted.
        drop(reader);
        let verdict = self.verify(file, id);
        let complete = verdict.is_none();
        if !self.flush(&mut batch, &mut pool, &mut dead, &id.fingerprint, end, complete) {
            return Outcome::Interrupted;
        }
        self.metrics.bytes_read.inc_by(id.size.saturating_sub(resume));
        match verdict {
            None => Outcome::Complete { lines, rejected },
            Some((reason, detail)) => Outcome::Quarantine { reason, detail, delivered_up_to: end },
        }
    }

    /// Re-reads the file's metadata and content hash after reading it.
    fn verify(&self, file: &ReadyFile, id: &FileId) -> Option<(Reason, String)> {
        let meta = match std::fs::metadata(&file.path) {
            Ok(m) => m,
            // Renamed or deleted while read: what was read is what was fingerprinted
            // (the open descriptor kept the content), so delivery is complete.
            Err(_) => return None,
        };
        if meta.len() < id.size {
            return Some((Reason::Truncated, format!("size went from {} to {} bytes while reading", id.size, meta.len())));
        }
        if meta.len() != id.size || meta.modified().ok() != Some(id.mtime) {
            return Some((Reason::Modified, format!("size {} -> {} bytes or modification time changed while reading", id.size, meta.len())));
        }
        let mut raw = match File::open(&file.path) {
            Ok(f) => HashingReader { inner: f, hasher: Hasher::default(), bytes: 0 },
            Err(_) => return None,
        };
        if raw.drain().is_ok() && raw.hasher.finish() != id.fingerprint {
            return Some((Reason::Modified, "content changed while reading (fingerprint differs)".into()));
        }
        None
    }

    fn reject(&self, dead: &mut DeadLetters, offset: u64, reason: &str, message: &str, line: &[u8]) {
        self.metrics.lines_rejected.get_or_create(&label("reason", reason)).inc();
        if let Err(e) = dead.write(offset, reason, message, line) {
            // Never drop silently: without a dead-letter file the line is only in the log.
            error!(file = %dead.path().display(), offset, reason, error = %e, line = %String::from_utf8_lossy(line), "cannot write dead-letter file; rejected line logged here instead");
        }
    }

    /// Puts the batch with the position; `false` if shutdown interrupted the wait.
    fn flush(&self, batch: &mut Vec<Vec<u8>>, pool: &mut Vec<Vec<u8>>, dead: &mut DeadLetters, fp: &str, offset: u64, complete: bool) -> bool {
        if let Err(e) = dead.sync() {
            error!(file = %dead.path().display(), error = %e, "cannot sync dead-letter file");
        }
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let ok = self.put_blocking(&refs, Some(FilePosition { offset, complete }.to_position(fp)));
        if ok {
            self.metrics.lines_accepted.inc_by(batch.len() as u64);
            pool.append(batch);
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

    fn complete(&mut self, file: &ReadyFile, id: &FileId, lines: u64, rejected: u64) {
        let s = &self.cfg.config.source;
        let result = match s.completion {
            Completion::Rename => {
                let mut target = file.path.clone().into_os_string();
                target.push(&s.completed_suffix);
                std::fs::rename(&file.path, unused_name(PathBuf::from(target)))
            }
            Completion::Delete => std::fs::remove_file(&file.path),
            Completion::Move => {
                let dir = s.done_dir.as_deref().expect("validated: done_dir set for move");
                std::fs::create_dir_all(dir)
                    .and_then(|_| std::fs::rename(&file.path, unused_name(dir.join(file.path.file_name().unwrap_or_default()))))
            }
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                warn!(file = %file.path.display(), "file vanished before completion (renamed or deleted while read); its lines were delivered")
            }
            Err(e) => error!(file = %file.path.display(), error = %e, "cannot complete file; it will be recognised as delivered if seen again"),
        }
        if let Err(e) = self.done.record(&id.fingerprint, &file.path, lines, rejected) {
            error!(ledger = %self.done.path().display(), error = %e, "cannot record completed file");
        }
        self.put_blocking(&[], Some(FilePosition::forget(&id.fingerprint)));
        self.metrics.files_completed.inc();
        info!(file = %file.path.display(), lines, rejected, "file completed");
    }

    fn quarantine(&mut self, file: &ReadyFile, reason: Reason, detail: &str, fp: Option<&str>, delivered_up_to: u64) {
        self.metrics.files_quarantined.get_or_create(&label("reason", reason.as_str())).inc();
        match quarantine(&self.cfg.quarantine_dir, &file.path, reason, detail, fp, delivered_up_to) {
            Ok(to) => warn!(file = %file.path.display(), quarantined_as = %to.display(), reason = reason.as_str(), detail, delivered_up_to, "file quarantined"),
            Err(e) => error!(file = %file.path.display(), reason = reason.as_str(), error = %e, "cannot quarantine file"),
        }
        if let Some(fp) = fp {
            self.put_blocking(&[], Some(FilePosition::forget(fp)));
        }
    }
}

#[cfg(test)]
mod binary_tests {
    use super::not_text_share;

    #[test]
    fn a_log_with_a_few_corrupt_lines_is_text_and_a_dump_is_not() {
        let mut log = b"1.2.3.4 - - [20/Nov/2026:01:00:07 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\n".repeat(300);
        log.extend_from_slice(b"\x00\x01\xff\xfe binary noise \x00\x00\n");
        assert!(not_text_share(&log) < super::BINARY_SHARE);
        let mut dump = vec![0u8; 4096];
        dump[100] = 7;
        assert!(not_text_share(&dump) > super::BINARY_SHARE);
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert!(not_text_share(&noise) > super::BINARY_SHARE, "{}", not_text_share(&noise));
    }
}
