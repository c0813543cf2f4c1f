//! `spool-agent`: command-line entry point. Parses flags and dispatches;
//! everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clickstream_telemetry::preflight;
use spool_agent::config::Config;

/// Reads access-log files dropped into spool directories, validates every
/// line, and forwards the events over Flume's Avro RPC through a durable channel.
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
        /// Configuration file (TOML; see conf/spool-agent/weblog1.toml).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Check a configuration file and the directories it names, and exit: 0
    /// when valid, 78 with the offending key (and path) otherwise.
    Validate {
        /// Configuration file.
        config: PathBuf,
        /// Check the file's values only, not the directories (for a
        /// configuration checked away from the machine it is for, e.g. a
        /// container's configuration on the build host).
        #[arg(long, conflicts_with = "connect")]
        config_only: bool,
        /// Also send each receiver the Avro handshake and an empty batch:
        /// exit 69 naming the one that does not answer OK.
        #[arg(long)]
        connect: bool,
    },
}

/// Exit code for configuration errors (sysexits EX_CONFIG, as Vector uses).
const EX_CONFIG: u8 = 78;

fn load(path: &std::path::Path) -> Result<spool_agent::config::Validated, String> {
    Config::load(path)?.validate().map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config, config_only, connect } => match load(&config) {
            Ok(v) => {
                let problems = if config_only { Vec::new() } else { spool_agent::preflight::check_paths(&v) };
                if !problems.is_empty() {
                    for problem in problems {
                        eprintln!("invalid configuration: {}: {problem}", config.display());
                    }
                    return ExitCode::from(EX_CONFIG);
                }
                if connect {
                    let unreachable = preflight::connect_checks(spool_agent::preflight::reachable(&v));
                    for problem in &unreachable {
                        eprintln!("unreachable: {}: {problem}", config.display());
                    }
                    if !unreachable.is_empty() {
                        return ExitCode::from(preflight::EX_UNAVAILABLE);
                    }
                }
                println!(
                    "{}: valid (host {}, {} spool dir(s), {} receiver(s))",
                    config.display(),
                    v.config.agent.host,
                    v.config.source.spool_dirs.len(),
                    v.config.sink.receivers.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid configuration: {e}");
                ExitCode::from(EX_CONFIG)
            }
        },
        Command::Run { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("invalid configuration: {e}");
                    return ExitCode::from(EX_CONFIG);
                }
            };
            clickstream_telemetry::init_logging(cfg.config.log.json);
            let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(spool_agent::run::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
