//! Deployment files are checked, not just shipped: every systemd unit passes
//! `systemd-analyze verify` with no warning, against binaries that exist, and
//! every long-running unit is rated OK by `systemd-analyze security`.

use std::path::{Path, PathBuf};
use std::process::Command;

use clickstream_testkit::{free_port, repo};

const BINARIES: [&str; 5] = ["spool-agent", "fanout-agent", "speed-job", "batch-job", "serve"];

/// A file-system root holding the host's system units, our units in
/// /etc/systemd/system and our binaries in /usr/local/bin, so `verify` checks
/// them as they would be installed.
fn install_root(units: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    std::fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    let status = Command::new("cp").arg("-r").arg("/lib/systemd/system").arg(r.join("usr/lib/systemd/")).status().unwrap();
    assert!(status.success(), "copying the host's system units");
    // Real files inside the root: `--root` resolves links as a chroot would.
    let place = |from: &Path, to: PathBuf| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if std::fs::hard_link(from, &to).is_err() {
            std::fs::copy(from, &to).unwrap();
        }
    };
    for b in BINARIES {
        let built = repo().join("target/debug").join(b);
        assert!(built.exists(), "{} not built: run `cargo build --workspace --bins` (scripts/test does)", built.display());
        place(&built, r.join("usr/local/bin").join(b));
    }
    place(&std::fs::canonicalize("/bin/sh").unwrap(), r.join("bin/sh"));
    for unit in std::fs::read_dir(units).unwrap().flatten() {
        std::fs::copy(unit.path(), r.join("etc/systemd/system").join(unit.file_name())).unwrap();
    }
    root
}

fn verify(root: &Path, units: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(units)
        .current_dir(root.join("etc/systemd/system"))
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Unknown keys only warn: any output at all is a failure.
    (out.status.success() && text.trim().is_empty(), text)
}

fn unit_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .map(|n| n.replace("@.service", "@weblog1.service"))
        .collect();
    names.sort();
    names
}

#[test]
fn systemd_units_verify_without_warnings() {
    let units = repo().join("conf/systemd");
    let names = unit_names(&units);
    assert!(names.len() >= 5, "{names:?}");
    let root = install_root(&units);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (ok, out) = verify(root.path(), &refs);
    assert!(ok, "systemd-analyze verify:\n{out}");
    for name in &names {
        if name.ends_with(".service") {
            let text = std::fs::read_to_string(units.join(name.replace("@weblog1", "@"))).unwrap();
            for hardening in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=", "User=clickstream"] {
                assert!(text.contains(hardening), "{name} lacks {hardening}");
            }
            if !text.contains("Type=oneshot") {
                assert!(text.contains("Restart=on-failure"), "{name} lacks Restart=on-failure");
            }
        }
    }
}

