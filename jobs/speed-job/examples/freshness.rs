//! The measuring side of `jobs/speed-job/bench/freshness.sh`: drops access
//! logs into the spool directories of running spool agents at a steady rate
//! and times each drop until its probe line is a row in Cassandra and until
//! the dashboard's stream carries it.
//!
//! ```text
//! drop (rename into a spool dir) ─► spool-agent ─► fanout-agent ─► Kafka ─► speed-job ─► CQL ─► serve ─► SSE
//!    t0                                                                        t_cql ▲            t_sse ▲
//! ```
//!
//! Every drop is one file of `rate × interval / agents` lines with event
//! times of the current second. Its last line is the probe: its URL is
//! `/category/<tag><drop number>/…`, so the parser gives it a category no
//! other line has. The probe is in Cassandra when `category_popularity` has
//! that category in the newest window holding the line (polled every
//! `--poll-ms` with one `SELECT` per window partition still awaited), and
//! on the dashboard when a `popularity` event of `/api/stream` lists it
//! (its `history` holds every category of each 5-minute window). Both are
//! timed from the return of `rename` to the arrival of the answer or event
//! that shows it, on this process's monotonic clock.
//!
//! Prints one markdown table row on stdout and a JSON summary to `--json`.
//!
//! ```text
//! freshness --spool DIR --spool DIR --staging DIR --cql HOST:PORT --keyspace KS --stream http://HOST:PORT/api/stream [--rate 1000] ...
//! ```

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;

#[derive(Parser, Debug)]
struct Args {
    /// A spool directory of a running agent (repeat: drops alternate between them).
    #[arg(long = "spool", required = true)]
    spool: Vec<PathBuf>,
    /// Where files are written before the rename (same file system as the spool directories).
    #[arg(long)]
    staging: PathBuf,
    /// CQL endpoint.
    #[arg(long)]
    cql: String,
    /// The speed job's keyspace.
    #[arg(long)]
    keyspace: String,
    /// serve's stream, e.g. http://127.0.0.1:8080/api/stream.
    #[arg(long)]
    stream: String,
    /// Lines per second over all agents.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Milliseconds between two drops into the same spool directory.
    #[arg(long, default_value_t = 250)]
    interval_ms: u64,
    /// Seconds of dropping that count, after the warm-up.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seconds of dropping first, at the same rate, whose probes are not counted.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Seconds to wait for the last probes after the last drop.
    #[arg(long, default_value_t = 30)]
    drain: u64,
    /// Milliseconds between two CQL polls.
    #[arg(long, default_value_t = 25)]
    poll_ms: u64,
    /// The speed job's popularity slide in milliseconds (window starts are multiples of it).
    #[arg(long, default_value_t = 60_000)]
    slide_ms: i64,
    /// Prefix of the probe categories (lower-case letters and digits).
    #[arg(long, default_value = "fresh")]
    tag: String,
    /// Label of the broker, for the output.
    #[arg(long, default_value = "broker")]
    label: String,
    /// Writes the summary as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Writes one CSV line per probe here (drop number, agent, measured, ms to CQL, ms to the dashboard).
    #[arg(long)]
    csv: Option<PathBuf>,
}

struct Probe {
    category: String,
    /// Start of the newest popularity window holding the probe (ms).
    window: i64,
    agent: usize,
    counted: bool,
    lines: u64,
    dropped: Instant,
    cql: Option<Instant>,
    sse: Option<Instant>,
}

type Probes = Arc<Mutex<Vec<Probe>>>;

