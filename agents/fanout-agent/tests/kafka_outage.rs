//! Kafka stopped for a while, or down when the agent starts: the HDFS sink
//! keeps going, `/health` names the Kafka sink, Kafka catches up afterwards,
//! nothing is lost. Runs its own Tansu broker (`PrivateKafka`, started by
//! `scripts/stack` like the shared one) so stopping it disturbs no other test.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn kafka_down_hdfs_goes_on_and_kafka_catches_up() {
    let s = Setup::new("kafka-outage");
    let kafka = PrivateKafka::start();
    let brokers = kafka.addr();
    let agent = s.start_config(&with_health_bound(&s.config(&brokers, "# no-idempotence"), "2s"));
    let events = sample_events("weblog1", 3000);
    let enc = encoded(&events);
    let send = |range: std::ops::Range<usize>| s.send_all(&enc[range], 250);
    send(0..1000);
    wait_until(Duration::from_secs(60), "first third in Kafka", || agent.metric("fanout_agent_sink_events_total", "sink=\"kafka\"") >= 1000.0);
    kafka.kill(); // Kafka down
    send(1000..3000);
    wait_until(Duration::from_secs(60), "HDFS keeps going while Kafka is down", || {
        agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 3000.0
    });
    assert!(agent.metric("fanout_agent_channel_events", "sink=\"kafka\"") > 0.0, "Kafka's events wait in its channel");
    assert!(agent.metric("fanout_agent_sink_events_total", "sink=\"kafka\"") < 3000.0, "Kafka is behind while down");
    // Events wait and none is written for longer than the bound (2 s): stalled,
    // then failing once the deliveries time out.
    wait_until(Duration::from_secs(30), "/health names the Kafka sink", || {
        let (code, body) = health(&agent);
        let kafka = sink_detail(&body, "kafka");
        code == 503 && body["status"] == "unhealthy" && (kafka.starts_with("stalled: ") || kafka.starts_with("failing for "))
    });
    assert!(sink_detail(&health(&agent).1, "hdfs").starts_with("ok: "), "{}", health(&agent).1);
    kafka.up(); // back, with its data
    let want = ids_of(&events);
    let got = kafka_ids(&brokers, &s.topic, want.len(), Duration::from_secs(120));
    assert_eq!(got.keys().cloned().collect::<std::collections::BTreeSet<_>>(), want, "Kafka caught up with everything");
    wait_until(Duration::from_secs(30), "Kafka channel drained", || agent.metric("fanout_agent_channel_events", "sink=\"kafka\"") == 0.0);
    wait_until(Duration::from_secs(10), "/health ok again", || health(&agent).0 == 200);
    assert_eq!(agent.terminate(), Some(0));
}

/// Issue 20, point 3: nothing listens at the Kafka address when the agent
/// starts. It serves at once, HDFS gets every event, `/health` is 503 with
/// the Kafka sink starting (and why); when the broker comes up at that
/// address the Kafka channel drains into the topic and `/health` is ok.
#[test]
fn kafka_down_at_start_up_the_agent_serves_and_kafka_drains_when_it_comes() {
    let s = Setup::new("kafka-down-at-start");
    let kafka = PrivateKafka::not_started();
    let brokers = kafka.addr();
    let started = Instant::now();
    let agent = s.start(&brokers, "# no-idempotence");
    let events = sample_events("weblog1", 1000);
    s.send_all(&encoded(&events), 250); // every batch answered OK
    let served = started.elapsed();
    assert!(served < Duration::from_secs(15), "served only after {served:?}");
    wait_until(Duration::from_secs(60), "HDFS gets every event while Kafka is down", || {
        agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 1000.0
    });
    assert_eq!(agent.metric("fanout_agent_channel_events", "sink=\"kafka\""), 1000.0, "Kafka's events wait in its channel");
    let (code, body) = health(&agent);
    assert_eq!((code, body["status"].as_str()), (503, Some("unhealthy")), "{body}");
    assert!(sink_detail(&body, "kafka").starts_with("starting for "), "{body}");
    assert!(sink_detail(&body, "hdfs").starts_with("ok: "), "{body}");
    // After the first attempt (10 s at most) the reason names the broker.
    wait_until(Duration::from_secs(30), "the start-up error in /health", || {
        let kafka = sink_detail(&health(&agent).1, "kafka");
        kafka.contains("failed attempts, last: ") && kafka.contains(&brokers)
    });
    eprintln!("health while Kafka is down: {}", health(&agent).1);
    kafka.up();
    let came = Instant::now();
    // Read the topic once the sink has created it and drained its channel.
    wait_until(Duration::from_secs(60), "Kafka channel drained", || {
        agent.metric("fanout_agent_channel_events", "sink=\"kafka\"") == 0.0
            && agent.metric("fanout_agent_sink_events_total", "sink=\"kafka\"") >= 1000.0
    });
    let drained = came.elapsed();
    wait_until(Duration::from_secs(10), "/health ok", || health(&agent).0 == 200);
    eprintln!("served after {served:?}; Kafka drained {drained:?} after the broker came; health then: {}", health(&agent).1);
    let want = ids_of(&events);
    let got = kafka_ids(&brokers, &s.topic, want.len(), Duration::from_secs(120));
    assert_eq!(got.keys().cloned().collect::<std::collections::BTreeSet<_>>(), want, "the Kafka channel drained into the topic");
    assert_eq!(agent.terminate(), Some(0));
}
