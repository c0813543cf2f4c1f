//! The durable channel's recovery: the segment files a previous process left
//! are read back at open.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clickstream_channel::wal::{self, Record, RECORD_HEADER, SEGMENT_MAGIC};
use clickstream_channel::{Channel, ChannelConfig, DurableChannel};

/// A directory of this thread, reused by every input it runs. Per thread,
/// not per process: the replay tests run in parallel threads of one process,
/// and two channels cannot hold one directory's lock.
fn scratch_dir() -> PathBuf {
    thread_local! {
        static DIR: PathBuf = {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            std::env::temp_dir().join(format!("clickstream-fuzz-wal-{}-{n}", std::process::id()))
        };
    }
    DIR.with(PathBuf::clone)
}

/// Treats `data` as the only segment of a channel directory and opens the
/// channel on it, then takes and commits everything it recovered.
///
/// The first byte is a switch, the rest the segment. When its low bit is
/// set, every whole record's CRC is recomputed first: a fuzzer cannot forge
/// CRC-32s, so without this it would only ever explore the CRC check, never
/// the record structure behind it.
///
/// Invariants: opening never panics on any segment; the channel holds
/// exactly the events of the put records that [`wal::decode`] reads, in
/// order, up to the first record it refuses (the newest segment's torn or
/// corrupt tail is truncated away).
pub fn wal_segment(data: &[u8]) {
    let Some((&switch, segment)) = data.split_first() else { return };
    let mut segment = segment.to_vec();
    if switch & 1 == 1 {
        fix_crcs(&mut segment);
    }
    let expected = readable_events(&segment);
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    std::fs::write(dir.join(format!("{:020}.wal", 1)), &segment).expect("segment file");
    let config = ChannelConfig { dir: Some(dir.clone()), fsync: false, min_free_disk_bytes: 0, ..Default::default() };
    let channel = DurableChannel::open(&config).expect("a channel opens over any segment content");
    let mut recovered = Vec::new();
    while let Some(taken) = channel.take(usize::MAX, Duration::ZERO).expect("take") {
        recovered.extend(taken.events.iter().map(|e| e.to_vec()));
        channel.commit(taken.id).expect("commit");
    }
    assert_eq!(recovered, expected, "the channel recovered other events than the segment's readable puts");
    drop(channel);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The events of the put records read from the start of the segment up to
/// the first record that does not decode, skipping any put whose sequence
/// is not above every one before it (and above 0, the acknowledged mark of
/// a directory without an ACK file) or that claims the impossible last
/// sequence number, u64::MAX.
fn readable_events(segment: &[u8]) -> Vec<Vec<u8>> {
    let Some(mut rest) = segment.strip_prefix(SEGMENT_MAGIC.as_slice()) else { return Vec::new() };
    let (mut events, mut last_seq) = (Vec::new(), 0);
    while let Ok((record, len)) = wal::decode(rest) {
        assert!(len >= RECORD_HEADER && len <= rest.len(), "record length {len} outside the {} bytes left", rest.len());
        if let Record::Put { seq, events: put, .. } = record {
            if seq > last_seq && seq != u64::MAX {
                events.extend(put.iter().map(|e| e.to_vec()));
                last_seq = seq;
            }
        }
        rest = &rest[len..];
    }
    events
}

/// Rewrites the CRC of every record that is whole, following the declared
/// lengths from the magic on.
fn fix_crcs(segment: &mut [u8]) {
    let mut at = SEGMENT_MAGIC.len();
    while at + RECORD_HEADER <= segment.len() {
        let len = u32::from_le_bytes(segment[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + RECORD_HEADER).checked_add(len).filter(|&end| end <= segment.len()) else { return };
        let crc = crc32fast::hash(&segment[at + RECORD_HEADER..end]);
        segment[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}
