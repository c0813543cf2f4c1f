//! Secured Kafka (issue 20, point 1): the fan-out agent's producer and the
//! speed job's consumer reach a broker that speaks only TLS, verifying its
//! certificate against a CA made by the test; trusting another CA, the
//! fan-out agent delivers nothing and says why.
//!
//! The broker is the stack's Tansu behind a TLS terminator
//! (`clickstream_testkit::kafka::TlsFront`: Tansu 0.6's own `--cert`/`--key`
//! cannot be given together). Every connection librdkafka makes, bootstrap
//! and the broker the metadata names, is a TLS session.

use std::time::Duration;

use clickstream_e2e::pipeline::Pipeline;
use clickstream_testkit::wait_until;

#[test]
fn fanout_and_speed_job_use_kafka_over_tls_and_refuse_an_untrusted_broker() {
    let p = Pipeline::over_tls("tls", false);
    let _running = p.carry_weblog1_through_kafka("TLS");

    // The same pipeline trusting a CA that signed nothing: the handshake is
    // refused, nothing is delivered, and the log says why.
    let untrusted = Pipeline::over_tls("tls-untrusted", true);
    let fanout = untrusted.fanout_agent();
    wait_until(Duration::from_secs(60), "the fan-out agent's log naming the failed certificate check", || {
        std::fs::read_to_string(&fanout.log).unwrap_or_default().contains("certificate verify failed")
    });
    assert_eq!(fanout.metric("fanout_agent_sink_events_total", "sink=\"kafka\""), 0.0);
}
