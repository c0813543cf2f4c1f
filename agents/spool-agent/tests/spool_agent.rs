//! The real `spool-agent` binary against a real Flume Avro RPC receiver:
//! delivery, every Flume failure mode, crashes and backpressure.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use common::*;

const HOST: &str = "weblog1";
const MAX_LINE: usize = 65536;

fn sample() -> Vec<u8> {
    repo_file("sample-logs/weblog1.txt")
}

fn start(dirs: &AgentDirs, receiver: &TestReceiver, extra: &str) -> Service {
    Agent::start(dirs, &config_text(dirs, HOST, &[receiver.addr], free_port(), extra))
}

fn has_all<'a>(receiver: &TestReceiver, ids: impl IntoIterator<Item = &'a String>) -> bool {
    let got = receiver.ids();
    ids.into_iter().all(|id| got.contains(id))
}

fn completed(dirs: &AgentDirs, name: &str) -> bool {
    dirs.spool.join(format!("{name}.COMPLETED")).exists()
}

#[test]
fn delivers_every_valid_line_once_and_keeps_rejects_aside() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let agent = start(&dirs, &receiver, "");
    let content = sample();
    dirs.drop_file("access.log", &content);
    let want = expected(HOST, &content, MAX_LINE);
    wait_until(Duration::from_secs(30), "file completed", || completed(&dirs, "access.log"));
    wait_until(Duration::from_secs(30), "all events delivered", || receiver.count() >= want.ids.len());
    let got = receiver.events();
    assert_eq!(got.len(), want.ids.len(), "each event exactly once in a clean run");
    assert_eq!(receiver.ids(), want.ids.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(dead_letters(&dirs.dead_letter_dir()), want.rejected, "every rejected line in the dead-letter file with its reason");
    assert_eq!(want.ids.len() + want.rejected.len(), content.split_inclusive(|b| *b == b'\n').count());
    // Headers and body agree; the event is the line.
    for g in got.iter().take(50) {
        assert_eq!(g.headers["event_id"], g.event.event_id);
        assert_eq!(g.headers["host"], HOST);
        assert_eq!(g.headers["category"], g.event.category);
        assert_eq!(g.headers["timestamp"], g.event.event_time_ms.to_string());
        let offset = want.ids[g.event.event_id.as_ref()];
        let line = content[offset as usize..].split(|b| *b == b'\n').next().unwrap();
        assert_eq!(g.event.raw_line.as_bytes(), line);
    }
    assert_eq!(agent.metric("spool_agent_lines_accepted_total", ""), want.ids.len() as f64);
    assert_eq!(agent.metric("spool_agent_lines_rejected_total", ""), want.rejected.len() as f64);
    assert_eq!(agent.metric("spool_agent_files_completed_total", ""), 1.0);
    assert_eq!(agent.terminate(), Some(0), "SIGTERM exits cleanly");
}

