//! The HDFS sink against the local disk (`file://`) and the stack's real
//! Hadoop HDFS (`scripts/stack up hdfs`; `HDFS_URL`, default
//! `hdfs://127.0.0.1:8020`). Every file is read back with apache-avro and
//! every record compared byte for byte with what the parser produced.
//!
//! - `namenode_restart_*` stops and starts the stack's HDFS, which other
//!   test binaries may be using: it runs only with `HDFS_RESTART_TESTS=1`
//!   (and holds [`HDFS_LOCK`] so this binary's other tests wait).
//! - `throughput_*` is `#[ignore]`d; run it in release with `--ignored --nocapture`.
//! - `child_writer` is `#[ignore]`d: it is the child process the kill -9
//!   tests start (this same test binary), not a test of its own.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clickstream_master_copy::container::BlockEncoder;
use clickstream_master_copy::layout::PathTemplate;
use clickstream_master_copy::storage::local::LocalStorage;
use common::hdfs::*;
use fanout_agent::sinks::hdfs::{Codec, HdfsFailure, HdfsSink, HdfsSinkConfig, HdfsSinkSettings, HdfsSinkStats};
use fanout_agent::sinks::{BatchSink, Failure, SinkError};

async fn hdfs_shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    HDFS_LOCK.read().await
}

/// `cfg` validated as the agent does, for an agent whose instance id is
/// `instance_id` (the file prefix unless `cfg` sets one).
fn settings(cfg: &HdfsSinkConfig, instance_id: &str) -> HdfsSinkSettings {
    cfg.validate("sinks.hdfs", instance_id).unwrap()
}

async fn sink_for(_backend: &Backend, cfg: HdfsSinkConfig, prefix: &str) -> HdfsSink {
    HdfsSink::new(&settings(&cfg, prefix), HdfsSinkStats::default()).await.unwrap()
}

