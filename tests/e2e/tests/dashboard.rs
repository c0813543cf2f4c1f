//! The dashboard following the real pipeline, in a browser: access-log
//! lines dropped into the spool directories of two web servers flow through
//! every real release binary, and the page opened before them — never
//! reloaded — must show them as they arrive:
//!
//! ```text
//! lines ─► spool-agent ×2 ─► fanout-agent ─► Kafka (private Tansu) ─► speed-job ─► CQL ─► serve ─► SSE ─► Chromium
//!                                        └─► HDFS
//! ```
//!
//! Two waves: first ordinary traffic (no alert), then more traffic with a
//! burst of 150 requests from one address within a second (a DDoS alert) and
//! 15 responses 503 from one server within a minute (a health alert). After
//! each wave the chart's bars must add up to exactly the lines dropped so
//! far, with visitor estimates close to the distinct client addresses; after
//! the second the alert list must hold both alerts and the server table the
//! unhealthy server. A screenshot is kept in `<target dir>/test-artifacts/`.
//!
//! Needs `scripts/stack up` (HDFS, MariaDB, CQL) and the release binaries
//! (`scripts/test` builds them), Chromium and chromedriver.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clickstream_e2e::pipeline::{wait_delivered, Pipeline, HOSTS};
use clickstream_testkit::browser::{alert_keys, mark_loaded, screenshot, shown_requests, wait_for, Driver};
use clickstream_testkit::Service;
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;
/// The DDoS source of the second wave.
const ATTACKER: &str = "203.0.113.66";

/// One access-log line.
struct Line {
    t: i64,
    host: &'static str,
    client: String,
    category: &'static str,
    status: u16,
}

impl Line {
    fn render(&self, i: usize) -> String {
        let ts = DateTime::<Utc>::from_timestamp_millis(self.t).unwrap().format("%d/%b/%Y:%H:%M:%S +0000");
        format!(
            "{} - - [{ts}] \"GET /category/{}/item{i} HTTP/1.1\" {} 512 \"-\" \"Mozilla/5.0 (e2e dashboard)\"\n",
            self.client, self.category, self.status
        )
    }
}

/// One request per second and server over seconds `from..to` after `base`:
/// 40 client addresses per server, 20 of them shared by both.
fn ordinary(base: i64, from: i64, to: i64) -> Vec<Line> {
    let mut out = Vec::new();
    for s in from..to {
        for (h, host) in HOSTS.iter().enumerate() {
            out.push(Line {
                t: base + s * 1000,
                host,
                client: format!("10.20.0.{}", 20 * h as i64 + s % 40),
                category: ["shoes", "shoes", "bags", "hats"][(s % 4) as usize],
                status: 200,
            });
        }
    }
    out
}

/// Wave 1: five minutes of ordinary traffic. Wave 2: two more minutes,
/// 150 requests of [`ATTACKER`] to weblog1 within second 330, and 15 × 503
/// from weblog2 in seconds 400..415 (all within the minute starting at 360,
/// so weblog2's newest window is unhealthy).
fn waves(base: i64) -> (Vec<Line>, Vec<Line>) {
    let first = ordinary(base, 0, 300);
    let mut second = ordinary(base, 300, 420);
    for i in 0..150 {
        second.push(Line { t: base + 330_000 + i * 5, host: "weblog1", client: ATTACKER.into(), category: "bags", status: 200 });
    }
    for s in 400..415 {
        second.push(Line { t: base + s * 1000 + 500, host: "weblog2", client: "10.20.0.5".into(), category: "hats", status: 503 });
    }
    (first, second)
}

/// `host`'s lines as a log file, in time order (a server writes its log in order).
fn log_file(lines: &[Line], host: &str) -> Vec<u8> {
    let mut mine: Vec<&Line> = lines.iter().filter(|l| l.host == host).collect();
    mine.sort_by_key(|l| l.t);
    mine.iter().enumerate().map(|(i, l)| l.render(i)).collect::<String>().into_bytes()
}

/// Distinct client addresses per hour start (ms).
fn visitors_per_hour<'a>(lines: impl Iterator<Item = &'a Line>) -> BTreeMap<i64, usize> {
    let mut sets: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for l in lines {
        sets.entry(l.t.div_euclid(HOUR_MS) * HOUR_MS).or_default().insert(&l.client);
    }
    sets.into_iter().map(|(h, s)| (h, s.len())).collect()
}

