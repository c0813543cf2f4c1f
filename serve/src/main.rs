//! `serve`: command line. Parses flags and dispatches; everything else is
//! in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clickstream_telemetry::cli;
use serve::config::Config;

/// The serving layer: HTTP JSON API and live dashboard over the batch
/// views (MySQL) and the speed views (Cassandra).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API and the dashboard until SIGTERM/SIGINT.
    Run {
        /// TOML configuration (see conf/serve.toml). $SERVE_MYSQL_URL and
        /// $SERVE_CASSANDRA_PASSWORD override the secrets in it.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration and this machine (addresses free): exit 0 if
    /// valid, 78 naming the offending key if not. With --connect, MySQL and
    /// Cassandra are pinged.
    Validate(cli::ValidateArgs),
}

/// How this binary names itself in its error lines.
const PROGRAM: &str = "serve";

fn load(path: &Path) -> Result<Config, ExitCode> {
    cli::load_config(PROGRAM, path, Config::load)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => cli::validate_command(
            PROGRAM,
            &args,
            Config::load,
            serve::preflight::check,
            |cfg| Box::pin(serve::preflight::reachable(cfg)),
            |_| "ok".into(),
        ),
        Command::Run { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            clickstream_telemetry::init_logging(cfg.log.json);
            let rt = match cli::runtime(PROGRAM) {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(serve::server::run(cfg, clickstream_telemetry::shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "serve failed");
                    eprintln!("serve: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
