//! [`HdfsSink`]: batches of `ClickEvent` datums into open container files, one per
//! directory, hsync'ed before the batch is acknowledged.
//!
//! Per batch: every event's routing fields (event time and host,
//! [`RoutingFields`]) are read — the agent's source already checked the
//! whole datum — and events are grouped by directory; each group becomes one
//! block (several for a big group) appended to that directory's open file
//! (opened on demand, header first); then every file touched is synced.
//! Only then is the batch acknowledged.
//!
//! The sync runs in a task of its own, which holds the files' writers
//! (behind a lock) until it is done, and the batch's acknowledgement waits
//! for that task. Meanwhile the driver hands over the next batch
//! ([`MAX_BATCHES_IN_FLIGHT`]): it is grouped and compressed while the disk
//! syncs, and appended once the lock is free. An append therefore never
//! overtakes the sync of the batch before it, and acknowledgements still
//! come in order.
//!
//! On any storage failure (or a call that outlives `call_timeout`) the file
//! concerned is abandoned, never appended to again, and queued for
//! [`recovery`]; the batch fails as retryable. A failed sync marks its file
//! (see [`Writer::suspect`]); the next batch or housekeeping that takes the
//! lock sees the mark and abandons the file. Its retry
//! goes to a new file, so events of a failed batch may end up twice in the
//! master copy (the batch job drops duplicates by id), but a file never holds
//! a torn block in front of acknowledged ones.
//!
//! Housekeeping ([`BatchSink::tick`], about once a second): roll files by
//! idle time and age, retry pending finalisations. Files also roll by size
//! right after a write, and the least recently written one is closed when
//! more than `max_open_files` are open. Closing is `close` (HDFS: complete
//! the last block, about 0.5 s on a small cluster) then rename `.avro.tmp`
//! -> `.avro`. It runs in a background task, since the file's data is
//! durable already: batches do not wait for it, a failure does not fail a
//! batch but queues the file for recovery, and shutdown waits for all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clickstream_contract::schema::CLICK_EVENT_SCHEMA_JSON;
use clickstream_contract::RoutingFields;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::config::{Codec, HdfsSinkSettings};
use super::recovery::{self, timed, Finalized};
use super::stats::HdfsSinkStats;
use crate::sinks::{BatchSink, Failure, SinkError, StartError};
use clickstream_master_copy::container::{write_header, BlockEncoder};
use clickstream_master_copy::layout::PathTemplate;
use clickstream_master_copy::names;
use clickstream_master_copy::storage::{AnyStorage, ErrorKind, Storage, StorageError, StorageWriter};

/// How long startup recovery waits for HDFS to close one leftover file.
const STARTUP_LEASE_WAIT: Duration = Duration::from_secs(60);
/// How long shutdown waits for the files it gave up on.
const SHUTDOWN_LEASE_WAIT: Duration = Duration::from_secs(10);
/// First pause before retrying a pending finalisation; doubles up to the max.
const PENDING_RETRY_MIN: Duration = Duration::from_secs(1);
const PENDING_RETRY_MAX: Duration = Duration::from_secs(60);

/// How many batches may be in flight: one being synced, the next one
/// compressed and appended behind it.
pub const MAX_BATCHES_IN_FLIGHT: usize = 2;

/// The writer of an open file, shared by the sink (appends) and the task
/// syncing the batch before (see the module docs): the lock orders them.
struct Writer<W> {
    inner: W,
    /// An append or sync started and did not succeed (it failed, timed out,
    /// or its future was dropped): the file may end in a torn block or in
    /// bytes never made durable, so it must not be appended to again.
    suspect: bool,
}

/// A file's writer, locked by whoever appends to it, syncs it or closes it.
type SharedWriter<W> = Arc<tokio::sync::Mutex<Writer<W>>>;

/// A locked writer, handed from the batch's appends to its sync task.
type LockedWriter<W> = tokio::sync::OwnedMutexGuard<Writer<W>>;

/// What failed in the HDFS sink; every failure is retryable.
#[derive(Debug, thiserror::Error)]
pub enum HdfsFailure {
    /// A storage call failed or did not answer in time (its message names
    /// the operation and the path).
    #[error("HDFS sink: {cause}")]
    Storage {
        /// The failed call.
        cause: StorageError,
    },
    /// Every candidate name for a new file in `dir` was taken.
    #[error("HDFS sink: no free file name in {dir} after {tries} tries")]
    NoFreeName {
        /// The partition directory.
        dir: String,
        /// How many names were tried.
        tries: u32,
    },
    /// A background task of the sink panicked or was cancelled.
    #[error("HDFS sink: {task} failed: {cause}")]
    Task {
        /// Which task.
        task: HdfsTask,
        /// What tokio said.
        cause: tokio::task::JoinError,
    },
    /// Shutdown could not finalise every file; the next start recovers them.
    #[error("HDFS sink: {} file(s) left in use (_*.avro.tmp, recovered at the next start): {}", files.len(), files.join(", "))]
    LeftInUse {
        /// The files, as URLs.
        files: Vec<String>,
    },
}

