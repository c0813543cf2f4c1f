//! The Airflow DAG (`conf/airflow/clickstream_batch.py`) run by the real
//! Airflow 3.3.2 (`airflow dags test`, through `tests/airflow/dag_test.sh`)
//! against this crate's binary, the real HDFS and the real MariaDB.
//! The first run installs Airflow into ~/.cache/clickstream/airflow-venv.

mod common;

use common::*;

#[test]
fn airflow_dag_waits_for_the_day_and_writes_its_reports() {
    let events = sample_events();
    let target = Target::hdfs(&format!("/clickstream_test/{}/master", unique_name("airflow")));
    target.write_master("fanout-a", &events, 1);
    let db = TestDb::create();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("batch-job.toml");
    std::fs::write(
        &conf,
        format!(
            "[source]\nurl = \"{}\"\n\n[mysql]\nurl = \"{}\"\n\n[completeness]\ngrace_minutes = 60\n",
            target.url(),
            db.url
        ),
    )
    .unwrap();

    let out = std::process::Command::new(repo_root().join("tests/airflow/dag_test.sh"))
        .arg("2026-11-20")
        .env("CLICKSTREAM_BATCH_JOB_BIN", env!("CARGO_BIN_EXE_batch-job"))
        .env("CLICKSTREAM_BATCH_JOB_CONFIG", &conf)
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "airflow dags test failed:\n{log}");
    assert!(log.contains("2026-11-20 is complete"), "the sensor ran check-complete:\n{log}");

    let want = expected(&events, false, 400);
    let rows = db.rows();
    assert_eq!(
        rows.keys().map(|d| d.to_string()).collect::<Vec<_>>(),
        vec!["2026-11-20"],
        "only the logical date is written"
    );
    assert_eq!(rows[&"2026-11-20".parse().unwrap()], want[&"2026-11-20".parse().unwrap()]);
    let runs = db.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, "succeeded");
    target.cleanup();
}
