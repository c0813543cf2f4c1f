//! The Prometheus alert rules (conf/prometheus/) are checked by Prometheus'
//! own tools, not just shipped: `promtool check rules` (syntax, templates),
//! `promtool test rules` (each alert fires on series that should fire it and
//! stays quiet on series that should not), and every metric a rule reads is
//! one a binary registers. Needs promtool (Debian package prometheus;
//! `scripts/stack deps` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use clickstream_testkit::repo;

fn rules_dir() -> PathBuf {
    repo().join("conf/prometheus")
}

/// Runs promtool with `args` in `dir`: success and the combined output.
fn promtool(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian package prometheus; `scripts/stack deps` installs it)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let (ok, out) = promtool(&rules_dir(), &["check", "rules", "clickstream-rules.yml"]);
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool(&rules_dir(), &["test", "rules", "clickstream-rules.test.yml"]);
    assert!(ok, "promtool test rules:\n{out}");
}

/// The rule tests can fail: a sink-failing rule that waits far longer than
/// the shipped one no longer fires where the tests expect it.
#[test]
fn the_rule_tests_catch_a_changed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(rules_dir().join("clickstream-rules.yml")).unwrap();
    let threshold = "fanout_agent_sink_last_success_timestamp_seconds > 120";
    assert!(rules.contains(threshold), "the mutation below must change the rules");
    std::fs::write(dir.path().join("clickstream-rules.yml"), rules.replace(threshold, "fanout_agent_sink_last_success_timestamp_seconds > 3600"))
        .unwrap();
    std::fs::copy(rules_dir().join("clickstream-rules.test.yml"), dir.path().join("clickstream-rules.test.yml")).unwrap();
    let (ok, out) = promtool(dir.path(), &["test", "rules", "clickstream-rules.test.yml"]);
    assert!(!ok && out.contains("ClickstreamSinkFailing"), "a changed rule passed its tests:\n{out}");
}

/// Every metric the rules or the Grafana dashboard read is registered by
/// the binary its prefix names (the prefix + the name given to `register`,
/// plus `_total` for counters, `_bucket`/`_sum`/`_count` for histograms): a
/// renamed metric breaks this test, not a silent alert or an empty panel.
/// (tests/e2e/tests/pipeline.rs also checks the dashboard's pipeline
/// metrics on running binaries; serve's are checked only here.)
#[test]
fn every_metric_the_rules_and_the_dashboard_read_is_registered() {
    let names = regex::Regex::new(r"\b(spool_agent|fanout_agent|speed_job|serve|batch_job)_([a-z0-9_]+)").unwrap();
    for (file, at_least) in [("conf/prometheus/clickstream-rules.yml", 10), ("conf/grafana/clickstream.json", 30)] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let mut checked = 0;
        for m in names.captures_iter(&text) {
            let (prefix, rest) = (&m[1], &m[2]);
            let crate_dir = match prefix {
                "spool_agent" => "agents/spool-agent/src",
                "fanout_agent" => "agents/fanout-agent/src",
                "speed_job" => "jobs/speed-job/src",
                "batch_job" => "jobs/batch-job/src",
                _ => "serve/src",
            };
            let registered = ["_total", "_bucket", "_sum", "_count"].iter().find_map(|s| rest.strip_suffix(s)).unwrap_or(rest);
            let sources: String = walk(&repo().join(crate_dir)).into_iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
            // Or under a sub-registry's prefix (the fan-out agent's `hdfs_sink`).
            let quoted = |n: &str| sources.contains(&format!("\"{n}\""));
            // The batch job writes its textfile's full names itself (src/textfile.rs).
            let written = prefix == "batch_job" && sources.contains(&format!("batch_job_{registered}"));
            let found =
                written || quoted(registered) || registered.match_indices('_').any(|(i, _)| quoted(&registered[..i]) && quoted(&registered[i + 1..]));
            assert!(found, "{file} reads {prefix}_{rest}, which {crate_dir} does not register as \"{registered}\"");
            checked += 1;
        }
        assert!(checked >= at_least, "{file} reads the pipeline's metrics ({checked} found)");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
    files
}

