//! The job against a bare consumer, same broker, same topic, same run.
//!
//! Produces EVENTS generated click events to a new topic, then (1) a bare
//! rdkafka consumer with the job's own librdkafka settings reads the topic to
//! its end, and (2) the speed job (in this process, writing to an in-process
//! CQL stand-in) consumes the same topic from the start until its checkpoint
//! covers every record. Both are timed from creation to the last record.
//!
//! ```text
//! cargo run --release -p speed-job --example throughput -- BROKERS [EVENTS] [PARTITIONS]
//! ```

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clickstream_logparse::{LineOrigin, Parser};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use speed_job::config::Config;

async fn produce(brokers: &str, topic: &str, partitions: i32, n: u64) -> u64 {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    admin.create_topics([&t], &AdminOptions::new()).await.unwrap();
    let cfg = clickstream_loggen::Config { seed: 9, lines: n, duration_secs: 3600, visitors: 5000, ..Default::default() };
    let parser = Parser::default();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "2000000")
        .create()
        .unwrap();
    let mut futs = Vec::new();
    let mut offset = 0u64;
    for line in clickstream_loggen::generate(cfg).unwrap() {
        let origin = LineOrigin { source_host: "weblog1", source_file: "/spool/a.log", file_fingerprint: "fp", byte_offset: offset };
        offset += line.bytes.len() as u64 + 1;
        if let Ok(e) = parser.parse_event(&line.bytes, &origin) {
            let mut v = Vec::with_capacity(600);
            e.encode_single_object(&mut v);
            let h = OwnedHeaders::new().insert(Header { key: "event_id", value: Some(e.event_id.as_bytes()) });
            let r = FutureRecord::to(topic).key(e.client_addr.as_bytes()).payload(&v).headers(h);
            futs.push(producer.send_result(r).map_err(|(e, _)| e).unwrap());
        }
    }
    let sent = futs.len() as u64;
    for f in futs {
        f.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    sent
}

async fn bare(cfg: &Config, partitions: i32, n: u64) -> f64 {
    let t0 = Instant::now();
    let mut kcfg = cfg.kafka.clone();
    kcfg.group_id = format!("bare-{}", std::process::id());
    let c: StreamConsumer = speed_job::source::client_config(&kcfg).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(&kcfg.topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut got = 0u64;
    let mut bytes = 0usize;
    let mut eof = HashSet::new();
    while got < n || eof.len() < partitions as usize {
        match c.recv().await {
            Ok(m) => {
                got += 1;
                bytes += m.payload().map_or(0, |p| p.len());
                eof.remove(&m.partition());
            }
            Err(KafkaError::PartitionEOF(p)) => {
                eof.insert(p);
            }
            Err(e) => eprintln!("bare consumer: {e}"),
        }
    }
    std::hint::black_box(bytes);
    t0.elapsed().as_secs_f64()
}

async fn job(cfg: Config, cql: &str, n: u64) -> f64 {
    let session = scylla::client::session_builder::SessionBuilder::new().known_node(cql).build().await.unwrap();
    let (ks, name, topic) = (cfg.cassandra.keyspace.clone(), cfg.job.name.clone(), cfg.kafka.topic.clone());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let t0 = Instant::now();
    let handle = tokio::spawn(speed_job::job::run(cfg, async move {
        let _ = rx.await;
    }));
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let q = format!("SELECT replay_until FROM {ks}.speed_checkpoints WHERE job = ? AND topic = ?");
        let Ok(r) = session.query_unpaged(q, (name.as_str(), topic.as_str())).await else {
            continue;
        };
        let done: i64 = r.into_rows_result().unwrap().rows::<(i64,)>().unwrap().map(|r| r.unwrap().0).sum();
        if done as u64 >= n {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let _ = stop.send(());
    let summary = handle.await.unwrap().unwrap();
    eprintln!("job summary: {summary:?}");
    secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    clickstream_telemetry::init_logging(false);
    let args: Vec<String> = std::env::args().collect();
    let brokers = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:9092".into());
    let n: u64 = args.get(2).map_or(30_000, |s| s.parse().unwrap());
    let partitions: i32 = args.get(3).map_or(16, |s| s.parse().unwrap());
    let topic = format!("throughput-{}", std::process::id());
    let sent = produce(&brokers, &topic, partitions, n).await;
    eprintln!("produced {sent} records to {topic} ({partitions} partitions)");
    let cql = cql_standin::spawn_for_tests().await.to_string();
    let toml = format!(
        "[kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\ngroup_id = \"tp-{p}\"\n[cassandra]\ncontact_points = [\"{cql}\"]\nkeyspace = \"tp_{p}\"\n\
         [job]\nname = \"tp\"\nflush_interval = \"200ms\"\n[windows]\nidle_partition_timeout = \"2s\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        p = std::process::id()
    );
    // Extra librdkafka properties for both consumers: THROUGHPUT_PROPS="k=v;k=v".
    let mut toml = toml;
    if let Ok(props) = std::env::var("THROUGHPUT_PROPS") {
        toml.push_str("[kafka.properties]\n");
        for kv in props.split(';').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').expect("k=v");
            toml.push_str(&format!("\"{k}\" = \"{v}\"\n"));
        }
    }
    let cfg = Config::parse(&toml, "throughput").unwrap();
    let bare_secs = bare(&cfg, partitions, sent).await;
    let job_secs = job(cfg, &cql, sent).await;
    let (b, j) = (sent as f64 / bare_secs, sent as f64 / job_secs);
    println!("bare consumer  {sent} records in {bare_secs:.2}s = {b:.0}/s");
    println!("speed-job      {sent} records in {job_secs:.2}s = {j:.0}/s");
    println!("ratio job/bare {:.2}", j / b);
}