/// The compose `airflow` service has what the DAG needs: the DAG folder, the
/// batch-job binary where CLICKSTREAM_BATCH_JOB_BIN says (built into its
/// image), and the configuration CLICKSTREAM_BATCH_JOB_CONFIG names mounted
/// (validated with the other mounts above).
fn airflow_can_run_the_batch_job(svc: &serde_norway::Value) {
    let env = |k: &str| svc["environment"][k].as_str().unwrap_or_else(|| panic!("airflow: environment {k} missing"));
    let mounts: Vec<&str> = svc["volumes"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(mounts.iter().any(|m| m.starts_with("./conf/airflow:/opt/airflow/dags")), "airflow: the DAG folder is not mounted: {mounts:?}");
    let config = env("CLICKSTREAM_BATCH_JOB_CONFIG");
    assert!(mounts.iter().any(|m| m.split(':').nth(1) == Some(config)), "airflow: {config} is not mounted: {mounts:?}");
    let dockerfile = svc["build"]["dockerfile"].as_str().expect("airflow: built from a Dockerfile that adds batch-job");
    let text = std::fs::read_to_string(repo().join(dockerfile)).unwrap();
    let bin = env("CLICKSTREAM_BATCH_JOB_BIN");
    assert!(text.contains(&format!("/release/batch-job {bin}")), "{dockerfile} does not install batch-job at {bin}");
    let pinned = std::fs::read_to_string(repo().join("tests/airflow/airflow.sh")).unwrap();
    let version = text.lines().find_map(|l| l.strip_prefix("FROM apache/airflow:")).expect("FROM apache/airflow:VERSION");
    assert!(pinned.contains(&format!("AIRFLOW_VERSION={version}")), "the image's Airflow {version} is not the one the tests run");
}

#[test]
fn the_check_catches_a_broken_unit() {
    let units = repo().join("conf/systemd");
    let root = install_root(&units);
    let unit: PathBuf = root.path().join("etc/systemd/system/clickstream-fanout-agent.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("Type=notify"), "the mutation below must change the unit");
    std::fs::write(&unit, text.replace("Type=notify", "Type=notifyy")).unwrap();
    let (ok, out) = verify(root.path(), &["clickstream-fanout-agent.service"]);
    assert!(!ok, "a bad Type= passed verification: {out}");
    std::fs::write(&unit, text.replace("Restart=on-failure", "Restart=on-failure\nRestartt=always")).unwrap();
    let (ok, out) = verify(root.path(), &["clickstream-fanout-agent.service"]);
    assert!(!ok, "an unknown key passed verification: {out}");
}

/// docker-compose.yml, checked without a Docker engine: parsed, every
/// reference resolved, every mounted configuration validated by the binary
/// that will read it.
#[test]
fn docker_compose_is_consistent() {
    use serde_norway::Value;
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let mut doc: Value = serde_norway::from_str(&text).expect("docker-compose.yml is YAML");
    doc.apply_merge().unwrap();
    let services = doc["services"].as_mapping().expect("services");
    let volumes: Vec<String> = doc["volumes"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect();
    let names: Vec<String> = services.keys().map(|k| k.as_str().unwrap().to_string()).collect();
    for needed in [
        "kafka",
        "namenode",
        "datanode",
        "cassandra",
        "mysql",
        "fanout-agent",
        "spool-agent-weblog1",
        "spool-agent-weblog2",
        "speed-job",
        "batch-job",
        "serve",
    ] {
        assert!(names.iter().any(|n| n == needed), "service {needed} missing");
    }
    let mut host_ports = std::collections::BTreeSet::new();
    let mut validated = 0;
    for (name, svc) in services {
        let name = name.as_str().unwrap();
        assert!(svc.get("image").is_some() || svc.get("build").is_some(), "{name}: no image or build");
        if let Some(deps) = svc.get("depends_on").and_then(Value::as_mapping) {
            for (dep, cond) in deps {
                let dep = dep.as_str().unwrap();
                assert!(names.iter().any(|n| n == dep), "{name} depends on unknown service {dep}");
                if cond["condition"].as_str() == Some("service_healthy") {
                    assert!(services[dep].get("healthcheck").is_some(), "{name} waits for {dep} to be healthy, but {dep} has no healthcheck");
                }
            }
        }
        for port in svc.get("ports").and_then(Value::as_sequence).into_iter().flatten() {
            let p = port.as_str().unwrap();
            let (host, container) = p.split_once(':').unwrap_or_else(|| panic!("{name}: port {p} must be HOST:CONTAINER"));
            let host: u16 = host.parse().unwrap_or_else(|_| panic!("{name}: bad host port in {p}"));
            let _: u16 = container.parse().unwrap_or_else(|_| panic!("{name}: bad container port in {p}"));
            assert!(host_ports.insert(host), "host port {host} used twice");
        }
        for vol in svc.get("volumes").and_then(Value::as_sequence).into_iter().flatten() {
            let v = vol.as_str().unwrap();
            let source = v.split(':').next().unwrap();
            if let Some(rel) = source.strip_prefix("./") {
                let path = repo().join(rel);
                assert!(path.exists(), "{name}: mounts {source}, which does not exist");
                let target = v.split(':').nth(1).unwrap();
                let binary = svc["command"]
                    .as_sequence()
                    .and_then(|c| c.first())
                    .and_then(Value::as_str)
                    .or_else(|| svc["entrypoint"].as_sequence().and_then(|c| c.first()).and_then(Value::as_str));
                // Airflow runs batch-job from the DAG, with the file CLICKSTREAM_BATCH_JOB_CONFIG names.
                let dag_config = svc.get("environment").and_then(|e| e.get("CLICKSTREAM_BATCH_JOB_CONFIG")).and_then(Value::as_str);
                let binary = if dag_config == Some(target) { Some("batch-job") } else { binary };
                if let (Some(binary), true) = (binary, target.ends_with(".toml")) {
                    let mut validate = Command::new(repo().join("target/debug").join(binary));
                    validate.arg("validate");
                    if binary != "batch-job" {
                        // Their directories and ports are the container's, not this host's.
                        validate.arg("--config-only");
                    }
                    let out = validate.arg(&path).output().unwrap();
                    assert!(out.status.success(), "{name}: {source} does not validate: {}", String::from_utf8_lossy(&out.stderr));
                    validated += 1;
                }
            } else {
                assert!(volumes.iter().any(|d| d == source), "{name}: volume {source} not declared under volumes:");
            }
        }
    }
    assert!(validated >= 7, "only {validated} mounted configurations validated");
    airflow_can_run_the_batch_job(&services["airflow"]);
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for b in BINARIES {
        assert!(dockerfile.contains(&format!("/release/{b}")), "Dockerfile does not install {b}");
    }
}

/// The highest `systemd-analyze security` exposure a long-running unit may
/// have: 2.5 is the top of the "OK" band.
const MAX_EXPOSURE: f64 = 2.5;

/// `systemd-analyze security --offline=yes` of one unit file: its overall
/// exposure (0 = locked down, 10 = unprotected), with the full table for the
/// failure message.
fn exposure(unit: &Path) -> (f64, String) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let score = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for ")?.1.split_once(": ")?.1.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no overall exposure level from systemd-analyze security {}:\n{text}", unit.display()));
    (score, text)
}