/// A GET on 127.0.0.1:`port`: the body, if it answered.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

/// Prometheus (Debian's package) with `dir/prometheus.yml`, killed on drop.
struct Prometheus(std::process::Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real Prometheus scrapes a real spool agent whose only receiver is a
/// dead port, with the shipped rules (their `for:` shortened to 0s, so the
/// test does not wait minutes): ClickstreamSpoolAgentNoReceiver fires, read
/// from Prometheus' HTTP API, while ClickstreamTargetDown stays quiet (the
/// agent is scraped). Under a minute.
#[test]
fn a_real_prometheus_fires_an_alert_on_an_injected_fault() {
    use clickstream_testkit::{free_port, wait_until, Service};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("tsdb")).unwrap();
    // The fault: nothing listens on the receiver's port.
    let (dead, metrics, prom) = (free_port(), free_port(), free_port());
    let config = clickstream_e2e::configs::spool_agent(d, dead, metrics);
    // Lines to deliver: the agent only finds out the receiver is down when it sends.
    // (Sample logs hold invalid UTF-8 on purpose: bytes, not a String.)
    let sample = std::fs::read(repo().join("sample-logs/weblog1.txt")).unwrap();
    let lines: Vec<u8> = sample.split_inclusive(|b| *b == b'\n').take(20).flatten().copied().collect();
    std::fs::write(d.join("spool/access.log"), lines).unwrap();
    let bin = repo().join("target/debug/spool-agent");
    assert!(bin.exists(), "{} not built: run `cargo build --workspace --bins`", bin.display());
    let agent = Service::start(bin.to_str().unwrap(), d, "spool-agent", &config, metrics);

    let rules = std::fs::read_to_string(rules_dir().join("clickstream-rules.yml")).unwrap();
    let rules = regex::Regex::new(r"(?m)^(\s+)for: \d+m$").unwrap().replace_all(&rules, "${1}for: 0s");
    std::fs::write(d.join("rules.yml"), rules.as_ref()).unwrap();
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: spool-agent\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(d.join("prometheus.log")).unwrap();
    let _prometheus = Prometheus(
        std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", d.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
            .current_dir(d)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package prometheus; `scripts/stack deps` installs it)"),
    );
    let firing = |name: &str| -> Option<serde_json::Value> {
        let body = http_get(prom, "/api/v1/alerts")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["alerts"].as_array()?.iter().find(|a| a["labels"]["alertname"] == name && a["state"] == "firing").cloned()
    };
    let prometheus_log = || std::fs::read_to_string(d.join("prometheus.log")).unwrap_or_default();
    let mut alert = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while alert.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "ClickstreamSpoolAgentNoReceiver did not fire within 90 s; agent: receiver_up = {}\n{}\nprometheus:\n{}",
            agent.metric("spool_agent_receiver_up", ""),
            agent.log_tail(20),
            prometheus_log()
        );
        alert = firing("ClickstreamSpoolAgentNoReceiver");
        std::thread::sleep(Duration::from_millis(500));
    }
    let alert = alert.unwrap();
    assert_eq!(alert["labels"]["instance"], format!("127.0.0.1:{metrics}"), "{alert}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    // Scraped all along: the target is up, so the down alert is quiet.
    let up = http_get(prom, "/api/v1/query?query=up%7Bjob%3D%22spool-agent%22%7D").unwrap_or_default();
    let up_value = serde_json::from_str::<serde_json::Value>(&up).ok().and_then(|v| v["data"]["result"][0]["value"][1].as_str().map(str::to_string));
    assert_eq!(up_value.as_deref(), Some("1"), "up for the agent is not 1: {up}");
    assert!(firing("ClickstreamTargetDown").is_none(), "the scraped agent was reported down");
    wait_until(Duration::from_secs(1), "agent still running", || agent.try_metrics().is_some());
}
