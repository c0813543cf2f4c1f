//! Throughput and peak RSS of the real `fanout-agent` binary: Flume Avro
//! clients → durable channels → Kafka and HDFS sinks, with a bare rdkafka
//! producer (same settings, same broker, same values) measured in the same
//! run as the baseline for the Kafka path.
//!
//! ```text
//! cargo build --release -p fanout-agent
//! cargo run --release -p fanout-agent --example bench_fanout -- EVENTS BROKERS HDFS_URL [SENDERS]
//! ```
//! SENDERS (default 4) Flume clients send batches of 1,000 at once, as that
//! many spool agents would. `HDFS_CODEC=snappy` (or `null`) measures the
//! master copy with another codec than the default deflate.
//! `SINKS=hdfs` (or `kafka`) runs the agent with that sink only: the agent's
//! ceiling without a broker (source, channel and master copy), or its Kafka
//! path alone.
//! `SINK_BATCH` (default 5000) is each sink's `batch_size`.
//! `KAFKA_PRODUCER="linger.ms=20,batch.size=1048576"` passes librdkafka
//! properties to both the bare producer and the agent's Kafka sink.
//! `SOURCE_TLS=true` serves the source over TLS (a throw-away test
//! certificate) and the senders connect with TLS: what TLS costs.
//! `CHANNEL_FSYNC=false` turns off the HDFS channel's fsync per put: a
//! diagnosis only (how much of the source's time is the disk), never a
//! result to quote.
//! Besides the rates it prints how fast the HDFS sink drained once the
//! senders were done, and how busy the whole machine was before and after
//! that point: below 100 %, the run waits on the disk rather than the cores.
//! e.g. `500000 127.0.0.1:9092 hdfs://127.0.0.1:8020` (the stack), or an
//! in-memory Tansu and `file:///tmp/master` for the agent's own ceiling.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickstream_avro_ipc::client::{ClientOptions, FlumeClient};
use clickstream_avro_ipc::flume::{encode_event, event_body, Status};
use clickstream_contract::schema::click_event_fingerprint;
use clickstream_contract::{RoutingFields, SINGLE_OBJECT_MARKER};
use clickstream_logparse::{LineOrigin, Parser};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn events(n: usize) -> Vec<Vec<u8>> {
    let cfg = clickstream_loggen::Config { seed: 7, lines: n as u64, ..Default::default() };
    let mut text = Vec::new();
    clickstream_loggen::Generator::new(cfg).unwrap().write_all(&mut text).unwrap();
    let parser = Parser::default();
    let mut out = Vec::with_capacity(n);
    let mut offset = 0u64;
    let mut datum = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let origin = LineOrigin { source_host: "bench", source_file: "f", file_fingerprint: "fp", byte_offset: offset };
        offset += line.len() as u64 + 1;
        if let Ok(e) = parser.parse_event(line, &origin) {
            datum.clear();
            e.encode_datum(&mut datum);
            let ts = e.event_time_ms.to_string();
            let mut enc = Vec::new();
            encode_event(&[("timestamp", &ts), ("host", "bench"), ("event_id", &e.event_id), ("category", &e.category)], &datum, &mut enc);
            out.push(enc);
        }
    }
    out
}

fn metric(port: u16, name: &str, label: &str) -> f64 {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0.0 };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines().filter(|l| l.starts_with(name) && l.contains(label)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used so far, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()).unwrap_or(0.0);
    ticks / 100.0
}

/// Busy and total CPU time of the whole machine so far (/proc/stat ticks),
/// to tell a run limited by the cores from one limited by waiting.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    let total: u64 = cpu.iter().take(8).sum();
    (total - idle, total)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What the Kafka sink produces for each event: key (client address), value
/// (single-object encoding: header + the received datum) and the event id
/// header. The baseline produces exactly these.
struct Record {
    key: Vec<u8>,
    value: Vec<u8>,
    event_id: Vec<u8>,
}

fn kafka_records(encoded: &[Vec<u8>]) -> Vec<Record> {
    encoded
        .iter()
        .map(|e| {
            let body = event_body(e).unwrap();
            let r = RoutingFields::decode(body).unwrap();
            let mut value = SINGLE_OBJECT_MARKER.to_vec();
            value.extend_from_slice(&click_event_fingerprint());
            value.extend_from_slice(body);
            Record { key: r.client_addr.as_bytes().to_vec(), value, event_id: r.event_id.as_bytes().to_vec() }
        })
        .collect()
}

