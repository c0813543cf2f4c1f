//! Interoperability with Apache Avro 1.8.2's Java Netty IPC, the exact classes
//! Flume's Avro source (`NettyServer`) and Avro sink (`NettyTransceiver`) use.
//!
//! `tests/java/FlumeAvroPeer.java` is compiled once per run into the target
//! temp dir. The jars come from `AVRO_IPC_CLASSPATH`, else from the cache that
//! `scripts/stack up hdfs` fills; without either the tests fail and say so.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use clickstream_avro_ipc::{encode_event, protocol, ClientOptions, FlumeClient, ServerLimits, Status};
use common::{encoded_test_event, test_event, Recorder, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const STARTUP: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The Avro IPC classpath: `AVRO_IPC_CLASSPATH`, else every jar in the stack
/// script's cache directory.
fn classpath() -> String {
    if let Ok(cp) = std::env::var("AVRO_IPC_CLASSPATH") {
        if !cp.trim().is_empty() {
            return cp;
        }
    }
    let cache = std::env::var_os("CLICKSTREAM_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"));
        base.join("clickstream")
    });
    let dir = cache.join("jars/avro-ipc");
    let mut jars: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jar"))
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    jars.sort();
    assert!(
        !jars.is_empty(),
        "Apache Avro IPC jars not found: AVRO_IPC_CLASSPATH is unset and {} holds no jars. \
         Run `scripts/stack up hdfs` (it extracts avro-1.8.2, avro-ipc-1.8.2, netty-3.9.9.Final, jackson-*-asl-1.9.13 \
         and slf4j-api-1.7.16 from the pyspark 2.4.8 sdist), or `eval \"$(scripts/stack env)\"`, then rerun.",
        dir.display()
    );
    jars.join(":")
}

fn java_tool(name: &str) -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin").join(name).exists() => Path::new(&home).join("bin").join(name),
        _ => PathBuf::from(name),
    }
}

/// Compiles the peer once; returns the full runtime classpath.
fn peer_classpath() -> &'static str {
    static CP: OnceLock<String> = OnceLock::new();
    CP.get_or_init(|| {
        let jars = classpath();
        let classes = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flume-avro-peer");
        std::fs::create_dir_all(&classes).unwrap();
        let source = workspace_root().join("tests/java/FlumeAvroPeer.java");
        let out = std::process::Command::new(java_tool("javac"))
            .args(["-nowarn", "-cp", &jars, "-d"])
            .arg(&classes)
            .arg(&source)
            .output()
            .unwrap_or_else(|e| panic!("cannot run javac ({e}); install a JDK (Java 17 is expected at /usr/bin/java)"));
        assert!(out.status.success(), "javac {} failed:\n{}", source.display(), String::from_utf8_lossy(&out.stderr));
        format!("{}:{jars}", classes.display())
    })
}

fn peer_command(args: &[&str], protocol_file: Option<&Path>) -> Command {
    let mut cmd = Command::new(java_tool("java"));
    cmd.args([
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Djava.net.preferIPv4Stack=true",
        "-cp",
        peer_classpath(),
        "FlumeAvroPeer",
    ]);
    cmd.args(args);
    let default_protocol = workspace_root().join("schemas/avro/flume.avpr");
    cmd.arg("--protocol").arg(protocol_file.unwrap_or(&default_protocol));
    cmd.current_dir(workspace_root()).kill_on_drop(true);
    cmd
}

/// A Java `NettyServer` answering Flume's protocol.
struct JavaServer {
    child: Child,
    port: u16,
    out_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl JavaServer {
    async fn start(flags: &[&str], protocol_file: Option<&Path>) -> (Self, String) {
        let dir = tempfile::tempdir().unwrap();
        let out_file = dir.path().join("events.jsonl");
        let mut args = vec!["server", "0", out_file.to_str().unwrap()];
        args.extend_from_slice(flags);
        let mut child = peer_command(&args, protocol_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("stderr.log")).unwrap()))
            .spawn()
            .expect("java starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let md5 = expect_line(&mut lines, "PROTOCOL_MD5 ", dir.path()).await;
        let port = expect_line(&mut lines, "READY ", dir.path()).await.parse().unwrap();
        (JavaServer { child, port, out_file, _dir: dir }, md5)
    }

