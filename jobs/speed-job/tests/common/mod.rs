//! Test harness of the speed job: the real Kafka broker (Tansu, started
//! through `scripts/stack`), the CQL endpoint (a real cluster when
//! `CASSANDRA_CONTACT_POINTS` is set, else the stand-in), generated traffic
//! with ground truth, a naive oracle of the expected rows, and readers of
//! every table.
#![allow(dead_code, clippy::type_complexity)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use clickstream_contract::ClickEvent;
use clickstream_logparse::{LineOrigin, Parser};
use clickstream_testkit::kafka::PrivateKafka;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;

pub const LATENESS: i64 = 10_000;
/// `windows.far_ahead` and `windows.far_ahead_quorum` (their defaults).
pub const FAR_AHEAD: i64 = 60_000;
pub const QUORUM: usize = 3;

/// One web server within one partition, as the oracle follows it: the
/// newest corroborated event time, and the far-ahead times held aside.
/// Written out naively from the rule in docs/speed-layer.md.
#[derive(Default)]
struct OracleLane {
    max: Option<i64>,
    held: Vec<i64>,
}

impl OracleLane {
    fn watermark(&self) -> Option<i64> {
        self.max.map(|m| m - LATENESS)
    }

    /// Where windows close once everything is idle: the newest time, held ones included.
    fn idle_watermark(&self) -> Option<i64> {
        self.held.iter().copied().chain(self.max).max().map(|m| m - LATENESS)
    }

    fn observe(&mut self, t: i64) {
        match self.max {
            Some(m) if t <= m + FAR_AHEAD => {
                if t > m {
                    self.max = Some(t);
                    self.held.retain(|&h| h > t);
                }
            }
            _ => {
                // Far ahead, or nothing corroborated yet: held until QUORUM agree.
                self.held.push(t);
                if self.held.len() >= QUORUM {
                    let mut newest_first = self.held.clone();
                    newest_first.sort_by(|a, b| b.cmp(a));
                    let m = self.max.unwrap_or(i64::MIN).max(newest_first[QUORUM - 1]);
                    self.max = Some(m);
                    self.held.retain(|&h| h > m);
                }
            }
        }
    }
}

/// A Kafka broker for one test: `$KAFKA_BROKERS` when set (scripts/test
/// sets it to the stack's broker), else a private Tansu started through
/// `scripts/stack` with its own port and data directory, stopped on drop,
/// so tests neither disturb nor are slowed by other users of the shared one.
pub struct Broker {
    pub addr: String,
    private: Option<PrivateKafka>,
}

impl Broker {
    /// Stops and starts the broker (private brokers only).
    pub fn restart(&self) {
        self.private.as_ref().expect("only a private broker can be restarted").restart();
    }
}

pub fn broker() -> Broker {
    if let Ok(b) = std::env::var("KAFKA_BROKERS") {
        if !b.is_empty() {
            return Broker { addr: b, private: None };
        }
    }
    private_broker()
}

/// Always a private broker (for tests that restart it).
pub fn private_broker() -> Broker {
    let p = PrivateKafka::start();
    Broker { addr: p.addr(), private: Some(p) }
}

/// A name unique to this test run.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{tag}_{}_{nanos}", std::process::id())
}

pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let r = admin.create_topics([&t], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))).await.unwrap();
    for res in r {
        res.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// One produced record: where it landed and what it was.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub event: ClickEvent<'static>,
}

/// Produces events as the fan-out agent does (key = client address, value =
/// single-object Avro, header `event_id`), in order, and reports where each landed.
pub async fn produce(brokers: &str, topic: &str, events: &[ClickEvent<'static>]) -> Vec<Delivered> {
    produce_with(&producer(brokers), topic, events).await
}

/// An idempotent, acks=all producer like the fan-out agent's.
pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer")
}

