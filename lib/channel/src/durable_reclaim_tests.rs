//! The durable channel gives back the space of its acknowledged active
//! segment, on a (simulated) small disk, and recovers from a crash at every
//! step of doing so.

use std::path::Path;
use std::time::Duration;

use super::*;

const T: Duration = Duration::from_millis(100);

fn wal_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect();
    out.sort();
    out
}

fn wal_bytes(dir: &Path) -> u64 {
    wal_files(dir).iter().map(|(_, len)| len).sum()
}

/// A disk of `capacity` bytes holding nothing but the channel's segments.
fn small_disk(ch: &mut DurableChannel, capacity: u64) {
    ch.free_space = Box::new(move |dir: &Path| Ok(capacity.saturating_sub(wal_bytes(dir))));
}

fn config(dir: &Path, segment_bytes: u64, floor: u64) -> ChannelConfig {
    ChannelConfig { dir: Some(dir.to_path_buf()), segment_bytes, min_free_disk_bytes: floor, ..Default::default() }
}

fn pos(key: &str, v: u32) -> Option<Position> {
    Some(Position { key: key.into(), value: v.to_le_bytes().to_vec() })
}

fn drain(ch: &DurableChannel) -> usize {
    let mut n = 0;
    while let Some(t) = ch.take(usize::MAX, T).unwrap() {
        n += t.events.len();
        ch.commit(t.id).unwrap();
    }
    n
}

#[test]
fn a_full_disk_clears_by_itself_once_the_sink_acknowledged_everything() {
    let dir = tempfile::tempdir().unwrap();
    // 1 MiB segments never roll here: only reclaiming can free the disk.
    let mut ch = DurableChannel::open(&config(dir.path(), 1 << 20, 16 << 10)).unwrap();
    small_disk(&mut ch, 64 << 10);
    let event = vec![7u8; 1000];
    let batch: Vec<&[u8]> = vec![&event; 4];
    let mut puts = 0u32;
    let err = loop {
        match ch.put(&batch, pos("f", puts), T) {
            Ok(()) => puts += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ChannelError::DiskFloor { .. }), "{err}");
    assert!(puts >= 10, "the disk filled up after {puts} puts");
    // Half delivered: the unacknowledged rest keeps the segment, the floor holds.
    let t = ch.take(4 * (puts as usize / 2), T).unwrap().unwrap();
    ch.commit(t.id).unwrap();
    assert!(matches!(ch.put(&batch, None, T), Err(ChannelError::DiskFloor { .. })));
    assert_eq!(wal_files(dir.path()).len(), 1);
    // Everything delivered: the next put reclaims the segment and goes through.
    assert_eq!(drain(&ch) as u32, 4 * (puts - puts / 2));
    ch.put(&batch, pos("f", 1000), T).expect("the disk floor clears once the active segment is acknowledged");
    let files = wal_files(dir.path());
    assert_eq!(files.len(), 1, "the acknowledged segment is deleted: {files:?}");
    assert!(files[0].1 < 5000, "only the positions snapshot and the new put remain: {files:?}");
    drop(ch);
    let ch = DurableChannel::open(&config(dir.path(), 1 << 20, 0)).unwrap();
    assert_eq!(ch.stats().events, 4, "only the put after the reclaim is pending");
    assert_eq!(ch.positions()["f"], 1000u32.to_le_bytes());
}

#[test]
fn a_commit_reclaims_a_large_acknowledged_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let ch = DurableChannel::open(&config(dir.path(), 16 << 10, 0)).unwrap();
    let event = vec![1u8; 1000];
    for i in 0..5 {
        ch.put(&[&event], pos(&format!("f{i}"), i), T).unwrap();
    }
    let before = wal_files(dir.path());
    assert!(before[0].1 > 4 << 10);
    assert_eq!(drain(&ch), 5);
    let after = wal_files(dir.path());
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].0, before[0].0, "rolled to a new segment");
    assert!(after[0].1 < 200, "{after:?}");
    // A small acknowledged segment is left alone by commits (no roll per batch).
    ch.put(&[b"x"], None, T).unwrap();
    assert_eq!(drain(&ch), 1);
    assert_eq!(wal_files(dir.path())[0].0, after[0].0);
    drop(ch);
    let ch = DurableChannel::open(&config(dir.path(), 16 << 10, 0)).unwrap();
    assert_eq!(ch.stats().events, 0);
    assert_eq!(ch.positions().len(), 5, "positions survive the reclaim");
    ch.put(&[b"y"], None, T).unwrap();
    assert_eq!(ch.take(10, T).unwrap().unwrap().events, vec![Bytes::from_static(b"y")]);
}

/// Puts two batches with positions, has them acknowledged without a reclaim,
/// and returns the directory with its one segment.
fn acknowledged_channel() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ch = DurableChannel::open(&config(dir.path(), 1 << 20, 0)).unwrap();
    ch.put(&[b"a"], pos("f", 1), T).unwrap();
    ch.put(&[b"b"], pos("g", 2), T).unwrap();
    assert_eq!(drain(&ch), 2);
    drop(ch);
    let files = wal_files(dir.path());
    assert_eq!(files.len(), 1);
    (dir, files[0].0.clone())
}

fn assert_recovers(dir: &Path, what: &str) {
    let ch = DurableChannel::open(&config(dir, 1 << 20, 0)).unwrap();
    assert_eq!(ch.stats().events, 0, "{what}: acknowledged puts are not handed out again");
    assert_eq!(ch.positions().len(), 2, "{what}: positions kept");
    ch.put(&[b"c"], pos("h", 3), T).unwrap();
    drop(ch);
    // Again, so that whatever the first open left behind is read back.
    let ch = DurableChannel::open(&config(dir, 1 << 20, 0)).unwrap();
    assert_eq!(ch.positions().len(), 3, "{what}: positions after a second restart");
    assert_eq!(ch.take(10, T).unwrap().unwrap().events, vec![Bytes::from_static(b"c")], "{what}");
    assert_eq!(wal_files(dir).len(), 1, "{what}: the acknowledged segment is gone");
}

#[test]
fn a_crash_between_creating_the_new_segment_and_deleting_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ch = DurableChannel::open(&config(dir.path(), 1 << 20, 0)).unwrap();
        ch.put(&[b"a"], pos("f", 1), T).unwrap();
        ch.put(&[b"b"], pos("g", 2), T).unwrap();
        assert_eq!(drain(&ch), 2);
        // The first step of a reclaim only: the process dies before the unlink.
        ch.roll(&mut lock(&ch.writer)).unwrap();
    }
    assert_eq!(wal_files(dir.path()).len(), 2);
    assert_recovers(dir.path(), "new segment created, old one not yet deleted");
}

#[test]
fn a_crash_while_the_new_segment_was_being_written() {
    let (_, old) = acknowledged_channel();
    let mut snapshot = SEGMENT_MAGIC.to_vec();
    wal::encode_positions(&mut snapshot, &[("f".to_string(), vec![1u8]), ("g".to_string(), vec![2u8])].into());
    for cut in [0, 3, SEGMENT_MAGIC.len(), SEGMENT_MAGIC.len() + 5, snapshot.len() - 1] {
        let (dir, seg) = acknowledged_channel();
        assert_eq!(seg.file_name(), old.file_name());
        let next = segment_path(dir.path(), 2);
        std::fs::write(&next, &snapshot[..cut]).unwrap();
        assert_recovers(dir.path(), &format!("new segment torn at {cut} bytes"));
    }
}
