//! `loggen`: write seeded, deterministic Apache access-log lines of a web shop.
//!
//! A thin shell over the `clickstream_loggen` library: parse options into a
//! [`Config`], stream lines to a file or stdout (optionally gzip), and print a
//! summary of what was injected to stderr.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use clickstream_loggen::time::{parse_duration, parse_rfc3339, UtcOffset};
use clickstream_loggen::{Config, Ddos, ErrorStorm, Format, Generator};

/// Line layout (Apache `LogFormat` nicknames).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    /// `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`
    Combined,
    /// `%h %l %u %t "%r" %>s %b`
    Common,
}

const AFTER_HELP: &str = "\
TIMES AND DURATIONS:
  AT is an RFC 3339 time (2026-11-21T14:00:00Z) or an offset from --start (+38h, +1d14h).
  Durations: 2d, 36h, 5m, 1h30m, 90s (or a bare number of seconds).

GUARANTEES:
  Same options (seed included) => byte-identical output on every machine.
  A --ddos burst is exactly COUNT lines from ADDR stamped with the same second; no
  normal traffic comes from ADDR, and normal traffic of one visitor stays at or
  below 20 requests/s.
  An --error-storm is exactly COUNT responses with status 5xx spread over
  [AT, AT+WINDOW); normal traffic answers 200 from AT-WINDOW to AT+2*WINDOW, so every
  window of that length contains at most COUNT failures.
  Fractions are rounded to exact counts of --lines (out-of-order is best effort:
  the summary tells how many were realised). A summary of every injected kind is
  printed to stderr.

EXAMPLES:
  loggen --seed 42 --lines 100000 --start 2026-11-20T00:00:00Z --duration 2d --visitors 2000
  loggen --lines 5000 --ddos +14h3m7s,150 --error-storm +30h,12,5m --invalid-fraction 0.005 \\
         --duplicate-fraction 0.001 --out-of-order-fraction 0.002 --late 3 --offset +0200 -o web1.log
  loggen --lines 10000000 --gzip -o big.log.gz";

/// Generate realistic, deterministic Apache access-log lines of a web shop,
/// with injectable DDoS bursts, error storms, out-of-order, late, duplicate
/// and invalid lines.
#[derive(Debug, Parser)]
#[command(name = "loggen", version, after_help = AFTER_HELP)]
struct Args {
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Exact number of lines to write (injected lines included).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    lines: u64,

    /// First second of the span (RFC 3339; a missing zone means UTC).
    #[arg(long, default_value = "2026-11-20T00:00:00Z", value_parser = parse_rfc3339, value_name = "TIME")]
    start: i64,

    /// Length of the span; every event time is in [start, start+duration).
    #[arg(long, default_value = "2d", value_parser = parse_duration, value_name = "DURATION")]
    duration: u64,

    /// Number of distinct visitors (client addresses) of normal traffic.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    visitors: u32,

    /// Seed of the visitor population (default: --seed). Give the web servers of
    /// one shop the same population seed and different --seed values so they
    /// share visitors.
    #[arg(long, value_name = "SEED")]
    population_seed: Option<u64>,

    /// Inject a DDoS burst: COUNT requests from ADDR within the second AT
    /// (ADDR defaults to an address picked from the seed). Repeatable.
    #[arg(long, value_name = "AT,COUNT[,ADDR]")]
    ddos: Vec<String>,

    /// Inject an error storm: COUNT 5xx responses within [AT, AT+WINDOW). Repeatable.
    #[arg(long, value_name = "AT,COUNT,WINDOW")]
    error_storm: Vec<String>,

    /// Share of invalid lines (truncated, garbage, bad timestamp, bad status, invalid UTF-8).
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    invalid_fraction: f64,

    /// Share of lines repeating the previous normal line verbatim.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    duplicate_fraction: f64,

    /// Share of lines written after a newer neighbour (swapped).
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    out_of_order_fraction: f64,

