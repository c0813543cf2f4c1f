//! Produces generated click events to a topic as the fan-out agent would
//! (key = client address, value = single-object Avro, header `event_id`).
//!
//! `cargo run --release -p speed-job --example produce -- BROKERS TOPIC PARTITIONS EVENTS [SEED]`

use std::time::{Duration, Instant};

use clickstream_logparse::{LineOrigin, Parser};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (brokers, topic) = (&a[1], &a[2]);
    let partitions: i32 = a[3].parse().unwrap();
    let events: u64 = a[4].parse().unwrap();
    let seed: u64 = a.get(5).map_or(1, |s| s.parse().unwrap());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for r in admin.create_topics([&t], &AdminOptions::new()).await.unwrap() {
        if let Err((t, e)) = r {
            eprintln!("topic {t}: {e}");
        }
    }
    let cfg = clickstream_loggen::Config {
        seed,
        lines: events,
        duration_secs: (events / 50).max(600),
        visitors: ((events / 100) as u32).max(2000),
        ..clickstream_loggen::Config::default()
    };
    let parser = Parser::default();
    let mut values = Vec::new();
    let mut offset = 0u64;
    for line in clickstream_loggen::generate(cfg).unwrap() {
        let origin = LineOrigin { source_host: "weblog1", source_file: "/spool/a.log", file_fingerprint: "fp", byte_offset: offset };
        offset += line.bytes.len() as u64 + 1;
        if let Ok(e) = parser.parse_event(&line.bytes, &origin) {
            let mut v = Vec::with_capacity(512);
            e.encode_single_object(&mut v);
            values.push((e.client_addr.to_string(), e.event_id.to_string(), v));
        }
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", std::env::var("PRODUCE_COMPRESSION").unwrap_or_else(|_| "lz4".into()))
        .set("queue.buffering.max.messages", "2000000")
        .set("batch.size", std::env::var("PRODUCE_BATCH_SIZE").unwrap_or_else(|_| "1000000".into()))
        .create()
        .unwrap();
    let t0 = Instant::now();
    let mut futs = Vec::with_capacity(values.len());
    for (key, id, v) in &values {
        let h = OwnedHeaders::new().insert(Header { key: "event_id", value: Some(id.as_bytes()) });
        futs.push(producer.send_result(FutureRecord::to(topic).key(key.as_bytes()).payload(v).headers(h)).map_err(|(e, _)| e).unwrap());
    }
    for f in futs {
        f.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    let _ = Duration::ZERO;
    eprintln!("produced {} events in {:.2}s", values.len(), t0.elapsed().as_secs_f64());
}