/// Every bar is a speed hour whose visitor estimate is within 2 (or 5 %) of
/// the distinct addresses of that hour.
fn check_bars(page: &Value, truth: &BTreeMap<i64, usize>) {
    let bars = page["bars"].as_array().unwrap();
    assert_eq!(bars.len(), truth.len(), "one bar per hour with traffic: {page:#}");
    for (bar, (hour, want)) in bars.iter().zip(truth) {
        let start = DateTime::parse_from_rfc3339(bar[0].as_str().unwrap()).unwrap().timestamp_millis();
        assert_eq!((start, bar[1].as_str()), (*hour, Some("speed")), "{page:#}");
        let got = bar[3].as_u64().unwrap_or_else(|| panic!("the bar has a visitor estimate: {bar}"));
        assert!(got.abs_diff(*want as u64) <= 2.max(*want as u64 / 20), "visitors {got}, distinct addresses {want}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_log_lines_through_the_whole_pipeline() {
    let started = Instant::now();
    let p = Pipeline::new("dash");
    p.create_batch_tables();
    let mut svc: BTreeMap<&str, Service> = BTreeMap::new();
    svc.insert("fanout", p.fanout_agent());
    svc.insert("speed", p.speed_job());
    for host in HOSTS {
        svc.insert(host, p.spool_agent(host));
    }
    svc.insert("serve", p.serve());
    let driver = Driver::start();
    let c = driver.browser().await;
    c.goto(&format!("http://127.0.0.1:{}/", p.ports["serve_api"])).await.unwrap();
    wait_for(&c, "the page to connect", Duration::from_secs(30), |pg| pg["connection"] == "live").await;
    mark_loaded(&c).await;

    // Event time near the wall clock (serve's "now" before the first
    // checkpoint), aligned to the minute so the 503s share one window start.
    let base = (Utc::now().timestamp_millis() - 15 * 60_000).div_euclid(60_000) * 60_000;
    let (first, second) = waves(base);

    for host in HOSTS {
        p.drop_file(host, "access.log.1", &log_file(&first, host));
    }
    let n1 = first.len() as i64;
    // Newest windows (minute 240): 60 requests each. Waited for together with
    // the bars: a poll may fall between two rows of one flush.
    let servers = serde_json::json!([["weblog1", "healthy", 60], ["weblog2", "healthy", 60]]);
    let page = wait_for(&c, "the first wave on the page", Duration::from_secs(60), |pg| shown_requests(pg) == n1 && pg["servers"] == servers).await;
    eprintln!("first wave shown after {:?}", started.elapsed());
    check_bars(&page, &visitors_per_hour(first.iter()));
    assert!(page["alerts"].as_array().unwrap().is_empty(), "ordinary traffic raises no alert: {page:#}");
    assert!(!page["top"].as_array().unwrap().is_empty(), "{page:#}");
    let bars_before = page["bars"].clone();

    for host in HOSTS {
        p.drop_file(host, "access.log.2", &log_file(&second, host));
    }
    let n = n1 + second.len() as i64;
    assert_eq!(n, 600 + 240 + 150 + 15);
    // Newest windows (minute 360): weblog1 60 requests, weblog2 60 + 15 × 503.
    let servers = serde_json::json!([["weblog1", "healthy", 60], ["weblog2", "unhealthy", 75]]);
    let page = wait_for(&c, "the second wave on the page", Duration::from_secs(60), |pg| {
        let keys = alert_keys(pg);
        shown_requests(pg) == n
            && keys.iter().any(|k| k.starts_with("ddos|"))
            && keys.iter().any(|k| k.starts_with("health|"))
            && pg["servers"] == servers
    })
    .await;
    eprintln!("second wave shown after {:?}", started.elapsed());
    assert_eq!(page["marker"], "yes", "the page was reloaded");
    assert_ne!(page["bars"], bars_before, "the chart changed");
    check_bars(&page, &visitors_per_hour(first.iter().chain(&second)));
    let keys = alert_keys(&page);
    let burst = DateTime::<Utc>::from_timestamp_millis(base + 330_000).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    assert!(keys.contains(&format!("ddos|{burst}|{ATTACKER}")), "the DDoS alert of second 330: {keys:?}");
    assert!(keys.iter().filter(|k| k.starts_with("health|")).all(|k| k.ends_with("|weblog2")), "health alerts only for weblog2: {keys:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("ddos|")).count(), 1, "one DDoS alert: {keys:?}");
    screenshot(&c, env!("CARGO_TARGET_TMPDIR"), "dashboard-pipeline.png").await;
    c.close().await.unwrap();

    // Every file was delivered whole and nothing waits in a channel.
    wait_delivered(&p, &svc, 2, Duration::from_secs(30));
    for (name, s) in std::mem::take(&mut svc) {
        assert_eq!(s.terminate(), Some(0), "{name} exits 0 on SIGTERM");
    }
    eprintln!("took {:?}", started.elapsed());
}
