//! [`DurableChannel`]: the write-ahead-log channel. Format and invariants: [`crate::wal`].

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fs4::fs_std::FileExt as _;
use tracing::{error, info, warn};

use crate::ledger::Ledger;
use crate::wal::{self, Record, RecordError, SEGMENT_MAGIC};
use crate::{Channel, ChannelConfig, ChannelConfigError, ChannelError, ChannelStats, Position, TakeId, Taken};

/// Where a put batch's record lies.
#[derive(Debug, Clone, Copy)]
struct Location {
    seq: u64,
    segment: u64,
    offset: u64,
    len: u64,
}

/// Why a put batch the index points at cannot be read back (disk
/// corruption after it was written): the batch is logged and dropped.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    /// Its segment could not be opened or read.
    #[error(transparent)]
    Io(#[from] ChannelError),
    /// The bytes there decode as another kind of record.
    #[error("record is not a put")]
    NotAPut,
    /// The bytes there are not a whole, intact record.
    #[error("{0:?}")]
    Record(RecordError),
}

/// The append side: the active segment and the live positions.
struct Writer {
    file: Arc<File>,
    segment: u64,
    size: u64,
    next_seq: u64,
    positions: HashMap<String, Vec<u8>>,
    buf: Vec<u8>,
    /// Whether the active segment holds a put record (a freshly rolled one
    /// holds only the positions snapshot: nothing to reclaim).
    holds_puts: bool,
}

/// The take side: pending batches and which segments hold them.
struct Index {
    ledger: Ledger<Location>,
    /// Segment id -> last put sequence in it.
    segments: BTreeMap<u64, u64>,
    active: u64,
}

/// A write-ahead-log channel in one directory. See the crate docs.
pub struct DurableChannel {
    dir: PathBuf,
    segment_bytes: u64,
    min_free_disk_bytes: u64,
    fsync: bool,
    writer: Mutex<Writer>,
    index: Mutex<Index>,
    /// Signalled when batches arrive (takers wait) or leave (putters wait).
    changed: Condvar,
    readers: Mutex<HashMap<u64, Arc<File>>>,
    /// Group commit: `(segment, bytes)` written so far, and synced so far.
    /// Puts write under the writer lock but fsync outside it, so concurrent
    /// puts (several sender connections) share one fsync.
    written: Mutex<(u64, u64)>,
    synced: Mutex<(u64, u64)>,
    ack: Mutex<File>,
    /// Free bytes of the channel's file system; a field so that unit tests
    /// can stand in a small disk.
    free_space: FreeSpace,
    _lock: File,
}

/// Reports the bytes available under a directory.
type FreeSpace = Box<dyn Fn(&Path) -> std::io::Result<u64> + Send + Sync>;

/// Share of `segment_bytes` an acknowledged active segment must reach before
/// a commit reclaims it by rolling. Below that, rolling on every idle commit
/// would cost a file creation and two fsyncs per batch; the disk floor
/// reclaims any acknowledged active segment regardless of size.
const RECLAIM_SHARE: u64 = 4;

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent state behind (every
    // mutation is completed before the guard drops), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sync_dir(dir: &Path) -> Result<(), ChannelError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| ChannelError::io(dir, e))
}

