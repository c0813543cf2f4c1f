//! The Airflow DAG (`conf/airflow/clickstream_batch.py`) run by the real
//! Airflow 3.3.2 (`airflow dags test`, through `tests/airflow/dag_test.sh`)
//! against this crate's binary, the real HDFS and the real MariaDB: a manual
//! run reports the last completed day, and a configuration error fails the
//! task at once instead of retrying. The real scheduler (catch-up, late
//! logs) is tested by `tests/e2e/tests/airflow.rs`.
//! The first run installs Airflow into ~/.cache/clickstream/airflow-venv.

mod common;

use common::*;

#[test]
fn a_manual_run_reports_the_last_completed_day() {
    let events = sample_events();
    let target = Target::hdfs(&format!("/clickstream_test/{}/master", unique_name("airflow")));
    target.write_master("fanout-a", &events, 1);
    let db = TestDb::create();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("batch-job.toml");
    std::fs::write(&conf, format!("[source]\nurl = \"{}\"\n\n[mysql]\nurl = \"{}\"\n\n[completeness]\ngrace_minutes = 60\n", target.url(), db.url))
        .unwrap();

    // Triggered during 2026-11-21: the day that is complete by then is 2026-11-20.
    let (ok, log) = dag_test("2026-11-21", &conf);
    assert!(ok, "airflow dags test failed:\n{log}");
    assert!(log.contains("2026-11-20 is complete"), "the sensor ran check-complete:\n{log}");

    let want = expected(&events, false, 400);
    let rows = db.rows();
    assert_eq!(rows.keys().map(|d| d.to_string()).collect::<Vec<_>>(), vec!["2026-11-20"], "only the last completed day is written");
    assert_eq!(rows[&"2026-11-20".parse().unwrap()], want[&"2026-11-20".parse().unwrap()]);
    let runs = db.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, "succeeded");
    assert_eq!(runs[0].reason, "manual");
    target.cleanup();
}

#[test]
fn a_missing_master_copy_root_fails_the_task_without_retries() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("batch-job.toml");
    std::fs::write(&conf, format!("[source]\nurl = \"file://{}/no-such-root\"\n", dir.path().display())).unwrap();
    let (ok, log) = dag_test("2026-11-21", &conf);
    assert!(!ok, "the run must fail:\n{log}");
    assert!(log.contains("batch-job exited 78"), "{log}");
    assert!(log.contains("a retry cannot help"), "mapped to AirflowFailException:\n{log}");
    assert!(!log.contains("up_for_retry"), "no retry for a configuration error:\n{log}");
}

/// `tests/airflow/dag_test.sh DATE` with this crate's binary and `conf`:
/// (succeeded, stdout and stderr).
fn dag_test(date: &str, conf: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(repo_root().join("tests/airflow/dag_test.sh"))
        .arg(date)
        .env("CLICKSTREAM_BATCH_JOB_BIN", env!("CARGO_BIN_EXE_batch-job"))
        .env("CLICKSTREAM_BATCH_JOB_CONFIG", conf)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}