/// `KAFKA_PRODUCER` as `key=value` pairs, for both producers.
fn extra_producer_settings() -> Vec<(String, String)> {
    let spec = std::env::var("KAFKA_PRODUCER").unwrap_or_default();
    spec.split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("KAFKA_PRODUCER is key=value,key=value");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

async fn bare_producer(brokers: &str, records: &[Record]) -> f64 {
    let topic = format!("bench.bare.{}", std::process::id());
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    let _ = admin
        .create_topics([&rdkafka::admin::NewTopic::new(&topic, 4, rdkafka::admin::TopicReplication::Fixed(1))], &rdkafka::admin::AdminOptions::new())
        .await;
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000");
    for (k, v) in extra_producer_settings() {
        config.set(k, v);
    }
    let producer: FutureProducer = config.create().unwrap();
    // As fast as the broker allows: everything queued (waiting only when the
    // local queue is full), then every delivery report awaited.
    let t = Instant::now();
    let mut pending = Vec::with_capacity(records.len());
    for r in records {
        loop {
            let headers = OwnedHeaders::new_with_capacity(1).insert(Header { key: "event_id", value: Some(&r.event_id) });
            match producer.send_result(FutureRecord::to(&topic).key(&r.key).payload(&r.value).headers(headers)) {
                Ok(d) => {
                    pending.push(d);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
    for d in pending {
        d.await.unwrap().unwrap();
    }
    records.len() as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300_000);
    let brokers = args.get(2).cloned().unwrap_or_else(|| "127.0.0.1:9092".into());
    let hdfs = args.get(3).cloned().unwrap_or_else(|| "hdfs://127.0.0.1:8020".into());
    // Concurrent Flume clients, as that many spool agents would be.
    let senders: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(4);
    let encoded = Arc::new(events(n));
    let n = encoded.len();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // Baseline: the same records through a bare producer, same settings and broker.
    let sinks = std::env::var("SINKS").unwrap_or_else(|_| "both".into());
    let bare = if sinks == "hdfs" {
        0.0
    } else {
        let records = kafka_records(&encoded);
        rt.block_on(bare_producer(&brokers, &records))
    };

    let dir = tempfile::tempdir().unwrap();
    let (listen, metrics) = (free_port(), free_port());
    let root = format!("/bench/{}/master", std::process::id());
    let producer_table: String = extra_producer_settings().iter().map(|(k, v)| format!("\"{k}\" = \"{v}\"\n")).collect();
    let (with_kafka, with_hdfs) = match sinks.as_str() {
        "both" => (true, true),
        "kafka" => (true, false),
        "hdfs" => (false, true),
        other => panic!("SINKS={other}: use both, kafka or hdfs"),
    };
    // Events per sink take (SINK_BATCH, default 5000).
    let batch: usize = std::env::var("SINK_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let mut config = format!(
        "[agent]\ninstance_id = \"bench\"\nstate_dir = \"{state}\"\n[source]\nlisten = \"127.0.0.1:{listen}\"\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n",
        state = dir.path().join("state").display(),
    );
    if with_kafka {
        config += &format!(
            "[sinks.kafka]\nbrokers = \"{brokers}\"\ntopic = \"bench.agent.{pid}\"\nidempotent = false\nbatch_size = {batch}\n\
             [sinks.kafka.producer]\n{producer_table}[sinks.kafka.channel]\nmin_free_disk_bytes = 0\n",
            pid = std::process::id(),
        );
    }
    if with_hdfs {
        config += &format!(
            "[sinks.hdfs]\nurl = \"{hdfs}\"\npath = \"{root}/date=%Y-%m-%d/hour=%H/\"\nbatch_size = {batch}\ncodec = \"{codec}\"\n[sinks.hdfs.channel]\nmin_free_disk_bytes = 0\nfsync = {chfsync}\n",
            codec = std::env::var("HDFS_CODEC").unwrap_or_else(|_| "deflate".into()),
            chfsync = std::env::var("CHANNEL_FSYNC").unwrap_or_else(|_| "true".into()),
        );
    }
    let tls = (std::env::var("SOURCE_TLS").as_deref() == Ok("true")).then(|| {
        let pki = clickstream_avro_ipc::test_pki::write_test_pki(dir.path());
        config =
            config.replace("[metrics]\n", &format!("[source.tls]\ncert = \"{}\"\nkey = \"{}\"\n[metrics]\n", pki.cert.display(), pki.key.display()));
        clickstream_avro_ipc::ClientTls::from_pem_file(&pki.ca, "127.0.0.1").unwrap()
    });
    std::fs::write(dir.path().join("fanout.toml"), config).unwrap();
    // FANOUT_AGENT_BIN: another build, e.g. a copy of the previous one for a before/after run.
    let binary = std::env::var_os("FANOUT_AGENT_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/fanout-agent"));
    assert!(binary.exists(), "build it first: cargo build --release -p fanout-agent");
    let mut child =
        std::process::Command::new(&binary).args(["run", "--config"]).arg(dir.path().join("fanout.toml")).env("RUST_LOG", "warn").spawn().unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", metrics)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let cpu_before = cpu_secs(child.id());
    let machine_before = machine_ticks();
    eprintln!("agent pid {} (for perf record -p)", child.id());
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..senders {
            let encoded = Arc::clone(&encoded);
            let options = ClientOptions { tls: tls.clone(), ..ClientOptions::default() };
            tasks.push(tokio::spawn(async move {
                let addr = format!("127.0.0.1:{listen}");
                let mut client = FlumeClient::connect(addr.as_str(), options).await.unwrap();
                for chunk in encoded.chunks(1000).skip(c).step_by(senders) {
                    while client.append_batch_encoded(chunk).await.unwrap() != Status::Ok {}
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let accepted = t.elapsed().as_secs_f64();
    // How far the HDFS sink got while the source was still receiving: the
    // rest of its time it drains alone.
    let hdfs_at_accepted = metric(metrics, "fanout_agent_sink_events_total", "sink=\"hdfs\"");
    let machine_at_accepted = machine_ticks();
    let (mut kafka_done, mut hdfs_done) = (None, None);
    while (with_kafka && kafka_done.is_none()) || (with_hdfs && hdfs_done.is_none()) {
        if with_kafka && kafka_done.is_none() && metric(metrics, "fanout_agent_sink_events_total", "sink=\"kafka\"") >= n as f64 {
            kafka_done = Some(t.elapsed().as_secs_f64());
        }
        if with_hdfs && hdfs_done.is_none() && metric(metrics, "fanout_agent_sink_events_total", "sink=\"hdfs\"") >= n as f64 {
            hdfs_done = Some(t.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(t.elapsed() < Duration::from_secs(900), "timed out");
    }
    let machine_after = machine_ticks();
    let hsync_secs = metric(metrics, "fanout_agent_hdfs_sink_sync_seconds", "");
    let rss = peak_rss_kb(child.id());
    let cpu = cpu_secs(child.id()) - cpu_before;
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    println!("events: {n}   senders: {senders}   sinks: {sinks}   brokers: {brokers}   hdfs: {hdfs}   tls: {}", tls.is_some());
    println!("source accepted all (durable in every channel): {:>10.0} events/s", n as f64 / accepted);
    if let Some(h) = hdfs_done {
        println!("HDFS sink done:                                 {:>10.0} events/s", n as f64 / h);
        if h > accepted {
            println!("  of which draining alone after the source:     {:>10.0} events/s", (n as f64 - hdfs_at_accepted) / (h - accepted));
        }
        println!("hsync time (summed over files) / that time:     {:>10.0} %", 100.0 * hsync_secs / h);
    }
    if let Some(k) = kafka_done {
        println!("Kafka sink done:                                {:>10.0} events/s", n as f64 / k);
        println!("bare rdkafka producer, same run:                {:>10.0} events/s", bare);
        println!("Kafka path / bare producer:                     {:>10.2}", (n as f64 / k) / bare);
    }
    let done = kafka_done.unwrap_or(0.0).max(hdfs_done.unwrap_or(0.0));
    println!("every sink done:                                {:>10.0} events/s", n as f64 / done);
    println!("agent CPU (user+system) per event:           {:>10.2} us", cpu * 1e6 / n as f64);
    println!("events per agent CPU-second:                    {:>10.0}", n as f64 / cpu);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let busy = (machine_after.0 - machine_before.0) as f64 / (machine_after.1 - machine_before.1).max(1) as f64;
    let share = |a: (u64, u64), b: (u64, u64)| 100.0 * (b.0 - a.0) as f64 / (b.1 - a.1).max(1) as f64;
    println!(
        "machine busy meanwhile (agent, senders, rest):  {:>10.0} % of {cores} cores ({:.0} % while sending, {:.0} % after)",
        busy * 100.0,
        share(machine_before, machine_at_accepted),
        share(machine_at_accepted, machine_after)
    );
    println!("peak RSS:                                       {:>10.1} MB", rss as f64 / 1024.0);
}