/// A background task of the HDFS sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdfsTask {
    /// The task that syncs a batch's files and acknowledges it.
    BatchSync,
    /// The sync of one file of a batch.
    FileSync,
    /// The compression of a block.
    Compress,
}

impl std::fmt::Display for HdfsTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HdfsTask::BatchSync => "the sync task",
            HdfsTask::FileSync => "a sync task",
            HdfsTask::Compress => "compressing a block",
        })
    }
}

impl From<HdfsFailure> for SinkError {
    /// Retryable: nothing the HDFS sink meets makes a batch unwritable.
    fn from(f: HdfsFailure) -> SinkError {
        SinkError::Retryable(Failure::Hdfs(f))
    }
}

/// Resolves when the batch's sync task has synced every file it touched.
pub struct HdfsAck(tokio::task::JoinHandle<Result<(), SinkError>>);

impl std::future::Future for HdfsAck {
    type Output = Result<(), SinkError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| joined.unwrap_or_else(|cause| Err(HdfsFailure::Task { task: HdfsTask::BatchSync, cause }.into())))
    }
}

/// A file being written.
struct OpenFile<W> {
    writer: SharedWriter<W>,
    tmp: String,
    sync_marker: [u8; 16],
    /// Bytes appended so far (header included).
    len: u64,
    blocks: u64,
    events: u64,
    opened: Instant,
    last_write: Instant,
}

/// A `.tmp` file to finalise.
struct Pending {
    tmp: String,
    /// Closed cleanly; only the rename is missing (no scan needed).
    closed: bool,
    next_try: Instant,
    backoff: Duration,
}

/// What startup recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Leftover `.tmp` files of this prefix found.
    pub found: usize,
    /// Of those, finalised into `.avro` files.
    pub kept: usize,
    /// Records in the kept files.
    pub records: u64,
    /// Still pending (lease recovery slow, or an error): retried by `tick`.
    pub pending: usize,
}

/// One directory's share of a batch (so one file's: the batch's appends
/// to a file are one, as is its lock).
struct Group<'a> {
    dir: String,
    first_ms: i64,
    records: Vec<&'a [u8]>,
}

/// Writes the master copy; see the module docs.
pub struct HdfsSink<S: Storage = AnyStorage> {
    storage: Arc<S>,
    template: PathTemplate,
    prefix: String,
    roll_size: u64,
    roll_interval: Option<Duration>,
    roll_idle: Option<Duration>,
    max_open_files: usize,
    call_timeout: Duration,
    /// Idle block encoders, one per block compressed at once (they keep
    /// their buffers and deflate tables). Those of a cancelled batch are
    /// lost and made again.
    encoders: Vec<BlockEncoder>,
    /// Most blocks of one group compressed at once: the cores.
    parallelism: usize,
    codec: Codec,
    deflate_level: u8,
    /// Open files by directory.
    open: HashMap<String, OpenFile<S::Writer>>,
    pending: Vec<Pending>,
    /// Startup recovery done (it must finish before the first write).
    recovered: bool,
    /// Next file sequence number.
    seq: u64,
    stats: HdfsSinkStats,
    /// Files being closed in the background, and their paths by task.
    closing: JoinSet<Closed>,
    closing_paths: HashMap<tokio::task::Id, String>,
}

/// How a background close ended.
struct Closed {
    tmp: String,
    final_path: String,
    events: u64,
    blocks: u64,
    len: u64,
    reason: &'static str,
    /// `Err((closed, e))`: `closed` tells a failed rename from a failed close.
    outcome: Result<(), (bool, StorageError)>,
}

impl HdfsSink<AnyStorage> {
    /// Builds the sink for `settings` (file prefix
    /// [`HdfsSinkSettings::file_prefix`]) and runs crash recovery.
    ///
    /// Fails only if the storage client cannot be made: if the file system
    /// cannot be reached, recovery is retried before the first batch (which
    /// fails as retryable until it succeeds), so the agent can start and keep
    /// serving its other sinks while HDFS is down.
    pub async fn new(settings: &HdfsSinkSettings, stats: impl Into<HdfsSinkStats>) -> Result<Self, StartError> {
        let mut sink = HdfsSink::open(settings, stats)?;
        if let Err(e) = sink.recover().await {
            warn!(url = %settings.url(), error = %e, "HDFS sink: crash recovery could not run yet; it will be retried before the first batch");
        }
        Ok(sink)
    }

