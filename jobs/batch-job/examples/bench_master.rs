//! Benchmark input: one day of generated traffic as raw log lines (for
//! DuckDB) and as the HDFS master copy (for the batch job).
//!
//! ```text
//! cargo run --release -p batch-job --example bench_master -- \
//!     --lines 10000000 --log /tmp/bench/access.log --master hdfs://127.0.0.1:8020/bench/master
//! ```
//!
//! The traffic comes from `--servers` web servers (`web1`…`web4` by default):
//! each line goes to one of them by a fixed hash of its line number, server k
//! of n getting n+1-k shares (web1 the busiest), and is written to that
//! server's raw log, `--log` with the server's name before the extension
//! (`access.log` → `access.web1.log`, `access.web2.log`, …), so DuckDB knows
//! the server from the file name. Its event carries the same name as
//! `source_host`, with the byte offset in that server's log, as the spool
//! agent sets them. Logs of an earlier run with more servers are not removed.
//!
//! Lines come from `clickstream-loggen` (seeded), go through the real parser
//! (`clickstream-logparse`) and are written as the HDFS sink writes them:
//! Avro container files with the ClickEvent schema, deflate level 6, 64 KiB
//! blocks, per `date=…/hour=…`, rolled at 128 MiB or when the hour ends (the
//! fan-out agent's defaults: `roll_size` 128 MiB, `roll_interval` 1h). Every 100th event is
//! written a second time into a "redelivery" file of its hour, as
//! at-least-once transport would, so the job's deduplication is exercised.
//! Files are built with the master copy's own container writer and storage
//! (`lib/master-copy`, what the HDFS sink uses; apache-avro's `Writer` builds
//! a `Value` per record and would make generation the slowest step); the
//! first file is read back with apache-avro's `Reader` as a cross-check, and
//! bench/run.sh compares the job's results with DuckDB's.
//!
//! With `--input weblog1.txt=web1 --input weblog2.txt=web2` it loads existing
//! logs instead (any days; used for the example results in docs/reporting.md);
//! their lines go to the raw log of their host the same way.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Timelike};
use clap::Parser;
use std::sync::Arc;

use clickstream_contract::schema::CLICK_EVENT_SCHEMA_JSON;
use clickstream_logparse::{LineOrigin, Parser as LogParser};
use clickstream_master_copy::container::{write_header, BlockEncoder};
use clickstream_master_copy::names;
use clickstream_master_copy::storage::{AnyStorage, HdfsOptions, Storage, StorageUrl, StorageWriter};
use clickstream_master_copy::Codec;

#[derive(Parser)]
struct Args {
    /// Lines to generate (all valid, one UTC day).
    #[arg(long, default_value_t = 10_000_000)]
    lines: u64,
    /// Distinct visitors of the generated population.
    #[arg(long, default_value_t = 200_000)]
    visitors: u32,
    /// Raw log output (for DuckDB), one file per web server: the server's
    /// name goes before the extension (`access.log` → `access.web1.log`).
    #[arg(long)]
    log: PathBuf,
    /// Web servers the generated lines come from (`web1`…`webN`; not with `--input`).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    servers: u64,
    /// Master-copy root: hdfs://host:port/path or file:///path.
    #[arg(long)]
    master: String,
    /// The day (UTC).
    #[arg(long, default_value = "2026-11-20")]
    day: chrono::NaiveDate,
    /// Instead of generating: parse these log files (`PATH=HOST`, repeatable)
    /// into the master copy, e.g. the sample logs for docs/reporting.md.
    /// Each host's raw log (see `--log`) then receives its files' concatenation.
    #[arg(long, value_name = "PATH=HOST")]
    input: Vec<String>,
}

/// An Avro object container file being built in memory, the way the HDFS
/// sink builds its files.
struct ContainerFile {
    buf: Vec<u8>,
    encoder: BlockEncoder,
    records: u64,
    sync: [u8; 16],
}

impl ContainerFile {
    fn new(seed: u64) -> Self {
        let mut sync = [0u8; 16];
        sync[..8].copy_from_slice(&seed.to_le_bytes());
        sync[8..].copy_from_slice(&(!seed).to_le_bytes());
        let mut buf = Vec::new();
        write_header(&mut buf, CLICK_EVENT_SCHEMA_JSON, Codec::Deflate, &sync);
        ContainerFile { buf, encoder: BlockEncoder::new(Codec::Deflate, 6), records: 0, sync }
    }

    fn append(&mut self, datum: &[u8]) {
        self.encoder.push(datum);
        self.records += 1;
        if self.encoder.staged_len() >= 64 * 1024 {
            self.flush_block();
        }
    }

    fn flush_block(&mut self) {
        if self.encoder.staged_records() == 0 {
            return;
        }
        self.encoder.finish(&mut self.buf);
        self.buf.extend_from_slice(&self.sync);
    }

    fn finish(mut self) -> Vec<u8> {
        self.flush_block();
        self.buf
    }
}

