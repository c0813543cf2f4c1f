//! Line identity by position in the log stream, through the real binary:
//! copies of one log (grown, shorter, the same under another name, rotated
//! and compressed, truncated then repaired, appended while read) deliver
//! every line exactly once, with the id the rule gives it (computed here
//! independently, `common::expected`). Distinct ids and event counts are
//! counted at a real Flume Avro RPC receiver.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use common::*;

const HOST: &str = "weblog1";
const MAX_LINE: usize = 65536;

fn completed(dirs: &AgentDirs, name: &str) -> bool {
    dirs.spool.join(format!("{name}.COMPLETED")).exists()
}

/// Waits until the receiver has every id of `want`, then checks it got
/// exactly those, each once (no line sent twice, none missing).
fn assert_exactly_once(receiver: &TestReceiver, want: &BTreeSet<String>) {
    wait_until(Duration::from_secs(60), "every line delivered", || receiver.ids().is_superset(want));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(&receiver.ids(), want, "exactly the lines of the stream");
    assert_eq!(receiver.count(), want.len(), "each line sent once");
}

#[test]
fn grown_shorter_renamed_rotated_and_compressed_copies_deliver_every_line_once() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let agent = Agent::start(&dirs, &config_text(&dirs, HOST, &[receiver.addr], free_port(), ""));
    let part = generated_lines(0, 1800);
    let full = generated_lines(0, 3000);
    let longer = generated_lines(0, 3600);
    assert!(full.starts_with(&part) && longer.starts_with(&full));

    dirs.drop_file("web-a.log", &part);
    wait_until(Duration::from_secs(30), "web-a.log completed", || completed(&dirs, "web-a.log"));
    // The same log after it grew, under the same name: only its new lines.
    dirs.drop_file("web-a.log", &full);
    wait_until(Duration::from_secs(30), "grown web-a.log completed", || dirs.spool.join("web-a.log.COMPLETED.1").exists());
    assert_exactly_once(&receiver, &expected(HOST, &full, MAX_LINE).ids.into_keys().collect());

    // The same content under other names, a shorter copy, and logrotate's names.
    dirs.drop_file("copy-of-web-a.log", &full);
    dirs.drop_file("web-a-short.log", &part);
    dirs.drop_file("access.log.1", &full);
    for name in ["copy-of-web-a.log", "web-a-short.log", "access.log.1"] {
        wait_until(Duration::from_secs(30), name, || completed(&dirs, name));
    }
    assert_eq!(agent.metric("spool_agent_files_duplicate_total", ""), 3.0);
    // Rotated and compressed after it grew further: only the newest lines.
    dirs.drop_file("access.log.2.gz", &gzip(&longer));
    wait_until(Duration::from_secs(30), "access.log.2.gz completed", || completed(&dirs, "access.log.2.gz"));
    assert_exactly_once(&receiver, &expected(HOST, &longer, MAX_LINE).ids.into_keys().collect());
    assert_eq!(agent.metric("spool_agent_files_quarantined_total", ""), 0.0);
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn a_truncated_gzip_repaired_and_dropped_again_delivers_only_the_rest() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    let agent = Agent::start(&dirs, &config_text(&dirs, HOST, &[receiver.addr], free_port(), ""));
    let log = generated_lines(10_000, 4000);
    let gz = gzip(&log);
    dirs.drop_file("day.log.gz", &gz[..gz.len() / 2]);
    wait_until(Duration::from_secs(30), "quarantined", || agent.metric("spool_agent_files_quarantined_total", "reason=\"truncated_gzip\"") == 1.0);
    let reason: serde_json::Value = std::fs::read_dir(dirs.quarantine_dir())
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "reason"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .unwrap();
    let delivered_up_to = reason["delivered_up_to_offset"].as_u64().unwrap();
    assert!(delivered_up_to > 0 && log[delivered_up_to as usize - 1] == b'\n', "{reason}");
    assert_eq!(reason["stream"].as_str(), Some(stream_of(&log).as_str()));
    let first: BTreeSet<String> = expected(HOST, &log[..delivered_up_to as usize], MAX_LINE).ids.into_keys().collect();
    assert_exactly_once(&receiver, &first);
    // The operator's remedy: the complete file, dropped again (any name).
    dirs.drop_file("day.log.gz", &gz);
    wait_until(Duration::from_secs(30), "repaired file completed", || completed(&dirs, "day.log.gz"));
    assert_exactly_once(&receiver, &expected(HOST, &log, MAX_LINE).ids.into_keys().collect());
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn a_file_appended_while_read_delivers_the_rest_as_its_extension() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    // A small channel and a slow receiver keep the file in reading for a while.
    receiver.set_delay(Duration::from_millis(30));
    let cfg = with_setting(&config_text(&dirs, HOST, &[receiver.addr], free_port(), ""), "channel", "max_events", "1000");
    let agent = Agent::start(&dirs, &cfg);
    let log = generated_lines(20_000, 20_000);
    let path = dirs.drop_file("growing.log", &log);
    wait_until(Duration::from_secs(30), "reading started", || receiver.count() > 0);
    // A writer appends, ending its first write in the middle of a line.
    let appended = generated_lines(40_000, 2000);
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    let cut = appended.len() / 2 + 7;
    f.write_all(&appended[..cut]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    f.write_all(&appended[cut..]).unwrap();
    drop(f);
    assert!(receiver.count() < 20_000, "the append happened while the file was read");
    receiver.set_delay(Duration::ZERO);
    wait_until(Duration::from_secs(120), "growing.log completed", || completed(&dirs, "growing.log"));
    let whole = [&log[..], &appended].concat();
    assert_exactly_once(&receiver, &expected(HOST, &whole, MAX_LINE).ids.into_keys().collect());
    assert_eq!(agent.metric("spool_agent_files_quarantined_total", ""), 0.0, "an append is not a modification");
    let text = std::fs::read_to_string(&agent.log).unwrap();
    assert!(text.contains("file grew while it was read"), "{}", agent.log_tail(20));
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn kill_9_while_a_grown_copy_is_read_resumes_at_its_verified_position() {
    let dirs = AgentDirs::new();
    let receiver = TestReceiver::start();
    receiver.set_delay(Duration::from_millis(10));
    let cfg = with_setting(&config_text(&dirs, HOST, &[receiver.addr], free_port(), ""), "channel", "max_events", "2000");
    let part = generated_lines(50_000, 2000);
    let full = generated_lines(50_000, 30_000);
    let mut agent = Some(Agent::start(&dirs, &cfg));
    dirs.drop_file("web.log", &part);
    wait_until(Duration::from_secs(30), "web.log completed", || completed(&dirs, "web.log"));
    dirs.drop_file("web.log", &full);
    // Killed twice while the grown copy is read, past the delivered part.
    for target in [6_000, 15_000] {
        wait_until(Duration::from_secs(60), "progress into the extension", || receiver.count() >= target);
        agent.take().unwrap().kill9();
        agent = Some(Agent::start(&dirs, &cfg));
    }
    wait_until(Duration::from_secs(60), "grown copy completed", || dirs.spool.join("web.log.COMPLETED.1").exists());
    let want: BTreeSet<String> = expected(HOST, &full, MAX_LINE).ids.into_keys().collect();
    wait_until(Duration::from_secs(60), "every line delivered", || receiver.ids().is_superset(&want));
    assert_eq!(receiver.ids(), want, "no line lost, no foreign id");
    let again = receiver.count() - want.len();
    // At most what was in the channel, unacknowledged, at each kill (2 × 2,000).
    assert!(again <= 2 * 2000, "{again} events sent twice");
    assert_eq!(agent.unwrap().terminate(), Some(0));
}