#[test]
fn reused_name_duplicate_content_zero_byte_and_gzip() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let agent = start(&dirs, &receiver, "");
    let content = sample();
    let (first, second) = content.split_at(content.len() / 2);
    let cut = first.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    let (a, b) = (&content[..cut], &content[cut..]);
    let _ = second;
    // 1. a.log with content A
    dirs.drop_file("a.log", a);
    wait_until(Duration::from_secs(30), "a.log completed", || completed(&dirs, "a.log"));
    // 2. the same name with new content B: a new file (Flume stopped here).
    dirs.drop_file("a.log", b);
    wait_until(Duration::from_secs(30), "reused a.log completed", || dirs.spool.join("a.log.COMPLETED.1").exists());
    // 3. content A again under another name: a duplicate, skipped.
    dirs.drop_file("copy-of-a.log", a);
    wait_until(Duration::from_secs(30), "duplicate completed", || completed(&dirs, "copy-of-a.log"));
    // 4. an empty file.
    dirs.drop_file("empty.log", b"");
    wait_until(Duration::from_secs(30), "empty completed", || completed(&dirs, "empty.log"));
    // 5. gzip, read transparently.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let tail = &content[content.len() - 20_000..];
    let tail = &tail[tail.iter().position(|b| *b == b'\n').unwrap() + 1..];
    gz.write_all(tail).unwrap();
    let gz = gz.finish().unwrap();
    dirs.drop_file("old.log.gz", &gz);
    wait_until(Duration::from_secs(30), "gzip completed", || completed(&dirs, "old.log.gz"));

    let mut want: BTreeSet<String> = expected(HOST, a, MAX_LINE).ids.into_keys().collect();
    want.extend(expected(HOST, b, MAX_LINE).ids.into_keys());
    want.extend(expected(HOST, tail, MAX_LINE).ids.into_keys());
    wait_until(Duration::from_secs(30), "all delivered", || receiver.ids().len() >= want.len());
    assert_eq!(receiver.ids(), want);
    assert_eq!(receiver.count(), want.len(), "the duplicate drop sent nothing");
    assert_eq!(agent.metric("spool_agent_files_duplicate_total", ""), 1.0);
    assert_eq!(agent.metric("spool_agent_files_completed_total", ""), 5.0);
}

#[test]
fn binary_truncated_gzip_and_huge_lines_never_stop_the_agent() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let agent = start(&dirs, &receiver, "");
    // A binary file: quarantined with a reason file.
    let mut binary = vec![0u8; 4096];
    binary[100] = 7;
    dirs.drop_file("core.dump", &binary);
    // A gzip file cut short: quarantined, what was delivered recorded.
    let content = sample();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&content).unwrap();
    let gz = gz.finish().unwrap();
    dirs.drop_file("cut.log.gz", &gz[..gz.len() / 2]);
    // A huge line between two good ones: rejected whole as too_long, not split.
    let good = content.split_inclusive(|b| *b == b'\n').next().unwrap().to_vec();
    let mut huge = good.clone();
    huge.extend(std::iter::repeat_n(b'x', 200_000));
    huge.push(b'\n');
    huge.extend(&good);
    dirs.drop_file("huge.log", &huge);
    wait_until(Duration::from_secs(30), "huge.log completed", || completed(&dirs, "huge.log"));
    wait_until(Duration::from_secs(30), "two files quarantined", || agent.metric("spool_agent_files_quarantined_total", "") >= 2.0);
    assert_eq!(agent.metric("spool_agent_files_quarantined_total", "reason=\"not_text\""), 1.0);
    assert_eq!(agent.metric("spool_agent_files_quarantined_total", "reason=\"truncated_gzip\""), 1.0);
    let reasons: Vec<serde_json::Value> = std::fs::read_dir(dirs.quarantine_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "reason"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect();
    assert_eq!(reasons.len(), 2);
    let cut = reasons.iter().find(|r| r["reason"] == "truncated_gzip").unwrap();
    assert!(cut["delivered_up_to_offset"].as_u64().unwrap() > 0, "{cut}");
    assert!(!dirs.spool.join("core.dump").exists() && !dirs.spool.join("cut.log.gz").exists());
    let dl = dead_letters(&dirs.dead_letter_dir());
    assert_eq!(dl.get(&(good.len() as u64)).map(String::as_str), Some("too_long"));
    // The two good lines of huge.log arrived, plus whatever the cut gzip delivered before its end.
    let huge_ids = expected(HOST, &huge, MAX_LINE).ids;
    assert_eq!(huge_ids.len(), 2);
    wait_until(Duration::from_secs(10), "good lines delivered", || has_all(&receiver, huge_ids.keys()));
    // Still working afterwards.
    dirs.drop_file("after.log", &good);
    wait_until(Duration::from_secs(30), "after.log completed", || completed(&dirs, "after.log"));
}

