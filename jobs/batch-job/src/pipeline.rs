//! Reading one day: a few decode threads each fetch a file (async I/O on
//! the shared runtime), decode it, and hand its hits to the calling thread,
//! which counts them.
//!
//! ```text
//! decode thread ×N: fetch file i ─► decode ─┐
//!                                           ├─(hits of one file)─► aggregator (this thread)
//! decode thread ×N: fetch file j ─► decode ─┘
//! ```
//!
//! Each thread claims the next file and starts fetching the one after it
//! while it decodes (read-ahead of one), so memory holds at most 2N files'
//! bytes plus the hits (~45 bytes per event) of N + 2 files, whatever the
//! number of files; the CPU decodes while HDFS streams.
//!
//! A file is decoded completely before any of it is counted, so a corrupt
//! file is either counted whole or not at all (`--skip-corrupt`). The decoder
//! also checks that every event time lies in the file's hour partition: the
//! per-hour deduplication relies on it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use chrono::NaiveDate;

use crate::aggregate::{DayAggregator, DayReport, ReportSettings};
use crate::container::{parse_header, Blocks, ContainerError, Decompressor};
use crate::decode::{decode_block, FileHits, VisitorKey};
use crate::error::{BatchError, CorruptFile, FileLocation};
use crate::source::layout::day_start_ms;
use crate::source::{DataFile, DayListing, MasterCopy};

/// Decodes a whole container file of partition (`day`, `hour`).
pub fn decode_file(file: &DataFile, bytes: &[u8], day: NaiveDate, key: VisitorKey) -> Result<FileHits, CorruptFile> {
    let corrupt = |e: ContainerError| CorruptFile {
        location: FileLocation { file: file.url.clone(), offset: e.offset },
        what: e.what,
    };
    let header = parse_header(bytes).map_err(corrupt)?;
    let hour_start = day_start_ms(day) + i64::from(file.hour) * 3_600_000;
    let hour_end = hour_start + 3_600_000;
    let mut out = FileHits::default();
    let mut inflate = Decompressor::default();
    for (index, block) in Blocks::new(bytes, &header).enumerate() {
        let block = block.map_err(corrupt)?;
        let at = |what: String| CorruptFile {
            location: FileLocation { file: file.url.clone(), offset: block.offset as u64 },
            what: format!("block {index}: {what}"),
        };
        let data = inflate.decompress(header.codec, &block).map_err(corrupt)?;
        decode_block(data, block.count, key, hour_start..hour_end, &mut out).map_err(|e| {
            at(format!("record {} (byte {} of the uncompressed block): {}", e.record, e.offset, e.what))
        })?;
    }
    Ok(out)
}

/// What reading a day produced.
#[derive(Debug)]
pub struct DayRead {
    /// The report (all files counted except `corrupt`).
    pub report: DayReport,
    /// Files counted.
    pub files_read: usize,
    /// Bytes of those files.
    pub bytes_read: u64,
    /// Files skipped as corrupt (only with `skip_corrupt`).
    pub corrupt: Vec<CorruptFile>,
}

enum Decoded {
    Hits(usize, FileHits),
    Corrupt(usize, CorruptFile),
    Failed(BatchError),
}

/// How to read a day.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Report definitions.
    pub settings: ReportSettings,
    /// Decoding threads.
    pub workers: usize,
    /// Skip corrupt files instead of failing.
    pub skip_corrupt: bool,
}

/// Reads and counts every data file of `listing`. `progress` is called with
/// the byte size of each file once it has been counted (or skipped).
pub fn read_day(
    rt: &tokio::runtime::Handle,
    store: &MasterCopy,
    day: NaiveDate,
    listing: &DayListing,
    opts: ReadOptions,
    progress: &dyn Fn(u64),
) -> Result<DayRead, BatchError> {
    let ReadOptions { settings, workers, skip_corrupt } = opts;
    let files = &listing.files;
    let mut per_hour = [0u32; 24];
    for f in files {
        per_hour[f.hour as usize] += 1;
    }
    let mut agg = DayAggregator::new(day, settings, per_hour);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (out_tx, out_rx) = mpsc::sync_channel::<Decoded>(1);

    let result = std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let out_tx = out_tx.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                // Starts fetching the next unclaimed file on the I/O runtime.
                let fetch = || {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files.len() || stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    let (store, file) = (store.clone(), files[i].clone());
                    Some((i, rt.spawn(async move { store.read(&file).await })))
                };
                let mut pending = fetch();
                while let Some((i, fetching)) = pending.take() {
                    let bytes = rt.block_on(fetching).unwrap_or_else(|e| Err(BatchError::source(&files[i].url, e)));
                    // Read ahead: the next file arrives while this one decodes.
                    pending = fetch();
                    let msg = match bytes {
                        Err(e) => Decoded::Failed(e),
                        Ok(bytes) => match decode_file(&files[i], &bytes, day, settings.visitor_key) {
                            Ok(mut hits) => {
                                // Cheap (mremap) and it halves what waits in the channel.
                                hits.hits.shrink_to_fit();
                                hits.arena.shrink_to_fit();
                                Decoded::Hits(i, hits)
                            }
                            Err(c) => Decoded::Corrupt(i, c),
                        },
                    };
                    if out_tx.send(msg).is_err() {
                        if let Some((_, h)) = pending {
                            h.abort();
                        }
                        return;
                    }
                }
            });
        }
        drop(out_tx);

        let mut tally = Tally::default();
        let mut outcome = Ok(());
        for msg in out_rx.iter() {
            match msg {
                Decoded::Hits(i, hits) => {
                    let f = &files[i];
                    agg.add_file(f.hour, &hits);
                    agg.file_done(f.hour);
                    tally.files_read += 1;
                    tally.bytes_read += f.len;
                    progress(f.len);
                }
                Decoded::Corrupt(i, c) if skip_corrupt => {
                    tracing::warn!(file = %c.location.file, offset = c.location.offset, "skipping corrupt file: {}", c.what);
                    agg.file_done(files[i].hour);
                    tally.corrupt.push(c);
                    progress(files[i].len);
                }
                Decoded::Corrupt(_, c) => {
                    outcome = Err(BatchError::Corrupt(c));
                    break;
                }
                Decoded::Failed(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        // On an early exit: no new files, and the threads' sends fail.
        stop.store(true, Ordering::Relaxed);
        drop(out_rx);
        outcome.map(|()| tally)
    });
    let mut tally = result?;
    tally.corrupt.sort_by(|a, b| a.location.file.cmp(&b.location.file));
    Ok(DayRead {
        report: agg.finish(),
        files_read: tally.files_read,
        bytes_read: tally.bytes_read,
        corrupt: tally.corrupt,
    })
}

#[derive(Default)]
struct Tally {
    files_read: usize,
    bytes_read: u64,
    corrupt: Vec<CorruptFile>,
}
