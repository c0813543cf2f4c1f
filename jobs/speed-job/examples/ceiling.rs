//! The speed job's own ceiling, without a broker: encoded Kafka record values
//! held in memory go through exactly what the job does per record — decode
//! the single-object Avro value, window + dedup in the core — and every
//! `--flush-every` events the changed rows and the checkpoint are written
//! through the real CQL write path (prepared statements, scylla driver) to a
//! CQL stand-in in this process. Reports events/s, peak RSS and state size.
//!
//! ```text
//! cargo run --release -p speed-job --example ceiling -- [EVENTS] [VISITORS] [FLUSH_EVERY] [EVENT_TIME_SPAN_SECS]
//! ```

use std::time::{Duration, Instant};

use clickstream_contract::ClickEvent;
use clickstream_logparse::{LineOrigin, Parser};
use speed_job::config::Config;
use speed_job::core::{Click, Core, CoreConfig};
use speed_job::sink::{MergeRules, Sink};

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Record values as the fan-out agent writes them, two web servers merged in time order.
fn encoded_events(n: u64, visitors: u32, duration_secs: u64) -> Vec<Vec<u8>> {
    let parser = Parser::default();
    let mut out: Vec<(i64, Vec<u8>)> = Vec::with_capacity(n as usize);
    let hosts = ["weblog1", "weblog2"];
    for (h, host) in hosts.iter().enumerate() {
        let cfg = clickstream_loggen::Config {
            seed: 100 + h as u64,
            lines: n / 2,
            duration_secs,
            visitors,
            population_seed: Some(7),
            ..clickstream_loggen::Config::default()
        };
        let mut offset = 0u64;
        for line in clickstream_loggen::generate(cfg).expect("generator config") {
            let origin = LineOrigin { source_host: host, source_file: "/spool/access.log", file_fingerprint: host, byte_offset: offset };
            offset += line.bytes.len() as u64 + 1;
            if let Ok(e) = parser.parse_event(&line.bytes, &origin) {
                let mut v = Vec::new();
                e.encode_single_object(&mut v);
                v.shrink_to_fit();
                out.push((e.event_time_ms, v));
            }
        }
    }
    out.sort_by_key(|(t, _)| *t); // stable: each server keeps its order
    out.into_iter().map(|(_, v)| v).collect()
}