impl DurableChannel {
    /// Opens the channel in `config.dir`, recovering what a previous process left.
    pub fn open(config: &ChannelConfig) -> Result<DurableChannel, ChannelError> {
        let dir = config.dir.clone().ok_or_else(|| ChannelConfigError::new("channel.dir", "is required"))?;
        std::fs::create_dir_all(&dir).map_err(|e| ChannelError::io(&dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| ChannelError::io(&lock_path, e))?;
        if !lock_file.try_lock_exclusive().map_err(|e| ChannelError::io(&lock_path, e))? {
            return Err(ChannelError::Locked(dir));
        }

        let ack_path = dir.join("ACK");
        let mut ack =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&ack_path).map_err(|e| ChannelError::io(&ack_path, e))?;
        let mut ack_buf = Vec::new();
        ack.read_to_end(&mut ack_buf).map_err(|e| ChannelError::io(&ack_path, e))?;
        let acked = if ack_buf.is_empty() {
            0
        } else {
            wal::decode_ack(&ack_buf).unwrap_or_else(|| {
                warn!(path = %ack_path.display(), "ACK file is torn or unreadable; batches after the last segment deletion will be sent again");
                0
            })
        };

        let mut ledger = Ledger::new(config.max_events, config.max_bytes, acked);
        let mut segments = BTreeMap::new();
        let mut positions = HashMap::new();
        let mut max_seq = acked;
        let ids = list_segments(&dir)?;
        let (mut recovered_events, mut corrupt) = (0u64, 0u64);
        // Whether the newest segment holds a put, and whether it lacks the
        // magic and positions snapshot it is created with (a crash while it
        // was being created: it must be written again before anything is
        // appended, or its appends would be unreadable).
        let (mut last_holds_puts, mut last_headless) = (false, false);
        for (i, &id) in ids.iter().enumerate() {
            let is_last = i + 1 == ids.len();
            let path = segment_path(&dir, id);
            let data = std::fs::read(&path).map_err(|e| ChannelError::io(&path, e))?;
            let mut last_seq_in_segment = max_seq;
            let mut offset = if data.starts_with(SEGMENT_MAGIC) { SEGMENT_MAGIC.len() } else { data.len() };
            let torn_creation = is_last && data.len() <= SEGMENT_MAGIC.len() && SEGMENT_MAGIC.starts_with(&data);
            if offset == data.len() && !data.starts_with(SEGMENT_MAGIC) && !data.is_empty() && !torn_creation {
                error!(path = %path.display(), "not a channel segment (bad magic); skipping it");
                corrupt += 1;
            }
            let mut first_record = true;
            let mut headless = torn_creation;
            while offset < data.len() {
                match wal::decode(&data[offset..]) {
                    // A put whose sequence does not follow the ones read
                    // before it (a record written twice, a segment copied
                    // back) cannot be ordered in the ledger: it is reported
                    // and skipped alone, keeping the first put of that
                    // sequence; the records after it are still read.
                    Ok((Record::Put { seq, .. }, len)) if seq > acked && seq <= max_seq => {
                        error!(path = %path.display(), offset, seq, "put record out of sequence in a channel segment; skipping it");
                        offset += len;
                    }
                    // Sequences count up from 1 and never get near the end
                    // of u64: a put claiming the last one is damage, and
                    // would leave no sequence for the next put (the
                    // fuzzer's overflow at `max_seq + 1`).
                    Ok((Record::Put { seq: u64::MAX, .. }, len)) => {
                        error!(path = %path.display(), offset, "put record with an impossible sequence number in a channel segment; skipping it");
                        offset += len;
                    }
                    Ok((Record::Put { seq, events, position }, len)) => {
                        if seq > acked {
                            let bytes: u64 = events.iter().map(|e| e.len() as u64).sum();
                            ledger.push(seq, events.len() as u64, bytes, Location { seq, segment: id, offset: offset as u64, len: len as u64 });
                            recovered_events += events.len() as u64;
                        }
                        if let Some(p) = position {
                            apply_position(&mut positions, p);
                        }
                        max_seq = max_seq.max(seq);
                        last_seq_in_segment = seq;
                        offset += len;
                        if is_last {
                            last_holds_puts = true;
                        }
                    }
                    Ok((Record::Positions(map), len)) => {
                        positions.extend(map);
                        offset += len;
                    }
                    Err(RecordError::Incomplete) | Err(RecordError::Corrupt(_)) if is_last => {
                        headless = first_record;
                        warn!(path = %path.display(), offset, "torn record at the end of the newest segment (a write interrupted by a crash); truncating it");
                        let f = OpenOptions::new().write(true).open(&path).map_err(|e| ChannelError::io(&path, e))?;
                        f.set_len(offset as u64).and_then(|_| f.sync_all()).map_err(|e| ChannelError::io(&path, e))?;
                        break;
                    }
                    Err(e) => {
                        error!(path = %path.display(), offset, error = ?e, "corrupt record in a channel segment; the rest of this segment is skipped");
                        corrupt += 1;
                        break;
                    }
                }
                first_record = false;
            }
            if is_last {
                last_headless = headless;
            }
            segments.insert(id, last_seq_in_segment);
        }

        let (active, file, size) = match ids.last() {
            Some(&id) if last_headless => {
                warn!(path = %segment_path(&dir, id).display(), "the newest segment was being created when the process stopped; writing its header again");
                let (file, size) = create_segment(&dir, id, &positions)?;
                (id, file, size)
            }
            Some(&id) => {
                let path = segment_path(&dir, id);
                let file = OpenOptions::new().append(true).open(&path).map_err(|e| ChannelError::io(&path, e))?;
                let size = file.metadata().map_err(|e| ChannelError::io(&path, e))?.len();
                (id, file, size)
            }
            None => {
                let (file, size) = create_segment(&dir, 1, &positions)?;
                segments.insert(1, max_seq);
                (1, file, size)
            }
        };
        let channel = DurableChannel {
            segment_bytes: config.segment_bytes,
            min_free_disk_bytes: config.min_free_disk_bytes,
            fsync: config.fsync,
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                segment: active,
                size,
                next_seq: max_seq + 1,
                positions,
                buf: Vec::new(),
                holds_puts: last_holds_puts,
            }),
            written: Mutex::new((active, size)),
            synced: Mutex::new((active, size)),
            index: Mutex::new(Index { ledger, segments, active }),
            changed: Condvar::new(),
            readers: Mutex::new(HashMap::new()),
            ack: Mutex::new(ack),
            free_space: Box::new(|dir: &Path| fs4::available_space(dir)),
            _lock: lock_file,
            dir,
        };
        channel.delete_acked_segments();
        info!(dir = %channel.dir.display(), recovered_events, acked_upto = acked, corrupt_segments = corrupt, "durable channel opened");
        Ok(channel)
    }

    /// The channel directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_disk(&self) -> Result<(), ChannelError> {
        if self.min_free_disk_bytes == 0 {
            return Ok(());
        }
        let available = (self.free_space)(&self.dir).map_err(|e| ChannelError::io(&self.dir, e))?;
        if available < self.min_free_disk_bytes {
            return Err(ChannelError::DiskFloor { dir: self.dir.clone(), available, floor: self.min_free_disk_bytes });
        }
        Ok(())
    }

    fn roll(&self, w: &mut Writer) -> Result<(), ChannelError> {
        let id = w.segment + 1;
        let (file, size) = create_segment(&self.dir, id, &w.positions).inspect_err(|_| {
            // E.g. ENOSPC half-way: leave no torn segment behind (open would
            // write it again anyway); the active segment stays in use.
            let _ = std::fs::remove_file(segment_path(&self.dir, id));
        })?;
        if self.fsync {
            w.file.sync_data().map_err(|e| ChannelError::io(segment_path(&self.dir, w.segment), e))?;
        }
        w.file = Arc::new(file);
        w.segment = id;
        w.size = size;
        w.holds_puts = false;
        *lock(&self.written) = (id, size);
        let mut index = lock(&self.index);
        index.segments.insert(id, w.next_seq - 1);
        index.active = id;
        Ok(())
    }

    /// Gives back the disk space of the active segment once every put in it
    /// is acknowledged: rolls to a new segment (which opens with the
    /// positions snapshot) and deletes the old one. Without this, a segment
    /// rolls only when a put overflows it, so after a disk-full the
    /// acknowledged active segment would hold its space for good and the
    /// disk floor would never clear.
    ///
    /// Crash-safe at every step: the new segment is created and synced
    /// (with its directory entry) before the old one is unlinked; the ACK
    /// file already covers every put of the old one, so a restart between
    /// the two steps deletes it then. A new segment torn by a crash is
    /// written again at open (see [`DurableChannel::open`]).
    ///
    /// Returns whether it reclaimed anything. `min_bytes`: only when the
    /// active segment is at least this large.
    fn reclaim_active(&self, w: &mut Writer, min_bytes: u64) -> Result<bool, ChannelError> {
        if !w.holds_puts || w.size < min_bytes {
            return Ok(false);
        }
        {
            let index = lock(&self.index);
            let last = index.segments.get(&w.segment).copied().unwrap_or(u64::MAX);
            if last > index.ledger.acked_upto() {
                return Ok(false);
            }
        }
        let (old, bytes) = (w.segment, w.size);
        self.roll(w)?;
        self.delete_acked_segments();
        info!(dir = %self.dir.display(), segment = old, bytes, "reclaimed the acknowledged active segment");
        Ok(true)
    }

    fn reader(&self, segment: u64) -> Result<Arc<File>, ChannelError> {
        let mut readers = lock(&self.readers);
        if let Some(f) = readers.get(&segment) {
            return Ok(f.clone());
        }
        let path = segment_path(&self.dir, segment);
        let f = Arc::new(File::open(&path).map_err(|e| ChannelError::io(&path, e))?);
        readers.insert(segment, f.clone());
        Ok(f)
    }

    fn read_batch(&self, loc: Location, out: &mut Vec<Bytes>) -> Result<(), Unreadable> {
        let file = self.reader(loc.segment)?;
        let mut buf = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset).map_err(|e| ChannelError::io(segment_path(&self.dir, loc.segment), e))?;
        let buf = Bytes::from(buf);
        match wal::decode(&buf) {
            Ok((Record::Put { events, .. }, _)) => {
                out.extend(events.into_iter().map(|e| buf.slice_ref(e)));
                Ok(())
            }
            Ok(_) => Err(Unreadable::NotAPut),
            Err(e) => Err(Unreadable::Record(e)),
        }
    }

    fn write_ack(&self, upto: u64) -> Result<(), ChannelError> {
        let ack = lock(&self.ack);
        // Not fsynced: the page cache survives a killed process; after a power
        // loss an older ACK only means batches are sent again (at-least-once).
        ack.write_all_at(&wal::encode_ack(upto), 0).map_err(|e| ChannelError::io(self.dir.join("ACK"), e))
    }

    fn delete_acked_segments(&self) {
        let mut index = lock(&self.index);
        let acked = index.ledger.acked_upto();
        let active = index.active;
        let done: Vec<u64> = index.segments.iter().filter(|(id, last)| **id != active && **last <= acked).map(|(id, _)| *id).collect();
        for id in done {
            index.segments.remove(&id);
            lock(&self.readers).remove(&id);
            let path = segment_path(&self.dir, id);
            if let Err(e) = std::fs::remove_file(&path) {
                warn!(path = %path.display(), error = %e, "could not delete an acknowledged channel segment");
            }
        }
    }
}

