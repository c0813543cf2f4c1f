//! Shared by the fan-out agent's tests: events made from the sample logs by
//! the real parser, a config for the real binary, a Kafka reader and an HDFS
//! reader that check what landed, independently of the agent's code.

#![allow(dead_code)]

/// The HDFS sink tests' own helpers (`tests/hdfs_sink.rs`).
pub mod hdfs;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use clickstream_avro_ipc::client::{ClientOptions, FlumeClient};
use clickstream_avro_ipc::flume::{encode_event, Status};
use clickstream_contract::ClickEvent;
use clickstream_logparse::{LineOrigin, Parser};
// Re-exported for the test files; each uses some of them.
#[allow(unused_imports)]
pub use clickstream_testkit::{free_port, kafka::PrivateKafka, repo, unique, wait_until, Service};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, TopicPartitionList};

pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn hdfs_url() -> String {
    std::env::var("HDFS_URL").unwrap_or_else(|_| "hdfs://127.0.0.1:8020".into())
}

/// A Flume event as the tests send it: headers, body (the ClickEvent datum) and its event id.
pub type SampleEvent = (Vec<(String, String)>, Vec<u8>, String);

/// Flume events for the lines of a sample log the parser accepts; past the
/// end of the log, the log again further on in the stream (other offsets,
/// so other ids), until `limit`.
pub fn sample_events(host: &str, limit: usize) -> Vec<SampleEvent> {
    let content = std::fs::read(repo().join("sample-logs/weblog1.txt")).unwrap();
    let parser = Parser::default();
    let mut out = Vec::new();
    let mut offset = 0u64;
    for line in std::iter::repeat(&content).flat_map(|c| c.split_inclusive(|b| *b == b'\n')) {
        let origin = LineOrigin { source_host: host, source_file: "/spool/weblog1.txt", file_fingerprint: "f1", byte_offset: offset };
        offset += line.len() as u64;
        if let Ok(e) = parser.parse_event(line, &origin) {
            let headers = vec![
                ("timestamp".to_string(), e.event_time_ms.to_string()),
                ("host".to_string(), host.to_string()),
                ("event_id".to_string(), e.event_id.to_string()),
                ("category".to_string(), e.category.to_string()),
            ];
            out.push((headers, e.to_datum(), e.event_id.to_string()));
        }
        if out.len() == limit {
            break;
        }
    }
    out
}

/// Encoded Flume events, for the Rust client.
pub fn encoded(events: &[SampleEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .map(|(h, b, _)| {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut out = Vec::new();
            encode_event(&h, b, &mut out);
            out
        })
        .collect()
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub topic: String,
    pub hdfs_root: String,
    pub listen: u16,
    pub metrics: u16,
}

impl Setup {
    pub fn new(name: &str) -> Setup {
        let id = unique(name);
        Setup {
            dir: tempfile::tempdir().unwrap(),
            topic: format!("test.{id}"),
            hdfs_root: format!("/test/{id}/master"),
            listen: free_port(),
            metrics: free_port(),
        }
    }

    /// The agent's configuration. Idempotence only for tests where no
    /// producer is killed: the local Tansu broker panics otherwise (see
    /// `KafkaSinkConfig::idempotent`).
    pub fn config(&self, brokers: &str, extra: &str) -> String {
        self.config_with(brokers, extra, !extra.contains("# no-idempotence"))
    }

    pub fn config_with(&self, brokers: &str, extra: &str, idempotent: bool) -> String {
        format!(
            r#"
[agent]
instance_id = "fanout-test"
state_dir = "{state}"

[source]
listen = "127.0.0.1:{listen}"
put_timeout = "2s"

[sinks.kafka]
brokers = "{brokers}"
topic = "{topic}"
partitions = 2
delivery_timeout = "20s"
idempotent = {idempotent}
[sinks.kafka.channel]
min_free_disk_bytes = 0

[sinks.hdfs]
url = "{hdfs}"
path = "{root}/date=%Y-%m-%d/hour=%H/"
roll_idle = "2s"
[sinks.hdfs.channel]
min_free_disk_bytes = 0

[metrics]
listen = "127.0.0.1:{metrics}"
{extra}
"#,
            state = self.dir.path().join("state").display(),
            listen = self.listen,
            topic = self.topic,
            hdfs = hdfs_url(),
            root = self.hdfs_root,
            idempotent = idempotent,
            metrics = self.metrics,
        )
    }

    pub fn start(&self, brokers: &str, extra: &str) -> Service {
        self.start_config(&self.config(brokers, extra))
    }

    /// Starts the agent with `config` (from [`Setup::config`], edited).
    pub fn start_config(&self, config: &str) -> Service {
        Service::start(env!("CARGO_BIN_EXE_fanout-agent"), self.dir.path(), "fanout", config, self.metrics)
    }

    /// Sends `events` to the agent as one Flume client would, in batches of
    /// `per_batch`, and expects OK for every batch.
    pub fn send_all(&self, events: &[Vec<u8>], per_batch: usize) {
        rt().block_on(async {
            let addr = format!("127.0.0.1:{}", self.listen);
            let mut client = FlumeClient::connect(addr.as_str(), ClientOptions::default()).await.unwrap();
            for batch in events.chunks(per_batch) {
                assert_eq!(client.append_batch_encoded(batch).await.unwrap(), Status::Ok);
            }
        })
    }
}

/// Reads the whole topic from the beginning until `want` distinct ids were
/// seen (or `timeout`); checks key, value and header of every record.
pub fn kafka_ids(brokers: &str, topic: &str, want: usize, timeout: Duration) -> BTreeMap<String, usize> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", unique("verify")).set("enable.auto.commit", "false").create().unwrap();
    // The local SQLite Tansu slows down after many test topics: give its
    // metadata answer a minute rather than failing on the first timeout,
    // and wait for the topic (the agent creates it when its sink starts,
    // which may be after the events were acknowledged into its channel).
    let started = Instant::now();
    let partitions = loop {
        match consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) {
            Ok(md) if md.topics().first().is_some_and(|t| !t.partitions().is_empty()) => break md.topics()[0].partitions().len() as i32,
            Ok(_) if started.elapsed() < Duration::from_secs(60) => std::thread::sleep(Duration::from_millis(500)),
            Ok(_) => panic!("topic {topic} has no partitions after a minute"),
            Err(e) if started.elapsed() < Duration::from_secs(60) => eprintln!("metadata of {topic} from {brokers}: {e}; asking again"),
            Err(e) => panic!("metadata of {topic} from {brokers} for a minute: {e}"),
        }
    };
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut ids = BTreeMap::new();
    let deadline = Instant::now() + timeout;
    while ids.len() < want && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let value = m.payload().expect("a value");
                let event = ClickEvent::decode_single_object(value).expect("value is a single-object ClickEvent");
                assert_eq!(m.key(), Some(event.client_addr.as_bytes()), "key is the client address");
                let header = m.headers().expect("headers").iter().find(|h| h.key == "event_id").expect("event_id header");
                assert_eq!(header.value, Some(event.event_id.as_bytes()));
                *ids.entry(event.event_id.to_string()).or_insert(0) += 1;
            }
            Some(Err(e)) => panic!("consuming {topic}: {e}"),
            None => {}
        }
    }
    ids
}