/// Decode + window + dedup over `values`, draining every `flush_every`
/// events: seconds taken, and the core for its final state.
fn core_only(cfg: CoreConfig, values: &[Vec<u8>], flush_every: usize) -> (f64, Core) {
    let mut core = Core::new(cfg);
    core.assign(&[0]);
    let t0 = Instant::now();
    for (offset, v) in values.iter().enumerate() {
        let e = ClickEvent::decode_single_object(v).expect("decode");
        let c = Click::from_event(&e).expect("id");
        core.process(0, offset as i64, &c);
        if offset % flush_every == flush_every - 1 {
            core.advance(0);
            std::hint::black_box(core.drain());
        }
    }
    (t0.elapsed().as_secs_f64(), core)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).map_or(2_000_000, |s| s.parse().unwrap());
    let visitors: u32 = args.get(2).map_or(20_000, |s| s.parse().unwrap());
    let flush_every: usize = args.get(3).map_or(50_000, |s| s.parse().unwrap());
    let duration_secs: u64 = args.get(4).map_or(4 * 3600, |s| s.parse().unwrap());
    eprintln!("generating {n} events from {visitors} visitors...");
    let values = encoded_events(n, visitors, duration_secs);
    eprintln!("event time spans {duration_secs} s: {:.0} events per second of event time", n as f64 / duration_secs as f64);
    let bytes: usize = values.iter().map(Vec::len).sum();
    let rss_input = rss_kib("VmRSS:");

    let cql = cql_standin::spawn_for_tests().await;
    let toml = format!(
        "[kafka]\nbrokers = \"unused:9092\"\n[cassandra]\ncontact_points = [\"{cql}\"]\nkeyspace = \"bench\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
    );
    let cfg = Config::parse(&toml, "bench").unwrap();
    let sink = Sink::connect(&cfg.cassandra, "bench", "bench").await.expect("sink");

    // 0. Baseline: decode only (what any consumer of these records pays).
    let t0 = Instant::now();
    let mut n_ok = 0usize;
    for v in &values {
        let e = ClickEvent::decode_single_object(v).expect("decode");
        n_ok += std::hint::black_box(Click::from_event(&e)).is_some() as usize;
    }
    let decode_secs = t0.elapsed().as_secs_f64();
    assert_eq!(n_ok, values.len());

    // 1a. Core only, without the recent-ids memory (what it costs).
    let forgetful = CoreConfig { recent_ids: 0, ..CoreConfig::from_config(&cfg) };
    let (forgetful_secs, _) = core_only(forgetful, &values, flush_every);

    // 1. Core only: decode + window + dedup.
    let (core_secs, core) = core_only(CoreConfig::from_config(&cfg), &values, flush_every);
    let core_size = core.state_size();
    let core_stats = core.stats();
    let rss_core = rss_kib("VmRSS:");
    drop(core);

    // 2. The whole path: decode + window + dedup + CQL writes + checkpoint.
    let mut core = Core::new(CoreConfig::from_config(&cfg));
    core.assign(&[0]);
    let rules = MergeRules::from_core(&CoreConfig::from_config(&cfg));
    let mut rows = 0usize;
    let mut write_time = Duration::ZERO;
    let mut peak_keys = 0usize;
    let mut peak_ids = 0usize;
    let t0 = Instant::now();
    for (offset, v) in values.iter().enumerate() {
        let e = ClickEvent::decode_single_object(v).expect("decode");
        let c = Click::from_event(&e).expect("id");
        core.process(0, offset as i64, &c);
        if offset % flush_every == flush_every - 1 || offset + 1 == values.len() {
            let s = core.state_size();
            peak_keys = peak_keys.max(s.open_keys);
            peak_ids = peak_ids.max(s.dedup_ids);
            core.advance(0);
            let u = core.drain();
            let w0 = Instant::now();
            let touched = Core::touched(&u);
            rows += sink.write(&u, &touched, &rules).await.expect("write");
            sink.write_checkpoint(&core.checkpoint()).await.expect("checkpoint");
            rows += sink.merge(&touched, &[0], &rules).await.expect("merge").rows;
            write_time += w0.elapsed();
        }
    }
    let full_secs = t0.elapsed().as_secs_f64();
    let events = values.len() as f64;
    println!("events                      {}", values.len());
    println!("input (encoded values)      {:.1} MiB, {:.0} B/event", bytes as f64 / 1048576.0, bytes as f64 / events);
    println!("baseline: decode only             {:>10.0} events/s", events / decode_secs);
    println!("core only, no recent-ids memory   {:>10.0} events/s", events / forgetful_secs);
    println!("core only (decode+window+dedup)   {:>10.0} events/s", events / core_secs);
    println!(
        "whole path (+CQL writes+checkpoint+merge) {:>8.0} events/s  ({} rows written, {:.2}s of {:.2}s in writes)",
        events / full_secs,
        rows,
        write_time.as_secs_f64(),
        full_secs
    );
    println!("state at the end            {core_size:?}");
    println!("verdicts                    {core_stats:?}");
    println!("peak state                  open (window,key) aggregates {peak_keys}, dedup ids {peak_ids}");
    println!(
        "RSS                         input held {:.0} MiB; after the core-only pass {:.0} MiB (+{:.0} MiB of job state); \
         peak after the whole path {:.0} MiB (incl. the in-process stand-in's tables)",
        rss_input as f64 / 1024.0,
        rss_core as f64 / 1024.0,
        rss_core.saturating_sub(rss_input) as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0
    );
}
