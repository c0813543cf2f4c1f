//! Turning a `.tmp` file nobody writes any more into a closed `.avro` file,
//! keeping every complete block and nothing else.
//!
//! Two kinds of files get here:
//! - leftovers of a previous process of this prefix (it crashed, was killed,
//!   or lost the NameNode), found when the sink starts;
//! - files this process gave up on: a write, sync or close failed, or timed
//!   out, so the file may end in a torn block and is never appended to again.
//!
//! Why no acknowledged event is lost: a batch is acknowledged only after its
//! block was appended whole and synced, and nothing is appended to a file
//! after a failure. So every acknowledged block is complete and lies before
//! the first incomplete or corrupt one, which is where the scan stops.
//!
//! Steps, each safe to repeat after a crash at any point:
//! 1. HDFS: `recover_lease` until the NameNode says the file is closed (the
//!    dead writer is fenced; the length becomes what the DataNodes hold).
//! 2. If `x.avro` already exists, a previous finalisation got as far as the
//!    rename below: delete `x.avro.tmp`, done.
//! 3. Scan the file ([`Scanner`]): header, then block by block.
//! 4. No complete block: nothing was acknowledged from it; delete it (or keep
//!    it as `x.avro.corrupt` if the header is corrupt rather than cut short).
//! 5. Everything valid: rename `x.avro.tmp` to `x.avro`.
//! 6. Otherwise copy the valid prefix byte for byte (no re-encoding) into the
//!    hidden `.x.avro.salvage`, sync and close it, rename it to `x.avro`,
//!    then delete the `.tmp` (or keep it as `x.avro.corrupt` when the data
//!    after the prefix was corrupt rather than a torn end).
//!
//! HDFS 2.7 has `truncate`, which would save the copy, but `hdfs-native`
//! does not expose it and a copy happens only after a failure.

use std::future::Future;
use std::time::Duration;

use tracing::{error, info, warn};

use clickstream_master_copy::container::{ScanReport, Scanner};
use clickstream_master_copy::names;
use clickstream_master_copy::storage::{ErrorKind, Storage, StorageError, StorageResult, StorageWriter};

/// How much is read or copied per call.
const CHUNK: usize = 8 << 20;
/// Pause between `recover_lease` calls while the NameNode recovers a block.
pub const LEASE_POLL: Duration = Duration::from_millis(200);

/// Runs a storage call with a time limit. The call's future is boxed: some
/// `hdfs-native` futures are tens of KB, and nesting them inline in the
/// sink's state machines overflowed test threads' stacks in debug builds.
pub fn timed<'a, T, F>(limit: Duration, op: &'a str, path: &'a str, fut: F) -> impl Future<Output = StorageResult<T>> + Send + 'a
where
    F: Future<Output = StorageResult<T>> + Send + 'a,
    T: Send + 'a,
{
    let fut = Box::pin(fut);
    async move {
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(StorageError::new(ErrorKind::Other, op, path, format!("no answer within {limit:?}"))),
        }
    }
}

/// The outcome of finalising one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finalized {
    /// `x.avro` holds the file's complete blocks.
    Kept {
        /// Records kept.
        records: u64,
        /// Bytes dropped after the last complete block.
        dropped: u64,
    },
    /// Nothing worth keeping (no complete block): deleted or set aside.
    Empty,
    /// A previous attempt had finished; only the `.tmp` was left to delete.
    AlreadyDone,
    /// The file is gone and so is `x.avro` (someone else removed it).
    Vanished,
    /// HDFS has not closed the file yet; try again later.
    LeaseNotRecovered,
}

