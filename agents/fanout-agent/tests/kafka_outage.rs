//! Kafka stopped for a while: the HDFS sink keeps going, Kafka catches up
//! afterwards, nothing is lost. Runs its own Tansu broker (the same binary
//! `scripts/stack` runs) so stopping it disturbs no other test.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn kafka_down_hdfs_goes_on_and_kafka_catches_up() {
    let s = Setup::new("kafka-outage");
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let data = s.dir.path().join("tansu");
    let broker = Broker::start(&data, port);
    let agent = s.start(&brokers, "# no-idempotence");
    let events = sample_events("weblog1", 3000);
    let enc = encoded(&events);
    let send = |range: std::ops::Range<usize>| s.send_all(&enc[range], 250);
    send(0..1000);
    wait_until(Duration::from_secs(60), "first third in Kafka", || agent.metric("fanout_agent_sink_events_total", "sink=\"kafka\"") >= 1000.0);
    drop(broker); // Kafka down
    send(1000..3000);
    wait_until(Duration::from_secs(60), "HDFS keeps going while Kafka is down", || {
        agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 3000.0
    });
    assert!(agent.metric("fanout_agent_channel_events", "sink=\"kafka\"") > 0.0, "Kafka's events wait in its channel");
    assert!(agent.metric("fanout_agent_sink_events_total", "sink=\"kafka\"") < 3000.0, "Kafka is behind while down");
    let _broker = Broker::start(&data, port); // back, with its data
    let want = ids_of(&events);
    let got = kafka_ids(&brokers, &s.topic, want.len(), Duration::from_secs(120));
    assert_eq!(got.keys().cloned().collect::<std::collections::BTreeSet<_>>(), want, "Kafka caught up with everything");
    wait_until(Duration::from_secs(30), "Kafka channel drained", || agent.metric("fanout_agent_channel_events", "sink=\"kafka\"") == 0.0);
    assert_eq!(agent.terminate(), Some(0));
}