/// Produces with an existing producer (see [`produce`]).
pub async fn produce_with(producer: &FutureProducer, topic: &str, events: &[ClickEvent<'static>]) -> Vec<Delivered> {
    let mut pending = Vec::with_capacity(events.len());
    for e in events {
        let mut value = Vec::with_capacity(512);
        e.encode_single_object(&mut value);
        let headers = OwnedHeaders::new().insert(Header { key: "event_id", value: Some(e.event_id.as_bytes()) });
        let record = FutureRecord::to(topic).key(e.client_addr.as_bytes()).payload(&value).headers(headers);
        let fut = producer.send_result(record).map_err(|(e, _)| e).expect("enqueue");
        pending.push(fut);
    }
    let mut out = Vec::with_capacity(events.len());
    for (fut, e) in pending.into_iter().zip(events) {
        let d = fut.await.expect("delivery future").map_err(|(e, _)| e).expect("delivery");
        out.push(Delivered { partition: d.partition, offset: d.offset, event: e.clone() });
    }
    out
}

/// Next offset per partition after `delivered`.
pub fn end_offsets(delivered: &[Delivered], partitions: i32) -> BTreeMap<i32, i64> {
    let mut ends: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    for d in delivered {
        let e = ends.entry(d.partition).or_default();
        *e = (*e).max(d.offset + 1);
    }
    ends
}

/// Parses generated lines of one web server into events, as its spool agent would.
pub fn events_of(host: &str, cfg: clickstream_loggen::Config) -> Vec<ClickEvent<'static>> {
    let parser = Parser::default();
    let fingerprint = format!("fp-{host}");
    let file = format!("/spool/{host}/access.log");
    let mut offset = 0u64;
    let mut out = Vec::new();
    for line in clickstream_loggen::generate(cfg).expect("generating traffic") {
        let origin = LineOrigin { source_host: host, source_file: &file, file_fingerprint: &fingerprint, byte_offset: offset };
        if let Ok(e) = parser.parse_event(&line.bytes, &origin) {
            out.push(e.into_owned());
        }
        offset += line.bytes.len() as u64 + 1;
    }
    out
}