fn apply_position(positions: &mut HashMap<String, Vec<u8>>, p: Position) {
    if p.value.is_empty() {
        positions.remove(&p.key);
    } else {
        positions.insert(p.key, p.value);
    }
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, ChannelError> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| ChannelError::io(dir, e))? {
        let name = entry.map_err(|e| ChannelError::io(dir, e))?.file_name();
        if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".wal")).and_then(|n| n.parse::<u64>().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn create_segment(dir: &Path, id: u64, positions: &HashMap<String, Vec<u8>>) -> Result<(File, u64), ChannelError> {
    let path = segment_path(dir, id);
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(|e| ChannelError::io(&path, e))?;
    let mut buf = SEGMENT_MAGIC.to_vec();
    wal::encode_positions(&mut buf, positions);
    file.write_all(&buf).and_then(|_| file.sync_data()).map_err(|e| ChannelError::io(&path, e))?;
    sync_dir(dir)?;
    let file = OpenOptions::new().append(true).open(&path).map_err(|e| ChannelError::io(&path, e))?;
    Ok((file, buf.len() as u64))
}

impl DurableChannel {
    /// Makes the segment durable at least through `end`; one fsync covers every
    /// put written before it started (group commit).
    fn sync_through(&self, file: &File, segment: u64, end: u64) -> std::io::Result<()> {
        let mut synced = lock(&self.synced);
        if synced.0 == segment && synced.1 >= end {
            return Ok(());
        }
        let (wseg, wsize) = *lock(&self.written);
        file.sync_data()?;
        *synced = if wseg == segment { (segment, wsize) } else { (segment, end) };
        Ok(())
    }
}

impl Channel for DurableChannel {
    fn put(&self, events: &[&[u8]], position: Option<Position>, timeout: Duration) -> Result<(), ChannelError> {
        let n = events.len() as u64;
        let bytes: u64 = events.iter().map(|e| e.len() as u64).sum();
        // One putter at a time: room can only grow while we hold the writer.
        let mut w = lock(&self.writer);
        {
            let deadline = Instant::now() + timeout;
            let mut index = lock(&self.index);
            index.ledger.check_fits(n, bytes)?;
            while !index.ledger.has_room(n, bytes) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(index.ledger.full_error());
                }
                index = self.changed.wait_timeout(index, left).unwrap_or_else(|p| p.into_inner()).0;
            }
        }
        if let Err(e) = self.check_disk() {
            // Below the floor: the active segment may be holding space that
            // is all acknowledged; give it back and look again.
            if !matches!(e, ChannelError::DiskFloor { .. }) || !self.reclaim_active(&mut w, 0)? {
                return Err(e);
            }
            self.check_disk()?;
        }
        let seq = w.next_seq;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        wal::encode_put(&mut buf, seq, events, position.as_ref());
        if w.size > SEGMENT_MAGIC.len() as u64 && w.size + buf.len() as u64 > self.segment_bytes {
            self.roll(&mut w)?;
        }
        let path = segment_path(&self.dir, w.segment);
        if let Err(e) = (&*w.file).write_all(&buf) {
            // Leave no partial record behind (e.g. ENOSPC): cut back to the last good one.
            let _ = w.file.set_len(w.size);
            w.buf = buf;
            return Err(ChannelError::io(path, e));
        }
        let loc = Location { seq, segment: w.segment, offset: w.size, len: buf.len() as u64 };
        w.size += buf.len() as u64;
        w.next_seq += 1;
        w.buf = buf;
        w.holds_puts = true;
        if let Some(p) = position {
            apply_position(&mut w.positions, p);
        }
        *lock(&self.written) = (w.segment, w.size);
        let mut index = lock(&self.index);
        index.ledger.push(seq, n, bytes, loc);
        let segment = w.segment;
        index.segments.insert(segment, seq);
        drop(index);
        let (file, end) = (Arc::clone(&w.file), w.size);
        drop(w);
        self.changed.notify_all();
        if self.fsync {
            // The batch may already be taken by the sink; it is acknowledged to
            // the caller only once durable. A failed sync is reported, and the
            // caller sends it again (at-least-once).
            self.sync_through(&file, segment, end).map_err(|e| ChannelError::io(path, e))?;
        }
        Ok(())
    }

    fn take(&self, max_events: usize, timeout: Duration) -> Result<Option<Taken>, ChannelError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (id, locations) = {
                let mut index = lock(&self.index);
                while !index.ledger.has_pending() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    index = self.changed.wait_timeout(index, left).unwrap_or_else(|p| p.into_inner()).0;
                }
                let (id, locs) = index.ledger.take(max_events).expect("pending batches exist");
                (id, locs.into_iter().copied().collect::<Vec<_>>())
            };
            let mut events = Vec::new();
            let mut lost = Vec::new();
            for loc in &locations {
                if let Err(why) = self.read_batch(*loc, &mut events) {
                    lost.push((*loc, why));
                }
            }
            if lost.is_empty() {
                return Ok(Some(Taken { id, events }));
            }
            // Unreadable batches (disk corruption after they were written) are
            // reported and dropped, the rest is handed out again.
            let mut index = lock(&self.index);
            for (loc, why) in &lost {
                error!(dir = %self.dir.display(), segment = loc.segment, offset = loc.offset, error = %why, "channel batch unreadable; dropping it");
            }
            index.ledger.rollback();
            for (loc, _) in &lost {
                index.ledger.discard(loc.seq);
            }
        }
    }

    fn commit(&self, id: TakeId) -> Result<(), ChannelError> {
        let moved = lock(&self.index).ledger.commit(id)?;
        if let Some(upto) = moved {
            self.write_ack(upto)?;
            self.delete_acked_segments();
            // Reclaim a large acknowledged active segment now, unless a put
            // holds the writer (it then reclaims itself if the disk needs it).
            if let Ok(mut w) = self.writer.try_lock() {
                if let Err(e) = self.reclaim_active(&mut w, self.segment_bytes / RECLAIM_SHARE) {
                    warn!(dir = %self.dir.display(), error = %e, "could not reclaim the acknowledged active segment; the next put below the disk floor tries again");
                }
            }
        }
        self.changed.notify_all();
        Ok(())
    }

    fn rollback(&self) {
        lock(&self.index).ledger.rollback();
        self.changed.notify_all();
    }

    fn positions(&self) -> HashMap<String, Vec<u8>> {
        lock(&self.writer).positions.clone()
    }

    fn stats(&self) -> ChannelStats {
        lock(&self.index).ledger.stats()
    }
}

#[cfg(test)]
#[path = "durable_reclaim_tests.rs"]
mod reclaim_tests;
