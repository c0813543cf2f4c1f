//! Test support shared by the integration tests of every binary:
//! [`Service`] runs a real binary as a child process (config file, log file,
//! metrics scraping, SIGTERM, SIGKILL, its log shown when a test fails),
//! [`wait_until`] polls a condition, and [`java`] drives Apache Avro's Java
//! IPC implementation — the code inside Flume's Avro source and sink;
//! [`kafka::PrivateKafka`] is a broker of a test's own; [`browser`] drives
//! the dashboard in headless Chromium; [`disk`] mounts a small file system
//! and reads a process's CPU time.

#![deny(missing_docs)]
pub mod browser;
pub mod disk;
pub mod java;
pub mod kafka;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sum of the samples of metric `name` (exactly: a counter's `_total`
/// included) whose labels contain `label` (empty: all), in a Prometheus
/// text exposition.
pub fn metric_sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter(|l| label.is_empty() || l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls `cond` every 50 ms; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A unique suffix for topics, HDFS paths and databases of one test.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A long-running binary of the project under test.
pub struct Service {
    /// The child process.
    pub child: Child,
    /// Its `/metrics` and `/health` address.
    pub metrics: SocketAddr,
    /// Its log file (stderr).
    pub log: PathBuf,
}

impl Service {
    /// Starts `binary run --config <dir>/<name>.toml` with `config` as the
    /// file's content, and waits for its metrics endpoint at `metrics_port`.
    pub fn start(binary: &str, dir: &Path, name: &str, config: &str, metrics_port: u16) -> Service {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = Command::new(binary)
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        let mut service = Service { child, metrics: ([127, 0, 0, 1], metrics_port).into(), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while service.try_metrics().is_none() {
            if let Some(status) = service.child.try_wait().unwrap() {
                panic!("{name} exited with {status} before serving metrics:\n{}", service.log_tail(30));
            }
            assert!(Instant::now() < deadline, "{name} did not serve metrics within 60 s:\n{}", service.log_tail(30));
            std::thread::sleep(Duration::from_millis(50));
        }
        service
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect_timeout(&self.metrics, Duration::from_millis(200)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// The `/metrics` text, if the endpoint answers.
    pub fn try_metrics(&self) -> Option<String> {
        self.get("/metrics")
    }

    /// The `/health` response (status line and body).
    pub fn health(&self) -> Option<String> {
        self.get("/health")
    }

    /// Sum of a metric's samples whose labels contain `label` (empty: all).
    pub fn metric(&self, name: &str, label: &str) -> f64 {
        metric_sum(&self.try_metrics().unwrap_or_default(), name, label)
    }

    /// SIGTERM, then waits (30 s at most) and returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM:\n{}", self.log_tail(30));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last lines of {} ---\n{}", self.log.display(), self.log_tail(40));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