#[test]
fn appended_deleted_and_renamed_files_and_a_recreated_spool_dir() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    // A small channel and a slow receiver keep a big file in reading for a while.
    receiver.set_delay(Duration::from_millis(40));
    let extra = "";
    let cfg = with_setting(&config_text(&dirs, HOST, &[receiver.addr], free_port(), extra), "channel", "max_events", "1000");
    let agent = Agent::start(&dirs, &cfg);
    let content = sample();
    let mut big = Vec::new();
    for _ in 0..8 {
        big.extend_from_slice(&content);
    }
    // Appended to after reading started: read up to the size it had when
    // picked up, the rest (ending in half a line) as its extension once it
    // is quiet again; never quarantined.
    let path = dirs.drop_file("growing.log", &big);
    wait_until(Duration::from_secs(30), "reading started", || receiver.count() > 0);
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&content[..500]).unwrap();
    let grown = [&big[..], &content[..500]].concat();
    let want = expected(HOST, &grown, MAX_LINE).ids;
    wait_until(Duration::from_secs(90), "growing.log completed", || completed(&dirs, "growing.log"));
    wait_until(Duration::from_secs(30), "grown file fully delivered", || has_all(&receiver, want.keys()));
    assert_eq!(agent.metric("spool_agent_files_quarantined_total", ""), 0.0, "an append is not a modification");
    // Each file below is a log of its own (its own first line); a copy of
    // growing.log's content would be recognised as delivered.
    // Deleted while read: the open file is read to its end and delivered.
    let before = receiver.count();
    let deleted_content = [&b"# deleted\n"[..], &big].concat();
    let path = dirs.drop_file("deleted.log", &deleted_content);
    wait_until(Duration::from_secs(30), "reading started", || receiver.count() > before);
    std::fs::remove_file(&path).unwrap();
    let want = expected(HOST, &deleted_content, MAX_LINE).ids;
    wait_until(Duration::from_secs(60), "deleted file fully delivered", || has_all(&receiver, want.keys()));
    // Renamed while read (to a hidden name, which the agent ignores): the open
    // file is read to its end, delivered once, and not picked up again.
    let renamed_content = [&b"# renamed\n"[..], &big].concat();
    let before = receiver.count();
    let path = dirs.drop_file("renamed.log", &renamed_content);
    wait_until(Duration::from_secs(30), "reading started", || receiver.count() > before);
    std::fs::rename(&path, dirs.spool.join(".renamed.log")).unwrap();
    let want = expected(HOST, &renamed_content, MAX_LINE).ids;
    wait_until(Duration::from_secs(60), "renamed file fully delivered", || has_all(&receiver, want.keys()));
    receiver.set_delay(Duration::ZERO);
    // Spool directory removed and re-created.
    std::fs::remove_dir_all(&dirs.spool).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::create_dir_all(&dirs.spool).unwrap();
    let small = &content[..content.len() / 4];
    let small = &small[..small.iter().rposition(|b| *b == b'\n').unwrap() + 1];
    dirs.drop_file("after-recreate.log", small);
    wait_until(Duration::from_secs(30), "file in re-created dir completed", || completed(&dirs, "after-recreate.log"));
    let want = expected(HOST, small, MAX_LINE).ids;
    wait_until(Duration::from_secs(30), "delivered", || has_all(&receiver, want.keys()));
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn kill_9_at_several_points_loses_nothing_and_keeps_ids() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    receiver.set_delay(Duration::from_millis(5));
    let port = free_port();
    let cfg = config_text(&dirs, HOST, &[receiver.addr], port, "");
    let content = sample();
    let mut files = Vec::new();
    for i in 0..3 {
        // Three logs: each its own first line (the stream's identity).
        let mut c = format!("# file {i}\n").into_bytes();
        c.extend_from_slice(&content);
        files.push((format!("f{i}.log"), c));
    }
    let mut want = BTreeSet::new();
    for (name, c) in &files {
        dirs.drop_file(name, c);
        want.extend(expected(HOST, c, MAX_LINE).ids.into_keys());
    }
    // Kill at increasing progress points, restart each time.
    for target in [1usize, 2_000, 6_000, 9_000] {
        let agent = Agent::start(&dirs, &cfg);
        wait_until(Duration::from_secs(60), "progress", || receiver.count() >= target || receiver.ids().len() == want.len());
        agent.kill9();
    }
    let agent = Agent::start(&dirs, &cfg);
    wait_until(Duration::from_secs(60), "everything delivered", || receiver.ids().len() >= want.len());
    wait_until(Duration::from_secs(30), "all completed", || files.iter().all(|(n, _)| completed(&dirs, n)));
    assert_eq!(receiver.ids(), want, "no line lost, and every id is the one the line always gets");
    let dup = receiver.count() - want.len();
    // At most the unacknowledged batches of each crash come again (4 kills, batches of 500).
    assert!(dup <= 4 * 2 * 500, "{dup} duplicates");
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn receiver_down_then_back_and_failover() {
    let dirs = AgentDirs::new();
    let mut primary = TestReceiver::start();
    let backup = TestReceiver::start();
    primary.stop();
    let port = free_port();
    let cfg = config_text(&dirs, HOST, &[primary.addr, backup.addr], port, "");
    // Backup down too at first: everything waits in the channel.
    let mut backup = backup;
    backup.stop();
    let agent = Agent::start(&dirs, &cfg);
    let content = sample();
    dirs.drop_file("a.log", &content);
    let want: BTreeSet<String> = expected(HOST, &content, MAX_LINE).ids.into_keys().collect();
    wait_until(Duration::from_secs(30), "events waiting in the channel", || agent.metric("spool_agent_channel_events", "") >= want.len() as f64);
    assert!(agent.metric("spool_agent_batches_failed_total", "") > 0.0);
    assert_eq!(agent.metric("spool_agent_receiver_up", ""), 0.0, "both receivers backing off");
    // The backup comes back first: failover delivers there.
    backup.restart();
    wait_until(Duration::from_secs(30), "delivered to backup", || backup.ids().len() == want.len());
    assert_eq!(backup.ids(), want);
    primary.restart();
    // The primary is preferred again once it is back and its backoff (at most
    // backoff_max = 500 ms) has run out; until then failover rightly uses the backup.
    std::thread::sleep(Duration::from_millis(1200));
    let more = &content[..2000];
    let more = &more[..more.iter().rposition(|b| *b == b'\n').unwrap() + 1];
    let mut m = more.to_vec();
    m.extend_from_slice(b"# another file\n");
    dirs.drop_file("b.log", &m);
    let want_b: BTreeSet<String> = expected(HOST, &m, MAX_LINE).ids.into_keys().collect();
    wait_until(Duration::from_secs(30), "b.log delivered to primary", || primary.ids().is_superset(&want_b));
    wait_until(Duration::from_secs(10), "channel drained", || agent.metric("spool_agent_channel_events", "") == 0.0);
}

