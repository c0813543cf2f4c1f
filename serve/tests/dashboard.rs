//! The dashboard in a real browser: headless Chromium (Debian `chromium`,
//! driven over WebDriver by `chromedriver` through `fantoccini`) opens `/`
//! while new rows land in the real MySQL and CQL endpoint, and the page —
//! never reloaded — must show them: a new bar in the hourly chart, new
//! alerts at the top of the list, a new leader among the categories, a new
//! unhealthy web server, a newer batch day's servers, categories and top
//! paths. A screenshot is kept as a test artifact.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clickstream_testkit::browser::{alert_keys, mark_loaded, read_dashboard, record_flashes, screenshot, shown_requests, wait_for, Driver};
use common::*;
use serde_json::json;

const D1: &str = "2026-11-20";
const D2: &str = "2026-11-21";

/// The batch panel as the page shows it: its day, and per table the rows'
/// `data-*` attributes (`[value, requests, visitors, failure share]`, paths
/// `[path, requests, failure share]`).
const READ_BATCH_PANEL: &str = r##"
const q = (s) => Array.from(document.querySelectorAll(s));
const share = (tr) => (tr.dataset.failure === "" ? null : Number(tr.dataset.failure));
const dim = (id) => q(`#${id} tbody tr`).map(tr => [tr.dataset.value, Number(tr.dataset.requests), Number(tr.dataset.visitors), share(tr)]);
return {
  day: document.getElementById("batch-day").textContent,
  empty: document.getElementById("batch-empty").hidden === false,
  servers: dim("batch-servers"),
  categories: dim("batch-categories"),
  paths: q("#batch-paths tbody tr").map(tr => [tr.dataset.path, Number(tr.dataset.requests), share(tr)]),
};
"##;

