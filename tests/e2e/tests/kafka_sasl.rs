//! Kafka with SASL (issue 20, point 1): the fan-out agent's producer and the
//! speed job's consumer log in to a broker that requires SCRAM-SHA-256
//! (Tansu 0.6 with `--authentication`, the user created in its storage),
//! and the sample log goes through; with a wrong password nothing is
//! delivered, `validate --connect` names the broker, and the events wait in
//! the agent's channel.

use std::process::Command;
use std::time::Duration;

use clickstream_e2e::pipeline::{binary, Pipeline};
use clickstream_testkit::{free_port, wait_until};

#[test]
fn fanout_and_speed_job_log_in_with_scram_and_a_wrong_password_delivers_nothing() {
    let p = Pipeline::over_sasl("sasl", false);
    let _running = p.carry_weblog1_through_kafka("SASL");

    let refused = Pipeline::over_sasl("sasl-refused", true);
    let fanout = refused.fanout_agent();
    let _spool = refused.spool_agent("weblog1");
    let (data, want) = Pipeline::weblog1_sample();
    refused.drop_file("weblog1", "weblog1.txt", &data);
    wait_until(Duration::from_secs(60), "the events waiting in the Kafka sink's channel", || {
        fanout.metric("fanout_agent_channel_events", "sink=\"kafka\"") == want
    });
    assert_eq!(fanout.metric("fanout_agent_sink_events_total", "sink=\"kafka\""), 0.0, "nothing delivered with a wrong password");
    wait_until(Duration::from_secs(60), "the fan-out agent's log naming the failed login", || {
        std::fs::read_to_string(&fanout.log).unwrap_or_default().contains("SASL")
    });
    // validate --connect says the same before any start: the running
    // agent's file with other ports (its own are taken) and state directory.
    let text = std::fs::read_to_string(refused.path("fanout.toml")).unwrap();
    let text = text
        .replace(&format!(":{}\"", refused.fanout_port), &format!(":{}\"", free_port()))
        .replace(&format!(":{}\"", refused.ports["fanout"]), &format!(":{}\"", free_port()))
        .replace(&refused.path("fanout").display().to_string(), &refused.path("fanout-check").display().to_string());
    let check = refused.path("fanout-check.toml");
    std::fs::write(&check, text).unwrap();
    let out = Command::new(binary("fanout-agent")).args(["validate", "--connect"]).arg(&check).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains(&format!("sinks.kafka.brokers {}", refused.brokers())) && !err.contains("sinks.hdfs"), "{err}");
}
