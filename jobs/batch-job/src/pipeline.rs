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
//! One bad record never blocks a day. A file whose header cannot be read is
//! refused whole (nothing in it can be trusted; `--skip-corrupt` skips it);
//! otherwise a block that cannot be read is skipped up to the next sync
//! marker, and a record that decodes but breaks a rule (the contract's
//! rulebook, or an event time outside the file's hour partition, on which
//! the per-hour deduplication relies) is skipped alone. Everything skipped is
//! reported with file, byte range or record, and reason. A block's records
//! are counted only once the whole block has decoded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use chrono::NaiveDate;

use clickstream_master_copy::container::{parse_header, Blocks, DamagedRange, HeaderError};
use clickstream_master_copy::layout::day_start_ms;
use clickstream_master_copy::schema::Resolution;
use clickstream_master_copy::BlockDecompressor;

use crate::aggregate::{DayAggregator, DayReport, ReportSettings};
use crate::decode::{decode_block, FileHits, InvalidRecord, VisitorKey};
use crate::error::{BatchError, CorruptFile, FileLocation};
use crate::source::{DataFile, DayListing, MasterCopy};

/// Decodes a whole container file of partition (`day`, `hour`): `Err` only
/// for a header that cannot be read or a writer schema that cannot be read
/// as the current one; damaged blocks and invalid records are in the
/// result's `damaged` and `invalid`.
///
/// Files written with another compatible schema version have each block
/// rewritten into the current encoding first (`clickstream_master_copy::schema`),
/// so the decoder below always sees current records.
pub fn decode_file(file: &DataFile, bytes: &[u8], day: NaiveDate, key: VisitorKey) -> Result<FileHits, CorruptFile> {
    let corrupt = |offset: usize, what: String| CorruptFile { location: FileLocation { file: file.url.clone(), offset: offset as u64 }, what };
    let header = parse_header(bytes).map_err(|e| match e {
        HeaderError::Incomplete => corrupt(bytes.len(), "the file ends inside its header (file cut short?)".into()),
        HeaderError::Invalid { offset, what } => corrupt(offset, what),
    })?;
    let resolution = Resolution::for_writer(&header.schema_json).map_err(|what| corrupt(0, what))?;
    let hour_start = day_start_ms(day) + i64::from(file.hour) * 3_600_000;
    let hour_end = hour_start + 3_600_000;
    let mut out = FileHits::default();
    let mut inflate = BlockDecompressor::default();
    let mut rewritten = Vec::new();
    for (index, block) in Blocks::new(bytes, &header).enumerate() {
        let block = match block {
            Ok(block) => block,
            Err(damaged) => {
                out.damaged.push(DamagedRange { what: format!("block {index}: {}", damaged.what), ..damaged });
                continue;
            }
        };
        let before = (out.hits.len(), out.arena.len(), out.invalid.len());
        let decoded = inflate
            .decompress(header.codec, block.data)
            .and_then(|data| match &resolution {
                Resolution::Current => Ok(data),
                Resolution::Rewrite(resolver) => {
                    rewritten.clear();
                    resolver.rewrite_block(data, block.count, &mut rewritten).map(|()| &rewritten[..]).map_err(|e| e.to_string())
                }
            })
            .and_then(|data| decode_block(data, block.count, key, hour_start..hour_end, &mut out).map_err(|e| e.to_string()));
        match decoded {
            Ok(()) => out.invalid[before.2..].iter_mut().for_each(|r| r.block_offset = block.offset as u64),
            Err(what) => {
                // Nothing of a block that does not decode whole is counted.
                out.hits.truncate(before.0);
                out.arena.truncate(before.1);
                out.invalid.truncate(before.2);
                out.damaged.push(DamagedRange { offset: block.offset as u64, end: block.end as u64, what: format!("block {index}: {what}") });
            }
        }
    }
    Ok(out)
}

/// What reading a day skipped inside the files it counted.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Records that break a rule, with their file's URL.
    pub records: Vec<(String, InvalidRecord)>,
    /// Byte ranges that could not be read as blocks, with their file's URL.
    pub blocks: Vec<(String, DamagedRange)>,
}

impl Skipped {
    /// Skipped records per rule broken.
    pub fn records_by_rule(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut by = std::collections::BTreeMap::new();
        for (_, r) in &self.records {
            *by.entry(r.rule).or_insert(0) += 1;
        }
        by
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.blocks.is_empty()
    }
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
    /// Records and blocks skipped inside the files counted.
    pub skipped: Skipped,
}

enum Decoded {
    /// Boxed: a file's hits travel through the channel as one pointer.
    Hits(usize, Box<FileHits>),
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
                                Decoded::Hits(i, Box::new(hits))
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
                Decoded::Hits(i, mut hits) => {
                    let f = &files[i];
                    agg.add_file(f.hour, &hits);
                    agg.file_done(f.hour);
                    for r in hits.invalid.drain(..) {
                        tracing::warn!(file = %f.url, block = r.block_offset, record = r.record, rule = r.rule, "skipping an invalid record: {}", r.what);
                        tally.skipped.records.push((f.url.clone(), r));
                    }
                    for d in hits.damaged.drain(..) {
                        tracing::warn!(file = %f.url, from = d.offset, to = d.end, "skipping a damaged byte range: {}", d.what);
                        tally.skipped.blocks.push((f.url.clone(), d));
                    }
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
    // Files finish in any order: sort, so that runs over the same input say the same.
    tally.skipped.records.sort_by(|a, b| (&a.0, a.1.block_offset, a.1.record).cmp(&(&b.0, b.1.block_offset, b.1.record)));
    tally.skipped.blocks.sort_by(|a, b| (&a.0, a.1.offset).cmp(&(&b.0, b.1.offset)));
    Ok(DayRead { report: agg.finish(), files_read: tally.files_read, bytes_read: tally.bytes_read, corrupt: tally.corrupt, skipped: tally.skipped })
}

#[derive(Default)]
struct Tally {
    files_read: usize,
    bytes_read: u64,
    corrupt: Vec<CorruptFile>,
    skipped: Skipped,
}