/// Polls the batch panel every 100 ms until `ok` (a macro: the WebDriver
/// client's type is the test kit's, not named here).
macro_rules! batch_panel {
    ($c:expr, $what:expr, $ok:expr) => {{
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let panel: serde_json::Value = $c.execute(READ_BATCH_PANEL, vec![]).await.expect("reading the batch panel");
            if $ok(&panel) {
                break panel;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}; the batch panel shows {panel:#}", $what);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

#[test]
fn the_dashboard_updates_live_as_rows_arrive() {
    let db = TestDb::create();
    let hours: [(u64, u64); 24] = std::array::from_fn(|h| (40 + 10 * ((h as u64 + 6) % 24).min(18), 5 + h as u64 / 3));
    db.batch_day(D1, &hours, 60);
    db.batch_dimension(D1, "server", &[("weblog1", 300, 40, 30, 9_000), ("weblog2", 500, 30, 5, 12_000)]);
    db.batch_dimension(D1, "category", &[("shoes", 450, 50, 0, 15_000), ("bags", 350, 20, 35, 6_000)]);
    db.batch_top_paths(D1, &[("/products/shoes/42", 200, 2, 8_000), ("/cart", 120, 12, 1_000)]);
    let d2 = midnight(D2);
    let at = |m: i64| d2 + m * MIN;
    let ks = rt().block_on(async {
        let ks = TestKeyspace::create().await;
        ks.health_hour("weblog1", d2, |k| 30 + k % 7).await;
        for k in 60..86 {
            ks.health("weblog1", at(k), 5 * MIN, 35, 2).await;
        }
        ks.ddos(at(30), "198.51.100.77", &["weblog1"], 150).await;
        ks.popularity(at(85), &[("shoes", 30), ("bags", 20), ("hats", 5)], true).await;
        ks.checkpoint(at(90)).await;
        ks
    });
    let s = Serve::start(&db, &ks, "");
    let driver = Driver::start();

    rt().block_on(async {
        let c = driver.browser().await;
        c.goto(&format!("http://{}/", s.api)).await.unwrap();
        let page = wait_for(&c, "the first data", Duration::from_secs(30), |p| {
            p["connection"] == "live" && p["bars"].as_array().unwrap().len() == 26 && p["servers"].as_array().unwrap().len() == 1
        })
        .await;
        let bars = page["bars"].as_array().unwrap();
        assert_eq!(bars[0], json!([format!("{D1}T00:00:00.000Z"), "batch", hours[0].0, hours[0].1]));
        let tiles: i64 = (0..60).step_by(5).map(|k| 30 + k % 7).sum();
        assert_eq!(bars[24], json!([format!("{D2}T00:00:00.000Z"), "speed", tiles, ""]));
        assert_eq!(bars[25], json!([format!("{D2}T01:00:00.000Z"), "speed", 6 * 35, ""]));
        assert_eq!(page["alerts"], json!([["ddos|2026-11-21T00:30:00.000Z|198.51.100.77", false]]));
        assert_eq!(page["top"], json!([["shoes", 30], ["bags", 20], ["hats", 5]]));
        assert_eq!(page["servers"], json!([["weblog1", "healthy", 35]]));
        // A marker a reload would wipe.
        mark_loaded(&c).await;
        record_flashes(&c).await;

        // New rows land while the page is open, as the speed job would write them.
        for k in 86..96 {
            ks.health("weblog1", at(k), 5 * MIN, 50, 3).await;
        }
        for k in (60..96).step_by(5) {
            ks.health("weblog2", at(k), 5 * MIN, 40, 25).await;
        }
        ks.health_alert(at(90), "weblog2", 40, 25).await;
        ks.ddos(at(93) + 500, "192.0.2.66", &["weblog1", "weblog2"], 412).await;
        ks.popularity(at(92), &[("bags", 60), ("shoes", 10)], false).await;
        ks.health("weblog1", at(120), 5 * MIN, 77, 0).await;
        ks.checkpoint(at(123)).await;

        // Hour 1 of D2: weblog1's tiles 01:00..01:55 (35 up to 01:25, then 50) + weblog2's 8 tiles of 40.
        let hour1: i64 = (60..96).step_by(5).map(|k| if k < 86 { 35 } else { 50 }).sum::<i64>() + 8 * 40;
        assert_eq!(hour1, 630);
        let hour1_bar = json!([format!("{D2}T01:00:00.000Z"), "speed", hour1, ""]);
        // And a new bar: hour 2.
        let hour2_bar = json!([format!("{D2}T02:00:00.000Z"), "speed", 77, ""]);
        let (ddos, health) = ("ddos|2026-11-21T01:33:00.500Z|192.0.2.66", "health|2026-11-21T01:30:00.000Z|weblog2");
        let keys = [ddos, health, "ddos|2026-11-21T00:30:00.000Z|198.51.100.77"];
        let top = json!([["bags", 60], ["shoes", 10]]);
        let servers = json!([["weblog1", "healthy", 77], ["weblog2", "unhealthy", 40]]);
        // Every panel refreshes on its own query, so wait for all of them:
        // one may show the new rows an update before another.
        let page = wait_for(&c, "the new rows", Duration::from_secs(30), |p| {
            p["bars"].as_array().unwrap().len() == 27
                && p["bars"][25] == hour1_bar
                && p["bars"][26] == hour2_bar
                && alert_keys(p) == keys
                && p["top"] == top
                && p["servers"] == servers
        })
        .await;
        assert_eq!(page["marker"], "yes", "the page was reloaded");
        // The two new alerts flashed as they arrived (in one update or two); the old one never did.
        assert_eq!(page["flashed"], json!([ddos, health]));

        // The batch panel: D1, the newest batch day, per server and
        // category by requests, and its top paths.
        let panel = batch_panel!(c, "the batch day", |p: &serde_json::Value| p["day"].as_str().is_some_and(|d| d.starts_with(D1)));
        assert_eq!(panel["empty"], false);
        assert_eq!(panel["servers"], json!([["weblog2", 500, 30, 0.01], ["weblog1", 300, 40, 0.1]]));
        assert_eq!(panel["categories"], json!([["shoes", 450, 50, 0], ["bags", 350, 20, 0.1]]));
        assert_eq!(panel["paths"], json!([["/products/shoes/42", 200, 0.01], ["/cart", 120, 0.1]]));

        screenshot(&c, env!("CARGO_TARGET_TMPDIR"), "dashboard.png").await;

        // The nightly run reports D2: the panel moves to it without a reload.
        db.batch_day(D2, &[(10, 2); 24], 9);
        db.batch_dimension(D2, "server", &[("weblog1", 240, 9, 24, 1_000)]);
        db.batch_dimension(D2, "category", &[("hats", 240, 9, 0, 1_000)]);
        // The day's rows are written one table after another: wait for all of them.
        let panel = batch_panel!(c, "the newer batch day", |p: &serde_json::Value| p["day"].as_str().is_some_and(|d| d.starts_with(D2))
            && p["servers"] == json!([["weblog1", 240, 9, 0.1]])
            && p["categories"] == json!([["hats", 240, 9, 0]]));
        assert_eq!(panel["paths"], json!([]));
        assert_eq!(read_dashboard(&c).await["marker"], "yes", "the page was reloaded");
        c.close().await.unwrap();
    });
    drop(s);
    rt().block_on(ks.drop_keyspace());
}

// ------------------------------------------------------------ the real speed job

/// A binary of another crate, built by `cargo build --workspace` into the
/// repository's target directory (or named by `$var`).
fn prebuilt(var: &str, rel: &str) -> Option<PathBuf> {
    let p = std::env::var(var).map(PathBuf::from).unwrap_or_else(|_| repo_root().join(rel));
    p.exists().then_some(p)
}

/// `GET /metrics` of a process (empty before it listens).
fn scrape(port: u16) -> String {
    if TcpStream::connect(("127.0.0.1", port)).is_err() {
        return String::new();
    }
    get(([127, 0, 0, 1], port).into(), "/metrics").body
}

/// The whole speed path for real: events produced to Kafka (Tansu) as the
/// fan-out agent writes them, consumed and windowed by the real `speed-job`
/// binary into Cassandra, served by `serve`, pushed to the open page. The
/// page's hourly bars must add up to exactly the events the job counted.
///
/// Needs `$KAFKA_BROKERS` (scripts/stack env) and the speed job's binary and
/// `produce` example (`cargo build -p speed-job --bins --examples`); says so
/// and returns when one is missing.
#[test]
fn the_dashboard_follows_the_real_speed_job_reading_kafka() {
    let (Some(job_bin), Some(produce_bin), Ok(brokers)) = (
        prebuilt("SPEED_JOB_BIN", "target/debug/speed-job"),
        prebuilt("SPEED_JOB_PRODUCE_BIN", "target/debug/examples/produce"),
        std::env::var("KAFKA_BROKERS"),
    ) else {
        // scripts/test provides all three; in CI a missing one is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "needs $KAFKA_BROKERS, target/debug/speed-job and target/debug/examples/produce");
        eprintln!("skipped: needs $KAFKA_BROKERS, target/debug/speed-job and target/debug/examples/produce");
        return;
    };
    let db = TestDb::create();
    let name = unique("serve_live");
    let cql = cql_contact_point();
    let dir = tempfile::tempdir().unwrap();

    // serve first, on a keyspace that does not exist yet: it connects once the job created it.
    let extra = format!("job_name = \"{name}\"\ntopic = \"{name}\"\n");
    let (text, api_port, metrics_port) = config(&db.ro_url, &cql, &name, "");
    let text = text.replace("[speed]\n", &format!("[speed]\n{extra}"));
    let service = clickstream_testkit::Service::start(env!("CARGO_BIN_EXE_serve"), dir.path(), "serve", &text, metrics_port);
    let api: std::net::SocketAddr = ([127, 0, 0, 1], api_port).into();
    clickstream_testkit::wait_until(Duration::from_secs(20), "the API", || TcpStream::connect(api).is_ok());

    let driver = Driver::start();
    rt().block_on(async {
        let c = driver.browser().await;
        c.goto(&format!("http://{api}/")).await.unwrap();
        wait_for(&c, "the page to connect", Duration::from_secs(30), |p| p["connection"] == "live").await;
        mark_loaded(&c).await;

        // Events into Kafka, then the real job.
        let out = Command::new(&produce_bin).args([brokers.as_str(), &name, "2", "3000", "7"]).output().unwrap();
        assert!(out.status.success(), "produce: {}", String::from_utf8_lossy(&out.stderr));
        let job_metrics = clickstream_testkit::free_port();
        let job_cfg = dir.path().join("speed-job.toml");
        std::fs::write(
            &job_cfg,
            format!(
                "[kafka]\nbrokers = \"{brokers}\"\ntopic = \"{name}\"\ngroup_id = \"{name}\"\n\
                 [cassandra]\ncontact_points = [\"{cql}\"]\nkeyspace = \"{name}\"\nttl = \"0s\"\n\
                 [windows]\nidle_partition_timeout = \"1s\"\n[job]\nname = \"{name}\"\nflush_interval = \"100ms\"\n\
                 [metrics]\nlisten = \"127.0.0.1:{job_metrics}\"\n"
            ),
        )
        .unwrap();
        let help = Command::new(&job_bin).args(["run", "--help"]).output().unwrap();
        let mut cmd = Command::new(&job_bin);
        cmd.arg("run");
        if String::from_utf8_lossy(&help.stdout).contains("--config") {
            cmd.arg("--config");
        }
        let log = std::fs::File::create(dir.path().join("speed-job.log")).unwrap();
        let mut job = cmd.arg(&job_cfg).stdout(Stdio::null()).stderr(log).spawn().unwrap();

        // Until the job has consumed everything and the page shows what it counted.
        let deadline = Instant::now() + Duration::from_secs(120);
        let (counted, page) = loop {
            // `consumed` moves as records arrive, `counted` (and duplicates) only
            // at the job's next flush: until every consumed event is accounted
            // for, the page may show an earlier flush.
            let metrics = scrape(job_metrics);
            let sum = |name: &str| clickstream_testkit::metric_sum(&metrics, name, "");
            let consumed = sum("speed_job_events_consumed_total");
            let counted = sum("speed_job_events_counted_total");
            let accounted = counted
                + sum("speed_job_events_late_total")
                + sum("speed_job_events_duplicate_total")
                + sum("speed_job_events_replayed_total")
                + sum("speed_job_decode_errors_total");
            let page = read_dashboard(&c).await;
            let shown = shown_requests(&page);
            if consumed >= 3000.0 && accounted >= consumed && counted > 0.0 && shown == counted as i64 {
                break (counted as i64, page);
            }
            if let Some(status) = job.try_wait().unwrap() {
                panic!("speed-job exited with {status}:\n{}", std::fs::read_to_string(dir.path().join("speed-job.log")).unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "the page shows {shown} requests, the job counted {counted} and accounted for {accounted} of {consumed} consumed:\n{page:#}\n{}",
                std::fs::read_to_string(dir.path().join("speed-job.log")).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert!(counted > 2500, "{counted}");
        assert_eq!(page["marker"], "yes", "the page was reloaded");
        assert!(page["bars"].as_array().unwrap().iter().all(|b| b[1] == "speed"), "{page:#}");
        // 8 % non-200 at 5 events/s: every full 5-minute window of weblog1 is unhealthy.
        assert!(!page["alerts"].as_array().unwrap().is_empty(), "{page:#}");
        assert_eq!(page["servers"][0][0], "weblog1");
        assert!(!page["top"].as_array().unwrap().is_empty(), "{page:#}");
        screenshot(&c, env!("CARGO_TARGET_TMPDIR"), "dashboard-speed-job.png").await;
        c.close().await.unwrap();
        let _ = Command::new("kill").args(["-TERM", &job.id().to_string()]).status();
        let _ = job.wait();
        let ks = TestKeyspace {
            name: name.clone(),
            contact_point: cql.clone(),
            session: scylla::client::session_builder::SessionBuilder::new().known_node(&cql).build().await.unwrap(),
        };
        ks.drop_keyspace().await;
    });
    drop(service);
}