#[test]
fn failed_status_is_retried_not_lost() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    receiver.fail_next(3);
    let agent = start(&dirs, &receiver, "");
    let content = sample();
    dirs.drop_file("a.log", &content);
    let want: BTreeSet<String> = expected(HOST, &content, MAX_LINE).ids.into_keys().collect();
    wait_until(Duration::from_secs(30), "delivered", || receiver.ids().len() == want.len());
    assert_eq!(receiver.ids(), want);
    assert_eq!(agent.metric("spool_agent_batches_failed_total", ""), 3.0);
}

#[test]
fn disk_floor_pauses_the_source_until_space_returns() {
    let dirs = AgentDirs::new();
    let disk = SmallDisk::mount(&dirs.root.path().join("small-disk"), "64m")
        .unwrap_or_else(|e| panic!("this test mounts a 64 MiB tmpfs as the channel's disk and needs root (CI runs as root): {e}"));
    let mnt = disk.path.clone();
    let receiver = TestReceiver::start();
    let cfg = config_text(&dirs, HOST, &[receiver.addr], free_port(), "");
    let cfg = with_setting(&cfg, "channel", "min_free_disk_bytes", "33554432");
    let cfg = with_setting(&cfg, "channel", "dir", &format!("\"{}\"", mnt.join("channel").display()));
    // Leave less than the 32 MiB floor free.
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![1u8; 40 << 20]).unwrap();
    let agent = Agent::start(&dirs, &cfg);
    let content = sample();
    dirs.drop_file("a.log", &content);
    wait_until(Duration::from_secs(30), "source paused on the disk floor", || {
        agent.metric("spool_agent_source_paused_total", "reason=\"disk_floor\"") > 0.0
    });
    assert_eq!(receiver.count(), 0);
    std::fs::remove_file(&ballast).unwrap();
    let want: BTreeSet<String> = expected(HOST, &content, MAX_LINE).ids.into_keys().collect();
    wait_until(Duration::from_secs(30), "resumed and delivered", || receiver.ids().len() == want.len());
    assert_eq!(agent.terminate(), Some(0));
}

