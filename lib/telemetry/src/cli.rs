//! The command-line scaffolding the long-running binaries share: the exit
//! codes, the checks `validate` runs after the file's values passed, and the
//! runtime `run` serves on. One place, so every binary words a problem the
//! same way and exits with the same code for it.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;

use crate::preflight;

/// A configuration that cannot work: a bad value, or this machine not as
/// it says (sysexits EX_CONFIG, as `vector validate` uses).
pub const EX_CONFIG: u8 = 78;

/// A destination that does not answer `validate --connect` (EX_UNAVAILABLE).
pub use preflight::EX_UNAVAILABLE;

/// `validate`'s arguments, the same in every long-running binary (each
/// binary's subcommand help says what its checks look at).
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Configuration file (TOML).
    pub config: PathBuf,
    /// Check the file's values only, not this machine's directories and
    /// ports (a configuration checked away from the machine it is for, e.g.
    /// a container's on the build host).
    #[arg(long, conflicts_with = "connect")]
    pub config_only: bool,
    /// Also ask every destination something harmless: exit 69 naming each
    /// one that does not answer (within about 10 s).
    #[arg(long)]
    pub connect: bool,
}

impl ValidateArgs {
    /// The checks these flags ask for.
    pub fn scope(&self) -> ValidateScope {
        ValidateScope { config_only: self.config_only, connect: self.connect }
    }
}

/// Which of `validate`'s checks beyond the file's values the flags asked for.
#[derive(Debug, Clone, Copy)]
pub struct ValidateScope {
    /// `--config-only`: the file's values alone, not this machine.
    pub config_only: bool,
    /// `--connect`: every destination asked something harmless too.
    pub connect: bool,
}

/// Runs `machine` (unless `--config-only`), then with `--connect` the
/// `reachable` checks, printing each problem as `program: …: path: problem`.
/// `Err` carries the exit code: [`EX_CONFIG`] for the machine,
/// [`EX_UNAVAILABLE`] for the world. On `Ok` the caller prints its summary.
pub fn validate_world<F: Future<Output = Vec<String>>>(
    program: &str,
    config: &Path,
    scope: ValidateScope,
    machine: impl FnOnce() -> Vec<String>,
    reachable: impl FnOnce() -> F,
) -> Result<(), ExitCode> {
    let report = |what: &str, problems: &[String], code: u8| {
        for problem in problems {
            eprintln!("{program}: {what}: {}: {problem}", config.display());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ExitCode::from(code))
        }
    };
    if !scope.config_only {
        report("invalid configuration", &machine(), EX_CONFIG)?;
    }
    if scope.connect {
        report("unreachable", &preflight::connect_checks(reachable()), EX_UNAVAILABLE)?;
    }
    Ok(())
}

/// Reads the configuration with `load` (the binary's own parse and
/// validation); on failure prints `program: configuration error: …` and
/// gives exit [`EX_CONFIG`], the same in every binary.
pub fn load_config<C, E: fmt::Display>(program: &str, path: &Path, load: impl FnOnce(&Path) -> Result<C, E>) -> Result<C, ExitCode> {
    load(path).map_err(|e| {
        eprintln!("{program}: configuration error: {e}");
        ExitCode::from(EX_CONFIG)
    })
}

/// A check of the world that borrows the configuration it asks about.
pub type Reachable<'a> = Pin<Box<dyn Future<Output = Vec<String>> + 'a>>;

/// The whole `validate` subcommand: [`load_config`], then
/// [`validate_world`] with the binary's `machine` and `reachable` checks,
/// then `<file>: <summary>` and exit 0.
pub fn validate_command<C, E: fmt::Display>(
    program: &str,
    args: &ValidateArgs,
    load: impl FnOnce(&Path) -> Result<C, E>,
    machine: impl FnOnce(&C) -> Vec<String>,
    reachable: impl for<'a> FnOnce(&'a C) -> Reachable<'a>,
    summary: impl FnOnce(&C) -> String,
) -> ExitCode {
    let cfg = match load_config(program, &args.config, load) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    if let Err(code) = validate_world(program, &args.config, args.scope(), || machine(&cfg), || reachable(&cfg)) {
        return code;
    }
    println!("{}: {}", args.config.display(), summary(&cfg));
    ExitCode::SUCCESS
}

/// The runtime `run` serves on: one worker per core (a busy agent uses them;
/// systemd's `CPUQuota=` is the place to limit it).
pub fn runtime(program: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("{program}: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_problems_are_78_world_problems_69_and_config_only_skips_both_machine_checks() {
        let path = Path::new("x.toml");
        let scope = |config_only, connect| ValidateScope { config_only, connect };
        let none = || async { Vec::new() };
        let down = || async { vec!["kafka.brokers b: no answer".to_string()] };
        assert!(validate_world("t", path, scope(false, false), Vec::new, none).is_ok());
        let bad = || vec!["metrics.listen 127.0.0.1:1: in use".to_string()];
        assert_eq!(validate_world("t", path, scope(false, true), bad, down).unwrap_err(), ExitCode::from(EX_CONFIG));
        assert!(validate_world("t", path, scope(true, false), bad, none).is_ok(), "--config-only");
        assert_eq!(validate_world("t", path, scope(true, true), bad, down).unwrap_err(), ExitCode::from(EX_UNAVAILABLE));
    }
}
