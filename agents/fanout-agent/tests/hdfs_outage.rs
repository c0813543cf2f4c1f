//! The HDFS NameNode restarted mid-stream: the HDFS sink retries while it is
//! down and recovers, nothing is lost. Restarts the stack's HDFS through
//! `scripts/stack`; its own test binary, so no other test of this crate runs
//! meanwhile.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn stack(args: &[&str]) {
    let status = Command::new(repo().join("scripts/stack")).args(args).status().unwrap();
    assert!(status.success(), "scripts/stack {args:?} failed");
}

#[test]
fn namenode_restart_mid_stream_loses_nothing() {
    let s = Setup::new("hdfs-outage");
    let agent = s.start(&kafka_brokers(), "");
    let events = sample_events("weblog1", 3000);
    let enc = encoded(&events);
    let send = |range: std::ops::Range<usize>| s.send_all(&enc[range], 250);
    send(0..1000);
    wait_until(Duration::from_secs(60), "first part in HDFS", || agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 1000.0);
    stack(&["down", "hdfs"]);
    send(1000..3000);
    std::thread::sleep(Duration::from_secs(2));
    assert!(agent.metric("fanout_agent_channel_events", "sink=\"hdfs\"") > 0.0, "HDFS events wait in their channel");
    stack(&["up", "hdfs"]);
    wait_until(Duration::from_secs(120), "HDFS channel drained after the restart", || {
        agent.metric("fanout_agent_channel_events", "sink=\"hdfs\"") == 0.0
            && agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 3000.0
    });
    assert_eq!(agent.terminate(), Some(0));
    let (records, open) = rt().block_on(hdfs_records(&s.hdfs_root));
    assert!(open.is_empty(), "{open:?}");
    let counts = id_counts(&records);
    assert_eq!(counts.keys().cloned().collect::<std::collections::BTreeSet<_>>(), ids_of(&events), "nothing lost across the restart");
}