    /// Builds the sink for `settings` without touching the file system: an
    /// error is one of the storage client's settings. Crash recovery runs in
    /// [`BatchSink::start`] (or before the first batch).
    pub fn open(settings: &HdfsSinkSettings, stats: impl Into<HdfsSinkStats>) -> Result<Self, StartError> {
        let (storage, base) = settings.open_storage()?;
        Ok(HdfsSink::with_storage(storage, &base, settings, stats.into()))
    }
}

impl<S: Storage> HdfsSink<S> {
    /// Builds the sink over any [`Storage`] (tests inject faults this way),
    /// with the path template below `base`. Does not touch the storage:
    /// call [`HdfsSink::recover`], or let the first batch do it. Cannot
    /// fail: `settings` were checked when they were made.
    pub fn with_storage(storage: S, base: &str, settings: &HdfsSinkSettings, stats: HdfsSinkStats) -> Self {
        let config = settings.table();
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        HdfsSink {
            storage: Arc::new(storage),
            template: settings.template().clone().under(base),
            prefix: settings.file_prefix().to_string(),
            roll_size: config.roll_size,
            roll_interval: nonzero(config.roll_interval),
            roll_idle: nonzero(config.roll_idle),
            max_open_files: config.max_open_files.max(1),
            call_timeout: config.call_timeout,
            encoders: vec![BlockEncoder::new(config.codec, config.deflate_level)],
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()).min(8),
            codec: config.codec,
            deflate_level: config.deflate_level,
            open: HashMap::new(),
            pending: Vec::new(),
            recovered: false,
            seq: 0,
            stats,
            closing: JoinSet::new(),
            closing_paths: HashMap::new(),
        }
    }

    /// The metrics.
    pub fn stats(&self) -> &HdfsSinkStats {
        &self.stats
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The file name prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Paths of the files open for writing.
    pub fn open_files(&self) -> Vec<String> {
        let mut v: Vec<String> = self.open.values().map(|f| f.tmp.clone()).collect();
        v.sort();
        v
    }

    /// Paths of the `.tmp` files waiting to be finalised.
    pub fn pending_files(&self) -> Vec<String> {
        self.pending.iter().map(|p| p.tmp.clone()).collect()
    }

    /// Crash recovery: finds this prefix's leftover `.avro.tmp` files below
    /// the template's fixed root and finalises each (lease recovery, keep the
    /// complete blocks; see [`recovery`]). Fails only if the
    /// directory cannot be listed; files that cannot be finalised yet are
    /// retried by [`BatchSink::tick`]. Runs once; later calls return at once.
    pub async fn recover(&mut self) -> Result<RecoveryReport, SinkError> {
        if self.recovered {
            return Ok(RecoveryReport::default());
        }
        let root = self.template.fixed_root();
        let files = timed(self.call_timeout, "list", &root, self.storage.list_files(&root)).await.map_err(|e| self.fail(e))?;
        let mut report = RecoveryReport::default();
        let mut leftovers = Vec::new();
        for f in files {
            let name = names::base_name(&f.path);
            if names::is_salvage_of(&self.prefix, name) {
                // A copy interrupted by a crash; its .tmp is still there and
                // will be copied again.
                timed(self.call_timeout, "delete", &f.path, self.storage.delete(&f.path)).await.map_err(|e| self.fail(e))?;
            } else if names::is_tmp_of(&self.prefix, name) {
                leftovers.push(f.path);
            }
        }
        report.found = leftovers.len();
        if !leftovers.is_empty() {
            info!(files = leftovers.len(), root = %self.storage.url_of(&root), prefix = %self.prefix, "HDFS sink: recovering leftover .tmp files of this prefix");
        }
        // Start lease recovery of every file first: the NameNode recovers
        // them in parallel, then each is finalised in turn.
        for tmp in &leftovers {
            if let Err(e) = timed(self.call_timeout, "recover lease", tmp, self.storage.recover_lease(tmp)).await {
                debug!(file = %self.storage.url_of(tmp), error = %e, "HDFS sink: starting lease recovery failed");
            }
        }
        for tmp in leftovers {
            match recovery::finalize(&*self.storage, &tmp, self.call_timeout, STARTUP_LEASE_WAIT).await {
                Ok(outcome) => {
                    recovery::log_outcome(&self.storage.url_of(&tmp), &outcome, "left over by a previous run");
                    match outcome {
                        Finalized::LeaseNotRecovered => self.queue(tmp, false),
                        outcome => {
                            if let Finalized::Kept { records, .. } = outcome {
                                report.kept += 1;
                                report.records += records;
                            }
                            self.count_recovered(&outcome);
                        }
                    }
                }
                Err(e) => {
                    warn!(file = %self.storage.url_of(&tmp), error = %e, "HDFS sink: could not recover a leftover file yet; will retry");
                    self.stats.write_errors.inc();
                    self.queue(tmp, false);
                }
            }
        }
        report.pending = self.pending.len();
        self.recovered = true;
        Ok(report)
    }

    fn count_recovered(&self, outcome: &Finalized) {
        if let Finalized::Kept { records, .. } = outcome {
            self.stats.files_recovered.inc();
            self.stats.events_recovered.inc_by(*records);
        }
    }

    fn fail(&self, e: StorageError) -> SinkError {
        storage_failure(&self.stats, e)
    }

    /// An idle block encoder, or a new one if every encoder is busy.
    fn take_encoder(&mut self) -> BlockEncoder {
        self.encoders.pop().unwrap_or_else(|| BlockEncoder::new(self.codec, self.deflate_level))
    }

    fn queue(&mut self, tmp: String, closed: bool) {
        if self.pending.iter().any(|p| p.tmp == tmp) {
            return;
        }
        self.pending.push(Pending { tmp, closed, next_try: Instant::now(), backoff: PENDING_RETRY_MIN });
        self.stats.files_pending.set(self.pending.len() as i64);
    }

    /// Retries pending finalisations that are due (`force`: all, waiting up
    /// to `lease_wait` for lease recovery). Errors are logged, not returned:
    /// the data in these files is durable already. `self.pending` changes
    /// only after each step, so a cancelled call loses no entry (and every
    /// step is safe to repeat).
    async fn settle_pending(&mut self, force: bool, lease_wait: Duration) {
        if self.pending.is_empty() {
            return;
        }
        let now = Instant::now();
        let due: Vec<(String, bool)> = self.pending.iter().filter(|p| force || p.next_try <= now).map(|p| (p.tmp.clone(), p.closed)).collect();
        for (tmp, closed) in due {
            let result = if closed {
                let final_path = names::final_of(&tmp);
                match timed(self.call_timeout, "rename", &tmp, self.storage.rename(&tmp, &final_path)).await {
                    Ok(()) => Ok(None),
                    // Not there any more, or the target exists: let the full
                    // procedure sort it out.
                    Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::AlreadyExists) => {
                        recovery::finalize(&*self.storage, &tmp, self.call_timeout, lease_wait).await.map(Some)
                    }
                    Err(e) => Err(e),
                }
            } else {
                recovery::finalize(&*self.storage, &tmp, self.call_timeout, lease_wait).await.map(Some)
            };
            let url = self.storage.url_of(&tmp);
            match result {
                Ok(Some(Finalized::LeaseNotRecovered)) => {
                    if let Some(p) = self.pending.iter_mut().find(|p| p.tmp == tmp) {
                        p.next_try = Instant::now() + LEASE_RECHECK;
                    }
                    continue;
                }
                Ok(None) => {
                    self.stats.files_rolled.inc();
                    info!(file = %names::final_of(&url), "HDFS sink: closed file renamed (after a retry)");
                }
                Ok(Some(outcome)) => {
                    recovery::log_outcome(&url, &outcome, "abandoned after a write error");
                    self.count_recovered(&outcome);
                }
                Err(e) => {
                    self.stats.write_errors.inc();
                    if let Some(p) = self.pending.iter_mut().find(|p| p.tmp == tmp) {
                        warn!(file = %url, error = %e, retry_in = ?p.backoff, "HDFS sink: could not finalise a file yet");
                        p.next_try = Instant::now() + p.backoff;
                        p.backoff = (p.backoff * 2).min(PENDING_RETRY_MAX);
                    }
                    continue;
                }
            }
            self.pending.retain(|p| p.tmp != tmp);
            self.stats.files_pending.set(self.pending.len() as i64);
        }
    }

    /// Abandons files whose last append or sync failed or never finished
    /// (see [`Writer::suspect`]). A file whose sync is still running is
    /// left alone here; whoever locks it next looks again.
    fn abandon_suspect(&mut self) {
        let suspect: Vec<String> = self.open.iter().filter(|(_, f)| f.writer.try_lock().is_ok_and(|w| w.suspect)).map(|(d, _)| d.clone()).collect();
        for dir in suspect {
            self.abandon(&dir);
        }
    }

    /// Gives up on the file of `dir`: never written again, finalised by recovery.
    fn abandon(&mut self, dir: &str) {
        if let Some(f) = self.open.remove(dir) {
            warn!(file = %self.storage.url_of(&f.tmp), events = f.events, "HDFS sink: abandoning the file after an error; it will be recovered up to its last complete block");
            self.stats.files_open.set(self.open.len() as i64);
            // Dropping the writer releases it without completing the file.
            // (Nothing else holds it: the sink abandons only files it could
            // lock or whose lock it holds no more.)
            drop(f.writer);
            self.queue(f.tmp, false);
        }
    }

    /// Starts closing the files of `dirs` in the background: `close` (on
    /// HDFS about 0.5 s, mostly waiting for the DataNode to report the last
    /// block to the NameNode) then the rename to `.avro`. Batches do not
    /// wait for this; outcomes are collected by [`Self::reap_closed`] and
    /// failures queued for recovery. The close waits for the lock, so for
    /// the sync of the last batch written; a file whose sync failed is not
    /// closed but recovered.
    fn start_close(&mut self, dirs: Vec<(String, &'static str)>) {
        for (dir, reason) in dirs {
            let Some(f) = self.open.remove(&dir) else { continue };
            let storage = Arc::clone(&self.storage);
            let limit = self.call_timeout;
            let tmp = f.tmp.clone();
            let handle = self.closing.spawn(async move {
                let final_path = names::final_of(&f.tmp);
                let mut w = Arc::clone(&f.writer).lock_owned().await;
                let closed = if w.suspect {
                    Err(StorageError::new(ErrorKind::Other, "close", &f.tmp, "an earlier write or sync of this file failed"))
                } else {
                    timed(limit, "close", &f.tmp, w.inner.close()).await
                };
                drop(w);
                let outcome = match closed {
                    Err(e) => Err((false, e)),
                    Ok(()) => timed(limit, "rename", &f.tmp, storage.rename(&f.tmp, &final_path)).await.map_err(|e| (true, e)),
                };
                Closed { tmp: f.tmp, final_path, events: f.events, blocks: f.blocks, len: f.len, reason, outcome }
            });
            self.closing_paths.insert(handle.id(), tmp);
        }
        self.stats.files_open.set(self.open.len() as i64);
    }

    /// Collects the background closes that finished.
    fn reap_closed(&mut self) {
        while let Some(joined) = self.closing.try_join_next_with_id() {
            self.on_closed(joined);
        }
    }

    /// Waits for every background close to finish (shutdown, tests).
    pub async fn wait_for_closes(&mut self) {
        while let Some(joined) = self.closing.join_next_with_id().await {
            self.on_closed(joined);
        }
    }

    fn on_closed(&mut self, joined: Result<(tokio::task::Id, Closed), tokio::task::JoinError>) {
        let c = match joined {
            Ok((id, c)) => {
                self.closing_paths.remove(&id);
                c
            }
            Err(e) => {
                // The task panicked or was aborted: recover its file.
                self.stats.write_errors.inc();
                if let Some(tmp) = self.closing_paths.remove(&e.id()) {
                    warn!(file = %self.storage.url_of(&tmp), error = %e, "HDFS sink: closing a file failed; it will be recovered");
                    self.queue(tmp, false);
                }
                return;
            }
        };
        match c.outcome {
            Ok(()) => {
                self.stats.files_rolled.inc();
                info!(file = %self.storage.url_of(&c.final_path), reason = c.reason, events = c.events, blocks = c.blocks, bytes = c.len, "HDFS sink: file rolled");
            }
            Err((closed, e)) => {
                self.stats.write_errors.inc();
                let what = if closed { "rename after close failed; will retry" } else { "close failed; the file will be recovered" };
                warn!(file = %self.storage.url_of(&c.tmp), error = %e, "HDFS sink: {what}");
                self.queue(c.tmp, closed);
            }
        }
    }

    /// Opens a new file in `dir` named after `first_ms`.
    async fn open_file(&mut self, dir: &str, first_ms: i64) -> Result<(), SinkError> {
        const TRIES: u32 = 1000;
        for _ in 0..TRIES {
            let stem = names::stem(dir, &self.prefix, first_ms, self.seq);
            self.seq += 1;
            let tmp = names::in_use_of(&stem);
            let final_path = format!("{stem}{}", names::FINAL_SUFFIX);
            // A restart that replays the same events must not reuse a name.
            if timed(self.call_timeout, "stat", &final_path, self.storage.exists(&final_path)).await.map_err(|e| self.fail(e))? {
                continue;
            }
            match timed(self.call_timeout, "create", &tmp, self.storage.create(&tmp)).await {
                Ok(writer) => {
                    debug!(file = %self.storage.url_of(&tmp), "HDFS sink: file opened");
                    let now = Instant::now();
                    self.open.insert(
                        dir.to_string(),
                        OpenFile {
                            writer: Arc::new(tokio::sync::Mutex::new(Writer { inner: writer, suspect: false })),
                            tmp,
                            sync_marker: rand::random(),
                            len: 0,
                            blocks: 0,
                            events: 0,
                            opened: now,
                            last_write: now,
                        },
                    );
                    self.stats.files_open.set(self.open.len() as i64);
                    return Ok(());
                }
                Err(e) if e.kind == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(self.fail(e)),
            }
        }
        Err(HdfsFailure::NoFreeName { dir: dir.to_string(), tries: TRIES }.into())
    }

    /// The blocks of every group of a batch, each without its sync marker.
    ///
    /// Every big group is cut into up to one block per core, and all those
    /// blocks, of every group, are compressed at once on tokio's blocking
    /// pool: compression is most of the sink's CPU, and one block at a time
    /// would leave the sink on one core while the other idles (a batch
    /// replaying old logs spans several hours, so several groups). Blocks
    /// stay at least [`PARALLEL_BLOCK_BYTES`], so cutting costs deflate
    /// (32 KiB window) next to nothing in ratio. Small groups are encoded in
    /// line meanwhile.
    async fn encode_groups(&mut self, groups: &[Group<'_>]) -> Result<Vec<Vec<Vec<u8>>>, SinkError> {
        enum Block {
            Done(Vec<u8>),
            Compressing(tokio::task::JoinHandle<(BlockEncoder, Vec<u8>)>),
        }
        let mut planned: Vec<Vec<Block>> = Vec::with_capacity(groups.len());
        for g in groups {
            let total: usize = g.records.iter().map(|r| r.len()).sum();
            let mut blocks = Vec::new();
            if self.codec == Codec::Null || total < OFFLOAD_BYTES {
                let mut enc = self.take_encoder();
                let mut block = Vec::new();
                enc.encode(&g.records, &mut block);
                self.encoders.push(enc);
                blocks.push(Block::Done(block));
            } else {
                let pieces = (total / PARALLEL_BLOCK_BYTES).clamp(1, self.parallelism);
                for chunk in g.records.chunks(g.records.len().div_ceil(pieces)) {
                    let mut enc = self.take_encoder();
                    enc.stage(chunk);
                    blocks.push(Block::Compressing(tokio::task::spawn_blocking(move || {
                        let mut block = Vec::new();
                        enc.finish(&mut block);
                        (enc, block)
                    })));
                }
            }
            planned.push(blocks);
        }
        let mut encoded = Vec::with_capacity(planned.len());
        for blocks in planned {
            let mut done = Vec::with_capacity(blocks.len());
            for block in blocks {
                done.push(match block {
                    Block::Done(b) => b,
                    Block::Compressing(job) => {
                        let (enc, b) = job.await.map_err(|cause| HdfsFailure::Task { task: HdfsTask::Compress, cause })?;
                        self.encoders.push(enc);
                        b
                    }
                });
            }
            encoded.push(done);
        }
        Ok(encoded)
    }

    /// Appends one group's `blocks` to its directory's file (opening or
    /// rolling it first as needed) and returns that file's writer, still
    /// locked, for the batch's sync.
    async fn append_group(&mut self, g: &Group<'_>, blocks: Vec<Vec<u8>>) -> Result<(String, LockedWriter<S::Writer>), SinkError> {
        if let (Some(f), Some(limit)) = (self.open.get(&g.dir), self.roll_interval) {
            if f.opened.elapsed() >= limit {
                self.start_close(vec![(g.dir.clone(), "interval")]);
            }
        }
        let blocks_len: u64 = blocks.iter().map(|b| (b.len() + SYNC_LEN) as u64).sum();
        if let Some(f) = self.open.get(&g.dir) {
            if f.blocks > 0 && f.len + blocks_len > self.roll_size {
                self.start_close(vec![(g.dir.clone(), "size")]);
            }
        }
        let mut w = self.lock_usable(&g.dir, g.first_ms).await?;
        let f = self.open.get_mut(&g.dir).expect("locked above");
        let mut data = Vec::with_capacity(blocks_len as usize + if f.len == 0 { 4096 } else { 0 });
        if f.len == 0 {
            write_header(&mut data, CLICK_EVENT_SCHEMA_JSON, self.codec, &f.sync_marker);
        }
        for block in &blocks {
            data.extend_from_slice(block);
            data.extend_from_slice(&f.sync_marker);
        }
        let n = data.len() as u64;
        w.suspect = true;
        match timed(self.call_timeout, "write", &f.tmp, w.inner.append(Bytes::from(data))).await {
            Ok(()) => {
                w.suspect = false;
                f.len += n;
                f.blocks += blocks.len() as u64;
                f.events += g.records.len() as u64;
                f.last_write = Instant::now();
                self.stats.bytes_written.inc_by(n);
                self.stats.blocks_written.inc_by(blocks.len() as u64);
                Ok((f.tmp.clone(), w))
            }
            Err(e) => {
                drop(w);
                let err = self.fail(e);
                self.abandon(&g.dir);
                Err(err)
            }
        }
    }

    /// The writer of `dir`'s open file (opened if there is none), locked, so
    /// once the sync of the batch before is done. If that sync (or an
    /// earlier append) failed, the file is abandoned and a new one opened.
    async fn lock_usable(&mut self, dir: &str, first_ms: i64) -> Result<LockedWriter<S::Writer>, SinkError> {
        loop {
            if !self.open.contains_key(dir) {
                self.open_file(dir, first_ms).await?;
            }
            let shared = Arc::clone(&self.open[dir].writer);
            let w = shared.lock_owned().await;
            if !w.suspect {
                return Ok(w);
            }
            drop(w);
            self.abandon(dir);
        }
    }

    /// Syncs the files a batch appended to, each in a task of its own that
    /// holds the file's writer until its sync is done (see the module docs),
    /// all at once; the returned acknowledgement resolves when every one is
    /// done. A failed sync leaves its file marked suspect, to be abandoned
    /// by the next one to lock it.
    fn spawn_sync(&self, locked: Vec<(String, LockedWriter<S::Writer>)>, events: u64) -> HdfsAck {
        let mut syncs = JoinSet::new();
        for (tmp, mut w) in locked {
            let (stats, limit) = (self.stats.clone(), self.call_timeout);
            syncs.spawn(async move {
                let started = std::time::Instant::now();
                w.suspect = true;
                timed(limit, "sync", &tmp, w.inner.sync()).await.map_err(|e| storage_failure(&stats, e))?;
                w.suspect = false;
                stats.sync_seconds.inc_by(started.elapsed().as_secs_f64());
                Ok(())
            });
        }
        let stats = self.stats.clone();
        HdfsAck(tokio::spawn(async move {
            // Every sync runs to its end, so each failed file is marked before the batch fails.
            let mut result = Ok(());
            while let Some(joined) = syncs.join_next().await {
                let synced = joined.unwrap_or_else(|cause| Err(HdfsFailure::Task { task: HdfsTask::FileSync, cause }.into()));
                result = result.and(synced);
            }
            if result.is_ok() {
                stats.events_written.inc_by(events);
            }
            result
        }))
    }

    /// Groups a batch by directory, skipping (and counting) records that are
    /// not a ClickEvent datum. Only the routing fields are read: the source
    /// checked every event in full.
    fn group<'a, E: AsRef<[u8]>>(&self, events: &'a [E]) -> Vec<Group<'a>> {
        let mut groups: Vec<Group<'a>> = Vec::new();
        // (hour, host) -> group: rendering the directory once per hour and
        // host seen, not per event. Several hours may share a directory
        // (a template without %H), and so a group.
        let mut routes: Vec<(i64, &'a str, usize)> = Vec::new();
        let uses_host = self.template.uses_host();
        for (i, datum) in events.iter().enumerate() {
            let body = datum.as_ref();
            let click = match RoutingFields::decode(body) {
                Ok(x) => x,
                Err(why) => {
                    self.stats.events_rejected.inc();
                    warn!(index = i, error = %why, "HDFS sink: event skipped: not a ClickEvent datum");
                    continue;
                }
            };
            let hour = PathTemplate::hour_of(click.event_time_ms);
            let host: &'a str = if uses_host { click.source_host } else { "" };
            let index = match routes.iter().rev().find(|(h, o, _)| *h == hour && *o == host) {
                Some(&(_, _, index)) => index,
                None => {
                    let mut dir = String::new();
                    self.template.render(click.event_time_ms, host, &mut dir);
                    let index = groups.iter().position(|g| g.dir == dir).unwrap_or_else(|| {
                        groups.push(Group { dir, first_ms: click.event_time_ms, records: Vec::new() });
                        groups.len() - 1
                    });
                    routes.push((hour, host, index));
                    index
                }
            };
            groups[index].records.push(body);
        }
        groups
    }

    /// Appends a batch and starts its sync; see the module docs.
    async fn write<E: AsRef<[u8]>>(&mut self, events: &[E]) -> Result<HdfsAck, SinkError> {
        self.abandon_suspect();
        if !self.recovered {
            self.recover().await?;
        }
        self.reap_closed();
        self.settle_pending(false, Duration::ZERO).await;
        let groups = self.group(events);
        let blocks = self.encode_groups(&groups).await?;
        let mut locked = Vec::with_capacity(groups.len());
        for (g, blocks) in groups.iter().zip(blocks) {
            locked.push(self.append_group(g, blocks).await?);
        }
        let written: usize = groups.iter().map(|g| g.records.len()).sum();
        let ack = self.spawn_sync(locked, written as u64);
        // Housekeeping that cannot fail the batch (a close waits for its sync).
        let mut roll: Vec<(String, &'static str)> =
            groups.iter().filter(|g| self.open.get(&g.dir).is_some_and(|f| f.len >= self.roll_size)).map(|g| (g.dir.clone(), "size")).collect();
        let excess = (self.open.len() - roll.len()).saturating_sub(self.max_open_files);
        if excess > 0 {
            let mut by_age: Vec<(&String, Instant)> =
                self.open.iter().filter(|(d, _)| !roll.iter().any(|(r, _)| r == *d)).map(|(d, f)| (d, f.last_write)).collect();
            by_age.sort_by_key(|(_, t)| *t);
            roll.extend(by_age.into_iter().take(excess).map(|(d, _)| (d.clone(), "max_open_files")));
        }
        if !roll.is_empty() {
            self.start_close(roll);
        }
        Ok(ack)
    }

    async fn housekeeping(&mut self) -> Result<(), SinkError> {
        self.abandon_suspect();
        if !self.recovered {
            self.recover().await?;
        }
        self.reap_closed();
        self.settle_pending(false, Duration::ZERO).await;
        let due: Vec<(String, &'static str)> = self
            .open
            .iter()
            .filter_map(|(dir, f)| {
                if self.roll_idle.is_some_and(|idle| f.last_write.elapsed() >= idle) {
                    Some((dir.clone(), "idle"))
                } else if self.roll_interval.is_some_and(|age| f.opened.elapsed() >= age) {
                    Some((dir.clone(), "interval"))
                } else {
                    None
                }
            })
            .collect();
        if !due.is_empty() {
            self.start_close(due);
        }
        Ok(())
    }

    async fn close_all(&mut self) -> Result<(), SinkError> {
        self.abandon_suspect();
        let dirs: Vec<(String, &'static str)> = self.open.keys().map(|d| (d.clone(), "shutdown")).collect();
        self.start_close(dirs);
        self.wait_for_closes().await;
        self.settle_pending(true, SHUTDOWN_LEASE_WAIT).await;
        if self.pending.is_empty() {
            Ok(())
        } else {
            let files = self.pending.iter().map(|p| self.storage.url_of(&p.tmp)).collect();
            Err(HdfsFailure::LeftInUse { files }.into())
        }
    }
}

/// A failed storage call as the batch's error (retryable), counted.
fn storage_failure(stats: &HdfsSinkStats, e: StorageError) -> SinkError {
    stats.write_errors.inc();
    HdfsFailure::Storage { cause: e }.into()
}

/// Pause before asking again whether HDFS finished a lease recovery.
const LEASE_RECHECK: Duration = Duration::from_secs(1);
/// Blocks at least this big are compressed on the blocking pool.
const OFFLOAD_BYTES: usize = 64 << 10;
/// A group is cut into blocks compressed in parallel only above this size per block.
const PARALLEL_BLOCK_BYTES: usize = 256 << 10;
/// An Avro container's sync marker.
const SYNC_LEN: usize = 16;

impl<S: Storage> BatchSink for HdfsSink<S> {
    fn name(&self) -> &'static str {
        "hdfs"
    }

    fn target(&self) -> String {
        format!("HDFS at {}", self.storage.url_of(self.template.fixed_root().as_str()))
    }

    /// Crash recovery, before the first batch.
    async fn start(&mut self) -> Result<(), StartError> {
        self.recover()
            .await
            .map(|_| ())
            .map_err(|cause| StartError::Recovery { root: self.storage.url_of(self.template.fixed_root().as_str()), cause })
    }

    /// Resolves once the batch's sync task is done.
    type Ack = HdfsAck;

    /// Appends the batch; its sync runs on while the next batch is compressed.
    async fn send_batch<E: AsRef<[u8]> + Sync>(&mut self, events: &[E]) -> Result<Self::Ack, SinkError> {
        self.write(events).await
    }

    fn max_in_flight(&self) -> usize {
        MAX_BATCHES_IN_FLIGHT
    }

    async fn tick(&mut self) -> Result<(), SinkError> {
        self.housekeeping().await
    }

    async fn shutdown(&mut self) -> Result<(), SinkError> {
        self.close_all().await
    }
}
