//! The put/take contract, run against both channels, and the durable
//! channel's recovery: reopen, torn tails, corruption, kill -9.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clickstream_channel::{Channel, ChannelConfig, ChannelError, ChannelKind, DurableChannel, MemoryChannel, Position};

const T: Duration = Duration::from_millis(200);

fn durable_config(dir: &std::path::Path) -> ChannelConfig {
    ChannelConfig { dir: Some(dir.to_path_buf()), min_free_disk_bytes: 0, ..Default::default() }
}

fn both(max_events: u64) -> Vec<(tempfile::TempDir, Arc<dyn Channel>)> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ChannelConfig { max_events, ..durable_config(dir.path()) };
    let durable: Arc<dyn Channel> = Arc::new(DurableChannel::open(&cfg).unwrap());
    let mem: Arc<dyn Channel> = Arc::new(MemoryChannel::new(max_events, 1 << 30));
    vec![(dir, durable), (tempfile::tempdir().unwrap(), mem)]
}

fn ev(i: u32) -> Vec<u8> {
    format!("event-{i}").into_bytes()
}

fn put_range(ch: &dyn Channel, from: u32, to: u32, pos: Option<Position>) {
    let events: Vec<Vec<u8>> = (from..to).map(ev).collect();
    let refs: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
    ch.put(&refs, pos, T).unwrap();
}

#[test]
fn put_take_commit_rollback_in_order() {
    for (_dir, ch) in both(1000) {
        put_range(&*ch, 0, 10, Some(Position { key: "f".into(), value: b"10".to_vec() }));
        put_range(&*ch, 10, 15, None);
        assert_eq!(ch.positions()["f"], b"10");
        let a = ch.take(12, T).unwrap().unwrap();
        assert_eq!(a.events, (0..10).map(ev).collect::<Vec<_>>(), "whole batches up to the limit");
        let b = ch.take(100, T).unwrap().unwrap();
        assert_eq!(b.events, (10..15).map(ev).collect::<Vec<_>>());
        assert!(ch.take(100, Duration::from_millis(20)).unwrap().is_none());
        assert_eq!(ch.stats().in_flight_events, 15);
        ch.rollback();
        let again = ch.take(100, T).unwrap().unwrap();
        assert_eq!(again.events.len(), 15, "rollback hands everything out again, oldest first");
        assert_eq!(again.events[0], ev(0));
        ch.commit(again.id).unwrap();
        assert_eq!(ch.stats().events, 0);
        assert!(matches!(ch.commit(again.id), Err(ChannelError::NotTaken { .. })));
    }
}

#[test]
fn full_channel_applies_backpressure_until_the_sink_commits() {
    for (_dir, ch) in both(10) {
        put_range(&*ch, 0, 8, None);
        let err = ch.put(&[b"x", b"y", b"z"], None, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, ChannelError::Full { events: 8, .. }) && err.is_transient(), "{err}");
        assert!(matches!(ch.put(&[&b"x"[..]; 11], None, T), Err(ChannelError::BatchTooLarge { .. })));
        let waiter = {
            let ch = ch.clone();
            thread::spawn(move || ch.put(&[b"x", b"y", b"z"], None, Duration::from_secs(5)))
        };
        thread::sleep(Duration::from_millis(50));
        let taken = ch.take(100, T).unwrap().unwrap();
        ch.commit(taken.id).unwrap();
        waiter.join().unwrap().unwrap();
        assert_eq!(ch.stats().events, 3);
    }
}

#[test]
fn durable_reopen_recovers_unacknowledged_batches_and_positions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ChannelConfig { segment_bytes: 4096, ..durable_config(dir.path()) };
    {
        let ch = DurableChannel::open(&cfg).unwrap();
        for b in 0..100u32 {
            put_range(&ch, b * 10, b * 10 + 10, Some(Position { key: format!("file{}", b % 3), value: (b * 10 + 10).to_le_bytes().to_vec() }));
        }
        // The sink delivered the first 60 batches.
        for _ in 0..6 {
            let t = ch.take(100, T).unwrap().unwrap();
            ch.commit(t.id).unwrap();
        }
        // and took 10 more without committing.
        ch.take(100, T).unwrap().unwrap();
        assert!(matches!(DurableChannel::open(&cfg), Err(ChannelError::Locked(_))));
    }
    let first_segment_deleted = !dir.path().join(format!("{:020}.wal", 1)).exists();
    let ch = DurableChannel::open(&cfg).unwrap();
    assert_eq!(ch.stats().events, 400, "uncommitted (taken or not) batches survive");
    let t = ch.take(1_000_000, T).unwrap().unwrap();
    assert_eq!(t.events, (600..1000).map(ev).collect::<Vec<_>>());
    // Acknowledged segments were deleted, yet every position is known.
    assert!(first_segment_deleted, "the fully acknowledged first segment was deleted");
    let pos = ch.positions();
    assert_eq!(pos.len(), 3);
    assert_eq!(pos["file0"], 1000u32.to_le_bytes());
    assert_eq!(pos["file1"], 980u32.to_le_bytes());
    ch.commit(t.id).unwrap();
    drop(ch);
    let ch = DurableChannel::open(&cfg).unwrap();
    assert_eq!(ch.stats().events, 0);
    assert_eq!(ch.positions().len(), 3, "positions survive even when every segment is acknowledged");
    put_range(&ch, 0, 1, Some(Position { key: "file0".into(), value: vec![] }));
    assert_eq!(ch.positions().len(), 2, "an empty value forgets the key");
}