/// The issue-17 scenario: the receiver is down, the channel fills a small
/// disk up to its floor, the source pauses (once, without spinning); the
/// receiver comes back, the channel drains, gives back the space of its
/// acknowledged active segment, and the source resumes by itself. Every
/// line arrives (distinct ids counted downstream).
#[test]
fn a_full_disk_pauses_without_spinning_and_recovers_by_itself() {
    let dirs = AgentDirs::new();
    let disk = match SmallDisk::mount(&dirs.root.path().join("small-disk"), "24m") {
        Ok(d) => d,
        Err(e) => {
            println!("SKIPPED a_full_disk_pauses_without_spinning_and_recovers_by_itself: cannot mount a small tmpfs here ({e}); run as root");
            return;
        }
    };
    let mut receiver = TestReceiver::start();
    receiver.stop();
    let floor: u64 = 8 << 20;
    let cfg = config_text(&dirs, HOST, &[receiver.addr], free_port(), "");
    let cfg = with_setting(&cfg, "channel", "min_free_disk_bytes", &floor.to_string());
    // The default 64 MiB segment never rolls on this disk: only reclaiming frees it.
    let cfg = with_setting(&cfg, "channel", "dir", &format!("\"{}\"", disk.path.join("channel").display()));
    let agent = Agent::start(&dirs, &cfg);
    let mut want = BTreeSet::new();
    for f in 0..4 {
        let content = generated_lines(f * 30_000, 30_000);
        let name = format!("web-{f}.log");
        want.extend(expected(HOST, &content, MAX_LINE).ids.into_keys());
        dirs.drop_file(&name, &content);
    }
    assert_eq!(want.len(), 120_000);
    let paused = |agent: &Service| agent.metric("spool_agent_source_paused_total", "reason=\"disk_floor\"");
    wait_until(Duration::from_secs(120), "source paused on the disk floor", || paused(&agent) >= 1.0);
    assert!(disk.available() < floor, "the channel filled the disk to its floor");
    assert_eq!(receiver.count(), 0);

    // The pause: no spin, counted once.
    let pid = agent.child.id();
    let cpu_before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(3));
    let cpu = cpu_time(pid) - cpu_before;
    assert!(cpu < Duration::from_millis(300), "the paused agent used {cpu:?} of CPU in 3 s");
    assert_eq!(paused(&agent), 1.0, "one pause, one count (not one per attempt)");

    // The receiver comes back: nothing else is done by hand.
    receiver.restart();
    wait_until(Duration::from_secs(180), "every line delivered after the disk-full", || receiver.ids().len() >= want.len());
    assert_eq!(receiver.ids(), want, "0 lost, no foreign ids");
    assert!(disk.available() > floor, "the drained channel gave its disk back");
    let log = std::fs::read_to_string(&agent.log).unwrap();
    let pauses = agent.metric("spool_agent_source_paused_total", "");
    assert_eq!(log.matches("source paused").count() as f64, pauses, "one log line per pause");
    assert!(log.contains("reclaimed the acknowledged active segment"));
    assert!(log.contains("source resumed"));
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn validate_names_the_bad_key_and_help_works() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let good = config_text(&dirs, HOST, &[receiver.addr], free_port(), "");
    let path = dirs.root.path().join("c.toml");
    let run = |text: &str| run_validate(&path, text, &[]);
    let ok = run(&good);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = run(&with_setting(&good, "source", "batch_size", "0"));
    assert_eq!(bad.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("source.batch_size"));
    let unknown = run(&with_setting(&good, "sink", "reciever", "1"));
    assert_eq!(unknown.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("reciever"));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_spool-agent")).arg("--help").output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("validate"));
}