/// The master copy being written, through the sink's own storage layer.
struct Sink {
    rt: tokio::runtime::Runtime,
    storage: Arc<AnyStorage>,
    base: String,
    pending: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    files: usize,
    bytes: u64,
}

impl Sink {
    fn open(url: &str) -> anyhow::Result<Sink> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let parsed = StorageUrl::parse(url).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        if let StorageUrl::Local { root } = &parsed {
            let _ = std::fs::remove_dir_all(root);
        }
        let (storage, base) = AnyStorage::open(&parsed, &HdfsOptions::default()).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        if let AnyStorage::Hdfs(h) = &storage {
            let _ = rt.block_on(h.client().delete(&base, true));
        }
        Ok(Sink { rt, storage: Arc::new(storage), base, pending: Vec::new(), files: 0, bytes: 0 })
    }

    fn put(&mut self, rel: String, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.files += 1;
        self.bytes += bytes.len() as u64;
        let (storage, path) = (Arc::clone(&self.storage), format!("{}/{rel}", self.base));
        // Written the way the sink does: in use as `_<name>.avro.tmp`, renamed when closed.
        self.pending.push(self.rt.spawn(async move {
            let tmp = names::in_use_of(path.strip_suffix(names::FINAL_SUFFIX).unwrap_or(&path));
            let mut w = storage.create(&tmp).await?;
            for chunk in bytes.chunks(8 << 20) {
                w.append(bytes::Bytes::copy_from_slice(chunk)).await?;
            }
            w.close().await?;
            storage.rename(&tmp, &path).await?;
            Ok(())
        }));
        if self.pending.len() >= 4 {
            let h = self.pending.remove(0);
            self.rt.block_on(h)??;
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<(usize, u64)> {
        for h in std::mem::take(&mut self.pending) {
            self.rt.block_on(h)??;
        }
        Ok((self.files, self.bytes))
    }
}

/// One web server's raw log being written.
struct ServerLog {
    /// `source_host` of its events.
    host: String,
    /// Its path: the `source_file` of generated events.
    file: String,
    /// The `file_fingerprint` of generated events.
    fingerprint: String,
    out: BufWriter<File>,
    lines: u64,
    bytes: u64,
}

impl ServerLog {
    fn create(log: &Path, host: &str) -> anyhow::Result<ServerLog> {
        anyhow::ensure!(!host.is_empty() && !host.contains(['/', '\\']), "host {host:?} cannot be part of a file name");
        let stem = log.file_stem().context("--log needs a file name")?.to_string_lossy();
        let name = match log.extension() {
            Some(ext) => format!("{stem}.{host}.{}", ext.to_string_lossy()),
            None => format!("{stem}.{host}"),
        };
        let path = log.with_file_name(name);
        let out = BufWriter::with_capacity(1 << 20, File::create(&path).with_context(|| format!("creating {}", path.display()))?);
        Ok(ServerLog {
            host: host.to_string(),
            file: path.display().to_string(),
            fingerprint: format!("bench-fingerprint-{host}"),
            out,
            lines: 0,
            bytes: 0,
        })
    }
}

/// The server (index into `0..servers`) of generated line `line`: a fixed
/// hash (splitmix64) of the line number, server k getting `servers - k` shares.
fn server_of(line: u64, servers: u64) -> usize {
    let mut z = line.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let mut r = (z ^ (z >> 31)) % (servers * (servers + 1) / 2);
    for k in 0..servers {
        if r < servers - k {
            return k as usize;
        }
        r -= servers - k;
    }
    unreachable!("r is below the sum of the shares")
}

/// Close a file at this size (the fan-out agent's default `roll_size`).
const ROLL_SIZE: usize = 128 << 20;

/// The files being filled: (date, hour), main file, redelivery file, first event ms, seq.
type Open = ((chrono::NaiveDate, u32), ContainerFile, ContainerFile, i64, u32);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let t0 = std::time::Instant::now();
    let start = args.day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    let cfg = clickstream_loggen::Config {
        seed: 2026,
        lines: args.lines,
        start,
        duration_secs: 86_400,
        visitors: args.visitors,
        ..clickstream_loggen::Config::default()
    };
    if let Some(dir) = args.log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut logs: Vec<ServerLog> = Vec::new();
    let mut inputs: Vec<(Vec<u8>, usize, String)> = Vec::new(); // content, index in `logs`, file
    for spec in &args.input {
        let (path, host) = spec.split_once('=').context("--input takes PATH=HOST")?;
        let server = match logs.iter().position(|l| l.host == host) {
            Some(i) => i,
            None => {
                logs.push(ServerLog::create(&args.log, host)?);
                logs.len() - 1
            }
        };
        inputs.push((std::fs::read(path).with_context(|| format!("reading {path}"))?, server, path.to_string()));
    }
    let mut generator = if inputs.is_empty() { Some(clickstream_loggen::Generator::new(cfg).map_err(|e| anyhow::anyhow!("{e}"))?) } else { None };
    if generator.is_some() {
        for k in 1..=args.servers {
            logs.push(ServerLog::create(&args.log, &format!("web{k}"))?);
        }
    }
    let mut sink = Sink::open(&args.master)?;
    let parser = LogParser::default();
    let mut datum = Vec::new();
    let (mut lines, mut events, mut rejected) = (0u64, 0u64, 0u64);
    let mut current: Option<Open> = None;
    let roll = |sink: &mut Sink,
                (day, hour): (chrono::NaiveDate, u32),
                main: ContainerFile,
                redo: ContainerFile,
                first: i64,
                seq: u32|
     -> anyhow::Result<()> {
        let dir = format!("date={day}/hour={hour:02}");
        if sink.files == 0 {
            let records = main.records;
            let bytes = main.finish();
            let read = apache_avro::Reader::new(&bytes[..])?.map(|r| r.map(|_| ())).collect::<Result<Vec<_>, _>>()?;
            anyhow::ensure!(read.len() as u64 == records, "apache-avro read {} of {records} records back", read.len());
            sink.put(format!("{dir}/bench-a-{first}-{seq}.avro"), bytes)?;
            if redo.records > 0 {
                sink.put(format!("{dir}/bench-retry-{first}-{seq}.avro"), redo.finish())?;
            }
            return Ok(());
        }
        if main.records > 0 {
            sink.put(format!("{dir}/bench-a-{first}-{seq}.avro"), main.finish())?;
        }
        if redo.records > 0 {
            sink.put(format!("{dir}/bench-retry-{first}-{seq}.avro"), redo.finish())?;
        }
        Ok(())
    };
    let mut next_input = 0;
    let (mut content, mut pos, mut input_server, mut source_file, mut fingerprint) = (Vec::new(), 0, 0, String::new(), String::new());
    let mut line = Vec::new();
    loop {
        line.clear();
        let (offset, server);
        if let Some(g) = generator.as_mut() {
            if g.write_next(&mut line).is_none() {
                break;
            }
            server = server_of(lines, args.servers);
            offset = logs[server].bytes;
            lines += 1;
        } else {
            if pos >= content.len() {
                if next_input >= inputs.len() {
                    break;
                }
                let (c, s, f) = std::mem::take(&mut inputs[next_input]);
                fingerprint = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&c));
                (content, pos, input_server, source_file) = (c, 0, s, f);
                next_input += 1;
                continue;
            }
            let end = content[pos..].iter().position(|b| *b == b'\n').map_or(content.len(), |i| pos + i + 1);
            line.extend_from_slice(&content[pos..end]);
            (offset, server) = (pos as u64, input_server);
            pos = end;
            lines += 1;
        }
        let log = &mut logs[server];
        log.out.write_all(&line)?;
        log.lines += 1;
        log.bytes += line.len() as u64;
        let (file, fp) = if generator.is_some() { (&log.file, &log.fingerprint) } else { (&source_file, &fingerprint) };
        let origin = LineOrigin { source_host: &log.host, source_file: file, file_fingerprint: fp, byte_offset: offset };
        match parser.parse_event(&line, &origin) {
            Ok(e) => {
                let t = DateTime::from_timestamp_millis(e.event_time_ms).unwrap();
                anyhow::ensure!(!inputs.is_empty() || t.date_naive() == args.day, "generated an event outside the day: {t}");
                let part = (t.date_naive(), t.hour());
                let rolled = match &current {
                    Some((p, main, ..)) => *p != part || main.buf.len() >= ROLL_SIZE,
                    None => true,
                };
                if rolled {
                    if let Some((p, main, redo, first, seq)) = current.take() {
                        roll(&mut sink, p, main, redo, first, seq)?;
                    }
                    let seq = sink.files as u32;
                    current = Some((part, ContainerFile::new(events), ContainerFile::new(!events), e.event_time_ms, seq));
                }
                let (_, main, redo, ..) = current.as_mut().unwrap();
                datum.clear();
                e.encode_datum(&mut datum);
                main.append(&datum);
                if events % 100 == 0 {
                    redo.append(&datum);
                }
                events += 1;
            }
            Err(_) => rejected += 1,
        }
    }
    if let Some((p, main, redo, first, seq)) = current.take() {
        roll(&mut sink, p, main, redo, first, seq)?;
    }
    for log in &mut logs {
        log.out.flush()?;
    }
    let (files, bytes) = sink.finish()?;
    eprintln!(
        "bench_master: {} lines -> {events} events ({rejected} rejected) + {} redelivered, {files} files, {bytes} bytes in {}, {:.1}s",
        if generator.is_some() { args.lines } else { lines },
        events.div_ceil(100),
        args.master,
        t0.elapsed().as_secs_f64()
    );
    for log in &logs {
        eprintln!("bench_master: {}: {} lines, {} bytes in {}", log.host, log.lines, log.bytes, log.file);
    }
    Ok(())
}
