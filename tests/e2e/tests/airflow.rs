//! The batch layer as users run it: the Airflow DAG (`conf/airflow/`) on
//! Airflow 3's real scheduler (scheduler, DAG processor and API server with
//! the LocalExecutor, through `tests/airflow/airflow.sh`), fed by the real
//! spool agent and fan-out agent into the real HDFS, reporting into the real
//! MariaDB.
//!
//! ```text
//! log lines for D-2, D-1, D ─► spool-agent ─► fanout-agent ─► HDFS ─► batch-job (Airflow) ─► MySQL
//! ```
//!
//! With the start date two days back and catch-up on, the scheduler must run
//! exactly the two completed days, never the current one. Then a late drop of
//! logs for D-2 goes through the agents, and the next run's reconcile step
//! must bring MySQL to the new totals by itself, with the re-run's reason in
//! `batch_runs`. Expected numbers come from the log lines alone
//! (`clickstream_e2e::oracle`). Takes a few minutes (Airflow starts a Python
//! process per task); the first run installs Airflow into the cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use clickstream_e2e::oracle::{self, Hit};
use clickstream_e2e::pipeline::{binary, files_under, Pipeline};
use clickstream_testkit::{repo, wait_until, Service};

const HOST: &str = "weblog1";
const STATUSES: [u16; 7] = [200, 200, 200, 304, 404, 500, 503];

/// `n` combined-format lines on `day`, spread over its hours; `seed` varies
/// the clients so a later drop brings new visitors as well as known ones.
fn log_lines(day: NaiveDate, n: u32, seed: u32) -> String {
    let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    (0..n)
        .map(|i| {
            let t = start + chrono::Duration::seconds(i64::from(i) * 86_000 / i64::from(n) + i64::from(seed));
            format!(
                "10.{seed}.{}.{} - - [{}] \"GET /category/{}/item{i} HTTP/1.1\" {} {} \"-\" \"test-agent\"\n",
                i % 5,
                i % 11,
                t.format("%d/%b/%Y:%H:%M:%S +0000"),
                ["books", "music", "games"][(i % 3) as usize],
                STATUSES[(i % 7) as usize],
                100 + i * 7,
            )
        })
        .collect()
}

fn hits(text: &str) -> Vec<Hit> {
    text.split_inclusive('\n').map(|l| oracle::parse(HOST, l.as_bytes()).expect("a valid test line")).collect()
}

/// A private Airflow (tests/airflow/airflow.sh), stopped when dropped.
struct Airflow {
    home: PathBuf,
}

impl Airflow {
    fn up(home: &Path, batch_config: &Path, start: NaiveDate) -> Airflow {
        let status = Command::new(repo().join("tests/airflow/airflow.sh"))
            .arg("up")
            .arg(home)
            .env("CLICKSTREAM_BATCH_JOB_BIN", binary("batch-job"))
            .env("CLICKSTREAM_BATCH_JOB_CONFIG", batch_config)
            .env("CLICKSTREAM_BATCH_START_DATE", start.to_string())
            .status()
            .unwrap();
        let airflow = Airflow { home: home.to_path_buf() };
        assert!(status.success(), "tests/airflow/airflow.sh up failed (logs in {}/logs)", home.display());
        airflow
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(repo().join("tests/airflow/airflow.sh")).arg("cli").arg(&self.home).args(args).output().unwrap();
        assert!(out.status.success(), "airflow {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The DAG's runs: run id -> (logical date's day, state).
    fn runs(&self) -> BTreeMap<String, (String, String)> {
        let json = self.cli(&["dags", "list-runs", "clickstream_batch", "-o", "json"]);
        let runs: Vec<serde_json::Value> = serde_json::from_str(json.lines().rev().find(|l| l.starts_with('[')).unwrap_or("[]")).unwrap();
        runs.iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (s("run_id"), (s("logical_date").get(..10).unwrap_or_default().to_string(), s("state")))
            })
            .collect()
    }

    /// Waits until `n` runs exist and all have finished; panics with the
    /// task logs when one failed.
    fn wait_finished(&self, n: usize, timeout: Duration) -> BTreeMap<String, (String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let runs = self.runs();
            if runs.len() >= n && runs.values().all(|(_, state)| state == "success" || state == "failed") {
                assert!(runs.values().all(|(_, state)| state == "success"), "a DAG run failed: {runs:?}\n{}", self.task_logs());
                return runs;
            }
            assert!(Instant::now() < deadline, "DAG runs not finished after {timeout:?}: {runs:?}\n{}", self.task_logs());
            std::thread::sleep(Duration::from_secs(5));
        }
    }

    /// What batch-job printed in every task, for failure messages.
    fn task_logs(&self) -> String {
        let mut out = String::new();
        for p in files_under(&self.home.join("logs")).iter().filter(|p| p.to_string_lossy().contains("attempt=")) {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let events: Vec<&str> = text.lines().filter(|l| l.contains("batch-job")).collect();
            out += &format!("--- {}\n{}\n", p.display(), events.join("\n"));
        }
        out
    }
}

impl Drop for Airflow {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/airflow/airflow.sh")).arg("down").arg(&self.home).status();
        if std::thread::panicking() {
            eprintln!("Airflow home kept in {} (logs/)", self.home.display());
        }
    }
}

