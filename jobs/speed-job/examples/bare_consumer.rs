//! A bare rdkafka consumer: reads a topic to its end and reports the rate.
//! The baseline of the throughput benchmark (docs/benchmarks.md).
//!
//! `cargo run --release -p speed-job --example bare_consumer -- BROKERS TOPIC`

use std::collections::HashSet;
use std::time::Instant;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

#[tokio::main]
async fn main() {
    clickstream_telemetry::init_logging(false);
    let args: Vec<String> = std::env::args().collect();
    let (brokers, topic) = (&args[1], &args[2]);
    let n = bare_consume(brokers, topic).await;
    println!("{n} records");
}

async fn bare_consume(brokers: &str, topic: &str) -> u64 {
    let group = format!("bare-{}", std::process::id());
    let mut cfg = ClientConfig::new();
    // Extra librdkafka properties: BARE_CONSUMER_PROPS="k=v;k=v".
    for kv in std::env::var("BARE_CONSUMER_PROPS").unwrap_or_default().split(';').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').expect("k=v");
        cfg.set(k, v);
    }
    let c: StreamConsumer = cfg
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let parts = c.fetch_metadata(Some(topic), std::time::Duration::from_secs(10)).unwrap().topics()[0].partitions().len();
    let mut eof = HashSet::new();
    let mut n = 0u64;
    let mut bytes = 0usize;
    let mut first: Option<Instant> = None;
    while eof.len() < parts {
        match c.recv().await {
            Ok(m) => {
                first.get_or_insert_with(Instant::now);
                n += 1;
                bytes += m.payload().map_or(0, |p| p.len());
                eof.remove(&m.partition());
            }
            Err(KafkaError::PartitionEOF(p)) => {
                eof.insert(p);
            }
            Err(e) => eprintln!("{e}"),
        }
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    eprintln!("bare consumer: {n} records, {bytes} bytes in {secs:.2}s = {:.0}/s", n as f64 / secs);
    n
}
