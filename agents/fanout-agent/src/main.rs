//! `fanout-agent`: parses flags and dispatches.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clickstream_telemetry::cli;
use clickstream_telemetry::config::RefusedFile;
use fanout_agent::config::{Config, Validated};

/// Receives events over Flume's Avro RPC and writes every one to Kafka and
/// to the HDFS master copy, through one durable channel per sink.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent until SIGTERM or SIGINT.
    Run {
        /// Configuration file (TOML; see conf/fanout-agent.toml).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Check a configuration file and the machine (directories writable,
    /// addresses free): exit 0 when valid, 78 naming the offending key
    /// otherwise. With --connect, Kafka is asked for metadata and HDFS for
    /// the master copy's root.
    Validate(cli::ValidateArgs),
}

/// How this binary names itself in its error lines.
const PROGRAM: &str = "fanout-agent";

fn load(path: &Path) -> Result<Validated, RefusedFile> {
    RefusedFile::check(path, Config::validate)
}

fn main() -> ExitCode {
    // Connection frames come and go on every worker thread: keep the memory
    // that source.max_buffered_bytes bounds the memory the process holds.
    clickstream_telemetry::alloc::pin_mmap_threshold();
    match Cli::parse().command {
        Command::Validate(args) => {
            let connect = args.connect;
            cli::validate_command(
                PROGRAM,
                &args,
                load,
                fanout_agent::preflight::check,
                |c| Box::pin(fanout_agent::preflight::reachable(c)),
                |c| {
                    let tls = if c.source.tls.is_some() { " with TLS" } else { "" };
                    let reached = if connect { ", every destination answered" } else { "" };
                    format!(
                        "valid (instance {}, listening on {}{tls}, sinks: {}{reached})",
                        c.agent.instance_id,
                        c.source.listen,
                        c.sinks.names().join(", ")
                    )
                },
            )
        }
        Command::Run { config } => {
            let cfg = match cli::load_config(PROGRAM, &config, load) {
                Ok(c) => c,
                Err(code) => return code,
            };
            clickstream_telemetry::init_logging(cfg.log.json);
            let rt = match cli::runtime(PROGRAM) {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(fanout_agent::run::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
