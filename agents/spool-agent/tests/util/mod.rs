//! Test harness: a real Flume Avro RPC receiver (this project's server, on
//! loopback), the real `spool-agent` binary as a child process, and the
//! expected events of a file computed independently of the agent.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clickstream_avro_ipc::flume::{ReceivedEvent, Status};
use clickstream_avro_ipc::server::{serve, BatchHandler, ServerLimits};
use clickstream_contract::{ClickEvent, EventId};
use clickstream_logparse::Parser;

/// One event as the receiver got it.
#[derive(Debug, Clone)]
pub struct Got {
    pub headers: HashMap<String, String>,
    pub event: ClickEvent<'static>,
}

struct Recorder {
    events: Mutex<Vec<Got>>,
    fail_next: AtomicUsize,
    delay_ms: AtomicU64,
    batches: AtomicUsize,
}

impl BatchHandler for Recorder {
    async fn on_batch(&self, events: Vec<ReceivedEvent>) -> Status {
        let delay = self.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.fail_next.load(Ordering::Relaxed) > 0 {
            self.fail_next.fetch_sub(1, Ordering::Relaxed);
            return Status::Failed;
        }
        let mut got = Vec::with_capacity(events.len());
        for e in events {
            let event = ClickEvent::decode_datum(&e.body).expect("body is a ClickEvent datum").into_owned();
            got.push(Got { headers: e.headers.into_iter().collect(), event });
        }
        self.events.lock().unwrap().extend(got);
        self.batches.fetch_add(1, Ordering::Relaxed);
        Status::Ok
    }
}

/// A receiving fan-out stand-in: the real Avro IPC server recording what it gets.
pub struct TestReceiver {
    pub addr: SocketAddr,
    recorder: Arc<Recorder>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestReceiver {
    pub fn start() -> TestReceiver {
        Self::start_on("127.0.0.1:0".parse().unwrap(), Arc::new(Recorder { events: Mutex::new(Vec::new()), fail_next: AtomicUsize::new(0), delay_ms: AtomicU64::new(0), batches: AtomicUsize::new(0) }))
    }

    fn start_on(addr: SocketAddr, recorder: Arc<Recorder>) -> TestReceiver {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let rec = Arc::clone(&recorder);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                bound_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, rec, ServerLimits::default(), async {
                    let _ = rx.await;
                })
                .await;
            });
        });
        let addr = bound_rx.recv().unwrap();
        TestReceiver { addr, recorder, stop: Some(tx), thread: Some(thread) }
    }

    /// Stops listening (the agent sees the receiver go down).
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// Starts again on the same address, keeping what was received.
    pub fn restart(&mut self) {
        self.stop();
        let again = Self::start_on(self.addr, Arc::clone(&self.recorder));
        *self = again;
    }

    pub fn events(&self) -> Vec<Got> {
        self.recorder.events.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.recorder.events.lock().unwrap().len()
    }

    pub fn fail_next(&self, n: usize) {
        self.recorder.fail_next.store(n, Ordering::Relaxed);
    }

    pub fn set_delay(&self, d: Duration) {
        self.recorder.delay_ms.store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// Distinct event ids received.
    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        self.recorder.events.lock().unwrap().iter().map(|g| g.event.event_id.to_string()).collect()
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Directories of one agent under test.
pub struct AgentDirs {
    pub root: tempfile::TempDir,
    pub spool: PathBuf,
    pub state: PathBuf,
}

impl AgentDirs {
    pub fn new() -> AgentDirs {
        let root = tempfile::tempdir().unwrap();
        let spool = root.path().join("spool");
        let state = root.path().join("state");
        std::fs::create_dir_all(&spool).unwrap();
        AgentDirs { root, spool, state }
    }

    pub fn dead_letter_dir(&self) -> PathBuf {
        self.state.join("dead-letter")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.state.join("quarantine")
    }

    /// Drops a file into the spool dir atomically (write elsewhere, rename in).
    pub fn drop_file(&self, name: &str, content: &[u8]) -> PathBuf {
        let tmp = self.root.path().join(format!(".{name}.writing"));
        std::fs::write(&tmp, content).unwrap();
        let to = self.spool.join(name);
        std::fs::rename(&tmp, &to).unwrap();
        to
    }
}

/// The real binary as a child process.
pub struct Agent {
    pub child: Child,
    pub metrics: SocketAddr,
    pub config: PathBuf,
    pub log: PathBuf,
}

pub fn config_text(dirs: &AgentDirs, host: &str, receivers: &[SocketAddr], metrics_port: u16, extra: &str) -> String {
    let receivers: Vec<String> = receivers.iter().enumerate().map(|(i, a)| format!("{{ address = \"{a}\", priority = {} }}", 10 - i as i32)).collect();
    format!(
        r#"
[agent]
host = "{host}"
state_dir = "{state}"

[source]
spool_dirs = ["{spool}"]
quiet_period = "150ms"
rescan_interval = "1s"
batch_size = 500

[channel]
min_free_disk_bytes = 0

[sink]
receivers = [{receivers}]
batch_size = 500
connect_timeout = "1s"
request_timeout = "5s"
backoff_initial = "50ms"
backoff_max = "500ms"

[metrics]
listen = "127.0.0.1:{metrics_port}"
{extra}
"#,
        state = dirs.state.display(),
        spool = dirs.spool.display(),
        receivers = receivers.join(", "),
    )
}

/// Replaces a `key = value` line inside a `[table]` of the generated config.
pub fn with_setting(config: &str, table: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut in_table = false;
    let mut done = false;
    for line in config.lines() {
        if line.starts_with('[') {
            if in_table && !done {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
            }
            in_table = line.trim() == format!("[{table}]");
        }
        if in_table && line.split('=').next().map(str::trim) == Some(key) {
            out.push_str(&format!("{key} = {value}\n"));
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if in_table && !done {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

impl Agent {
    pub fn start(dirs: &AgentDirs, config: &str) -> Agent {
        let path = dirs.root.path().join("agent.toml");
        std::fs::write(&path, config).unwrap();
        let port: u16 = config.split("listen = \"127.0.0.1:").nth(1).and_then(|s| s.split('"').next()).unwrap().parse().unwrap();
        let log_path = dirs.root.path().join("agent.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_spool-agent"))
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let agent = Agent { child, metrics: ([127, 0, 0, 1], port).into(), config: path, log: log_path };
        wait_until(Duration::from_secs(20), "metrics endpoint up", || agent.try_metrics().is_some());
        agent
    }

    pub fn try_metrics(&self) -> Option<String> {
        let mut s = TcpStream::connect_timeout(&self.metrics, Duration::from_millis(200)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// Sum of a metric's samples whose label set contains `label` (e.g. `reason="not_text"`).
    pub fn metric(&self, name: &str, label: &str) -> f64 {
        let text = self.try_metrics().unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && (l[name.len()..].starts_with(' ') || l[name.len()..].starts_with('{')))
            .filter(|l| label.is_empty() || l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "agent did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show the agent's side of a failing test.
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of {} ---", self.log.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a file should produce, computed here: event ids of the lines the
/// shared parser accepts, and offsets of those it rejects.
pub struct Expected {
    pub ids: BTreeMap<String, u64>,
    pub rejected: BTreeMap<u64, String>,
}

pub fn fingerprint_of(content: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(content))
}

pub fn expected(host: &str, content: &[u8], decompressed: &[u8], max_line: usize) -> Expected {
    let fp = fingerprint_of(content);
    let parser = Parser::default();
    let mut ids = BTreeMap::new();
    let mut rejected = BTreeMap::new();
    let mut offset = 0u64;
    for line in decompressed.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if body.len() > max_line {
            rejected.insert(offset, "too_long".to_string());
        } else {
            match parser.parse(body) {
                Ok(_) => {
                    ids.insert(EventId::derive(host, &fp, offset).to_string(), offset);
                }
                Err(r) => {
                    rejected.insert(offset, r.reason.as_str().to_string());
                }
            }
        }
        offset += line.len() as u64;
    }
    Expected { ids, rejected }
}

/// Offsets and reasons in a dead-letter directory (all files).
pub fn dead_letters(dir: &Path) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        for line in std::fs::read_to_string(e.path()).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            out.insert(v["offset"].as_u64().unwrap(), v["reason"].as_str().unwrap().to_string());
        }
    }
    out
}

pub fn repo_file(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)).unwrap()
}

/// Apache Avro's Java `NettyServer` (what Flume's Avro source is), running
/// `tests/java/FlumeAvroPeer.java` in server mode: it writes every event it
/// receives as a JSON line `{headers, body_base64}`.
pub struct JavaFlumeServer {
    pub child: Child,
    pub port: u16,
    pub out: PathBuf,
}

fn avro_ipc_classpath() -> String {
    if let Ok(cp) = std::env::var("AVRO_IPC_CLASSPATH") {
        return cp;
    }
    let cache = std::env::var("CLICKSTREAM_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        let base = std::env::var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
        base.join("clickstream")
    });
    let dir = cache.join("jars/avro-ipc");
    let jars: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|_| panic!("no Avro IPC jars in {}: run `scripts/stack up hdfs` (it extracts them)", dir.display()))
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".jar"))
        .collect();
    assert!(!jars.is_empty(), "no Avro IPC jars in {}: run `scripts/stack up hdfs`", dir.display());
    jars.join(":")
}

