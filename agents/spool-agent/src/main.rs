//! `spool-agent`: command-line entry point. Parses flags and dispatches;
//! everything else lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clickstream_telemetry::cli;
use clickstream_telemetry::config::RefusedFile;
use spool_agent::config::{Config, Validated};

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
    /// when valid, 78 with the offending key (and path) otherwise. With
    /// --connect, each receiver also gets the handshake and an empty batch.
    Validate(cli::ValidateArgs),
}

/// How this binary names itself in its error lines.
const PROGRAM: &str = "spool-agent";

fn load(path: &Path) -> Result<Validated, RefusedFile> {
    RefusedFile::check(path, Config::validate)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => cli::validate_command(
            PROGRAM,
            &args,
            load,
            spool_agent::preflight::check_paths,
            |v| Box::pin(spool_agent::preflight::reachable(v)),
            |v| format!("valid (host {}, {} spool dir(s), {} receiver(s))", v.agent.host, v.source.spool_dirs.len(), v.sink.receivers.len()),
        ),
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
