//! `speed-job`: command line. Parses flags and dispatches; everything else
//! is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clickstream_telemetry::cli;
use speed_job::config::Config;

/// The speed layer: event-time DDoS, server-health and popularity windows
/// from Kafka into Cassandra.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the job until SIGTERM/SIGINT (then flush, checkpoint and commit).
    Run {
        /// TOML configuration (see conf/speed-job.toml).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration and this machine (the metrics address free):
    /// exit 0 if valid, 78 naming the offending key if not. With --connect,
    /// the topic's partitions are read and Cassandra is asked.
    Validate(cli::ValidateArgs),
    /// Print the speed views (alerts, top categories, late events) as tables.
    Show {
        /// TOML configuration (its `[cassandra]` table is used).
        #[arg(long, short)]
        config: PathBuf,
        /// How many categories to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Print the CQL schema rendered for a configuration (for cqlsh).
    Schema {
        /// TOML configuration.
        config: PathBuf,
    },
}

/// How this binary names itself in its error lines.
const PROGRAM: &str = "speed-job";

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
            speed_job::preflight::check,
            |cfg| Box::pin(speed_job::preflight::reachable(cfg)),
            |_| "ok".into(),
        ),
        Command::Schema { config } => match load(&config) {
            Ok(cfg) => {
                for stmt in speed_job::schema::statements(&speed_job::schema::render(&cfg.cassandra)) {
                    println!("{stmt};\n");
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Show { config, top } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("speed-job: starting the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(speed_job::show::render(&cfg, top)) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("speed-job show: reading keyspace {} at {}: {e}", cfg.cassandra.keyspace, cfg.cassandra.contact_points.join(","));
                    ExitCode::FAILURE
                }
            }
        }
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
            match rt.block_on(speed_job::job::run(cfg, clickstream_telemetry::shutdown_signal())) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "speed-job failed");
                    eprintln!("speed-job: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