/// Waits until the spool agent has delivered `files` files and the fan-out
/// agent has closed every master-copy file of `days` (what the DAG's sensor
/// asks for).
fn wait_in_master_copy(p: &Pipeline, agents: &[&Service], files: usize, batch_config: &Path, days: &[NaiveDate]) {
    wait_until(Duration::from_secs(120), "the spool agent delivered every file, every channel is empty", || {
        let completed =
            std::fs::read_dir(p.spool(HOST)).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".COMPLETED")).count();
        completed == files && agents[0].metric("spool_agent_channel_events", "") == 0.0 && agents[1].metric("fanout_agent_channel_events", "") == 0.0
    });
    for day in days {
        wait_until(Duration::from_secs(60), &format!("every master-copy file of {day} closed"), || {
            Command::new(binary("batch-job"))
                .arg("--config")
                .arg(batch_config)
                .args(["check-complete", "--grace-minutes", "0", "--date", &day.to_string()])
                .output()
                .unwrap()
                .status
                .success()
        });
    }
}

#[test]
fn the_scheduler_reports_each_completed_day_once_and_late_logs_reach_mysql() {
    let p = Pipeline::new("airflow");
    let today = Utc::now().date_naive();
    let (d2, d1) = (today - chrono::Duration::days(2), today - chrono::Duration::days(1));
    let first = format!("{}{}{}", log_lines(d2, 300, 1), log_lines(d1, 200, 2), log_lines(today, 50, 3));
    let late = log_lines(d2, 120, 4);

    let batch_config = p.path("batch-job.toml");
    std::fs::write(
        &batch_config,
        format!(
            "[source]\nurl = \"{}{}\"\ntimeout_seconds = 20\n[mysql]\nurl = \"{}\"\n[completeness]\ngrace_minutes = 0\n",
            p.hdfs_url,
            p.hdfs_root,
            p.mysql.url(&p.db)
        ),
    )
    .unwrap();

    let fanout = p.fanout_agent();
    let agent = p.spool_agent(HOST);
    p.drop_file(HOST, "access.log", first.as_bytes());
    wait_in_master_copy(&p, &[&agent, &fanout], 1, &batch_config, &[d2, d1]);

    // 1. Catch-up from two days back: exactly the two completed days.
    let airflow = Airflow::up(&p.path("airflow"), &batch_config, d2);
    let runs = airflow.wait_finished(2, Duration::from_secs(600));
    let mut interval_days: Vec<&str> = runs.values().map(|(day, _)| day.as_str()).collect();
    interval_days.sort();
    assert_eq!(interval_days, [d2.to_string(), d1.to_string()], "one scheduled run per completed day: {runs:?}");
    assert!(runs.keys().all(|id| id.starts_with("scheduled__")), "{runs:?}");

    let want = oracle::batch_days(&hits(&first));
    let got = p.mysql_days();
    assert_eq!(got.keys().collect::<Vec<_>>(), [&d2.to_string(), &d1.to_string()], "the current day is not reported");
    assert_eq!(got[&d2.to_string()], want[&d2.to_string()]);
    assert_eq!(got[&d1.to_string()], want[&d1.to_string()]);
    let reasons = p.mysql.query(&p.db, "SELECT day_from, day_to, reason, outcome FROM batch_runs ORDER BY day_from");
    assert_eq!(
        reasons,
        [[d2, d2], [d1, d1]].map(|[a, b]| vec![a.to_string(), b.to_string(), "scheduled".into(), "succeeded".into()]),
        "each day reported once, by its scheduled run (nothing to reconcile yet)"
    );

    // 2. A late drop for D-2 through the agents; the next run (a manual
    // trigger: it reports the last completed day, D-1) reconciles D-2.
    p.drop_file(HOST, "access.log.late", late.as_bytes());
    wait_in_master_copy(&p, &[&agent, &fanout], 2, &batch_config, &[d2]);
    airflow.cli(&["dags", "trigger", "clickstream_batch"]);
    airflow.wait_finished(3, Duration::from_secs(600));

    let want = oracle::batch_days(&hits(&(first.clone() + &late)));
    let got = p.mysql_days();
    assert_eq!(got.keys().collect::<Vec<_>>(), [&d2.to_string(), &d1.to_string()], "the current day is not reported");
    assert_eq!(got[&d2.to_string()], want[&d2.to_string()], "the late logs of {d2} reached MySQL");
    assert_eq!(got[&d1.to_string()], want[&d1.to_string()]);
    assert!(want[&d2.to_string()].requests == 420, "the late lines are new events");

    let reruns = p.mysql.query(&p.db, "SELECT day_from, reason, outcome FROM batch_runs WHERE reason LIKE 'reconcile:%'");
    assert_eq!(reruns.len(), 1, "one re-run, of the changed day only: {reruns:?}");
    assert_eq!(reruns[0][0], d2.to_string());
    assert_eq!(reruns[0][2], "succeeded");
    assert!(reruns[0][1].contains("files changed since run"), "{reruns:?}");
    let manual = p.mysql.query(&p.db, "SELECT day_from FROM batch_runs WHERE reason = 'manual'");
    assert_eq!(manual, [vec![d1.to_string()]], "the manual trigger reported the last completed day");
    drop(airflow);
}
