//! Issue 21: speed jobs past one process. Three instances of the real
//! binary share a 12-partition topic on the real broker under a live feed;
//! one is killed with SIGKILL mid-stream. In static mode (each instance owns
//! a fixed shard of the partitions) the killed one is restarted, as systemd
//! would; in group mode (the consumer group divides the partitions) the
//! survivors take its partitions over, and a fourth instance joins later. Either way the merged tables must equal a
//! single uninterrupted instance's and the oracle's, computed from the
//! delivered events alone — alerts included, decided on numbers spread over
//! several partitions.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clickstream_loggen::{Config as Gen, Ddos, ErrorStorm};
use common::*;

const PARTITIONS: i32 = 12;

/// Two web servers; weblog1 has a DDoS burst of 150 and an error storm of
/// 12 failures in five minutes from 12 addresses, which the client-address
/// key spreads over the partitions: no partition alone sees the alert.
fn scenario() -> Vec<clickstream_contract::ClickEvent<'static>> {
    let start = Gen::default().start;
    let web1 = events_of(
        "weblog1",
        Gen {
            ddos: vec![Ddos { at: start + 400, count: 150, addr: Some("203.0.113.7".into()) }],
            error_storms: vec![ErrorStorm { at: start + 700, count: 12, window_secs: 300 }],
            out_of_order_fraction: 0.02,
            out_of_order_max_secs: 8,
            ..traffic(61, 6_000)
        },
    );
    // The storm's failures come from as many addresses: spread over the
    // partitions by the key, so only their sum crosses the threshold.
    let mut spread = 0;
    let web1 = web1
        .into_iter()
        .map(|mut e| {
            if e.status != 200 {
                spread += 1;
                e.client_addr = format!("198.51.100.{spread}").into();
            }
            e
        })
        .collect();
    let web2 = events_of("weblog2", traffic(62, 4_000));
    interleave(vec![web1, web2])
}

