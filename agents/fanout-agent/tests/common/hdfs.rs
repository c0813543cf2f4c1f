//! Helpers of the HDFS sink tests: events made by the real parser from the
//! sample logs, the two back ends (a temp dir behind `file://`, a unique
//! directory on the stack's real HDFS), reading everything back with
//! `apache-avro` (independent of the sink's writer), and a storage wrapper
//! that injects failures.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clickstream_contract::schema::click_event_schema;
use clickstream_contract::ClickEvent;
use clickstream_logparse::{LineOrigin, Parser};
use clickstream_master_copy::storage::local::{LocalStorage, LocalWriter};
use clickstream_master_copy::storage::{DirEntry, ErrorKind, FileEntry, Storage, StorageError, StorageResult, StorageWriter};
pub use clickstream_testkit::{repo, unique};
use fanout_agent::sinks::hdfs::{HdfsSink, HdfsSinkConfig};
use fanout_agent::sinks::{BatchSink, SinkError};

/// Tests that use HDFS hold this for reading; the NameNode restart test
/// holds it for writing, so nothing else of this binary talks to HDFS then.
pub static HDFS_LOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub fn hdfs_authority() -> String {
    std::env::var("HDFS_URL").unwrap_or_else(|_| "hdfs://127.0.0.1:8020".into()).trim_end_matches('/').to_string()
}

/// One test event: a real log line parsed by the real parser.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub id: String,
    pub time_ms: i64,
    pub host: String,
    /// The ClickEvent datum: the channel record the sink receives.
    pub datum: Vec<u8>,
}

/// `n` events from `sample-logs/weblog1.txt` (lines reused with new offsets,
/// hence new ids, when `n` is larger than the file); `retime(i, t)` may move
/// event `i`'s time.
pub fn sample_events(n: usize, host: &str, retime: impl Fn(usize, i64) -> i64) -> Vec<TestEvent> {
    let content = std::fs::read(repo().join("sample-logs/weblog1.txt")).unwrap();
    let lines: Vec<(u64, &[u8])> = {
        let mut off = 0u64;
        content
            .split_inclusive(|b| *b == b'\n')
            .map(|l| {
                let r = (off, l);
                off += l.len() as u64;
                r
            })
            .collect()
    };
    let parser = Parser::default();
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    while out.len() < n {
        let (off, line) = lines[k % lines.len()];
        let pass = (k / lines.len()) as u64;
        k += 1;
        let origin =
            LineOrigin { source_host: host, source_file: "/spool/weblog1.txt", file_fingerprint: "f1", byte_offset: off + pass * 1_000_000_000 };
        let Ok(mut e) = parser.parse_event(line, &origin) else { continue };
        e.event_time_ms = retime(out.len(), e.event_time_ms);
        let datum = e.to_datum();
        out.push(TestEvent { id: e.event_id.to_string(), time_ms: e.event_time_ms, host: host.to_string(), datum });
    }
    out
}

/// The channel records of `events`, as the driver hands them to the sink.
pub fn records(events: &[TestEvent]) -> Vec<Vec<u8>> {
    events.iter().map(|e| e.datum.clone()).collect()
}

/// Where a test's files go.
pub enum Backend {
    Local { dir: tempfile::TempDir },
    Hdfs { client: hdfs_native::Client, base: String },
}

impl Backend {
    pub fn local() -> Backend {
        Backend::Local { dir: tempfile::tempdir().unwrap() }
    }

    /// A fresh directory `/test/hdfs-sink/<unique>` on the stack's HDFS.
    pub fn hdfs(test: &str) -> Backend {
        let client = hdfs_native::ClientBuilder::new().with_url(hdfs_authority()).build().unwrap();
        Backend::Hdfs { client, base: format!("/test/hdfs-sink/{}", unique(test)) }
    }

    pub fn is_hdfs(&self) -> bool {
        matches!(self, Backend::Hdfs { .. })
    }

