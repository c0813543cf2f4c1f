//! `logcheck`: runs access-log files through the pipeline's parser and reports
//! what it would accept and reject, and why, before the files are spooled.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser as _;
use clickstream_logparse::{Parser, ParserConfig, RejectReason};

/// Check access-log files with the pipeline's parser.
#[derive(clap::Parser)]
#[command(version, about)]
struct Args {
    /// Log files to check (plain text).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Show up to this many rejected lines per file.
    #[arg(long, default_value_t = 5)]
    show_rejected: usize,
    /// How many categories to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

#[derive(Default)]
struct Report {
    lines: usize,
    accepted: usize,
    rejected: BTreeMap<RejectReason, usize>,
    examples: Vec<(u64, String, String)>,
    status_class: BTreeMap<u16, usize>,
    categories: BTreeMap<String, usize>,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
}

fn check(parser: &Parser, data: &[u8], show: usize) -> Report {
    let mut r = Report::default();
    let mut offset = 0u64;
    for line in data.split_inclusive(|b| *b == b'\n') {
        r.lines += 1;
        match parser.parse(line) {
            Ok(p) => {
                r.accepted += 1;
                *r.status_class.entry(p.status / 100).or_default() += 1;
                *r.categories.entry(p.category.into_owned()).or_default() += 1;
                r.first_ms = Some(r.first_ms.map_or(p.event_time_ms, |t| t.min(p.event_time_ms)));
                r.last_ms = Some(r.last_ms.map_or(p.event_time_ms, |t| t.max(p.event_time_ms)));
            }
            Err(rej) => {
                *r.rejected.entry(rej.reason).or_default() += 1;
                if r.examples.len() < show {
                    let text = String::from_utf8_lossy(&line[..line.len().min(120)]).trim_end().to_string();
                    r.examples.push((offset, rej.to_string(), text));
                }
            }
        }
        offset += line.len() as u64;
    }
    r
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis).map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn top(map: &BTreeMap<String, usize>, n: usize) -> Vec<(&String, &usize)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

fn print_table(name: &str, r: &Report, n: usize) {
    println!("== {name}");
    println!("  lines {:>8}   accepted {:>8}   rejected {:>6}", r.lines, r.accepted, r.lines - r.accepted);
    println!("  event time  {} .. {}", time(r.first_ms), time(r.last_ms));
    let classes: Vec<String> = r.status_class.iter().map(|(c, n)| format!("{c}xx {n}")).collect();
    println!("  status      {}", classes.join("   "));
    for (reason, count) in &r.rejected {
        println!("  rejected    {reason:<14} {count}");
    }
    println!("  top categories:");
    for (cat, count) in top(&r.categories, n) {
        println!("    {count:>8}  {cat}");
    }
    for (offset, why, text) in &r.examples {
        println!("  ! offset {offset}: {why}\n      {text}");
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let parser = ParserConfig::default().build()?;
    let mut json = serde_json::Map::new();
    for file in &args.files {
        let mut data = Vec::new();
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut data)).with_context(|| format!("reading {}", file.display()))?;
        let report = check(&parser, &data, args.show_rejected);
        let name = file.display().to_string();
        if args.json {
            json.insert(
                name,
                serde_json::json!({
                    "lines": report.lines, "accepted": report.accepted,
                    "rejected": report.rejected.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect::<BTreeMap<_, _>>(),
                    "status_class": report.status_class.iter().map(|(k, v)| (format!("{k}xx"), *v)).collect::<BTreeMap<_, _>>(),
                    "categories": report.categories,
                    "first_event_ms": report.first_ms, "last_event_ms": report.last_ms,
                }),
            );
        } else {
            print_table(&name, &report, args.top);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(())
}