/// Produces in chunks with pauses: a live feed, not a backlog.
fn produce_live(brokers: String, topic: String, events: Vec<clickstream_contract::ClickEvent<'static>>) -> tokio::task::JoinHandle<Vec<Delivered>> {
    tokio::spawn(async move {
        let producer = producer(&brokers);
        let mut out = Vec::new();
        for chunk in events.chunks(250) {
            out.extend(produce_with(&producer, &topic, chunk).await);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        out
    })
}

struct Setup {
    brokers: String,
    topic: String,
    cql: String,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Setup {
    /// A config for keyspace (and job name) `ks`; `kafka` lines go into `[kafka]`.
    fn config(&self, name: &str, ks: &str, kafka: &str) -> PathBuf {
        let toml = config_toml(&self.brokers, &self.topic, &self.cql, ks, ks, "")
            .replace("[cassandra]", &format!("{kafka}\n\n[cassandra]"))
            // A pause of the producer, or a restart, must not make a partition idle.
            .replace("idle_partition_timeout = \"1s\"", "idle_partition_timeout = \"6s\"");
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, toml).unwrap();
        path
    }
}

async fn setup(tag: &str) -> (Setup, Broker) {
    let broker = private_broker();
    let brokers = broker.addr.clone();
    let topic = unique(tag);
    create_topic(&brokers, &topic, PARTITIONS).await;
    let log = std::env::temp_dir().join(format!("{}.log", unique(tag)));
    eprintln!("speed-job logs: {}", log.display());
    (Setup { brokers, topic, cql: cql_endpoint().await, dir: tempfile::tempdir().unwrap(), log }, broker)
}

/// Waits until the checkpoints (any instance's) have processed `fraction` of `total` records.
async fn until_progress(session: &scylla::client::session::Session, ks: &str, topic: &str, fraction: f64, total: usize) {
    let started = Instant::now();
    loop {
        let cp = read_checkpoint(session, ks, ks, topic).await;
        let progress: i64 = cp.values().map(|c| c.1).sum();
        if progress as f64 >= fraction * total as f64 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "no progress: {cp:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The single-instance reference and the oracle, then the comparison.
async fn check(s: &Setup, session: &scylla::client::session::Session, delivered: &[Delivered], shared: &str, single: &str) {
    let (want, final_wm) = oracle(delivered, 10);
    let ends = end_offsets(delivered, PARTITIONS);
    assert_eq!(ends.len(), PARTITIONS as usize, "every partition has records");
    wait_done(session, single, single, &s.topic, &ends, final_wm, Duration::from_secs(240)).await;
    wait_done(session, shared, shared, &s.topic, &ends, final_wm, Duration::from_secs(240)).await;
    let one = read_tables(session, single).await;
    let many = read_tables(session, shared).await;
    assert!(!want.ddos.is_empty() && !want.health_alerts.is_empty(), "the scenario has both alerts");
    // Each health alert is a sum over partitions: no partition alone has
    // more than 10 of its window's failures.
    for (_, ws, host, we, _, non_200, _) in &want.health_alerts {
        let mut per_partition: std::collections::BTreeMap<i32, i64> = Default::default();
        for d in delivered.iter().filter(|d| d.event.source_host == host.as_str() && d.event.status != 200) {
            if (*ws..*we).contains(&d.event.event_time_ms) {
                *per_partition.entry(d.partition).or_default() += 1;
            }
        }
        assert!(per_partition.values().all(|&n| n <= 10), "{host} {ws}: {non_200} failures, per partition {per_partition:?}");
    }
    assert_tables_eq(&one, &want);
    assert_tables_eq(&many, &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_static_shards_with_one_killed_and_restarted_equal_one_instance() {
    let (s, _broker) = setup("speed_shards").await;
    let session = cql_session(&s.cql).await;
    let (shared, single) = (unique("speed_shards"), unique("speed_single"));
    let single_conf = s.config("single", &single, "");
    let shard_conf: Vec<PathBuf> = (0..3).map(|i| s.config(&format!("shard{i}"), &shared, &format!("shard_count = 3\nshard_index = {i}"))).collect();
    let events = scenario();
    let total = events.len();

    let reference = Job::start(&single_conf, &s.log);
    let mut shards: Vec<Job> = shard_conf.iter().map(|c| Job::start(c, &s.log)).collect();
    let feed = produce_live(s.brokers.clone(), s.topic.clone(), events);
    until_progress(&session, &shared, &s.topic, 0.4, total).await;
    shards[1].sigkill();
    tokio::time::sleep(Duration::from_secs(2)).await; // systemd's RestartSec
    shards[1] = Job::start(&shard_conf[1], &s.log);
    let delivered = feed.await.unwrap();
    check(&s, &session, &delivered, &shared, &single).await;
    for job in shards {
        assert!(job.sigterm().success(), "graceful stop exits 0");
    }
    assert!(reference.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_group_members_with_one_killed_and_one_added_equal_one_instance() {
    let (s, _broker) = setup("speed_group").await;
    let session = cql_session(&s.cql).await;
    let (shared, single) = (unique("speed_group"), unique("speed_single"));
    let single_conf = s.config("single", &single, "");
    let member_conf = s.config("member", &shared, "assignment = \"group\"\nsession_timeout = \"6s\"");
    let events = scenario();
    let total = events.len();

    let reference = Job::start(&single_conf, &s.log);
    let mut members: Vec<Job> = (0..3).map(|_| Job::start(&member_conf, &s.log)).collect();
    let feed = produce_live(s.brokers.clone(), s.topic.clone(), events);
    until_progress(&session, &shared, &s.topic, 0.3, total).await;
    members[1].sigkill();
    let killed_at = now_ms();
    // Without any new member, the survivors notice the dead member's
    // partitions (their checkpoint rows stop being rewritten) and rejoin
    // the group, so that the coordinator divides them again: every row is
    // rewritten after the 18 s it takes to call a partition orphaned.
    let started = Instant::now();
    loop {
        let rewritten = checkpoint_times(&session, &shared, &s.topic).await;
        if rewritten.len() == PARTITIONS as usize && rewritten.values().all(|&at| at > killed_at + 18_000) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the dead member's partitions were not taken over: {rewritten:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A new member's join divides every partition again too.
    members.push(Job::start(&member_conf, &s.log));
    let delivered = feed.await.unwrap();
    check(&s, &session, &delivered, &shared, &single).await;
    members.remove(1);
    for job in members {
        assert!(job.sigterm().success(), "graceful stop exits 0");
    }
    assert!(reference.sigterm().success());
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// When each partition's checkpoint row was last written (ms).
async fn checkpoint_times(session: &scylla::client::session::Session, ks: &str, topic: &str) -> std::collections::BTreeMap<i32, i64> {
    let q = format!("SELECT kafka_partition, updated_at FROM {ks}.speed_checkpoints WHERE job = ? AND topic = ?");
    let rows = session.query_unpaged(q, (ks, topic)).await.unwrap().into_rows_result().unwrap();
    rows.rows::<(i32, scylla::value::CqlTimestamp)>().unwrap().map(|r| r.unwrap()).map(|(p, t)| (p, t.0)).collect()
}
