//! Test harness: a real Flume Avro RPC receiver (this project's server, on
//! loopback), the real `spool-agent` binary through the shared testkit, and
//! the expected events of a file computed independently of the agent.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[allow(unused_imports)] // used by some of the test crates sharing this module
pub use clickstream_testkit::disk::{cpu_time, SmallDisk};
#[allow(unused_imports)] // used by some of the test crates sharing this module
pub use clickstream_testkit::java::JavaFlumeServer;
pub use clickstream_testkit::{free_port, wait_until, Service};

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
        if events.is_empty() {
            // The agent's idle health probe: answered OK and kept out of the
            // counts, as the fan-out agent does; `fail_next` is for deliveries.
            return Status::Ok;
        }
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
            got.push(Got { headers: e.headers().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), event });
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
    limits: ServerLimits,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestReceiver {
    pub fn start() -> TestReceiver {
        Self::start_with(ServerLimits::default())
    }

    /// A receiver with these server settings (TLS, say).
    pub fn start_with(limits: ServerLimits) -> TestReceiver {
        let recorder =
            Recorder { events: Mutex::new(Vec::new()), fail_next: AtomicUsize::new(0), delay_ms: AtomicU64::new(0), batches: AtomicUsize::new(0) };
        Self::start_on("127.0.0.1:0".parse().unwrap(), Arc::new(recorder), limits)
    }

    fn start_on(addr: SocketAddr, recorder: Arc<Recorder>, limits: ServerLimits) -> TestReceiver {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let rec = Arc::clone(&recorder);
        let served = limits.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                bound_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, rec, served, async {
                    let _ = rx.await;
                })
                .await;
            });
        });
        let addr = bound_rx.recv().unwrap();
        TestReceiver { addr, recorder, limits, stop: Some(tx), thread: Some(thread) }
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
        let again = Self::start_on(self.addr, Arc::clone(&self.recorder), self.limits.clone());
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

pub fn config_text(dirs: &AgentDirs, host: &str, receivers: &[SocketAddr], metrics_port: u16, extra: &str) -> String {
    let receivers: Vec<String> =
        receivers.iter().enumerate().map(|(i, a)| format!("{{ address = \"{a}\", priority = {} }}", 10 - i as i32)).collect();
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

/// Writes `config` to `path` and runs `spool-agent validate [extra…] path`.
pub fn run_validate(path: &Path, config: &str, extra: &[&str]) -> std::process::Output {
    std::fs::write(path, config).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_spool-agent")).arg("validate").args(extra).arg(path).output().unwrap()
}

/// The real `spool-agent` binary.
pub struct Agent;

impl Agent {
    pub fn start(dirs: &AgentDirs, config: &str) -> Service {
        let port: u16 = config.split("listen = \"127.0.0.1:").nth(1).and_then(|s| s.split('"').next()).unwrap().parse().unwrap();
        Service::start(env!("CARGO_BIN_EXE_spool-agent"), dirs.root.path(), "agent", config, port)
    }
}

/// What a file should produce, computed here: event ids of the lines the
/// shared parser accepts, and offsets of those it rejects.
pub struct Expected {
    pub ids: BTreeMap<String, u64>,
    pub rejected: BTreeMap<u64, String>,
}

/// The stream fingerprint of a log, computed here from the rule in
/// `clickstream_contract::event_id`: XXH3-128 of its first line (with its
/// `\n`; at most 64 KiB) of the decompressed content.
pub fn stream_of(decompressed: &[u8]) -> String {
    let first = match decompressed.iter().position(|b| *b == b'\n') {
        Some(i) => &decompressed[..i + 1],
        None => decompressed,
    };
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&first[..first.len().min(64 * 1024)]))
}

/// The events a log stream's lines become: id by the rule in
/// `clickstream_contract::event_id` (host, stream, offset, the line without
/// its terminator), computed here.
pub fn expected(host: &str, decompressed: &[u8], max_line: usize) -> Expected {
    let stream = stream_of(decompressed);
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
                    let raw = body.strip_suffix(b"\r").unwrap_or(body);
                    ids.insert(EventId::of_line(host, &stream, offset, raw).to_string(), offset);
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

/// Gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
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

/// `n` distinct, valid combined-format lines (a few hundred bytes each),
/// starting at line number `from`.
pub fn generated_lines(from: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 220);
    for i in from..from + n {
        out.extend_from_slice(
            format!(
                "10.{}.{}.{} - - [20/Nov/2026:{:02}:{:02}:{:02} +0100] \"GET /category/c{}/item-{i}?ref=generated HTTP/1.1\" 200 {} \"https://shop.example/category/c{}\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\"\n",
                i % 251,
                (i / 251) % 251,
                i % 7 + 1,
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60,
                i % 13,
                1000 + i % 5000,
                i % 11,
            )
            .as_bytes(),
        );
    }
    out
}