/// `validate --connect` sends each receiver (a real Avro IPC server) the
/// handshake and an empty batch: a live one passes, a stopped one is named
/// with exit 69; the empty batch stores nothing.
#[test]
fn validate_connect_asks_every_receiver() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let mut stopped = TestReceiver::start();
    stopped.stop();
    let path = dirs.root.path().join("c.toml");
    let up = config_text(&dirs, HOST, &[receiver.addr], free_port(), "");
    let ok = run_validate(&path, &up, &["--connect"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(receiver.count(), 0, "the probe stores nothing");
    let one_down = config_text(&dirs, HOST, &[receiver.addr, stopped.addr], free_port(), "");
    let out = run_validate(&path, &one_down, &["--connect"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains(&format!("sink.receivers[1] {}", stopped.addr)), "{err}");
    assert!(!err.contains(&format!("sink.receivers[0] {}", receiver.addr)), "the live one is not named: {err}");
    assert_eq!(run_validate(&path, &up, &["--connect", "--config-only"]).status.code(), Some(2), "the two flags exclude each other");
}

/// `validate` checks the directories too: each problem names the key, the
/// path and what is wrong; `--config-only` checks the values alone.
#[test]
fn validate_reports_missing_unreadable_and_unwritable_directories() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let good = config_text(&dirs, HOST, &[receiver.addr], free_port(), "");
    let path = dirs.root.path().join("c.toml");
    let validate = |text: &str, extra: &[&str]| {
        let out = run_validate(&path, text, extra);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(validate(&good, &[]).0, Some(0));
    assert!(!dirs.state.exists(), "validate creates nothing");
    let quoted = |p: &std::path::Path| format!("\"{}\"", p.display());

    let missing = dirs.root.path().join("no-such-spool");
    let cfg = with_setting(&good, "source", "spool_dirs", &format!("[{}]", quoted(&missing)));
    let (code, err) = validate(&cfg, &[]);
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("source.spool_dirs[0]") && err.contains("no-such-spool") && err.contains("does not exist"), "{err}");
    assert_eq!(validate(&cfg, &["--config-only"]).0, Some(0), "--config-only does not look at the machine");

    let a_file = dirs.root.path().join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let cfg = with_setting(&good, "source", "spool_dirs", &format!("[{}]", quoted(&a_file)));
    let (code, err) = validate(&cfg, &[]);
    assert!(code == Some(78) && err.contains("source.spool_dirs[0]") && err.contains("is not a directory"), "{err}");

    let cfg = with_setting(&good, "agent", "state_dir", &quoted(&a_file.join("state")));
    let (code, err) = validate(&cfg, &[]);
    assert!(code == Some(78) && err.contains("agent.state_dir") && err.contains("cannot be created"), "{err}");
    assert!(
        err.contains("channel.dir") && err.contains("source.quarantine_dir") && err.contains("source.dead_letter_dir"),
        "every directory under it is named: {err}"
    );

    // A read-only file system: not writable even for root.
    let ro = dirs.root.path().join("read-only");
    std::fs::create_dir_all(&ro).unwrap();
    match std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"]).arg(&ro).output() {
        Ok(out) if out.status.success() => {
            let cfg = with_setting(&good, "agent", "state_dir", &quoted(&ro));
            let (code, err) = validate(&cfg, &[]);
            let _ = std::process::Command::new("umount").arg(&ro).status();
            assert!(code == Some(78) && err.contains("agent.state_dir") && err.contains("cannot be written") && err.contains("Read-only"), "{err}");
        }
        other => println!("SKIPPED the read-only state_dir case: cannot mount a tmpfs here ({other:?})"),
    }

    // A spool directory the agent's user cannot list (root would read anything: run as nobody).
    let closed = dirs.root.path().join("closed");
    std::fs::create_dir_all(&closed).unwrap();
    std::fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    std::fs::set_permissions(dirs.root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = with_setting(&good, "source", "spool_dirs", &format!("[{}]", quoted(&closed)));
    let cfg = with_setting(&cfg, "agent", "state_dir", "\"/tmp\"");
    std::fs::write(&path, &cfg).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let as_nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_spool-agent"), "validate"])
        .arg(&path)
        .output();
    match as_nobody {
        Ok(out) if out.status.code() != Some(127) && !String::from_utf8_lossy(&out.stderr).contains("setpriv:") => {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{err}");
            assert!(err.contains("source.spool_dirs[0]") && err.contains("cannot be"), "{err}");
        }
        other => println!("SKIPPED the unreadable spool directory case: cannot run as another user here ({other:?})"),
    }
}

/// Symbolic links and sub-directories in a spool directory are not read;
/// each is logged and counted once, not at every rescan.
#[test]
fn symlinks_and_subdirectories_are_logged_once_each() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let agent = start(&dirs, &receiver, "");
    let content = sample();
    let outside = dirs.root.path().join("outside.log");
    std::fs::write(&outside, &content).unwrap();
    std::os::unix::fs::symlink(&outside, dirs.spool.join("link.log")).unwrap();
    std::fs::create_dir(dirs.spool.join("sub")).unwrap();
    std::fs::write(dirs.spool.join("sub/inner.log"), &content).unwrap();
    dirs.drop_file("real.log", &content);
    wait_until(Duration::from_secs(30), "real.log completed", || completed(&dirs, "real.log"));
    // Several rescans (at most 500 ms apart in this configuration).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(agent.metric("spool_agent_files_skipped_total", "kind=\"symlink\""), 1.0);
    assert_eq!(agent.metric("spool_agent_files_skipped_total", "kind=\"directory\""), 1.0);
    let log = std::fs::read_to_string(&agent.log).unwrap();
    assert_eq!(log.matches("symbolic link in a spool directory skipped").count(), 1, "{log}");
    assert_eq!(log.matches("sub-directory of a spool directory skipped").count(), 1);
    assert!(dirs.spool.join("link.log").symlink_metadata().unwrap().file_type().is_symlink(), "the link is left alone");
    assert!(dirs.spool.join("sub/inner.log").exists());
    let want = expected(HOST, &content, MAX_LINE).ids.len();
    wait_until(Duration::from_secs(30), "real.log delivered", || receiver.count() >= want);
    assert_eq!(receiver.count(), want, "only real.log was read");
    assert_eq!(agent.metric("spool_agent_lines_accepted_total", ""), want as f64);
    assert_eq!(agent.terminate(), Some(0));
}