fn compiled_peer() -> &'static (String, PathBuf) {
    static PEER: std::sync::OnceLock<(String, PathBuf)> = std::sync::OnceLock::new();
    PEER.get_or_init(|| {
        let cp = avro_ipc_classpath();
        let out = std::env::temp_dir().join(format!("spool-agent-java-peer-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/java/FlumeAvroPeer.java");
        let status = Command::new("javac").args(["-nowarn", "-cp", &cp, "-d"]).arg(&out).arg(&src).status().expect("javac (Java 17) on PATH");
        assert!(status.success(), "javac failed on {}", src.display());
        (cp, out)
    })
}

impl JavaFlumeServer {
    pub fn start(dir: &Path) -> JavaFlumeServer {
        let (cp, classes) = compiled_peer();
        let out = dir.join("java-received.jsonl");
        let avpr = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/avro/flume.avpr");
        let mut child = Command::new("java")
            .args(["-cp", &format!("{}:{cp}", classes.display()), "FlumeAvroPeer", "server", "0"])
            .arg(&out)
            .arg("--protocol")
            .arg(&avpr)
            // The peer runs until its stdin closes: keep it open (dropped with us).
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("java on PATH");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let port = loop {
            let line = lines.next().expect("java peer exited before READY").unwrap();
            if let Some(p) = line.strip_prefix("READY ") {
                break p.trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        JavaFlumeServer { child, port, out }
    }

    /// `(headers, body)` of every event the Java side decoded.
    pub fn received(&self) -> Vec<(serde_json::Value, Vec<u8>)> {
        use base64::Engine as _;
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                let body = base64::engine::general_purpose::STANDARD.decode(v["body_base64"].as_str().unwrap()).unwrap();
                (v["headers"].clone(), body)
            })
            .collect()
    }
}

impl Drop for JavaFlumeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
