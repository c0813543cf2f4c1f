//! `sample-logs/` must be exactly what the commands in its README produce.
//!
//! Keep the arguments below in sync with sample-logs/README.md. If a model
//! change alters the output on purpose, regenerate the files with those
//! commands and update the counts in the README.

use std::path::PathBuf;
use std::process::Command;

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sample-logs")
}

const COMMON: &[&str] = &[
    "--population-seed",
    "2026",
    "--visitors",
    "1500",
    "--start",
    "2026-11-20T00:00:00Z",
    "--duration",
    "2d",
    "--offset",
    "+0100",
    "--invalid-fraction",
    "0.005",
    "--duplicate-fraction",
    "0.001",
    "--out-of-order-fraction",
    "0.002",
    "--out-of-order-max",
    "2m",
    "--late",
    "3",
];

const WEBLOG1: &[&str] =
    &["--seed", "101", "--lines", "4000", "--ddos", "2026-11-21T19:42:17Z,150,198.51.100.77", "--error-storm", "2026-11-20T15:10:00Z,10,5m"];

const WEBLOG2: &[&str] = &["--seed", "202", "--lines", "4500", "--error-storm", "2026-11-21T10:15:00Z,12,5m"];

fn check(name: &str, args: &[&str]) {
    let path = sample_dir().join(name);
    let Ok(committed) = std::fs::read(&path) else {
        panic!("{} is missing: regenerate it with the command in sample-logs/README.md", path.display());
    };
    let out = Command::new(env!("CARGO_BIN_EXE_loggen")).args(args).args(COMMON).output().expect("run loggen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == committed, "{name} differs from what its README command generates (regenerate it, update the README counts)");
    let readme = std::fs::read_to_string(sample_dir().join("README.md")).unwrap();
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(readme.contains(summary.trim_end()), "README lacks the current summary of {name}:\n{summary}");
}

#[test]
fn weblog1_is_reproducible() {
    check("weblog1.txt", WEBLOG1);
}

#[test]
fn weblog2_is_reproducible() {
    check("weblog2.txt", WEBLOG2);
}