/// `lines_accepted` counts lines that reached the channel: while the channel
/// is full, lines read into the batch that waits are not counted yet.
#[test]
fn lines_accepted_counts_what_reached_the_channel() {
    let dirs = AgentDirs::new();
    let mut receiver = TestReceiver::start();
    receiver.stop();
    let cfg = config_text(&dirs, HOST, &[receiver.addr], free_port(), "");
    let cfg = with_setting(&cfg, "channel", "max_events", "1000");
    let agent = Agent::start(&dirs, &cfg);
    let content = generated_lines(0, 5000);
    dirs.drop_file("big.log", &content);
    wait_until(Duration::from_secs(30), "channel full", || agent.metric("spool_agent_source_paused_total", "reason=\"channel_full\"") >= 1.0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(agent.metric("spool_agent_channel_events", ""), 1000.0);
    assert_eq!(agent.metric("spool_agent_lines_accepted_total", ""), 1000.0, "the batch of 500 waiting for room is not counted");
    receiver.restart();
    wait_until(Duration::from_secs(60), "delivered", || receiver.ids().len() >= 5000);
    wait_until(Duration::from_secs(10), "counted", || agent.metric("spool_agent_lines_accepted_total", "") == 5000.0);
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn apache_avro_java_netty_server_receives_the_agents_batches() {
    let dirs = AgentDirs::new();
    let java = JavaFlumeServer::start(dirs.root.path());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], java.port).into();
    let agent = Agent::start(&dirs, &config_text(&dirs, HOST, &[addr], free_port(), ""));
    let content = sample();
    dirs.drop_file("access.log", &content);
    let want = expected(HOST, &content, MAX_LINE);
    wait_until(Duration::from_secs(60), "Java side received everything", || java.received().len() >= want.ids.len());
    let got = java.received();
    assert_eq!(got.len(), want.ids.len());
    let mut ids = BTreeSet::new();
    for (headers, body) in &got {
        // What Java decoded: the headers, and a body that is the ClickEvent datum.
        let event = clickstream_contract::ClickEvent::decode_datum(body).expect("body decodes as a ClickEvent");
        assert_eq!(headers["event_id"].as_str(), Some(event.event_id.as_ref()));
        assert_eq!(headers["host"].as_str(), Some(HOST));
        assert_eq!(headers["category"].as_str(), Some(event.category.as_ref()));
        assert_eq!(headers["timestamp"].as_str().unwrap(), event.event_time_ms.to_string());
        let offset = want.ids[event.event_id.as_ref()] as usize;
        assert_eq!(event.raw_line.as_bytes(), content[offset..].split(|b| *b == b'\n').next().unwrap());
        ids.insert(event.event_id.to_string());
    }
    assert_eq!(ids, want.ids.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(agent.terminate(), Some(0));
}

/// `[sink.tls]`: an agent that does not trust the receiver's certificate
/// delivers nothing and loses nothing (the batches wait in its channel);
/// restarted with the right CA it delivers every event exactly once.
#[test]
fn delivers_over_tls_only_to_a_receiver_it_trusts() {
    use clickstream_avro_ipc::server::ServerLimits;
    use clickstream_avro_ipc::test_pki::write_test_pki;
    use clickstream_avro_ipc::ServerTls;

    let dirs = AgentDirs::new();
    let pki = write_test_pki(dirs.root.path());
    let tls = ServerTls::from_pem_files(&pki.cert, &pki.key).unwrap();
    let receiver = TestReceiver::start_with(ServerLimits { tls: Some(tls), ..ServerLimits::default() });
    let trusting = |ca: &std::path::Path| format!("[sink.tls]\nca = \"{}\"\n", ca.display());
    let agent = start(&dirs, &receiver, &trusting(&pki.other_ca));
    let content = sample();
    dirs.drop_file("access.log", &content);
    let want = expected(HOST, &content, MAX_LINE);
    wait_until(Duration::from_secs(30), "failed deliveries", || agent.metric("spool_agent_batches_failed_total", "") >= 2.0);
    assert_eq!(receiver.count(), 0, "nothing reaches a receiver whose certificate is not trusted");
    assert_eq!(agent.terminate(), Some(0));

    let agent = start(&dirs, &receiver, &trusting(&pki.ca));
    wait_until(Duration::from_secs(30), "all events delivered over TLS", || receiver.count() >= want.ids.len());
    assert_eq!(receiver.count(), want.ids.len(), "each event exactly once");
    assert_eq!(receiver.ids(), want.ids.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(agent.terminate(), Some(0));
}