/// A deterministic shuffle, so that batches span many hours.
fn shuffled(mut v: Vec<TestEvent>) -> Vec<TestEvent> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn file_name_ok(path: &str, prefix: &str) -> bool {
    let name = path.rsplit('/').next().unwrap();
    let Some(rest) = name.strip_prefix(&format!("{prefix}-")).and_then(|r| r.strip_suffix(".avro")) else { return false };
    let mut parts = rest.split('-');
    let ok = |p: Option<&str>| p.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

// ------------------------------------------------------------------ exactly once

async fn exactly_once(backend: Backend, codec: Codec) {
    let events = sample_events(5000, "web1", |_, t| t);
    let cfg = HdfsSinkConfig { codec, ..backend.config() };
    let mut sink = sink_for(&backend, cfg, "fanout-1").await;
    let enc = records(&events);
    // Batches of uneven sizes, including single events.
    let mut i = 0;
    for size in [1000, 1, 250, 7, 1000, 1742, 1000].iter().cycle() {
        if i >= enc.len() {
            break;
        }
        let end = (i + size).min(enc.len());
        sink.write_batch(&enc[i..end]).await.unwrap();
        i = end;
    }
    assert!(!sink.open_files().is_empty(), "files stay open between batches");
    // In use: `_<name>.avro.tmp`, hidden from Hive, Spark and Trino by the `_`.
    assert!(sink.open_files().iter().all(|f| f.ends_with(".avro.tmp") && f.rsplit('/').next().unwrap().starts_with('_')), "{:?}", sink.open_files());
    sink.shutdown().await.unwrap();
    let stats = sink.stats().clone();
    assert_eq!(stats.events_written.get(), 5000);
    assert_eq!(stats.files_open.get(), 0);

    let rb = backend.read_back().await;
    rb.assert_exactly_once(&events);
    assert!(rb.other.is_empty(), "{:?}", rb.other);
    assert_eq!(stats.files_rolled.get() as usize, rb.files.len());
    for f in &rb.files {
        assert_eq!(f.codec, codec.avro_name(), "{}", f.path);
        assert!(file_name_ok(&f.path, "fanout-1"), "{}", f.path);
        assert!(f.path.starts_with("/clickstream/master/date="), "{}", f.path);
    }
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_lands_exactly_once_on_local_disk_with_each_codec() {
    for codec in [Codec::Deflate, Codec::Snappy, Codec::Null] {
        exactly_once(Backend::local(), codec).await;
    }
}

/// A batch of one hour, big enough to be cut into blocks compressed at once
/// on several cores: the file holds the records in the order of the batch,
/// and as many blocks as pieces were compressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_batch_compressed_in_parallel_keeps_its_order() {
    let backend = Backend::local();
    let hour_start = 1_764_000_000_000; // 2025-11-24T16:00:00Z, the start of an hour
    let events = sample_events(6000, "web1", |i, _| hour_start + i as i64);
    let mut sink = sink_for(&backend, backend.config(), "fanout-1").await;
    let enc = records(&events);
    sink.write_batch(&enc).await.unwrap();
    sink.shutdown().await.unwrap();
    let rb = backend.read_back().await;
    assert_eq!(rb.files.len(), 1, "one hour, one file");
    let want: Vec<&Vec<u8>> = events.iter().map(|e| &e.datum).collect();
    let got: Vec<&Vec<u8>> = rb.files[0].records.iter().collect();
    assert!(got == want, "records out of order or missing ({} read, {} written)", got.len(), want.len());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let raw: usize = events.iter().map(|e| e.datum.len()).sum();
    let expected_blocks = (raw / (256 << 10)).clamp(1, cores.min(8)) as u64;
    assert_eq!(sink.stats().blocks_written.get(), expected_blocks, "{raw} bytes on {cores} cores");
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_lands_exactly_once_on_hdfs() {
    let _g = hdfs_shared().await;
    exactly_once(Backend::hdfs("exactly-once-deflate"), Codec::Deflate).await;
    exactly_once(Backend::hdfs("exactly-once-snappy"), Codec::Snappy).await;
}

// ------------------------------------------------------------------ partitioning

async fn partitions(backend: Backend) {
    // Boundary instants whose directories are written out by hand.
    let fixed: &[(i64, &str)] = &[
        (1_795_219_199_999, "date=2026-11-20/hour=23"), // 2026-11-20T23:59:59.999Z
        (1_795_219_200_000, "date=2026-11-21/hour=00"), // 2026-11-21T00:00:00Z
        (1_709_209_800_000, "date=2024-02-29/hour=12"), // leap day
        (1_767_223_800_000, "date=2025-12-31/hour=23"), // new year's eve ...
        (1_767_226_200_000, "date=2026-01-01/hour=00"), // ... and the new year
        (946_684_799_000, "date=1999-12-31/hour=23"),   // a very late event
    ];
    let mut events = sample_events(3000, "web1", |i, t| if i < fixed.len() { fixed[i].0 } else { t });
    // The sample spans about two days; move a third of it a day later.
    for e in events.iter_mut().skip(fixed.len()).step_by(3) {
        e.time_ms += 86_400_000;
    }
    let events: Vec<TestEvent> = events.into_iter().map(retimed).collect();
    let events = shuffled(events);
    let cfg = HdfsSinkConfig { max_open_files: 128, ..backend.config() };
    let mut sink = sink_for(&backend, cfg, "part").await;
    write_all(&mut sink, &events, 1000).await;
    sink.shutdown().await.unwrap();

    let rb = backend.read_back().await;
    rb.assert_exactly_once(&events);
    let template = PathTemplate::parse("/clickstream/master/date=%Y-%m-%d/hour=%H/").unwrap();
    let by_id: std::collections::HashMap<&str, &TestEvent> = events.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut dirs = std::collections::BTreeSet::new();
    for f in &rb.files {
        dirs.insert(f.dir().to_string());
        for r in &f.records {
            let e = clickstream_contract::ClickEvent::decode_datum(r).unwrap();
            let mut want = String::new();
            template.render(e.event_time_ms, "", &mut want);
            assert_eq!(f.dir(), want, "event {} at {} in the wrong directory", e.event_id, e.event_time_ms);
            if let Some((_, dir)) = fixed.iter().find(|(t, _)| *t == e.event_time_ms) {
                assert_eq!(f.dir(), format!("/clickstream/master/{dir}"));
            }
            assert!(by_id.contains_key(&*e.event_id));
        }
    }
    for (_, dir) in fixed {
        assert!(dirs.contains(&format!("/clickstream/master/{dir}")), "{dir} missing from {dirs:?}");
    }
    assert!(dirs.len() > 50, "events spread over many hours: {}", dirs.len());
    backend.cleanup().await;
}

/// Re-encodes an event after its time changed (the datum carries the time).
fn retimed(mut e: TestEvent) -> TestEvent {
    let mut c = clickstream_contract::ClickEvent::decode_datum(&e.datum).unwrap().into_owned();
    if c.event_time_ms != e.time_ms {
        c.event_time_ms = e.time_ms;
        e.datum = c.to_datum();
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_follow_utc_event_time_on_local_disk() {
    partitions(Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_follow_utc_event_time_on_hdfs() {
    let _g = hdfs_shared().await;
    partitions(Backend::hdfs("partitions")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_escape_splits_by_source_host() {
    let backend = Backend::local();
    let mut events = sample_events(300, "web1", |_, t| t);
    events.extend(sample_events(300, "2600:1::5", |_, t| t));
    let cfg = HdfsSinkConfig { path: "/m/%{host}/date=%Y-%m-%d/".into(), ..backend.config() };
    let mut sink = sink_for(&backend, cfg, "hosts").await;
    write_all(&mut sink, &shuffled(events.clone()), 200).await;
    sink.shutdown().await.unwrap();
    let rb = backend.read_back().await;
    rb.assert_exactly_once(&events);
    for f in &rb.files {
        for r in &f.records {
            let e = clickstream_contract::ClickEvent::decode_datum(r).unwrap();
            let host_dir = if e.source_host == "web1" { "/m/web1/" } else { "/m/2600_1__5/" };
            assert!(f.path.starts_with(host_dir), "{} holds an event of {}", f.path, e.source_host);
        }
    }
}

// ------------------------------------------------------------------ rolling

async fn rolls_by_size(backend: Backend) {
    let events = sample_events(3000, "web1", |_, _| 1_795_132_800_000); // all in one hour
    let roll = 32 * 1024;
    let cfg = HdfsSinkConfig { roll_size: roll, codec: Codec::Null, ..backend.config() };
    let mut sink = sink_for(&backend, cfg, "size").await;
    write_all(&mut sink, &events, 20).await;
    sink.shutdown().await.unwrap();
    let rb = backend.read_back().await;
    rb.assert_exactly_once(&events);
    assert!(rb.files.len() >= 10, "rolled into {} files", rb.files.len());
    for f in &rb.files {
        assert!(f.len <= roll, "{} is {} bytes, over roll_size", f.path, f.len);
        assert!(f.len > roll / 2, "{} is only {} bytes: rolled too early", f.path, f.len);
    }
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_roll_by_size_on_local_disk() {
    rolls_by_size(Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_roll_by_size_on_hdfs() {
    let _g = hdfs_shared().await;
    rolls_by_size(Backend::hdfs("roll-size")).await;
}

async fn rolls_by_time(backend: Backend) {
    let events = sample_events(400, "web1", |_, _| 1_795_132_800_000);
    let enc = records(&events);
    // Idle: closed by tick once nothing was written for roll_idle.
    let cfg = HdfsSinkConfig { roll_idle: Duration::from_millis(800), roll_interval: Duration::ZERO, ..backend.config() };
    let mut sink = sink_for(&backend, cfg, "idle").await;
    sink.write_batch(&enc[..100]).await.unwrap();
    sink.tick().await.unwrap();
    assert_eq!(sink.open_files().len(), 1, "not idle yet");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    sink.tick().await.unwrap();
    assert!(sink.open_files().is_empty(), "rolled when idle");
    sink.wait_for_closes().await;
    let closed = backend.files().await;
    assert_eq!(closed.len(), 1);
    assert!(closed[0].0.ends_with(".avro"), "{closed:?}");
    assert_eq!(sink.stats().files_rolled.get(), 1);

    // Interval: a file older than roll_interval is closed before the next
    // write (and by tick), even if it is busy.
    let cfg = HdfsSinkConfig { roll_idle: Duration::ZERO, roll_interval: Duration::from_millis(800), ..backend.config() };
    let mut sink2 = sink_for(&backend, cfg, "interval").await;
    sink2.write_batch(&enc[100..200]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    sink2.write_batch(&enc[200..300]).await.unwrap();
    sink2.wait_for_closes().await;
    assert_eq!(sink2.stats().files_rolled.get(), 1, "the old file rolled before the write");
    assert_eq!(sink2.open_files().len(), 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    sink2.tick().await.unwrap();
    assert!(sink2.open_files().is_empty(), "tick rolls by interval too");
    sink2.write_batch(&enc[300..400]).await.unwrap();
    sink2.shutdown().await.unwrap();
    sink.shutdown().await.unwrap();
    let rb = backend.read_back().await;
    rb.assert_exactly_once(&events);
    assert_eq!(rb.files.len(), 4);
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_roll_by_idle_time_and_interval_on_local_disk() {
    rolls_by_time(Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_roll_by_idle_time_and_interval_on_hdfs() {
    let _g = hdfs_shared().await;
    rolls_by_time(Backend::hdfs("roll-time")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_open_files_stay_open() {
    let backend = Backend::local();
    // Six hours in every batch.
    let events = sample_events(1200, "web1", |i, _| 1_795_132_800_000 + (i % 6) as i64 * 3_600_000);
    let cfg = HdfsSinkConfig { max_open_files: 3, ..backend.config() };
    let mut sink = sink_for(&backend, cfg, "lru").await;
    for chunk in records(&events).chunks(300) {
        sink.write_batch(chunk).await.unwrap();
        assert!(sink.open_files().len() <= 3, "{:?}", sink.open_files());
    }
    sink.shutdown().await.unwrap();
    let rb = backend.read_back().await;
    rb.assert_exactly_once(&events);
    let dirs: std::collections::BTreeSet<&str> = rb.files.iter().map(|f| f.dir()).collect();
    assert_eq!(dirs.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_are_not_click_events_are_skipped_and_counted() {
    let backend = Backend::local();
    let events = sample_events(10, "web1", |_, t| t);
    let mut batch = records(&events);
    batch.insert(3, b"not avro at all".to_vec());
    // A datum too short for a ClickEvent: an empty event id, then nothing.
    batch.insert(7, b"\x00".to_vec());
    let mut sink = sink_for(&backend, backend.config(), "bad").await;
    sink.write_batch(&batch).await.unwrap();
    sink.shutdown().await.unwrap();
    assert_eq!(sink.stats().events_rejected.get(), 2);
    backend.read_back().await.assert_exactly_once(&events);
}

// ------------------------------------------------------------------ crash recovery

async fn dropped_sink_is_recovered(backend: Backend) {
    let events = shuffled(sample_events(3000, "web1", |_, t| t));
    let enc = records(&events);
    // A crashed writer: five acknowledged batches, then gone without shutdown.
    let mut a = sink_for(&backend, backend.config(), "crashy").await;
    for chunk in enc[..1500].chunks(300) {
        a.write_batch(chunk).await.unwrap();
    }
    let left_open = a.open_files();
    assert!(left_open.len() > 10, "batches span many hours: {}", left_open.len());
    drop(a);
    // Another agent's leftover must not be touched.
    let mut other = sink_for(&backend, backend.config(), "crashy-2").await;
    other.write_batch(&enc[2900..]).await.unwrap();
    let other_open = other.open_files();
    drop(other);

    if !backend.is_hdfs() {
        // A torn block at the end of one leftover (a write cut by the crash),
        // an empty leftover (crash right after create), a stale salvage copy.
        let torn = left_open[0].clone();
        let mut block = Vec::new();
        let records: Vec<&[u8]> = events[..50].iter().map(|e| e.datum.as_slice()).collect();
        BlockEncoder::new(Codec::Deflate, 6).encode(&records, &mut block);
        backend.append_local(&torn, &block[..block.len() / 2]);
        let dir = &torn[..torn.rfind('/').unwrap()];
        backend.append_local_new(&format!("{dir}/crashy-1-999.avro.tmp"), b"");
        backend.append_local_new(&format!("{dir}/.crashy-1-998.avro.salvage"), b"Obj\x01junk");
    }

    let mut b = sink_for(&backend, backend.config(), "crashy").await;
    assert_eq!(b.stats().files_recovered.get() as usize, left_open.len(), "every leftover with blocks was kept");
    assert_eq!(b.stats().events_recovered.get(), 1500);
    assert!(b.pending_files().is_empty());
    // The channel re-delivers the batch in flight at the crash (never
    // acknowledged, say), then the rest.
    for chunk in enc[1200..2900].chunks(300) {
        b.write_batch(chunk).await.unwrap();
    }
    b.shutdown().await.unwrap();

    let rb = backend.read_back().await;
    let names = |v: &[String]| v.iter().map(|p| p.rsplit('/').next().unwrap().to_string()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(names(&rb.open), names(&other_open), "only the other prefix's files are left open");
    let counts = rb.id_counts(&events);
    for (i, e) in events.iter().enumerate() {
        // 1200..1500 were written again; 2900.. only went to the other prefix's open files.
        let want = match i {
            1200..1500 => 2,
            2900.. => 0,
            _ => 1,
        };
        assert_eq!(counts.get(&e.id).copied().unwrap_or(0), want, "event {i}");
    }
    assert!(rb.other.is_empty(), "no salvage or corrupt files left: {:?}", rb.other);
    backend.cleanup().await;
}

impl Backend {
    fn append_local_new(&self, rel: &str, bytes: &[u8]) {
        let Backend::Local { dir } = self else { panic!("local only") };
        std::fs::write(dir.path().join(rel.trim_start_matches('/')), bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_dropped_sink_are_recovered_on_local_disk() {
    dropped_sink_is_recovered(Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_dropped_sink_are_recovered_on_hdfs() {
    let _g = hdfs_shared().await;
    dropped_sink_is_recovered(Backend::hdfs("dropped")).await;
}

/// The child process of the kill -9 tests: writes batches through a sink and
/// prints `ACK <events so far>` after each acknowledged batch.
#[test]
#[ignore = "child process of the kill -9 tests"]
fn child_writer() {
    let Ok(url) = std::env::var("HDFS_SINK_CHILD_URL") else { return };
    let n: usize = std::env::var("HDFS_SINK_CHILD_EVENTS").unwrap().parse().unwrap();
    let events = shuffled(sample_events(n, "web1", |_, t| t));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let block_size = url.starts_with("hdfs://").then_some(1 << 20);
        let cfg = HdfsSinkConfig { url, call_timeout: Duration::from_secs(20), block_size, ..HdfsSinkConfig::default() };
        let mut sink = HdfsSink::new(&settings(&cfg, "killed"), HdfsSinkStats::default()).await.unwrap();
        let enc = records(&events);
        let mut done = 0;
        for chunk in enc.chunks(200) {
            sink.write_batch(chunk).await.unwrap();
            done += chunk.len();
            println!("ACK {done}");
        }
        println!("ALL");
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
}

async fn kill9(backend: Backend) {
    let n = 20_000;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_writer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("HDFS_SINK_CHILD_URL", backend.url())
        .env("HDFS_SINK_CHILD_EVENTS", n.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap());
    let mut acked = 0;
    for line in lines.lines() {
        let line = line.unwrap();
        if let Some(k) = line.strip_prefix("ACK ") {
            acked = k.parse().unwrap();
            if acked >= 6000 {
                break;
            }
        }
        assert_ne!(line, "ALL", "the child finished before it was killed");
    }
    child.kill().unwrap(); // SIGKILL, mid-stream: the child keeps writing until here
    child.wait().unwrap();
    let events = shuffled(sample_events(n, "web1", |_, t| t));

    let mut sink = sink_for(&backend, backend.config(), "killed").await;
    let recovered = sink.stats().events_recovered.get();
    assert!(recovered as usize >= acked, "recovered {recovered} events, {acked} were acknowledged");
    assert!(sink.pending_files().is_empty(), "{:?}", sink.pending_files());
    sink.shutdown().await.unwrap();
    let rb = backend.read_back().await;
    rb.assert_at_least_once(&events[..acked], &events);
    assert!(rb.other.is_empty(), "{:?}", rb.other);
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_no_acknowledged_event_on_local_disk() {
    kill9(Backend::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_no_acknowledged_event_on_hdfs() {
    let _g = hdfs_shared().await;
    kill9(Backend::hdfs("kill9")).await;
}

// ------------------------------------------------------------------ failures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_writes_are_retryable_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(Mutex::new(FaultPlan { tear_append: Some(2), fail_sync: Some(4), ..FaultPlan::default() }));
    let storage = Faulty { inner: LocalStorage::new(dir.path().to_path_buf()), plan: Arc::clone(&plan) };
    let cfg = HdfsSinkConfig { roll_idle: Duration::from_millis(300), ..HdfsSinkConfig::default() };
    let mut sink = HdfsSink::with_storage(storage, "", &settings(&cfg, "faulty"), HdfsSinkStats::default());
    let events = sample_events(2000, "web1", |_, _| 1_795_132_800_000);
    let enc = records(&events);
    let mut failures = 0;
    for chunk in enc.chunks(200) {
        failures += write_retrying(&mut sink, chunk, Duration::from_secs(30)).await;
    }
    assert_eq!(failures, 2, "one torn write, one failed sync");
    let stats = sink.stats().clone();
    assert_eq!(stats.files_recovered.get(), 2, "both abandoned files were finalised");
    assert_eq!(stats.write_errors.get(), 2);

    // A rename that fails after a clean close: retried by tick.
    plan.lock().unwrap().fail_renames = true;
    tokio::time::sleep(Duration::from_millis(400)).await;
    sink.tick().await.unwrap();
    assert!(sink.open_files().is_empty());
    sink.wait_for_closes().await;
    assert_eq!(sink.pending_files().len(), 1);
    assert_eq!(stats.files_pending.get(), 1);
    plan.lock().unwrap().fail_renames = false;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sink.tick().await.unwrap();
    assert!(sink.pending_files().is_empty());
    sink.shutdown().await.unwrap();

    let backend = Backend::Local { dir };
    let rb = backend.read_back().await;
    let counts = rb.assert_at_least_once(&events, &events);
    // Only the two failed batches may have been written twice.
    let dupes = counts.values().filter(|&&n| n > 1).count();
    assert!(dupes <= 400, "{dupes} duplicates");
    assert!(rb.other.is_empty(), "{:?}", rb.other);
    assert_eq!(rb.files.len(), 3, "two abandoned files and the last one");
}

/// A batch whose future is dropped in the middle of an append (the caller
/// gave up) leaves a torn block; the sink must not append behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_batch_does_not_poison_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(Mutex::new(FaultPlan { stall_append: Some(1), ..FaultPlan::default() }));
    let storage = Faulty { inner: LocalStorage::new(dir.path().to_path_buf()), plan };
    let mut sink = HdfsSink::with_storage(storage, "", &settings(&HdfsSinkConfig::default(), "cancel"), HdfsSinkStats::default());
    let events = sample_events(300, "web1", |_, _| 1_795_132_800_000);
    let enc = records(&events);
    sink.write_batch(&enc[..100]).await.unwrap();
    let stalled = tokio::time::timeout(Duration::from_millis(300), sink.write_batch(&enc[100..200])).await;
    assert!(stalled.is_err(), "the second batch hangs and is dropped");
    sink.write_batch(&enc[200..]).await.unwrap();
    assert_eq!(sink.stats().files_recovered.get(), 1, "the interrupted file was finalised");
    sink.shutdown().await.unwrap();
    let rb = Backend::Local { dir }.read_back().await;
    let counts = rb.id_counts(&events);
    for (i, e) in events.iter().enumerate() {
        let want = if (100..200).contains(&i) { 0 } else { 1 };
        assert_eq!(counts.get(&e.id).copied().unwrap_or(0), want, "event {i}");
    }
    assert!(rb.other.is_empty() && rb.open.is_empty());
}

/// While one batch is synced the next is compressed, but it is appended to
/// the file only once that sync is done, and acknowledgements keep order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_batch_is_appended_only_after_the_sync_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let plan = Arc::new(Mutex::new(FaultPlan { hold_sync: Some((0, Arc::clone(&release))), ..FaultPlan::default() }));
    let storage = Faulty { inner: LocalStorage::new(dir.path().to_path_buf()), plan: Arc::clone(&plan) };
    let mut sink = HdfsSink::with_storage(storage, "", &settings(&HdfsSinkConfig::default(), "pipelined"), HdfsSinkStats::default());
    assert_eq!(sink.max_in_flight(), 2, "one batch syncing, the next one behind it");
    let events = sample_events(400, "web1", |_, _| 1_795_132_800_000);
    let enc = records(&events);

    let mut first = sink.send_batch(&enc[..200]).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(200), &mut first).await.is_err(), "acknowledged before its sync finished");
    let appends = || plan.lock().unwrap().appends;
    let hold_then_release = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before_release = appends();
        release.notify_one();
        before_release
    };
    let (second, appended_while_held) = tokio::join!(sink.send_batch(&enc[200..]), hold_then_release);
    assert_eq!(appended_while_held, 1, "the second batch was appended while the first was being synced");
    first.await.unwrap();
    second.unwrap().await.unwrap();
    assert_eq!((appends(), plan.lock().unwrap().syncs), (2, 2));
    assert_eq!(sink.stats().events_written.get(), 400);
    sink.shutdown().await.unwrap();
    let rb = Backend::Local { dir }.read_back().await;
    rb.assert_exactly_once(&events);
    assert_eq!(rb.files.len(), 1, "both batches in one file");
}

/// A sync that fails while the next batch waits behind it: that batch goes
/// to a new file, the failed one is recovered, and only the failed batch
/// may be written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_sends_the_batch_behind_it_to_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let plan = Arc::new(Mutex::new(FaultPlan { hold_sync: Some((0, Arc::clone(&release))), fail_sync: Some(0), ..FaultPlan::default() }));
    let storage = Faulty { inner: LocalStorage::new(dir.path().to_path_buf()), plan: Arc::clone(&plan) };
    let mut sink = HdfsSink::with_storage(storage, "", &settings(&HdfsSinkConfig::default(), "resync"), HdfsSinkStats::default());
    let events = sample_events(600, "web1", |_, _| 1_795_132_800_000);
    let enc = records(&events);

    let first = sink.send_batch(&enc[..200]).await.unwrap();
    let release_soon = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        release.notify_one();
    };
    let (second, ()) = tokio::join!(sink.send_batch(&enc[200..400]), release_soon);
    let err = first.await.unwrap_err();
    let sync_failed = matches!(&err, SinkError::Retryable(Failure::Hdfs(HdfsFailure::Storage { cause })) if cause.message.starts_with("sync "));
    assert!(sync_failed, "{err}");
    second.unwrap().await.unwrap();
    // The failed batch is sent again, as the driver would.
    sink.write_batch(&enc[..200]).await.unwrap();
    sink.write_batch(&enc[400..]).await.unwrap();
    assert_eq!(sink.stats().files_recovered.get(), 1, "the file whose sync failed was finalised");
    sink.shutdown().await.unwrap();
    let rb = Backend::Local { dir }.read_back().await;
    let counts = rb.assert_at_least_once(&events, &events);
    for (i, e) in events.iter().enumerate() {
        let n = counts[&e.id];
        assert!(if i < 200 { n <= 2 } else { n == 1 }, "event {i} written {n} times");
    }
    assert_eq!(rb.files.len(), 2, "the recovered file and the one written after it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_files_it_could_not_finalise() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(Mutex::new(FaultPlan { fail_renames: true, ..FaultPlan::default() }));
    let storage = Faulty { inner: LocalStorage::new(dir.path().to_path_buf()), plan: Arc::clone(&plan) };
    let mut sink = HdfsSink::with_storage(storage, "", &settings(&HdfsSinkConfig::default(), "stuck"), HdfsSinkStats::default());
    let events = sample_events(100, "web1", |_, _| 1_795_132_800_000);
    sink.write_batch(&records(&events)).await.unwrap();
    let err = sink.shutdown().await.unwrap_err();
    let left =
        matches!(&err, SinkError::Retryable(Failure::Hdfs(HdfsFailure::LeftInUse { files })) if files.len() == 1 && files[0].ends_with(".avro.tmp"));
    assert!(left, "{err}");
    assert!(err.to_string().contains("1 file(s) left in use"), "{err}");
    // The next start finishes the job.
    plan.lock().unwrap().fail_renames = false;
    let storage = Faulty { inner: LocalStorage::new(dir.path().to_path_buf()), plan };
    let mut again = HdfsSink::with_storage(storage, "", &settings(&HdfsSinkConfig::default(), "stuck"), HdfsSinkStats::default());
    let report = again.recover().await.unwrap();
    assert_eq!((report.found, report.kept, report.records), (1, 1, 100));
    again.shutdown().await.unwrap();
    Backend::Local { dir }.read_back().await.assert_exactly_once(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_namenode_fails_batches_as_retryable() {
    // Nothing listens on port 1: connection refused at once.
    let cfg = HdfsSinkConfig { url: "hdfs://127.0.0.1:1".into(), call_timeout: Duration::from_secs(5), ..HdfsSinkConfig::default() };
    let started = Instant::now();
    let mut sink = HdfsSink::new(&settings(&cfg, "nowhere"), HdfsSinkStats::default()).await.expect("starts anyway");
    let events = sample_events(10, "web1", |_, t| t);
    let err = sink.write_batch(&records(&events)).await.unwrap_err();
    assert!(matches!(err, SinkError::Retryable(_)), "{err}");
    sink.tick().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

// ------------------------------------------------------------------ NameNode restart

fn stack(args: &[&str]) {
    let status = Command::new(repo().join("scripts/stack")).args(args).status().unwrap();
    assert!(status.success(), "scripts/stack {args:?} failed");
}

/// HDFS (NameNode and DataNode) stopped and started again mid-stream: the
/// sink answers retryable while it is down and carries on afterwards;
/// nothing acknowledged is lost. Restarts the shared stack, so opt-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_restart_mid_stream_loses_nothing() {
    if std::env::var("HDFS_RESTART_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set HDFS_RESTART_TESTS=1 to restart the stack's HDFS (other tests may be using it)");
        return;
    }
    let _g = HDFS_LOCK.write().await;
    let backend = Backend::hdfs("restart");
    let events = sample_events(6000, "web1", |_, _| 1_795_132_800_000);
    let enc = records(&events);
    let cfg = HdfsSinkConfig { call_timeout: Duration::from_secs(5), ..backend.config() };
    let mut sink = sink_for(&backend, cfg, "restart").await;
    for chunk in enc[..2000].chunks(500) {
        sink.write_batch(chunk).await.unwrap();
    }
    stack(&["down", "hdfs"]);
    let t = Instant::now();
    let err = sink.write_batch(&enc[2000..2500]).await.unwrap_err();
    assert!(matches!(err, SinkError::Retryable(_)), "{err}");
    assert!(t.elapsed() < Duration::from_secs(12), "failed within the call timeout: {:?}", t.elapsed());
    stack(&["up", "hdfs"]);
    let t = Instant::now();
    let failures = write_retrying(&mut sink, &enc[2000..2500], Duration::from_secs(120)).await;
    eprintln!("recovered after {:?} and {failures} more failures", t.elapsed());
    for chunk in enc[2500..].chunks(500) {
        write_retrying(&mut sink, chunk, Duration::from_secs(60)).await;
    }
    sink.shutdown().await.unwrap();
    assert!(sink.stats().files_recovered.get() >= 1, "the file open during the outage was recovered");
    let rb = backend.read_back().await;
    rb.assert_at_least_once(&events, &events);
    assert!(rb.other.is_empty(), "{:?}", rb.other);
    backend.cleanup().await;
}

// ------------------------------------------------------------------ throughput

/// Events/s into HDFS, batches of 1000, hsync per batch (one hour, so one
/// file at a time). `HDFS_SINK_BENCH_EVENTS` (default 200000), `…_CODEC`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p fanout-agent --test hdfs_sink -- --ignored throughput --nocapture"]
async fn throughput_hdfs_batches_of_1000() {
    let _g = hdfs_shared().await;
    let n: usize = std::env::var("HDFS_SINK_BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let codec = match std::env::var("HDFS_SINK_BENCH_CODEC").as_deref() {
        Ok("snappy") => Codec::Snappy,
        Ok("null") => Codec::Null,
        _ => Codec::Deflate,
    };
    let level: u8 = std::env::var("HDFS_SINK_BENCH_LEVEL").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let events = sample_events(n, "web1", |_, _| 1_795_132_800_000);
    let enc = records(&events);
    let bytes: usize = events.iter().map(|e| e.datum.len()).sum();
    for backend in [Backend::hdfs("bench"), Backend::local()] {
        let cfg = HdfsSinkConfig { codec, deflate_level: level, block_size: None, ..backend.config() };
        let mut sink = sink_for(&backend, cfg, "bench").await;
        let t = Instant::now();
        for chunk in enc.chunks(1000) {
            sink.write_batch(chunk).await.unwrap();
        }
        let write = t.elapsed();
        sink.shutdown().await.unwrap();
        let total = t.elapsed();
        let stats = sink.stats();
        let sync = Duration::from_secs_f64(stats.sync_seconds.get());
        println!(
            "{}: {n} events ({:.1} MB of datums) codec {codec:?} level {level}: {:.0} events/s ({:.1} MB/s in); per batch of 1000: sync {:.2} ms, the rest {:.2} ms; {:.1} MB written; with the final close {:.0} events/s",
            if backend.is_hdfs() { "hdfs" } else { "file" },
            bytes as f64 / 1e6,
            n as f64 / write.as_secs_f64(),
            bytes as f64 / 1e6 / write.as_secs_f64(),
            sync.as_secs_f64() * 1000.0 / (n / 1000) as f64,
            (write - sync).as_secs_f64() * 1000.0 / (n / 1000) as f64,
            stats.bytes_written.get() as f64 / 1e6,
            n as f64 / total.as_secs_f64(),
        );
        assert_eq!(backend.read_back().await.records(), n);
        backend.cleanup().await;
    }
}

/// The sink's futures stay small: `hdfs-native`'s write and close futures
/// are ~17 KB each and, nested inline, overflowed 2 MB test-thread stacks in
/// debug builds. Storage calls are boxed (see `recovery::timed`).
#[tokio::test]
async fn sink_futures_stay_small() {
    let cfg = HdfsSinkConfig { url: "hdfs://127.0.0.1:1".into(), ..HdfsSinkConfig::default() };
    let ready = settings(&cfg, "sz");
    let (storage, base) = ready.open_storage().unwrap();
    let mut sink = HdfsSink::with_storage(storage, &base, &ready, HdfsSinkStats::default());
    let batch: Vec<Vec<u8>> = Vec::new();
    let write_batch = std::mem::size_of_val(&sink.write_batch(&batch));
    let tick = std::mem::size_of_val(&sink.tick());
    let shutdown = std::mem::size_of_val(&sink.shutdown());
    let recover = std::mem::size_of_val(&sink.recover());
    for (what, size) in [("write_batch", write_batch), ("tick", tick), ("shutdown", shutdown), ("recover", recover)] {
        assert!(size < 16 * 1024, "{what}'s future is {size} bytes");
    }
}
