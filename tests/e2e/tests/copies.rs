//! Copies of a log through the whole pipeline: the real release spool agent
//! and fan-out agent, HDFS, the batch job and MySQL (`scripts/stack`).
//!
//! An operator drops the same log several ways: a part of it, then the grown
//! log under the same name; the same content under other names; logrotate's
//! `access.log.1` and `access.log.2.gz`; a shorter copy; and a second log as
//! a truncated `.gz`, quarantined, then the repaired `.gz`. The final
//! numbers in MySQL must be those of the two logs' real lines counted once
//! (`clickstream_e2e::oracle`, from the files alone), and the fan-out agent
//! must have received each valid line exactly once: the copies were
//! recognised, not merely deduplicated downstream.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use clickstream_e2e::oracle;
use clickstream_e2e::pipeline::Pipeline;
use clickstream_testkit::{repo, wait_until, Service};

const HOST: &str = "weblog1";

/// `gzip -c` of `data` (the tool logrotate uses).
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn completed(p: &Pipeline, name: &str) -> bool {
    p.spool(HOST).join(format!("{name}.COMPLETED")).exists()
}

fn drop_and_wait(p: &Pipeline, name: &str, data: &[u8], done: &str) {
    p.drop_file(HOST, name, data);
    wait_until(Duration::from_secs(60), done, || p.spool(HOST).join(done).exists());
}

fn drained(agent: &Service, fanout: &Service) -> bool {
    agent.metric("spool_agent_channel_events", "") == 0.0 && fanout.metric("fanout_agent_channel_events", "") == 0.0
}

#[test]
fn grown_repaired_rotated_and_renamed_copies_count_every_line_once_in_the_reports() {
    let p = Pipeline::new("copies");
    let fanout = p.fanout_agent();
    let agent = p.spool_agent(HOST);
    let one_path = repo().join("sample-logs/weblog1.txt");
    let two_path = repo().join("sample-logs/weblog2.txt");
    let one = std::fs::read(&one_path).unwrap();
    let two = std::fs::read(&two_path).unwrap();
    let lines: Vec<&[u8]> = one.split_inclusive(|b| *b == b'\n').collect();
    let part = lines[..lines.len() * 3 / 5].concat();

    // A part of the log, then the log after it grew, under the same name.
    drop_and_wait(&p, "web-a.log", &part, "web-a.log.COMPLETED");
    drop_and_wait(&p, "web-a.log", &one, "web-a.log.COMPLETED.1");
    // The same content under other names, rotated and compressed, and shorter.
    let gz_one = gzip(&one);
    for (name, data) in [("copy-of-web-a.log", &one), ("access.log.1", &one), ("access.log.2.gz", &gz_one), ("short.log", &part)] {
        drop_and_wait(&p, name, data, &format!("{name}.COMPLETED"));
    }
    assert_eq!(agent.metric("spool_agent_files_duplicate_total", ""), 4.0, "four copies of delivered versions");
    // Another log as a truncated .gz (quarantined), then repaired.
    let gz_two = gzip(&two);
    p.drop_file(HOST, "day2.log.gz", &gz_two[..gz_two.len() / 2]);
    wait_until(Duration::from_secs(60), "truncated .gz quarantined", || {
        agent.metric("spool_agent_files_quarantined_total", "reason=\"truncated_gzip\"") == 1.0
    });
    drop_and_wait(&p, "day2.log.gz", &gz_two, "day2.log.gz.COMPLETED");
    assert!(completed(&p, "web-a.log"));
    wait_until(Duration::from_secs(120), "channels drained", || drained(&agent, &fanout));

    let (mut hits, _) = oracle::read_log(HOST, &one_path);
    hits.extend(oracle::read_log(HOST, &two_path).0);
    assert_eq!(fanout.metric("fanout_agent_events_received_total", ""), hits.len() as f64, "each valid line sent once");
    // SIGTERM closes the master-copy files.
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(fanout.terminate(), Some(0));
    assert_eq!(p.batch_job(), 0, "batch-job run");
    assert_eq!(p.mysql_days(), oracle::batch_days(&hits), "the reports count each real line once");
}
