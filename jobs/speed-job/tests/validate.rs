//! `speed-job validate` beyond the file: the metrics address must be free on
//! this machine, and `--connect` asks the real broker for the topic's
//! partitions and the CQL endpoint for `system.local`, naming each service
//! that does not answer (exit 69).

mod common;

use std::process::{Command, Output};

use common::*;

async fn validate(config: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    std::fs::write(&path, config).unwrap();
    let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    // Off the runtime: the in-process CQL endpoint must go on answering.
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_speed-job")).arg("validate").args(&args).arg(&path).output().unwrap();
        drop(dir);
        out
    })
    .await
    .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_the_port_and_with_connect_the_broker_and_cassandra() {
    let broker = broker();
    let topic = unique("speed_validate");
    create_topic(&broker.addr, &topic, 2).await;
    let cql = cql_endpoint().await;
    let good = config_toml(&broker.addr, &topic, &cql, "speed_validate", "speed_validate", "");

    let ok = validate(&good, &["--connect"]).await;
    assert!(ok.status.success(), "{}", stderr(&ok));

    // Nothing listens at either address: both named, exit 69.
    let nobody = format!("127.0.0.1:{}", clickstream_testkit::free_port());
    let down = good.replace(&broker.addr, &nobody).replace(&cql, &nobody);
    let out = validate(&down, &["--connect"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains(&format!("kafka.brokers {nobody}")), "{err}");
    assert!(err.contains(&format!("cassandra.contact_points {nobody}")), "{err}");
    // A topic that does not exist is named too (the job cannot start on it).
    let out = validate(&good.replace(&topic, "speed_validate_no_such_topic"), &["--connect"]).await;
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("speed_validate_no_such_topic"), "{}", stderr(&out));

    // The metrics address taken: a configuration error (78) naming the key;
    // --config-only does not look at the machine.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = good.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{}\"", taken.local_addr().unwrap()));
    let out = validate(&busy, &[]).await;
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("metrics.listen"), "{}", stderr(&out));
    assert!(validate(&busy, &["--config-only"]).await.status.success());
}
