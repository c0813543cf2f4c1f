//! The speed job end to end, in process: generated traffic produced to the
//! real Kafka broker, the job consuming it, every table read back through
//! CQL and compared row for row with a naive oracle computed from the
//! ground truth and the records' delivered partitions and offsets.

mod common;

use std::time::Duration;

use clickstream_loggen::{Config as Gen, Ddos, ErrorStorm};
use common::*;
use speed_job::config::Config;

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<speed_job::job::RunSummary, speed_job::job::JobError>>,
}

fn start_job(toml: &str) -> Running {
    let cfg = Config::parse(toml, "test").expect("test config is valid");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(speed_job::job::run(cfg, async move {
        let _ = rx.await;
    }));
    Running { stop, handle }
}

impl Running {
    async fn stop(self) -> speed_job::job::RunSummary {
        let _ = self.stop.send(());
        self.handle.await.expect("job task").expect("job run")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_traffic_gives_exact_rows_in_every_table() {
    let start = Gen::default().start;
    let web1 = events_of(
        "weblog1",
        Gen {
            ddos: vec![
                Ddos { at: start + 600, count: 150, addr: Some("203.0.113.9".into()) },
                Ddos { at: start + 900, count: 100, addr: Some("198.51.100.7".into()) },
            ],
            error_storms: vec![ErrorStorm { at: start + 1200, count: 12, window_secs: 300 }],
            out_of_order_fraction: 0.03,
            out_of_order_max_secs: 8,
            late: 6,
            late_by_secs: 120,
            ..traffic(1, 4000)
        },
    );
    let web2 = events_of("weblog2", Gen { error_storms: vec![ErrorStorm { at: start + 1200, count: 10, window_secs: 300 }], ..traffic(2, 3000) });
    let events = interleave(vec![web1, web2]);

    // A broker of its own: consumer-group joins slow down badly on a Tansu
    // that already holds the topics of a whole test suite.
    let broker = private_broker();
    let brokers = broker.addr.clone();
    let topic = unique("speed_exact");
    create_topic(&brokers, &topic, 8).await;
    let delivered = produce(&brokers, &topic, &events).await;
    let (want, final_wm) = oracle(&delivered, 10);

    // The scenario is what the issue asks for, before anything is checked against the job.
    let alerts: Vec<_> = want.ddos.iter().map(|r| (r.0, r.1.as_str(), r.3)).collect();
    assert_eq!(alerts, vec![((start + 600) * 1000, "203.0.113.9", 150)], "one alert for 150, none for exactly 100");
    assert!(!want.health_alerts.is_empty() && want.health_alerts.iter().all(|a| a.2 == "weblog1"), "12 failures alert, 10 do not");
    assert!(want.health.iter().filter(|h| h.0 == "weblog2").map(|h| h.5).max() == Some(10));
    assert_eq!(want.late.len(), 6, "the generator's late lines are behind their partition's watermark");
    assert!(want.top.iter().any(|t| t.1 == 10), "more than 10 categories: the top-N cuts");

    let cql = cql_endpoint().await;
    let ks = unique("speed_exact");
    // This test takes its partitions through the consumer group (kafka.assignment = "group").
    let toml = config_toml(&brokers, &topic, &cql, &ks, &ks, "").replace("[cassandra]", "assignment = \"group\"\n\n[cassandra]");
    let job = start_job(&toml);
    let session = cql_session(&cql).await;
    wait_done(&session, &ks, &ks, &topic, &end_offsets(&delivered, 8), final_wm, Duration::from_secs(90)).await;
    let got = read_tables(&session, &ks).await;
    assert_tables_eq(&got, &want);
    let summary = job.stop().await;
    assert_eq!(summary.consumed as usize, delivered.len());
    assert_eq!(summary.stats.late, 6);
    assert_eq!(summary.stats.duplicates, 0);
    assert!(got.ddos.iter().all(|r| r.7), "the alert window is final");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_replays_are_counted_once() {
    let original = events_of("weblog1", traffic(3, 2000));
    // An agent re-sends some events right after themselves (at-least-once transport).
    let mut events = Vec::new();
    let mut resent = 0;
    for (i, e) in original.iter().enumerate() {
        events.push(e.clone());
        if i % 7 == 3 {
            events.push(e.clone());
            resent += 1;
        }
    }
    let broker = broker();
    let brokers = broker.addr.clone();
    let topic = unique("speed_dups");
    create_topic(&brokers, &topic, 2).await;
    let delivered = produce(&brokers, &topic, &events).await;
    let (want, final_wm) = oracle(&delivered, 10);
    let (single, _) = oracle(&produce_free(&delivered), 10);
    assert_eq!(want, single, "the oracle counts a re-sent id once");

    let cql = cql_endpoint().await;
    let ks = unique("speed_dups");
    let job = start_job(&config_toml(&brokers, &topic, &cql, &ks, &ks, ""));
    let session = cql_session(&cql).await;
    wait_done(&session, &ks, &ks, &topic, &end_offsets(&delivered, 2), final_wm, Duration::from_secs(90)).await;
    assert_tables_eq(&read_tables(&session, &ks).await, &want);
    let summary = job.stop().await;
    assert_eq!(summary.stats.duplicates, resent);
}

/// The same deliveries without the second copies (for the oracle cross-check).
fn produce_free(delivered: &[Delivered]) -> Vec<Delivered> {
    let mut seen = std::collections::HashSet::new();
    delivered.iter().filter(|d| seen.insert(d.event.event_id.to_string())).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_continues_from_the_checkpoint() {
    let events = events_of("weblog1", Gen { ddos: vec![Ddos { at: Gen::default().start + 700, count: 130, addr: None }], ..traffic(4, 3000) });
    let (first, second) = events.split_at(events.len() / 2);
    let broker = broker();
    let brokers = broker.addr.clone();
    let topic = unique("speed_restart");
    create_topic(&brokers, &topic, 3).await;
    let cql = cql_endpoint().await;
    let ks = unique("speed_restart");
    let toml = config_toml(&brokers, &topic, &cql, &ks, &ks, "");
    let session = cql_session(&cql).await;

    let mut delivered = produce(&brokers, &topic, first).await;
    let job = start_job(&toml);
    let (_, wm1) = oracle(&delivered, 10);
    wait_done(&session, &ks, &ks, &topic, &end_offsets(&delivered, 3), wm1, Duration::from_secs(90)).await;
    let s1 = job.stop().await;
    assert_eq!(s1.consumed as usize, delivered.len());

    delivered.extend(produce(&brokers, &topic, second).await);
    let (want, wm2) = oracle(&delivered, 10);
    let job = start_job(&toml);
    wait_done(&session, &ks, &ks, &topic, &end_offsets(&delivered, 3), wm2, Duration::from_secs(90)).await;
    assert_tables_eq(&read_tables(&session, &ks).await, &want);
    let s2 = job.stop().await;
    assert!(s2.consumed as usize >= second.len(), "the second run reads at least the new records");
    assert_eq!(want.ddos.len(), 1);
}