/// An access log's time stamp, `10/Oct/2026:13:55:36 +0000`.
fn log_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).expect("a time of this century").format("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

const CATEGORIES: [&str; 8] = ["shoes", "bags", "hats", "books", "toys", "garden", "music", "sport"];

/// One drop: `n` lines of the current second, the probe last. Every line's
/// path carries the drop number, so no two files share a first line (the
/// agents identify a log by it).
fn render(k: u64, n: u64, probe: &str, secs: i64) -> Vec<u8> {
    let ts = log_time(secs);
    let mut out = String::with_capacity(n as usize * 140);
    for j in 0..n {
        let x = k * 7919 + j * 104_729;
        let client = format!("10.{}.{}.{}", 40 + x % 4, x / 4 % 250, x / 1000 % 250);
        let (category, status) = if j + 1 == n { (probe, 200) } else { (CATEGORIES[(x % 8) as usize], if x.is_multiple_of(50) { 404 } else { 200 }) };
        out.push_str(&format!(
            "{client} - - [{ts}] \"GET /category/{category}/item{k}-{j} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (freshness bench)\"\n",
            200 + x % 3000
        ));
    }
    out.into_bytes()
}

/// Drops files on schedule: drop `k` goes to agent `k % agents` at
/// `start + k × interval / agents`, so each agent gets one every interval.
fn dropper(args: &Args, probes: Probes, start: Instant) {
    let agents = args.spool.len() as u64;
    let per_drop = (args.rate * args.interval_ms / 1000 / agents).max(1);
    let step = Duration::from_micros(args.interval_ms * 1000 / agents);
    let warmup = Duration::from_secs(args.warmup);
    let end = Duration::from_secs(args.warmup + args.duration);
    let mut k = 0u64;
    loop {
        let at = step * k as u32;
        if at >= end {
            break;
        }
        if let Some(wait) = (start + at).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let agent = (k % agents) as usize;
        let category = format!("{}{k}", args.tag);
        let t = now_ms();
        let data = render(k, per_drop, &category, t.div_euclid(1000));
        let staging = args.staging.join(format!("a{agent}-{k:06}.part"));
        std::fs::write(&staging, &data).unwrap();
        std::fs::rename(&staging, args.spool[agent].join(format!("access-{k:06}.log"))).unwrap();
        let dropped = Instant::now();
        let window = (t.div_euclid(1000) * 1000).div_euclid(args.slide_ms) * args.slide_ms;
        probes.lock().unwrap().push(Probe { category, window, agent, counted: at >= warmup, lines: per_drop, dropped, cql: None, sse: None });
        k += 1;
    }
}

/// Polls `category_popularity` for the windows of the probes not yet seen there.
/// Returns the number of polls, the time spent in them, and the time polling.
async fn cql_poller(args: &Args, probes: Probes, done: Arc<std::sync::atomic::AtomicBool>) -> (u64, Duration, Duration) {
    let session = SessionBuilder::new().known_node(&args.cql).build().await.expect("CQL session");
    let q = session
        .prepare(format!("SELECT category FROM {}.category_popularity WHERE window_start = ?", args.keyspace))
        .await
        .expect("prepare the popularity read");
    let (mut polls, mut busy, began) = (0u64, Duration::ZERO, Instant::now());
    let mut tick = tokio::time::interval(Duration::from_millis(args.poll_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        let windows: BTreeSet<i64> = probes.lock().unwrap().iter().filter(|p| p.cql.is_none()).map(|p| p.window).collect();
        let t = Instant::now();
        for w in windows {
            let Ok(r) = session.execute_unpaged(&q, (CqlTimestamp(w),)).await else { continue };
            let seen = Instant::now();
            let Ok(rows) = r.into_rows_result() else { continue };
            let cats: BTreeSet<String> = rows.rows::<(String,)>().unwrap().filter_map(|r| r.ok()).map(|r| r.0).collect();
            for p in probes.lock().unwrap().iter_mut().filter(|p| p.window == w && p.cql.is_none()) {
                if cats.contains(&p.category) {
                    p.cql = Some(seen);
                }
            }
        }
        polls += 1;
        busy += t.elapsed();
    }
    (polls, busy, began.elapsed())
}

/// Opens the SSE stream; calls `on_event(name, data)` for each event until it returns false.
fn sse(url: &str, mut on_event: impl FnMut(&str, &str) -> bool) {
    let rest = url.strip_prefix("http://").expect("an http:// stream URL");
    let (hostport, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut conn = TcpStream::connect(hostport).expect("connect to serve");
    conn.set_nodelay(true).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains(" 200"), "stream answered {line:?}");
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        chunked |= line.to_ascii_lowercase().starts_with("transfer-encoding:") && line.to_ascii_lowercase().contains("chunked");
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = Vec::new();
    loop {
        // The next piece of the body.
        chunk.clear();
        if chunked {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                return;
            }
            chunk.resize(size + 2, 0);
            r.read_exact(&mut chunk).unwrap();
            chunk.truncate(size);
        } else {
            let mut b = [0u8; 65536];
            let n = r.read(&mut b).unwrap_or(0);
            if n == 0 {
                return;
            }
            chunk.extend_from_slice(&b[..n]);
        }
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let (mut name, mut data) = ("message".to_string(), String::new());
            for l in text.lines() {
                if let Some(v) = l.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = l.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if !data.is_empty() && !on_event(&name, &data) {
                return;
            }
        }
    }
}

/// Categories listed in a `popularity` event (current window and history).
fn categories(data: &str) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let mut out = BTreeSet::new();
    let windows = v["history"].as_array().into_iter().flatten().chain(v.get("current").filter(|c| !c.is_null()));
    for w in windows {
        for c in w["categories"].as_array().into_iter().flatten() {
            if let Some(s) = c["category"].as_str() {
                out.insert(s.to_string());
            }
        }
    }
    out
}

/// p50, p99 and max (nearest rank) of `v` in ms.
fn stats(mut v: Vec<f64>) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some((rank(0.50), rank(0.99), v[v.len() - 1]))
}