/// Every record of every closed `.avro` file under `root`, read with
/// apache-avro (an implementation independent of the agent's writer), and the
/// names of files still open (`.tmp`).
pub async fn hdfs_records(root: &str) -> (Vec<(String, ClickEvent<'static>)>, Vec<String>) {
    let client = hdfs_native::ClientBuilder::new().with_url(hdfs_url()).build().unwrap();
    let files = match client.list_status(root, true).await {
        Ok(f) => f,
        Err(_) => return (Vec::new(), Vec::new()),
    };
    let mut records = Vec::new();
    let mut open = Vec::new();
    for f in files.iter().filter(|f| !f.isdir) {
        if f.path.ends_with(".tmp") {
            open.push(f.path.clone());
            continue;
        }
        let reader = client.read(&f.path).await.unwrap();
        let bytes = reader.read_range(0, reader.file_length()).await.unwrap();
        let avro = apache_avro::Reader::new(&bytes[..]).unwrap_or_else(|e| panic!("{}: not an Avro container file: {e}", f.path));
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(clickstream_contract::schema::click_event_schema()).build().unwrap();
        for value in avro {
            let value = value.unwrap_or_else(|e| panic!("{}: bad record: {e}", f.path));
            let datum = writer.write_value_to_vec(value).unwrap();
            let event = ClickEvent::decode_datum(&datum).unwrap().into_owned();
            records.push((f.path.clone(), event));
        }
    }
    (records, open)
}

/// Ids of the records, with how often each occurs.
pub fn id_counts(records: &[(String, ClickEvent<'static>)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, e) in records {
        *m.entry(e.event_id.to_string()).or_insert(0) += 1;
    }
    m
}

pub fn ids_of(events: &[SampleEvent]) -> BTreeSet<String> {
    events.iter().map(|e| e.2.clone()).collect()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

pub fn partition_of(path: &str) -> (&str, &str) {
    let date = path.split("date=").nth(1).unwrap().split('/').next().unwrap();
    let hour = path.split("hour=").nth(1).unwrap().split('/').next().unwrap();
    (date, hour)
}

pub fn dir_exists(p: &Path) -> bool {
    p.exists()
}

/// `[agent] health_sink_failing_after = <after>` added to a config from [`Setup::config`].
pub fn with_health_bound(config: &str, after: &str) -> String {
    config.replacen("\n[source]", &format!("health_sink_failing_after = \"{after}\"\n\n[source]"), 1)
}

/// `/health`: the HTTP status and the JSON body (`{"status", "details"}`).
pub fn health(agent: &Service) -> (u16, serde_json::Value) {
    let response = agent.health().expect("/health answers");
    let code = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_else(|| panic!("no body in {response:?}"));
    (code, serde_json::from_str(body).unwrap_or_else(|e| panic!("/health body {body:?}: {e}")))
}

/// A sink's line in `/health`'s details (`"sink kafka"`).
pub fn sink_detail(body: &serde_json::Value, sink: &str) -> String {
    body["details"][format!("sink {sink}")].as_str().unwrap_or_else(|| panic!("no `sink {sink}` in {body}")).to_string()
}

/// A TCP forwarder from `listen` to `to`, started when the test says so: a
/// service "coming up" at an address the agent already uses, without
/// touching the shared service behind it. Dropped, it stops accepting.
pub struct Forwarder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Forwarder {
    pub fn start(listen: u16, to: String) -> Forwarder {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind(("127.0.0.1", listen)).expect("binding the forwarder");
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((inbound, _)) => {
                        inbound.set_nonblocking(false).unwrap();
                        let Ok(outbound) = std::net::TcpStream::connect(&to) else { continue };
                        for (mut from, mut into) in [(inbound.try_clone().unwrap(), outbound.try_clone().unwrap()), (outbound, inbound)] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut into);
                                let _ = into.shutdown(std::net::Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Forwarder { stop }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
