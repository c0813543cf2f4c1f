//! `fanout-agent`: parses flags and dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clickstream_telemetry::cli;
use fanout_agent::config::Config;

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
    /// addresses free): exit 0 when valid, 78 naming the offending key otherwise.
    Validate {
        /// Configuration file.
        config: PathBuf,
        /// Check the file only, not this machine's directories and ports
        /// (a configuration checked away from the machine it is for, e.g. a
        /// container's configuration on the build host).
        #[arg(long, conflicts_with = "connect")]
        config_only: bool,
        /// Also ask each sink's destination something harmless (Kafka
        /// metadata, the HDFS root): exit 69 naming the one that does not
        /// answer within 10 s.
        #[arg(long)]
        connect: bool,
    },
}

/// How this binary names itself in its error lines.
const PROGRAM: &str = "fanout-agent";

fn load(path: &std::path::Path) -> Result<Config, String> {
    Config::load(path)?.validate().map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    // Connection frames come and go on every worker thread: keep the memory
    // that source.max_buffered_bytes bounds the memory the process holds.
    clickstream_telemetry::alloc::pin_mmap_threshold();
    match Cli::parse().command {
        Command::Validate { config, config_only, connect } => match load(&config) {
            Ok(c) => {
                let scope = cli::ValidateScope { config_only, connect };
                let checked =
                    cli::validate_world(PROGRAM, &config, scope, || fanout_agent::preflight::check(&c), || fanout_agent::preflight::reachable(&c));
                if let Err(code) = checked {
                    return code;
                }
                let tls = if c.source.tls.is_some() { " with TLS" } else { "" };
                let reached = if connect { ", every destination answered" } else { "" };
                println!(
                    "{}: valid (instance {}, listening on {}{tls}, sinks: {}{reached})",
                    config.display(),
                    c.agent.instance_id,
                    c.source.listen,
                    c.sinks.names().join(", ")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid configuration: {e}");
                ExitCode::from(cli::EX_CONFIG)
            }
        },
        Command::Run { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("invalid configuration: {e}");
                    return ExitCode::from(cli::EX_CONFIG);
                }
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