    /// Largest time gap between a swapped line and its newer neighbour.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    out_of_order_max: u64,

    /// Number of late lines (time far behind the lines before them).
    #[arg(long, default_value_t = 0, value_name = "COUNT")]
    late: u64,

    /// How far behind the newest line written a late line's time is.
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    late_by: u64,

    /// Number of lines longer than 64 KiB (invalid; on top of --invalid-fraction).
    #[arg(long, default_value_t = 0, value_name = "N")]
    huge_lines: u64,

    /// Share of normal requests answered with something other than 200 (304/301/404/500/503).
    #[arg(long, default_value_t = 0.08, value_name = "F")]
    non_200_fraction: f64,

    /// Share of normal lines that are Apache's valid request-less `"-" 408` lines.
    #[arg(long, default_value_t = 0.002, value_name = "F")]
    no_request_fraction: f64,

    /// UTC offset the server writes local time in, e.g. +0200 (the day/night curve follows it).
    #[arg(long, default_value = "+0000", allow_hyphen_values = true, value_parser = parse_offset, value_name = "±HHMM")]
    offset: UtcOffset,

    /// Line layout.
    #[arg(long, value_enum, default_value = "combined")]
    format: FormatArg,

    /// Output file, or - for stdout.
    #[arg(short, long, default_value = "-", value_name = "FILE|-")]
    output: PathBuf,

    /// Gzip the output (fast level 1, deterministic header, pure-Rust deflate).
    #[arg(long)]
    gzip: bool,

    /// Do not print the summary to stderr.
    #[arg(short, long)]
    quiet: bool,

    /// Also print elapsed time and lines per second to stderr.
    #[arg(long)]
    timing: bool,
}

fn parse_offset(s: &str) -> Result<UtcOffset, String> {
    s.parse()
}

impl Args {
    fn config(&self) -> Result<Config> {
        let ddos = self.ddos.iter().map(|s| Ddos::parse(s, self.start)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
        let error_storms =
            self.error_storm.iter().map(|s| ErrorStorm::parse(s, self.start)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
        Ok(Config {
            seed: self.seed,
            lines: self.lines,
            start: self.start,
            duration_secs: self.duration,
            visitors: self.visitors,
            population_seed: self.population_seed,
            offset: self.offset,
            format: match self.format {
                FormatArg::Combined => Format::Combined,
                FormatArg::Common => Format::Common,
            },
            ddos,
            error_storms,
            invalid_fraction: self.invalid_fraction,
            duplicate_fraction: self.duplicate_fraction,
            out_of_order_fraction: self.out_of_order_fraction,
            out_of_order_max_secs: self.out_of_order_max,
            late: self.late,
            late_by_secs: self.late_by,
            huge_lines: self.huge_lines,
            non_200_fraction: self.non_200_fraction,
            no_request_fraction: self.no_request_fraction,
        })
    }
}

fn run(args: &Args) -> Result<()> {
    let mut generator = Generator::new(args.config()?)?;
    let to_stdout = args.output.as_os_str() == "-";
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(io::stdout().lock())
    } else {
        let file = File::create(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
        Box::new(file)
    };
    let sink = BufWriter::with_capacity(1 << 20, sink);
    let started = Instant::now();
    let summary = if args.gzip {
        let mut gz = flate2::write::GzEncoder::new(sink, flate2::Compression::fast());
        let summary = generator.write_all(&mut gz)?;
        gz.finish()?.flush()?;
        summary
    } else {
        generator.write_all(sink)?
    };
    let elapsed = started.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!("{summary}");
    }
    if args.timing {
        eprintln!("  elapsed          {elapsed:.3} s ({:.0} lines/s)", summary.lines as f64 / elapsed.max(1e-9));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<io::Error>().map(|e| e.kind()) == Some(io::ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS // e.g. `loggen | head`
        }
        Err(e) => {
            eprintln!("loggen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