    /// Every event the Java side accepted, in order: (headers, body).
    fn received(&self) -> Vec<(BTreeMap<String, String>, Vec<u8>)> {
        let text = std::fs::read_to_string(&self.out_file).unwrap_or_default();
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let headers = v["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
                (headers, base64_decode(v["body_base64"].as_str().unwrap()))
            })
            .collect()
    }

    async fn stop(mut self) {
        drop(self.child.stdin.take()); // the peer exits when stdin closes
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

async fn expect_line(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str, dir: &Path) -> String {
    loop {
        let line = tokio::time::timeout(STARTUP, lines.next_line()).await.unwrap_or_else(|_| panic!("java peer did not print {prefix:?} in time"));
        match line.unwrap() {
            Some(line) if line.starts_with(prefix) => return line[prefix.len()..].trim().to_string(),
            Some(_) => continue,
            None => panic!(
                "java peer exited before printing {prefix:?}; stderr:\n{}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            ),
        }
    }
}

/// Runs the Java client (a `GenericRequestor` over `NettyTransceiver`) to the end.
async fn run_java_client(port: u16, events: usize, batch: usize, flags: &[&str], protocol_file: Option<&Path>) -> (bool, String) {
    let (port, events, batch) = (port.to_string(), events.to_string(), batch.to_string());
    let mut args = vec!["client", "127.0.0.1", &port, &events, &batch];
    args.extend_from_slice(flags);
    let out = tokio::time::timeout(Duration::from_secs(180), peer_command(&args, protocol_file).output())
        .await
        .expect("java client finishes within 3 minutes")
        .expect("java starts");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("PROTOCOL_MD5"), "java client failed early:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), stdout)
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | ALPHABET.iter().position(|&a| a == c).expect("base64 character") as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn header_map(headers: &[(String, String)]) -> BTreeMap<String, String> {
    headers.iter().cloned().collect()
}

/// A protocol file Java will hash differently (it renders the doc), still Flume's protocol.
fn variant_protocol(dir: &Path, edit: impl FnOnce(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(workspace_root().join("schemas/avro/flume.avpr")).unwrap();
    let path = dir.join("variant.avpr");
    std::fs::write(&path, edit(&text)).unwrap();
    path
}

fn with_doc(text: &str) -> String {
    text.replacen("\"namespace\"", "\"doc\": \"a variant with another MD5\",\n  \"namespace\"", 1)
}

fn options(deflate: bool) -> ClientOptions {
    ClientOptions { connect_timeout: Duration::from_secs(10), request_timeout: Duration::from_secs(30), deflate, ..ClientOptions::default() }
}

/// Sends test events 0..total from Rust and checks the Java side's record of them.
async fn rust_to_java(total: usize, batch: usize, deflate: bool) {
    let (java, md5) = JavaServer::start(if deflate { &["--deflate"] } else { &[] }, None).await;
    assert_eq!(md5, protocol::hex(&protocol::md5()), "Java's Protocol.getMD5() of flume.avpr equals ours");
    let mut client = FlumeClient::connect(format!("127.0.0.1:{}", java.port), options(deflate)).await.unwrap();
    let encoded: Vec<Vec<u8>> = (0..total).map(encoded_test_event).collect();
    for chunk in encoded.chunks(batch) {
        assert_eq!(client.append_batch_encoded(chunk).await.unwrap(), Status::Ok);
    }
    let received = java.received();
    assert_eq!(received.len(), total);
    for (i, (headers, body)) in received.iter().enumerate() {
        let (h, b) = test_event(i);
        assert_eq!(headers, &header_map(&h), "headers of event {i}");
        assert_eq!(body, &b, "body of event {i}");
    }
    java.stop().await;
}

// ------------------------------------------------------------------ Rust client -> Java server

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_to_java_server_10k_events_in_batches_of_100() {
    rust_to_java(10_000, 100, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_to_java_server_with_deflate() {
    rust_to_java(2_000, 100, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_failed_status_surfaces_and_append_works() {
    let (java, _) = JavaServer::start(&["--fail-first", "2"], None).await;
    let mut client = FlumeClient::connect(format!("127.0.0.1:{}", java.port), options(false)).await.unwrap();
    let batch: Vec<Vec<u8>> = (0..10).map(encoded_test_event).collect();
    assert_eq!(client.append_batch_encoded(&batch).await.unwrap(), Status::Failed);
    assert_eq!(client.append(&[("seq", "x")], b"single").await.unwrap(), Status::Failed);
    assert!(java.received().is_empty(), "FAILED calls are not recorded");
    assert_eq!(client.append_batch_encoded(&batch).await.unwrap(), Status::Ok);
    assert_eq!(client.append(&[("seq", "x")], b"single").await.unwrap(), Status::Ok);
    let received = java.received();
    assert_eq!(received.len(), 11);
    assert_eq!(received[10], (BTreeMap::from([("seq".to_string(), "x".to_string())]), b"single".to_vec()));
    java.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_completes_a_none_handshake_with_java() {
    let dir = tempfile::tempdir().unwrap();
    let variant = variant_protocol(dir.path(), with_doc);
    let (java, md5) = JavaServer::start(&[], Some(&variant)).await;
    assert_ne!(md5, protocol::hex(&protocol::md5()), "the variant must hash differently");
    let mut client = FlumeClient::connect(format!("127.0.0.1:{}", java.port), options(false)).await.unwrap();
    // Java answers NONE (unknown client hash); the client resends with its protocol text.
    assert_eq!(client.append(&[("n", "1")], b"first").await.unwrap(), Status::Ok);
    assert!(client.is_established());
    assert_eq!(client.append(&[("n", "2")], b"second").await.unwrap(), Status::Ok);
    let bodies: Vec<Vec<u8>> = java.received().into_iter().map(|(_, b)| b).collect();
    assert_eq!(bodies, [b"first".to_vec(), b"second".to_vec()]);
    java.stop().await;
}

// ------------------------------------------------------------------ Java client -> Rust server

/// Java sends `total` events; the Rust handler must see exactly them, encoded
/// byte-for-byte as `encode_event` would.
fn assert_java_events(batches: &[Vec<clickstream_avro_ipc::ReceivedEvent>], total: usize) {
    let events: Vec<_> = batches.iter().flatten().collect();
    assert_eq!(events.len(), total);
    for (i, event) in events.iter().enumerate() {
        let seq = i.to_string();
        let body = format!("event-{i}");
        assert_eq!(event.headers(), vec![("seq", seq.as_str()), ("host", "java")]);
        assert_eq!(&event.body[..], body.as_bytes());
        let mut ours = Vec::new();
        encode_event(&[("seq", &seq), ("host", "java")], body.as_bytes(), &mut ours);
        assert_eq!(&event.encoded[..], &ours[..], "Java's GenericDatumWriter and encode_event agree on event {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_to_rust_server() {
    // The first batch is refused once: Java must see FAILED and resend it.
    let server = TestServer::start(ServerLimits::default(), Recorder::with_script([Status::Failed])).await;
    let (ok, stdout) = run_java_client(server.addr.port(), 1_000, 100, &[], None).await;
    assert!(ok && stdout.contains("SENT 1000 OK"), "{stdout}");
    assert!(stdout.starts_with(&format!("PROTOCOL_MD5 {}", protocol::hex(&protocol::md5()))), "{stdout}");
    let statuses: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("STATUS ")).collect();
    assert_eq!(statuses[..2], ["FAILED", "OK"]);
    assert_eq!(statuses.len(), 11);
    let batches = server.handler.batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 11);
    assert_eq!(batches[0], batches[1], "the refused batch comes again unchanged");
    assert_java_events(&batches[1..], 1_000);
    // Same protocol hash: one handshake, answered BOTH, on the first call only
    // (a handshake on a later call would have failed to decode).
    let stats = server.stats.snapshot();
    assert_eq!((stats.handshakes_both, stats.handshakes_client, stats.handshakes_none), (1, 0, 0), "{stats:?}");
    assert_eq!(stats.frames_rejected, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_append_to_rust_server() {
    let server = TestServer::start(ServerLimits::default(), Recorder::default()).await;
    let (ok, stdout) = run_java_client(server.addr.port(), 25, 1, &["--append"], None).await;
    assert!(ok && stdout.contains("SENT 25 OK"), "{stdout}");
    let batches = server.handler.batches.lock().unwrap().clone();
    assert!(batches.iter().all(|b| b.len() == 1));
    assert_java_events(&batches, 25);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_to_rust_server_with_deflate() {
    let limits = ServerLimits { deflate: true, ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let (ok, stdout) = run_java_client(server.addr.port(), 2_000, 100, &["--deflate"], None).await;
    assert!(ok && stdout.contains("SENT 2000 OK"), "{stdout}");
    assert_java_events(&server.handler.batches.lock().unwrap(), 2_000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_with_another_hash_gets_none_then_both() {
    let dir = tempfile::tempdir().unwrap();
    let variant = variant_protocol(dir.path(), with_doc);
    let server = TestServer::start(ServerLimits::default(), Recorder::default()).await;
    let (ok, stdout) = run_java_client(server.addr.port(), 300, 100, &[], Some(&variant)).await;
    assert!(ok && stdout.contains("SENT 300 OK"), "{stdout}");
    assert_java_events(&server.handler.batches.lock().unwrap(), 300);
    let stats = server.stats.snapshot();
    // NONE, then Java resends with its protocol text and our hash: BOTH.
    assert_eq!((stats.handshakes_none, stats.handshakes_both, stats.handshakes_client), (1, 1, 0), "{stats:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_with_an_incompatible_protocol_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Same messages, but Status symbols in another order: a different wire meaning.
    let variant = variant_protocol(dir.path(), |t| t.replace("\"OK\",", "").replace("\"UNKNOWN\"", "\"UNKNOWN\", \"OK\""));
    let server = TestServer::start(ServerLimits::default(), Recorder::default()).await;
    let (ok, stdout) = run_java_client(server.addr.port(), 10, 10, &[], Some(&variant)).await;
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("ERROR") && stdout.contains("incompatible protocol"), "{stdout}");
    assert!(server.handler.batches.lock().unwrap().is_empty());
    server.wait_for("the rejection", |s| s.protocols_rejected == 1).await;
    // The server goes on serving.
    let (ok, stdout) = run_java_client(server.addr.port(), 10, 10, &[], None).await;
    assert!(ok, "{stdout}");
    server.stop().await;
}

/// Flume's Avro sink with `ssl = true` (a JDK `SSLEngine` in Netty's
/// `SslHandler`, ahead of compression) against the rustls server, with and
/// without deflate inside TLS; a Java client trusting another CA is refused.
#[tokio::test]
async fn java_client_over_tls_to_rust_server() {
    let dir = tempfile::tempdir().unwrap();
    let pki = clickstream_avro_ipc::test_pki::write_test_pki(dir.path());
    let tls = clickstream_avro_ipc::ServerTls::from_pem_files(&pki.cert, &pki.key).unwrap();
    for deflate in [false, true] {
        let limits = ServerLimits { deflate, tls: Some(tls.clone()), ..ServerLimits::default() };
        let server = TestServer::start(limits, Recorder::default()).await;
        let ca = pki.ca.display().to_string();
        let mut flags = vec!["--tls-trust", ca.as_str()];
        if deflate {
            flags.push("--deflate");
        }
        let (ok, stdout) = run_java_client(server.addr.port(), 1_000, 100, &flags, None).await;
        assert!(ok, "Java over TLS (deflate {deflate}):\n{stdout}\nserver: {:?}", server.stats.snapshot());
        assert_java_events(&server.handler.batches.lock().unwrap(), 1_000);

        let other = pki.other_ca.display().to_string();
        let (ok, stdout) = run_java_client(server.addr.port(), 10, 10, &["--tls-trust", other.as_str()], None).await;
        assert!(!ok, "a Java client that does not trust the server's CA must fail:\n{stdout}");
        server.wait_for("the refused handshake", |s| s.tls_handshakes_failed >= 1).await;
        assert_eq!(server.handler.events().len(), 1_000);
        server.stop().await;
    }
}