fn fmt(s: Option<(f64, f64, f64)>) -> String {
    s.map_or("– / – / –".into(), |(a, b, c)| format!("{:.0} / {:.0} / {:.0}", a, b, c))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Arc::new(Args::parse());
    std::fs::create_dir_all(&args.staging).unwrap();
    let probes: Probes = Arc::new(Mutex::new(Vec::new()));

    // The dashboard: connected (and its first event in) before the first drop.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sse_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pushes = Arc::new(Mutex::new(Vec::<Instant>::new()));
    {
        let (args, probes, done, pushes) = (args.clone(), probes.clone(), sse_done.clone(), pushes.clone());
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            sse(&args.stream, |name, data| {
                let at = Instant::now();
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
                if name == "popularity" {
                    pushes.lock().unwrap().push(at);
                    let cats = categories(data);
                    for p in probes.lock().unwrap().iter_mut().filter(|p| p.sse.is_none()) {
                        if cats.contains(&p.category) {
                            p.sse = Some(at);
                        }
                    }
                }
                !done.load(std::sync::atomic::Ordering::Relaxed)
            });
        });
    }
    ready_rx.recv_timeout(Duration::from_secs(30)).expect("a first event on the dashboard stream within 30 s");

    let cql_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (args, probes, done) = (args.clone(), probes.clone(), cql_done.clone());
        tokio::spawn(async move { cql_poller(&args, probes, done).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await; // the CQL session is up

    let start = Instant::now();
    {
        let (args, probes) = (args.clone(), probes.clone());
        tokio::task::spawn_blocking(move || dropper(&args, probes, start)).await.unwrap();
    }
    let dropping = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(args.drain);
    while Instant::now() < deadline && probes.lock().unwrap().iter().any(|p| p.cql.is_none() || p.sse.is_none()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cql_done.store(true, std::sync::atomic::Ordering::Relaxed);
    sse_done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (polls, busy, polling) = poller.await.unwrap();

    let probes = probes.lock().unwrap();
    let counted: Vec<&Probe> = probes.iter().filter(|p| p.counted).collect();
    let ms = |t: Option<Instant>, p: &Probe| t.map(|t| t.duration_since(p.dropped).as_secs_f64() * 1000.0);
    let to_cql = stats(counted.iter().filter_map(|p| ms(p.cql, p)).collect());
    let to_sse = stats(counted.iter().filter_map(|p| ms(p.sse, p)).collect());
    let missing_cql = counted.iter().filter(|p| p.cql.is_none()).count();
    let missing_sse = counted.iter().filter(|p| p.sse.is_none()).count();
    let lines: u64 = counted.iter().map(|p| p.lines).sum();
    // Achieved rate: the lines of every counted drop but the last, over the time from the first to the last.
    let rate = match (counted.first(), counted.last()) {
        (Some(a), Some(b)) if counted.len() > 1 => (lines - b.lines) as f64 / b.dropped.duration_since(a.dropped).as_secs_f64(),
        _ => 0.0,
    };
    let all_lines: u64 = probes.iter().map(|p| p.lines).sum();
    let pushes = pushes.lock().unwrap();
    let push_gap = stats(pushes.windows(2).map(|w| w[1].duration_since(w[0]).as_secs_f64() * 1000.0).collect());
    let per_poll = |d: Duration| if polls > 0 { d.as_secs_f64() * 1000.0 / polls as f64 } else { 0.0 };

    if let Some(path) = &args.csv {
        let mut f = std::fs::File::create(path).unwrap();
        writeln!(f, "drop,agent,counted,ms_to_cql,ms_to_dashboard").unwrap();
        for (k, p) in probes.iter().enumerate() {
            let v = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.1}"));
            writeln!(f, "{k},{},{},{},{}", p.agent, p.counted, v(ms(p.cql, p)), v(ms(p.sse, p))).unwrap();
        }
    }
    let per = |s: Option<(f64, f64, f64)>| s.map(|(a, b, c)| serde_json::json!({"p50": a, "p99": b, "max": c}));
    let summary = serde_json::json!({
        "broker": args.label,
        "lines_per_drop": counted.first().map(|p| p.lines),
        "drops_counted": counted.len(),
        "lines_counted": lines,
        "lines_dropped_total": all_lines,
        "rate_target": args.rate,
        "rate_achieved": rate,
        "to_cql_ms": per(to_cql),
        "to_dashboard_ms": per(to_sse),
        "missing_cql": missing_cql,
        "missing_dashboard": missing_sse,
        "cql_polls": polls,
        "cql_poll_ms_target": args.poll_ms,
        "cql_poll_period_ms_mean": per_poll(polling),
        "cql_poll_query_ms_mean": per_poll(busy),
        "dropping_s": dropping.as_secs_f64(),
        "popularity_pushes": pushes.len(),
        "push_gap_ms": per(push_gap),
    });
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary).unwrap()).unwrap();
    }
    eprintln!("{}", serde_json::to_string_pretty(&summary).unwrap());
    let samples =
        |missing: usize| if missing == 0 { format!("{}", counted.len()) } else { format!("{} ({} not seen)", counted.len() - missing, missing) };
    println!("| {} | {:.0} | {} | {} | {} | {} |", args.label, rate, fmt(to_cql), samples(missing_cql), fmt(to_sse), samples(missing_sse));
}