/// The units that run for good (not the batch job's oneshot).
fn long_running_units() -> Vec<PathBuf> {
    let dir = repo().join("conf/systemd");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .filter(|p| !std::fs::read_to_string(p).unwrap().contains("Type=oneshot"))
        .collect();
    units.sort();
    units
}

/// Every long-running unit: the notify protocol with a watchdog (the binaries
/// send READY=1/WATCHDOG=1, lib/telemetry/src/systemd.rs), private files
/// (UMask=0027, StateDirectory= where it keeps state), no capabilities, a
/// syscall filter, and an OK rating from systemd's own scoring.
#[test]
fn long_running_units_are_notify_watchdog_and_rated_ok() {
    let units = long_running_units();
    let names: Vec<String> = units.iter().map(|u| u.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for needed in
        ["clickstream-fanout-agent.service", "clickstream-spool-agent@.service", "clickstream-speed-job.service", "clickstream-serve.service"]
    {
        assert!(names.iter().any(|n| n == needed), "{needed} is not a long-running unit: {names:?}");
    }
    for unit in &units {
        let name = unit.file_name().unwrap().to_string_lossy();
        let text = std::fs::read_to_string(unit).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for line in [
            "Type=notify",
            "UMask=0027",
            "CapabilityBoundingSet=",
            "AmbientCapabilities=",
            "SystemCallFilter=@system-service",
            "SystemCallArchitectures=native",
        ] {
            assert!(lines.contains(&line), "{name} lacks the line {line}");
        }
        let watchdog = lines.iter().find_map(|l| l.strip_prefix("WatchdogSec=")).unwrap_or_else(|| panic!("{name} lacks WatchdogSec="));
        let secs: u64 = watchdog.trim_end_matches('s').parse().unwrap_or_else(|_| panic!("{name}: WatchdogSec={watchdog} is not N s"));
        // The binaries ping while their loop beat within WatchdogSec/2 and
        // their slowest loop (serve's store probe) goes round every 5 s.
        assert!(secs >= 20, "{name}: WatchdogSec={watchdog} leaves the slowest main loop too little time");
        let (score, table) = exposure(unit);
        assert!(score <= MAX_EXPOSURE, "{name}: systemd-analyze security rates it {score} (> {MAX_EXPOSURE}):\n{table}");
    }
}

/// The score check can fail: the fan-out unit as it was before hardening
/// (Type=simple, no filter, all capabilities) is rated far above OK.
#[test]
fn the_security_check_catches_a_weak_unit() {
    let unit = repo().join("conf/systemd/clickstream-fanout-agent.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let weak: String = text
        .lines()
        .filter(|l| {
            ![
                "SystemCallFilter=",
                "CapabilityBoundingSet=",
                "PrivateUsers=",
                "RestrictNamespaces=",
                "ProtectKernelLogs=",
                "ProtectClock=",
                "MemoryDenyWriteExecute=",
                "SystemCallArchitectures=",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clickstream-fanout-agent.service");
    std::fs::write(&path, weak).unwrap();
    let (score, table) = exposure(&path);
    assert!(score > MAX_EXPOSURE, "a unit without its filter and capability limits is rated OK ({score}):\n{table}");
}

/// What a `Type=notify` unit with `WatchdogSec=watchdog` hands a binary: a
/// datagram socket named by NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID
/// (set to the binary's own pid by a shell that then execs it). Starts
/// `bin run --config config` and checks the protocol: READY=1 arrives
/// once 127.0.0.1:`port` takes connections, WATCHDOG=1 follows while it
/// runs, STOPPING=1 on SIGTERM, then a clean exit.
/// `watchdog` must be over twice the binary's slowest beat (the binary pings
/// only while its last beat is at most `watchdog / 2` old).
fn check_notify_protocol(bin: &Path, config: &Path, port: u16, watchdog: std::time::Duration) {
    use std::os::unix::net::UnixDatagram;
    use std::time::{Duration, Instant};
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    assert!(bin.exists(), "{} not built: run `cargo build --workspace --bins`", bin.display());
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify");
    let sock = UnixDatagram::bind(&socket).unwrap();
    let mut child = Command::new("sh")
        .args(["-c", r#"WATCHDOG_PID=$$ exec "$0" run --config "$1""#])
        .arg(bin)
        .arg(config)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answered_when_ready = None;
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    while Instant::now() < deadline && got.iter().filter(|m| m.trim() == "WATCHDOG=1").count() < 3 {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.lines().any(|l| l == "READY=1") {
                // Ready means serving: the port takes connections now.
                answered_when_ready = Some(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
            }
            got.push(m);
        }
    }
    let ready_at = got.iter().position(|m| m.lines().any(|l| l == "READY=1"));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let mut stopping = false;
    let stop_deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < stop_deadline && !stopping {
        if let Ok(n) = sock.recv(&mut buf) {
            stopping = String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "STOPPING=1");
        }
    }
    let status = child.wait().unwrap();
    let ready_at = ready_at.unwrap_or_else(|| panic!("no READY=1 from {name} within 30 s: {got:?}"));
    assert_eq!(answered_when_ready, Some(true), "{name}: READY=1 came before 127.0.0.1:{port} listened");
    let pings = got[ready_at..].iter().filter(|m| m.trim() == "WATCHDOG=1").count();
    assert!(pings >= 3, "{name}: fewer than 3 WATCHDOG=1 after READY=1 in 30 s (WatchdogSec={watchdog:?}): {got:?}");
    assert!(stopping, "{name}: no STOPPING=1 after SIGTERM: {got:?}");
    assert!(status.success(), "{name} exited {status} after SIGTERM");
}

/// serve: ready once its API listens (the store probe beats the watchdog
/// every 5 s, so WatchdogSec must be over 10 s).
#[test]
fn serve_speaks_the_systemd_notify_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (http, metrics) = (free_port(), free_port());
    let config = std::fs::read_to_string(repo().join("conf/serve.toml"))
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{http}"))
        .replace("127.0.0.1:9465", &format!("127.0.0.1:{metrics}"));
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, config).unwrap();
    check_notify_protocol(&repo().join("target/debug/serve"), &path, http, std::time::Duration::from_secs(12));
}

/// The spool agent: ready once its metrics endpoint and source run (no
/// receiver needed: it backs off and stays alive); it beats once a second.
#[test]
fn spool_agent_speaks_the_systemd_notify_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_port();
    let config = clickstream_e2e::configs::spool_agent(dir.path(), free_port(), metrics);
    let path = dir.path().join("spool-agent.toml");
    std::fs::write(&path, config).unwrap();
    check_notify_protocol(&repo().join("target/debug/spool-agent"), &path, metrics, std::time::Duration::from_secs(4));
}