/// Finalises `tmp` (see the module docs). `lease_wait`: how long to keep
/// polling `recover_lease` before answering [`Finalized::LeaseNotRecovered`].
pub async fn finalize<S: Storage>(storage: &S, tmp: &str, limit: Duration, lease_wait: Duration) -> StorageResult<Finalized> {
    let final_path = names::final_of(tmp);
    let started = tokio::time::Instant::now();
    loop {
        match timed(limit, "recover lease", tmp, storage.recover_lease(tmp)).await {
            Ok(true) => break,
            Ok(false) if started.elapsed() < lease_wait => tokio::time::sleep(LEASE_POLL).await,
            Ok(false) => return Ok(Finalized::LeaseNotRecovered),
            Err(e) if e.kind == ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        }
    }
    let tmp_exists = timed(limit, "stat", tmp, storage.exists(tmp)).await?;
    let final_exists = timed(limit, "stat", &final_path, storage.exists(&final_path)).await?;
    match (tmp_exists, final_exists) {
        (false, true) => return Ok(Finalized::AlreadyDone),
        (false, false) => return Ok(Finalized::Vanished),
        (true, true) => {
            timed(limit, "delete", tmp, storage.delete(tmp)).await?;
            return Ok(Finalized::AlreadyDone);
        }
        (true, false) => {}
    }
    let report = scan_file(storage, tmp, limit).await?;
    let url = storage.url_of(tmp);
    if report.blocks == 0 {
        if report.corrupt {
            let aside = names::corrupt_of(tmp);
            error!(file = %url, reason = ?report.stopped, kept_as = %aside, "leftover file has a corrupt header; set aside");
            set_aside(storage, tmp, &aside, limit).await?;
        } else {
            timed(limit, "delete", tmp, storage.delete(tmp)).await?;
        }
        return Ok(Finalized::Empty);
    }
    let dropped = report.total_len - report.valid_len;
    if dropped == 0 && !report.corrupt {
        timed(limit, "rename", tmp, storage.rename(tmp, &final_path)).await?;
        return Ok(Finalized::Kept { records: report.records, dropped: 0 });
    }
    copy_prefix(storage, tmp, &final_path, report.valid_len, limit).await?;
    if report.corrupt {
        let aside = names::corrupt_of(tmp);
        error!(file = %url, reason = ?report.stopped, kept_as = %aside, records = report.records, "corrupt data after the last good block; the good blocks are kept, the original set aside");
        set_aside(storage, tmp, &aside, limit).await?;
    } else {
        timed(limit, "delete", tmp, storage.delete(tmp)).await?;
    }
    Ok(Finalized::Kept { records: report.records, dropped })
}

/// Renames `tmp` to `aside` for people to look at; if an earlier attempt
/// already set a copy aside, just deletes `tmp`.
async fn set_aside<S: Storage>(storage: &S, tmp: &str, aside: &str, limit: Duration) -> StorageResult<()> {
    match timed(limit, "rename", tmp, storage.rename(tmp, aside)).await {
        Err(e) if e.kind == ErrorKind::AlreadyExists => timed(limit, "delete", tmp, storage.delete(tmp)).await,
        other => other,
    }
}

/// Scans a whole file in chunks.
pub async fn scan_file<S: Storage>(storage: &S, path: &str, limit: Duration) -> StorageResult<ScanReport> {
    let len = timed(limit, "stat", path, storage.len(path)).await?;
    let mut scanner = Scanner::new();
    let mut offset = 0;
    while offset < len && !scanner.stopped() {
        let chunk = timed(limit, "read", path, storage.read_range(path, offset, CHUNK)).await?;
        if chunk.is_empty() {
            break;
        }
        offset += chunk.len() as u64;
        scanner.feed(&chunk);
    }
    Ok(scanner.finish())
}

/// Writes `tmp[..len]` to the hidden salvage file and renames it to `final_path`.
async fn copy_prefix<S: Storage>(storage: &S, tmp: &str, final_path: &str, len: u64, limit: Duration) -> StorageResult<()> {
    let salvage = names::salvage_of(tmp);
    timed(limit, "delete", &salvage, storage.delete(&salvage)).await?;
    let mut w = timed(limit, "create", &salvage, storage.create(&salvage)).await?;
    let mut offset = 0;
    while offset < len {
        let want = CHUNK.min((len - offset) as usize);
        let chunk = timed(limit, "read", tmp, storage.read_range(tmp, offset, want)).await?;
        if chunk.len() != want {
            return Err(StorageError::new(ErrorKind::Other, "read", tmp, format!("short read at {offset}: {} of {want} bytes", chunk.len())));
        }
        offset += want as u64;
        timed(limit, "write", &salvage, w.append(chunk)).await?;
    }
    timed(limit, "sync", &salvage, w.sync()).await?;
    timed(limit, "close", &salvage, w.close()).await?;
    timed(limit, "rename", &salvage, storage.rename(&salvage, final_path)).await
}

/// Logs one finalisation the way operators want to read it.
pub fn log_outcome(url: &str, outcome: &Finalized, why: &str) {
    match outcome {
        Finalized::Kept { records, dropped: 0 } => info!(file = %url, records, why, "recovered .tmp file: all blocks complete, renamed"),
        Finalized::Kept { records, dropped } => {
            warn!(file = %url, records, dropped_bytes = dropped, why, "recovered .tmp file: kept the complete blocks, dropped the torn end (never acknowledged)")
        }
        Finalized::Empty => info!(file = %url, why, "recovered .tmp file held no complete block; removed"),
        Finalized::AlreadyDone => info!(file = %url, why, "recovered .tmp file had already been finalised; removed the leftover"),
        Finalized::Vanished => warn!(file = %url, why, "a .tmp file to recover disappeared"),
        Finalized::LeaseNotRecovered => info!(file = %url, why, "lease recovery still in progress; will retry"),
    }
}