fn newest_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "wal")).collect();
    segs.sort();
    segs.pop().unwrap()
}

#[test]
fn torn_tail_is_truncated_and_the_channel_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = durable_config(dir.path());
    {
        let ch = DurableChannel::open(&cfg).unwrap();
        put_range(&ch, 0, 5, None);
        put_range(&ch, 5, 10, None);
    }
    let seg = newest_segment(dir.path());
    let len = std::fs::metadata(&seg).unwrap().len();
    // A crash in the middle of the second put's write.
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 7).unwrap();
    let ch = DurableChannel::open(&cfg).unwrap();
    assert_eq!(ch.take(100, T).unwrap().unwrap().events, (0..5).map(ev).collect::<Vec<_>>());
    put_range(&ch, 100, 101, None);
    drop(ch);
    let ch = DurableChannel::open(&cfg).unwrap();
    assert_eq!(ch.stats().events, 6, "the append after truncation is readable");
}

#[test]
fn corruption_in_an_old_segment_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ChannelConfig { segment_bytes: 4096, ..durable_config(dir.path()) };
    {
        let ch = DurableChannel::open(&cfg).unwrap();
        for b in 0..200 {
            put_range(&ch, b * 10, b * 10 + 10, None);
        }
    }
    let mut segs: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "wal")).collect();
    segs.sort();
    assert!(segs.len() > 2);
    let mut data = std::fs::read(&segs[0]).unwrap();
    let last = data.len() - 3;
    data[last] ^= 0xff; // the last record of the oldest segment
    std::fs::write(&segs[0], data).unwrap();
    let ch = DurableChannel::open(&cfg).unwrap();
    let all = ch.take(usize::MAX, T).unwrap().unwrap();
    assert!(all.events.len() >= 1980 && all.events.len() < 2000, "{}", all.events.len());
    assert_eq!(all.events.last().unwrap(), &ev(1999));
}

#[test]
fn disk_floor_refuses_puts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ChannelConfig { min_free_disk_bytes: u64::MAX, ..durable_config(dir.path()) };
    let ch = DurableChannel::open(&cfg).unwrap();
    let err = ch.put(&[b"x"], None, T).unwrap_err();
    assert!(matches!(err, ChannelError::DiskFloor { .. }) && err.is_transient(), "{err}");
    assert_eq!(ch.stats().events, 0);
}

#[test]
fn config_validation() {
    let no_dir = ChannelConfig::default();
    let err = no_dir.validate("channel").unwrap_err();
    assert_eq!((err.key.as_str(), err.to_string().as_str()), ("channel.dir", "channel.dir is required for a durable channel"));
    let mem = ChannelConfig { kind: ChannelKind::Memory, ..Default::default() };
    assert!(mem.open("channel").is_ok());
    assert_eq!(ChannelConfig { max_events: 0, ..mem.clone() }.validate("x").unwrap_err().key, "x.max_events");
    let err = ChannelConfig { max_bytes: 10, ..mem }.open("x").err().expect("a too small channel is refused");
    assert!(matches!(&err, ChannelError::Config(e) if e.key == "x.max_bytes"), "{err}");
    assert_eq!(err.to_string(), "invalid channel configuration: x.max_bytes must be at least 4096");
}

/// Child side of the kill -9 test: puts batches forever, printing each
/// sequence after its put returned (i.e. after fsync).
#[test]
#[ignore]
fn crash_writer_child() {
    let Ok(dir) = std::env::var("CHANNEL_CRASH_DIR") else { return };
    let ch = DurableChannel::open(&durable_config(std::path::Path::new(&dir))).unwrap();
    let mut out = std::io::stdout();
    for b in 0u32.. {
        put_range(&ch, b * 10, b * 10 + 10, Some(Position { key: "f".into(), value: b.to_le_bytes().to_vec() }));
        writeln!(out, "PUT {b}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn kill_9_loses_no_acknowledged_put() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_writer_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("CHANNEL_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last = None;
        let target = 20 + round * 37;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(b) = line.strip_prefix("PUT ") {
                last = Some(b.parse::<u32>().unwrap());
                if last.unwrap() as u64 >= target {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let ch = DurableChannel::open(&durable_config(dir.path())).unwrap();
        let acknowledged = last.unwrap();
        let all = ch.take(usize::MAX, T).unwrap().unwrap();
        let expected: Vec<Vec<u8>> = (0..(acknowledged + 1) * 10).map(ev).collect();
        assert!(all.events.len() >= expected.len(), "round {round}: lost acknowledged puts");
        assert_eq!(&all.events[..expected.len()], &expected[..]);
        let pos = u32::from_le_bytes(ch.positions()["f"].clone().try_into().unwrap());
        assert!(pos >= acknowledged, "position {pos} behind acknowledged put {acknowledged}");
        ch.commit(all.id).unwrap();
    }
}