    /// The sink's `url`.
    pub fn url(&self) -> String {
        match self {
            Backend::Local { dir } => format!("file://{}", dir.path().display()),
            Backend::Hdfs { base, .. } => format!("{}{base}", hdfs_authority()),
        }
    }

    /// A config for this back end (small roll limits are set by the tests).
    /// HDFS files get 1 MiB blocks: every open file reserves a block of
    /// space on the single DataNode, and the tests keep hundreds open at once.
    pub fn config(&self) -> HdfsSinkConfig {
        HdfsSinkConfig { url: self.url(), call_timeout: Duration::from_secs(20), block_size: Some(1 << 20), ..HdfsSinkConfig::default() }
    }

    /// Every file, path relative to the sink's root, with its length.
    pub async fn files(&self) -> Vec<(String, u64)> {
        let mut v = match self {
            Backend::Local { dir } => {
                let mut out = Vec::new();
                let mut stack = vec![dir.path().to_path_buf()];
                while let Some(d) = stack.pop() {
                    let Ok(rd) = std::fs::read_dir(&d) else { continue };
                    for e in rd {
                        let e = e.unwrap();
                        let m = e.metadata().unwrap();
                        if m.is_dir() {
                            stack.push(e.path());
                        } else {
                            let rel = e.path().strip_prefix(dir.path()).unwrap().display().to_string();
                            out.push((format!("/{rel}"), m.len()));
                        }
                    }
                }
                out
            }
            Backend::Hdfs { client, base } => match client.list_status(base, true).await {
                Ok(list) => list
                    .into_iter()
                    .filter(|s| !s.isdir)
                    .map(|s| (s.path.strip_prefix(base.as_str()).unwrap().to_string(), s.length as u64))
                    .collect(),
                Err(hdfs_native::HdfsError::FileNotFound(_)) => Vec::new(),
                Err(e) => panic!("listing {base}: {e}"),
            },
        };
        v.sort();
        v
    }

    pub async fn read(&self, rel: &str) -> Vec<u8> {
        match self {
            Backend::Local { dir } => std::fs::read(dir.path().join(rel.trim_start_matches('/'))).unwrap(),
            Backend::Hdfs { client, base } => {
                let r = client.read(&format!("{base}{rel}")).await.unwrap();
                r.read_range(0, r.file_length()).await.unwrap().to_vec()
            }
        }
    }

    /// Appends raw bytes to a closed or leftover file (to fake a torn write).
    pub fn append_local(&self, rel: &str, bytes: &[u8]) {
        let Backend::Local { dir } = self else { panic!("local only") };
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join(rel.trim_start_matches('/'))).unwrap();
        f.write_all(bytes).unwrap();
    }

    /// Reads back every closed file with apache-avro.
    pub async fn read_back(&self) -> ReadBack {
        let mut rb = ReadBack::default();
        for (path, _) in self.files().await {
            if path.ends_with(".avro.tmp") {
                rb.open.push(path);
            } else if path.ends_with(".avro") {
                let bytes = self.read(&path).await;
                let codec = header_codec(&bytes);
                let reader = apache_avro::Reader::new(&bytes[..]).unwrap_or_else(|e| panic!("{path}: not an Avro container file: {e}"));
                assert_eq!(
                    reader.writer_schema().canonical_form(),
                    click_event_schema().canonical_form(),
                    "{path}: the embedded schema is ClickEvent's"
                );
                let writer = apache_avro::writer::datum::GenericDatumWriter::builder(click_event_schema()).build().unwrap();
                let mut records = Vec::new();
                for value in reader {
                    let value = value.unwrap_or_else(|e| panic!("{path}: bad record: {e}"));
                    // Decoded by apache-avro, encoded again: must be the exact datum the sink was given.
                    records.push(writer.write_value_to_vec(value).unwrap());
                }
                rb.files.push(ReadFile { path, len: bytes.len() as u64, codec, records });
            } else {
                rb.other.push(path);
            }
        }
        rb
    }

    pub async fn cleanup(&self) {
        if let Backend::Hdfs { client, base } = self {
            let _ = client.delete(base, true).await;
        }
    }
}