/// Interleaves several servers' streams in the order their lines were
/// written (by each stream's running maximum time), keeping each stream's order.
pub fn interleave(streams: Vec<Vec<ClickEvent<'static>>>) -> Vec<ClickEvent<'static>> {
    let mut keyed: Vec<(i64, usize, usize, ClickEvent<'static>)> = Vec::new();
    for (s, events) in streams.into_iter().enumerate() {
        let mut max = i64::MIN;
        for (i, e) in events.into_iter().enumerate() {
            max = max.max(e.event_time_ms);
            keyed.push((max, s, i, e));
        }
    }
    keyed.sort_by_key(|k| (k.0, k.1, k.2));
    keyed.into_iter().map(|k| k.3).collect()
}

/// The CQL endpoint: a real cluster's first contact point, or a fresh stand-in in this process.
pub async fn cql_endpoint() -> String {
    match std::env::var("CASSANDRA_CONTACT_POINTS").ok().filter(|s| !s.is_empty()) {
        Some(cp) => cp,
        None => cql_standin::spawn_for_tests().await.to_string(),
    }
}

pub async fn cql_session(endpoint: &str) -> Session {
    SessionBuilder::new().known_nodes(endpoint.split(',').map(str::trim)).build().await.expect("cql session")
}

/// A job configuration for tests: fast flushes, short idle timeout, metrics on a free port.
pub fn config_toml(brokers: &str, topic: &str, cql: &str, keyspace: &str, name: &str, extra: &str) -> String {
    let cps: Vec<String> = cql.split(',').map(|s| format!("\"{}\"", s.trim())).collect();
    format!(
        r#"
[kafka]
brokers = "{brokers}"
topic = "{topic}"
group_id = "{name}"

[cassandra]
contact_points = [{cps}]
keyspace = "{keyspace}"
ttl = "1d"

[windows]
allowed_lateness = "10s"
idle_partition_timeout = "1s"

[job]
name = "{name}"
flush_interval = "100ms"

[metrics]
listen = "127.0.0.1:0"
{extra}
"#,
        cps = cps.join(", ")
    )
}

// ------------------------------------------------------------------ oracle

/// Rows of every table, as comparable tuples.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
pub struct Tables {
    /// (window_start, client, window_end, requests, first_seen, last_seen, hosts, is_final)
    pub ddos: BTreeSet<(i64, String, i64, i64, i64, i64, Vec<String>, bool)>,
    /// (host, day, window_start, window_end, requests, non_200, classes, unhealthy, is_final)
    pub health: BTreeSet<(String, String, i64, i64, i64, i64, [i64; 5], bool, bool)>,
    /// server_health's visitor columns: (host, window_start, visitors_hll, visitors_estimate)
    pub visitors: BTreeSet<(String, i64, Vec<u8>, i64)>,
    /// (day, window_start, host, window_end, requests, non_200, is_final)
    pub health_alerts: BTreeSet<(String, i64, String, i64, i64, i64, bool)>,
    /// (window_start, category, window_end, requests, is_final)
    pub popularity: BTreeSet<(i64, String, i64, i64, bool)>,
    /// (window_start, rank, category, requests, window_end, is_final)
    pub top: BTreeSet<(i64, i32, String, i64, i64, bool)>,
    /// (day, event_time, event_id, host, client, category, status, watermark, reason, partition, offset)
    pub late: BTreeSet<(String, i64, String, String, String, String, i32, i64, String, i32, i64)>,
}

pub fn day(ms: i64) -> String {
    speed_job::time::utc_day(ms)
}

/// Expected tables, computed naively from what was delivered: dedup by id
/// (first copy wins), lateness per partition and web server (its newest
/// corroborated event time, see [`OracleLane`]), every window counted by brute force, and windows
/// final up to the highest partition watermark (every partition idle at the end).
pub fn oracle(delivered: &[Delivered], top_n: usize) -> (Tables, i64) {
    let mut by_partition: BTreeMap<i32, Vec<&Delivered>> = BTreeMap::new();
    for d in delivered {
        by_partition.entry(d.partition).or_default().push(d);
    }
    let mut t = Tables::default();
    let mut counted: Vec<&ClickEvent<'static>> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut final_wm = i64::MIN;
    for (p, mut ds) in by_partition {
        ds.sort_by_key(|d| d.offset);
        // Lateness per lane: the same web server within the partition.
        let mut lanes: BTreeMap<String, OracleLane> = BTreeMap::new();
        for d in ds {
            let e = &d.event;
            // A copy of an earlier record is a duplicate, before any lateness
            // (the job remembers the ids of recent records beyond their windows).
            if !seen.insert(e.event_id.to_string()) {
                continue;
            }
            let lane = lanes.entry(e.source_host.to_string()).or_default();
            if let Some(wm) = lane.watermark() {
                if e.event_time_ms < wm {
                    t.late.insert((
                        day(e.event_time_ms),
                        e.event_time_ms,
                        e.event_id.to_string(),
                        e.source_host.to_string(),
                        e.client_addr.to_string(),
                        e.category.to_string(),
                        e.status,
                        wm,
                        "behind_watermark".into(),
                        p,
                        d.offset,
                    ));
                    continue;
                }
            }
            lane.observe(e.event_time_ms);
            counted.push(e);
        }
        for wm in lanes.values().filter_map(OracleLane::idle_watermark) {
            final_wm = final_wm.max(wm);
        }
    }
    // DDoS: 1 s tumbling, more than 100.
    let mut ddos: BTreeMap<(i64, String), Vec<&ClickEvent>> = BTreeMap::new();
    for e in &counted {
        ddos.entry((e.event_time_ms.div_euclid(1000) * 1000, e.client_addr.to_string())).or_default().push(e);
    }
    for ((ws, client), es) in ddos {
        if es.len() > 100 {
            let hosts: BTreeSet<String> = es.iter().map(|e| e.source_host.to_string()).collect();
            t.ddos.insert((
                ws,
                client,
                ws + 1000,
                es.len() as i64,
                es.iter().map(|e| e.event_time_ms).min().unwrap(),
                es.iter().map(|e| e.event_time_ms).max().unwrap(),
                hosts.into_iter().collect(),
                ws + 1000 <= final_wm,
            ));
        }
    }
    // Health and popularity: 5 min windows sliding by 1 min.
    let mut health: BTreeMap<(String, i64), (i64, i64, [i64; 5])> = BTreeMap::new();
    let mut pop: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut clients: BTreeMap<(String, i64), BTreeSet<&str>> = BTreeMap::new();
    for e in &counted {
        let last = e.event_time_ms.div_euclid(60_000) * 60_000;
        for k in 0..5 {
            let ws = last - k * 60_000;
            clients.entry((e.source_host.to_string(), ws)).or_default().insert(e.client_addr.as_ref());
            let h = health.entry((e.source_host.to_string(), ws)).or_default();
            h.0 += 1;
            if e.status != 200 {
                h.1 += 1;
            }
            h.2[((e.status / 100 - 1).clamp(0, 4)) as usize] += 1;
            *pop.entry((ws, e.category.to_string())).or_default() += 1;
        }
    }
    for ((host, ws), (n, bad, classes)) in health {
        let fin = ws + 300_000 <= final_wm;
        t.health.insert((host.clone(), day(ws), ws, ws + 300_000, n, bad, classes, bad > 10, fin));
        if bad > 10 {
            t.health_alerts.insert((day(ws), ws, host, ws + 300_000, n, bad, fin));
        }
    }
    // Visitors: the sketch (the shared format) of each window's distinct addresses.
    for ((host, ws), set) in clients {
        let mut h = clickstream_sketch::Hll::new();
        for c in &set {
            h.insert(c.as_bytes());
        }
        t.visitors.insert((host, ws, h.to_bytes(), h.estimate() as i64));
    }
    let mut per_window: BTreeMap<i64, Vec<(String, i64)>> = BTreeMap::new();
    for ((ws, cat), n) in pop {
        t.popularity.insert((ws, cat.clone(), ws + 300_000, n, ws + 300_000 <= final_wm));
        per_window.entry(ws).or_default().push((cat, n));
    }
    for (ws, mut cats) in per_window {
        cats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (i, (cat, n)) in cats.into_iter().take(top_n).enumerate() {
            t.top.insert((ws, i as i32 + 1, cat, n, ws + 300_000, ws + 300_000 <= final_wm));
        }
    }
    (t, final_wm)
}

/// Compares every table, showing only the differing rows.
pub fn assert_tables_eq(got: &Tables, want: &Tables) {
    macro_rules! same {
        ($f:ident) => {
            let extra: Vec<_> = got.$f.difference(&want.$f).collect();
            let missing: Vec<_> = want.$f.difference(&got.$f).collect();
            assert!(extra.is_empty() && missing.is_empty(), "{}: unexpected {extra:#?}\nmissing {missing:#?}", stringify!($f));
        };
    }
    same!(ddos);
    same!(health);
    same!(visitors);
    same!(health_alerts);
    same!(popularity);
    same!(top);
    same!(late);
}

// ------------------------------------------------------------------ readers

pub async fn read_tables(s: &Session, ks: &str) -> Tables {
    let mut t = Tables::default();
    let rows = |q: String| async move { s.query_unpaged(q, &[]).await.unwrap().into_rows_result().unwrap() };
    let r =
        rows(format!("SELECT window_start, client_addr, window_end, requests, first_seen, last_seen, source_hosts, is_final FROM {ks}.ddos_alerts"))
            .await;
    for row in r.rows::<(CqlTimestamp, String, CqlTimestamp, i64, CqlTimestamp, CqlTimestamp, Vec<String>, bool)>().unwrap() {
        let (a, b, c, d, e, f, g, h) = row.unwrap();
        t.ddos.insert((a.0, b, c.0, d, e.0, f.0, g, h));
    }
    let r = rows(format!(
        "SELECT source_host, day, window_start, window_end, requests, non_200, status_1xx, status_2xx, status_3xx, status_4xx, \
         status_5xx, unhealthy, is_final FROM {ks}.server_health"
    ))
    .await;
    for row in r.rows::<(String, String, CqlTimestamp, CqlTimestamp, i64, i64, i64, i64, i64, i64, i64, bool, bool)>().unwrap() {
        let (h, d, ws, we, n, bad, c1, c2, c3, c4, c5, u, f) = row.unwrap();
        t.health.insert((h, d, ws.0, we.0, n, bad, [c1, c2, c3, c4, c5], u, f));
    }
    let r = rows(format!("SELECT source_host, window_start, visitors_hll, visitors_estimate FROM {ks}.server_health")).await;
    for row in r.rows::<(String, CqlTimestamp, Vec<u8>, i64)>().unwrap() {
        let (h, ws, hll, estimate) = row.unwrap();
        t.visitors.insert((h, ws.0, hll, estimate));
    }
    let r = rows(format!("SELECT day, window_start, source_host, window_end, requests, non_200, is_final FROM {ks}.health_alerts")).await;
    for row in r.rows::<(String, CqlTimestamp, String, CqlTimestamp, i64, i64, bool)>().unwrap() {
        let (d, ws, h, we, n, bad, f) = row.unwrap();
        t.health_alerts.insert((d, ws.0, h, we.0, n, bad, f));
    }
    let r = rows(format!("SELECT window_start, category, window_end, requests, is_final FROM {ks}.category_popularity")).await;
    for row in r.rows::<(CqlTimestamp, String, CqlTimestamp, i64, bool)>().unwrap() {
        let (ws, c, we, n, f) = row.unwrap();
        t.popularity.insert((ws.0, c, we.0, n, f));
    }
    let r = rows(format!("SELECT window_start, rank, category, requests, window_end, is_final FROM {ks}.category_top")).await;
    for row in r.rows::<(CqlTimestamp, i32, String, i64, CqlTimestamp, bool)>().unwrap() {
        let (ws, rank, c, n, we, f) = row.unwrap();
        t.top.insert((ws.0, rank, c, n, we.0, f));
    }
    let r = rows(format!(
        "SELECT day, event_time, event_id, source_host, client_addr, category, status, watermark, reason, kafka_partition, \
         kafka_offset FROM {ks}.late_events"
    ))
    .await;
    for row in r.rows::<(String, CqlTimestamp, String, String, String, String, i32, CqlTimestamp, String, i32, i64)>().unwrap() {
        let (d, et, id, h, c, cat, st, wm, reason, p, o) = row.unwrap();
        t.late.insert((d, et.0, id, h, c, cat, st, wm.0, reason, p, o));
    }
    t
}

/// Checkpoint rows: partition -> (resume_offset, replay_until, closed_through).
pub async fn read_checkpoint(s: &Session, ks: &str, job: &str, topic: &str) -> HashMap<i32, (i64, i64, i64)> {
    let q = format!("SELECT kafka_partition, resume_offset, replay_until, closed_through FROM {ks}.speed_checkpoints WHERE job = ? AND topic = ?");
    match s.query_unpaged(q, (job, topic)).await {
        Ok(r) => {
            r.into_rows_result().unwrap().rows::<(i32, i64, i64, i64)>().unwrap().map(|r| r.unwrap()).map(|(p, a, b, c)| (p, (a, b, c))).collect()
        }
        Err(_) => HashMap::new(), // keyspace not created yet
    }
}

/// The offsets group `group` has committed on `topic`, per partition (what
/// lag tools such as `kafka-consumer-groups` or Burrow measure lag against).
pub fn committed_offsets(brokers: &str, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer for committed offsets");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(20)).unwrap_or_else(|e| panic!("committed offsets of group {group} on {topic}: {e}"));
    got.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// Windows ending at or before `through` still waiting for their final merged rows.
pub async fn pending_windows(s: &Session, ks: &str, job: &str, topic: &str, through: i64) -> Option<usize> {
    let q = format!("SELECT window_end FROM {ks}.speed_pending_windows WHERE job = ? AND topic = ? AND window_end <= ?");
    let r = s.query_unpaged(q, (job, topic, scylla::value::CqlTimestamp(through))).await.ok()?;
    Some(r.into_rows_result().ok()?.rows_num())
}

/// Waits until the job's checkpoint covers every delivered record and has
/// closed every window up to `final_wm`, and those windows' final merged
/// rows are written (none of them pending).
pub async fn wait_done(s: &Session, ks: &str, job: &str, topic: &str, ends: &BTreeMap<i32, i64>, final_wm: i64, timeout: Duration) {
    let start = Instant::now();
    loop {
        let cp = read_checkpoint(s, ks, job, topic).await;
        let done = ends.iter().all(|(p, end)| cp.get(p).is_some_and(|c| c.1 >= *end && c.2 >= final_wm));
        if done && pending_windows(s, ks, job, topic, final_wm).await == Some(0) {
            return;
        }
        assert!(start.elapsed() < timeout, "job did not finish within {timeout:?}: checkpoint {cp:?}, want ends {ends:?}, closed {final_wm}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Traffic of one web server with the given scenario knobs, 30 minutes long, no random non-200s.
pub fn traffic(seed: u64, lines: u64) -> clickstream_loggen::Config {
    clickstream_loggen::Config {
        seed,
        lines,
        duration_secs: 1800,
        visitors: 400,
        population_seed: Some(1),
        non_200_fraction: 0.0,
        no_request_fraction: 0.0,
        ..clickstream_loggen::Config::default()
    }
}

// ------------------------------------------------------------------ processes

/// The real `speed-job` binary as a child process (stderr appended to a
/// log file), killed if the test fails.
pub struct Job(std::process::Child);

impl Job {
    /// `speed-job run --config CONFIG`.
    pub fn start(config: &std::path::Path, log: &std::path::Path) -> Job {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        Job(std::process::Command::new(env!("CARGO_BIN_EXE_speed-job"))
            .args(["run", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning speed-job"))
    }

    /// kill -9, and reap it.
    pub fn sigkill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    /// Still running.
    pub fn is_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    /// A graceful stop (SIGTERM); its exit status.
    pub fn sigterm(mut self) -> std::process::ExitStatus {
        assert!(std::process::Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().unwrap().success(), "kill -TERM");
        self.0.wait().unwrap()
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
