//! Apache Avro's Java IPC (`NettyServer`, `NettyTransceiver`): the wire peer
//! Flume's Avro source and sink are built on, via `tests/java/FlumeAvroPeer.java`.
//! The jars come from `scripts/stack` (`AVRO_IPC_CLASSPATH`, or its cache).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::repo;

fn classpath() -> String {
    if let Ok(cp) = std::env::var("AVRO_IPC_CLASSPATH") {
        return cp;
    }
    let cache = std::env::var("CLICKSTREAM_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        let base =
            std::env::var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
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

/// Compiles the peer once per test process; returns the full classpath.
fn compiled() -> &'static str {
    static CP: OnceLock<String> = OnceLock::new();
    CP.get_or_init(|| {
        let cp = classpath();
        let out = std::env::temp_dir().join(format!("clickstream-java-peer-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let src = repo().join("tests/java/FlumeAvroPeer.java");
        let status = Command::new("javac").args(["-nowarn", "-cp", &cp, "-d"]).arg(&out).arg(&src).status().expect("javac (Java 17) on PATH");
        assert!(status.success(), "javac failed on {}", src.display());
        format!("{}:{cp}", out.display())
    })
}

fn avpr() -> PathBuf {
    repo().join("schemas/avro/flume.avpr")
}

/// The Java `NettyServer`, recording each event as a JSON line `{headers, body_base64}`.
pub struct JavaFlumeServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    out: PathBuf,
}

impl JavaFlumeServer {
    /// Starts it, writing received events under `dir`.
    pub fn start(dir: &Path) -> JavaFlumeServer {
        let out = dir.join("java-received.jsonl");
        let mut child = Command::new("java")
            .args(["-cp", compiled(), "FlumeAvroPeer", "server", "0"])
            .arg(&out)
            .arg("--protocol")
            .arg(avpr())
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

    /// `(headers, body)` of every event the Java side decoded so far.
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

/// An event as the Java peer sends it: headers and body.
pub type JavaEvent = (Vec<(String, String)>, Vec<u8>);

/// Sends `events` (headers, body) to `port` with the Java `NettyTransceiver`
/// in `appendBatch` calls of `batch`; returns the peer's output and whether it
/// got OK for everything.
pub fn send_with_java(dir: &Path, port: u16, events: &[JavaEvent], batch: usize, deflate: bool) -> (bool, String) {
    send_with_java_over(dir, port, events, batch, deflate, None)
}

/// [`send_with_java`], over TLS when `tls_trust` names a PEM file of CA
/// certificates to trust (Flume's Avro sink with `ssl = true`).
pub fn send_with_java_over(dir: &Path, port: u16, events: &[JavaEvent], batch: usize, deflate: bool, tls_trust: Option<&Path>) -> (bool, String) {
    use base64::Engine as _;
    let file = dir.join("java-send.jsonl");
    let mut text = String::new();
    for (headers, body) in events {
        let h: serde_json::Map<String, serde_json::Value> = headers.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
        let line = serde_json::json!({"headers": h, "body_base64": base64::engine::general_purpose::STANDARD.encode(body)});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new("java");
    cmd.args(["-cp", compiled(), "FlumeAvroPeer", "replay", "127.0.0.1", &port.to_string()])
        .arg(&file)
        .arg(batch.to_string())
        .arg("--protocol")
        .arg(avpr());
    if deflate {
        cmd.arg("--deflate");
    }
    if let Some(pem) = tls_trust {
        cmd.arg("--tls-trust").arg(pem);
    }
    let out = cmd.output().expect("java on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && stdout.contains(" OK"), stdout)
}
