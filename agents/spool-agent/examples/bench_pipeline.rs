//! Throughput and peak RSS of the real `spool-agent` binary: generated log
//! files → spool dir → durable channel (fsync per batch) → an acknowledging
//! Flume Avro receiver. Baselines measured in the same run: reading the files
//! and splitting lines (the floor of any agent) and parse + encode alone.
//!
//! ```text
//! cargo build --release -p spool-agent
//! cargo run --release -p spool-agent --example bench_pipeline -- [LINES] [FILES]
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickstream_avro_ipc::flume::{ReceivedEvent, Status};
use clickstream_avro_ipc::server::{serve, BatchHandler, ServerLimits};
use clickstream_logparse::{LineOrigin, Parser};

struct Count(AtomicU64);

impl BatchHandler for Count {
    async fn on_batch(&self, events: Vec<ReceivedEvent>) -> Status {
        self.0.fetch_add(events.len() as u64, Ordering::Relaxed);
        Status::Ok
    }
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lines: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let files: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4);
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = repo.join("target/release/spool-agent");
    assert!(binary.exists(), "build it first: cargo build --release -p spool-agent");

    // Input: generated shop traffic, `files` files.
    let mut total_bytes = 0;
    for f in 0..files {
        let cfg = clickstream_loggen::Config { seed: 1000 + f as u64, lines: (lines / files) as u64, ..Default::default() };
        let mut out = std::io::BufWriter::new(std::fs::File::create(input.join(format!("access-{f}.log"))).unwrap());
        clickstream_loggen::Generator::new(cfg).unwrap().write_all(&mut out).unwrap();
        out.flush().unwrap();
        total_bytes += std::fs::metadata(input.join(format!("access-{f}.log"))).unwrap().len();
    }
    let total_lines = (lines / files * files) as u64;

    // Baseline 1: read and split lines.
    let t = Instant::now();
    let mut n = 0u64;
    for f in 0..files {
        let data = std::fs::read(input.join(format!("access-{f}.log"))).unwrap();
        n += memchr::memchr_iter(b'\n', &data).count() as u64;
    }
    let read_rate = n as f64 / t.elapsed().as_secs_f64();
    // Baseline 2: parse + validate + encode, one thread.
    let parser = Parser::default();
    let t = Instant::now();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut accepted = 0u64;
    for f in 0..files {
        let data = std::fs::read(input.join(format!("access-{f}.log"))).unwrap();
        let mut offset = 0u64;
        for line in data.split(|b| *b == b'\n') {
            let origin = LineOrigin { source_host: "bench", source_file: "f", file_fingerprint: "fp", byte_offset: offset };
            if let Ok(e) = parser.parse_event(line, &origin) {
                buf.clear();
                e.encode_datum(&mut buf);
                accepted += 1;
            }
            offset += line.len() as u64 + 1;
        }
    }
    let parse_rate = total_lines as f64 / t.elapsed().as_secs_f64();

    // The receiver.
    let count = Arc::new(Count(AtomicU64::new(0)));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, Arc::clone(&count), ServerLimits::default(), std::future::pending::<()>()));

    // The agent.
    let spool = root.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = format!(
        "[agent]\nhost = \"bench\"\nstate_dir = \"{}\"\n[source]\nspool_dirs = [\"{}\"]\nquiet_period = \"100ms\"\nbatch_size = 2000\n[channel]\nmin_free_disk_bytes = 0\n[sink]\nreceivers = [{{ address = \"{addr}\" }}]\nbatch_size = 2000\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n[log]\njson = false\n",
        root.path().join("state").display(),
        spool.display()
    );
    std::fs::write(root.path().join("agent.toml"), config).unwrap();
    let mut child =
        std::process::Command::new(&binary).args(["run", "--config"]).arg(root.path().join("agent.toml")).env("RUST_LOG", "warn").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    for f in 0..files {
        let name = format!("access-{f}.log");
        std::fs::rename(input.join(&name), spool.join(&name)).unwrap();
    }
    while count.0.load(Ordering::Relaxed) < accepted {
        std::thread::sleep(Duration::from_millis(20));
        assert!(t.elapsed() < Duration::from_secs(600), "timed out: {} of {accepted}", count.0.load(Ordering::Relaxed));
    }
    // Includes the quiet period (100 ms) before the first file is read.
    let elapsed = t.elapsed().as_secs_f64();
    let rss = peak_rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let agent_rate = total_lines as f64 / elapsed;
    println!("input: {total_lines} lines in {files} files, {:.1} MB", total_bytes as f64 / 1e6);
    println!("baseline read + split lines:        {:>12.0} lines/s", read_rate);
    println!("baseline parse + encode (1 thread): {:>12.0} lines/s", parse_rate);
    println!("spool-agent end to end:             {:>12.0} lines/s  ({elapsed:.2} s, durable channel, fsync per batch)", agent_rate);
    println!("spool-agent / parse+encode:         {:>12.2}", agent_rate / parse_rate);
    println!("spool-agent peak RSS:               {:>9.1} MB", rss as f64 / 1024.0);
}