/// The `avro.codec` of a container header (looked up in the raw bytes).
fn header_codec(bytes: &[u8]) -> String {
    let key = b"\x14avro.codec";
    let i = bytes.windows(key.len()).position(|w| w == key).expect("avro.codec in the header") + key.len();
    let len = (bytes[i] >> 1) as usize;
    String::from_utf8(bytes[i + 1..i + 1 + len].to_vec()).unwrap()
}

#[derive(Debug)]
pub struct ReadFile {
    pub path: String,
    pub len: u64,
    pub codec: String,
    pub records: Vec<Vec<u8>>,
}

impl ReadFile {
    pub fn dir(&self) -> &str {
        &self.path[..self.path.rfind('/').unwrap()]
    }
}

/// Everything found under a back end's root.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub files: Vec<ReadFile>,
    /// `.avro.tmp` files.
    pub open: Vec<String>,
    /// Anything else.
    pub other: Vec<String>,
}

impl ReadBack {
    /// Event id -> occurrences, checking every record is one of `known`
    /// byte for byte.
    pub fn id_counts(&self, known: &[TestEvent]) -> BTreeMap<String, usize> {
        let by_id: BTreeMap<&str, &TestEvent> = known.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut counts = BTreeMap::new();
        for f in &self.files {
            for r in &f.records {
                let e = ClickEvent::decode_datum(r).unwrap();
                let want = by_id.get(&*e.event_id).unwrap_or_else(|| panic!("{}: unknown event {}", f.path, e.event_id));
                assert_eq!(r, &want.datum, "{}: record {} differs from what was written", f.path, e.event_id);
                *counts.entry(e.event_id.to_string()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Every one of `events` exactly once, nothing else, no file left open.
    pub fn assert_exactly_once(&self, events: &[TestEvent]) {
        assert!(self.open.is_empty(), "files left open: {:?}", self.open);
        let counts = self.id_counts(events);
        let dupes: Vec<_> = counts.iter().filter(|(_, &n)| n != 1).collect();
        assert!(dupes.is_empty(), "events not exactly once: {dupes:?}");
        assert_eq!(counts.len(), events.len(), "every event landed");
    }

    /// Every one of `acked` at least once; every record is one of `known`.
    pub fn assert_at_least_once(&self, acked: &[TestEvent], known: &[TestEvent]) -> BTreeMap<String, usize> {
        assert!(self.open.is_empty(), "files left open: {:?}", self.open);
        let counts = self.id_counts(known);
        let missing: Vec<&str> = acked.iter().filter(|e| !counts.contains_key(&e.id)).map(|e| e.id.as_str()).collect();
        assert!(missing.is_empty(), "{} acknowledged events lost, e.g. {:?}", missing.len(), &missing[..missing.len().min(5)]);
        counts
    }

    pub fn records(&self) -> usize {
        self.files.iter().map(|f| f.records.len()).sum()
    }
}

/// Writes `events` in batches of `batch`, each batch retried (with ticks)
/// until it is acknowledged or `deadline` passes.
pub async fn write_all<S: Storage>(sink: &mut HdfsSink<S>, events: &[TestEvent], batch: usize) {
    let enc = records(events);
    for chunk in enc.chunks(batch) {
        sink.write_batch(chunk).await.unwrap_or_else(|e| panic!("batch failed: {e}"));
    }
}

/// Retries one batch until it is acknowledged (the driver's job in the agent).
pub async fn write_retrying<S: Storage>(sink: &mut HdfsSink<S>, batch: &[Vec<u8>], deadline: Duration) -> usize {
    let start = std::time::Instant::now();
    let mut failures = 0;
    loop {
        match sink.write_batch(batch).await {
            Ok(()) => return failures,
            Err(SinkError::Retryable(why)) => {
                failures += 1;
                assert!(start.elapsed() < deadline, "batch still failing after {deadline:?}: {why}");
                tokio::time::sleep(Duration::from_millis(250)).await;
                let _ = sink.tick().await;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

// ------------------------------------------------------------------ faults

/// What [`Faulty`] breaks, counted over calls of all its files.
#[derive(Debug, Default)]
pub struct FaultPlan {
    /// Fail the n-th append (0-based) after writing half its bytes.
    pub tear_append: Option<usize>,
    /// Fail the n-th sync (0-based) without syncing.
    pub fail_sync: Option<usize>,
    /// Write half of the n-th append (0-based), then never return.
    pub stall_append: Option<usize>,
    /// Hold the n-th sync (0-based) until the `Notify` is notified.
    pub hold_sync: Option<(usize, Arc<tokio::sync::Notify>)>,
    /// Fail every rename while true.
    pub fail_renames: bool,
    pub appends: usize,
    pub syncs: usize,
}

/// The local storage with failures injected per [`FaultPlan`].
pub struct Faulty {
    pub inner: LocalStorage,
    pub plan: Arc<Mutex<FaultPlan>>,
}

pub struct FaultyWriter {
    inner: LocalWriter,
    plan: Arc<Mutex<FaultPlan>>,
}

fn injected(op: &str, path: &str) -> StorageError {
    StorageError::new(ErrorKind::Other, op, path, "injected failure")
}

impl Storage for Faulty {
    type Writer = FaultyWriter;
    fn url_of(&self, path: &str) -> String {
        self.inner.url_of(path)
    }
    async fn create(&self, path: &str) -> StorageResult<FaultyWriter> {
        Ok(FaultyWriter { inner: self.inner.create(path).await?, plan: Arc::clone(&self.plan) })
    }
    async fn exists(&self, path: &str) -> StorageResult<bool> {
        self.inner.exists(path).await
    }
    async fn len(&self, path: &str) -> StorageResult<u64> {
        self.inner.len(path).await
    }
    async fn read_range(&self, path: &str, offset: u64, len: usize) -> StorageResult<Bytes> {
        self.inner.read_range(path, offset, len).await
    }
    async fn rename(&self, from: &str, to: &str) -> StorageResult<()> {
        if self.plan.lock().unwrap().fail_renames {
            return Err(injected("rename", from));
        }
        self.inner.rename(from, to).await
    }
    async fn delete(&self, path: &str) -> StorageResult<()> {
        self.inner.delete(path).await
    }
    async fn read_file(&self, path: &str) -> StorageResult<Vec<u8>> {
        self.inner.read_file(path).await
    }
    async fn list_files(&self, dir: &str) -> StorageResult<Vec<FileEntry>> {
        self.inner.list_files(dir).await
    }
    async fn list_dir(&self, dir: &str) -> StorageResult<Option<Vec<DirEntry>>> {
        self.inner.list_dir(dir).await
    }
    async fn recover_lease(&self, path: &str) -> StorageResult<bool> {
        self.inner.recover_lease(path).await
    }
}

impl StorageWriter for FaultyWriter {
    async fn append(&mut self, data: Bytes) -> StorageResult<()> {
        let (tear, stall) = {
            let mut p = self.plan.lock().unwrap();
            let n = p.appends;
            p.appends += 1;
            (p.tear_append == Some(n), p.stall_append == Some(n))
        };
        if stall {
            self.inner.append(data.slice(..data.len() / 2)).await?;
            std::future::pending::<()>().await;
        }
        if tear {
            self.inner.append(data.slice(..data.len() / 2)).await?;
            return Err(injected("write", "(torn)"));
        }
        self.inner.append(data).await
    }
    async fn sync(&mut self) -> StorageResult<()> {
        let (fail, hold) = {
            let mut p = self.plan.lock().unwrap();
            let n = p.syncs;
            p.syncs += 1;
            let hold = p.hold_sync.as_ref().filter(|(at, _)| *at == n).map(|(_, release)| Arc::clone(release));
            (p.fail_sync == Some(n), hold)
        };
        if let Some(release) = hold {
            release.notified().await;
        }
        if fail {
            return Err(injected("sync", "(file)"));
        }
        self.inner.sync().await
    }
    async fn close(&mut self) -> StorageResult<()> {
        self.inner.close().await
    }
}
