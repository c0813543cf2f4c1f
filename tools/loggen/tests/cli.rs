//! The `loggen` binary: options, output, summary and errors.

use std::io::Read;
use std::process::{Command, Output};

use clickstream_loggen::{Config, Ddos, ErrorStorm, Generator};

fn loggen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loggen")).args(args).output().expect("run loggen")
}

const START: i64 = 1_795_132_800;

#[test]
fn cli_output_equals_library_output_and_summary_goes_to_stderr() {
    let out = loggen(&[
        "--seed",
        "9",
        "--lines",
        "3000",
        "--visitors",
        "400",
        "--offset",
        "-0530",
        "--ddos",
        "+26h,150,198.51.100.7",
        "--error-storm",
        "2026-11-21T12:00:00Z,12,5m",
        "--invalid-fraction",
        "0.01",
        "--duplicate-fraction",
        "0.002",
        "--late",
        "2",
        "--out-of-order-fraction",
        "0.003",
        "--out-of-order-max",
        "2m",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = Config {
        seed: 9,
        lines: 3000,
        visitors: 400,
        offset: "-0530".parse().unwrap(),
        ddos: vec![Ddos { at: START + 26 * 3600, count: 150, addr: Some("198.51.100.7".into()) }],
        error_storms: vec![ErrorStorm { at: START + 36 * 3600, count: 12, window_secs: 300 }],
        invalid_fraction: 0.01,
        duplicate_fraction: 0.002,
        late: 2,
        out_of_order_fraction: 0.003,
        out_of_order_max_secs: 120,
        ..Config::default()
    };
    let mut expected = Vec::new();
    let summary = Generator::new(cfg).unwrap().write_all(&mut expected).unwrap();
    assert_eq!(out.stdout, expected);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end(), summary.to_string());
    assert!(stderr.contains("150 x 198.51.100.7 at 2026-11-21T02:00:00Z"), "{stderr}");
    assert!(stderr.contains("12 x 5xx in 5m from 2026-11-21T12:00:00Z"), "{stderr}");
}

#[test]
fn gzip_output_decompresses_to_the_plain_output() {
    let dir = std::env::temp_dir().join(format!("loggen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gz = dir.join("out.log.gz");
    let plain = dir.join("out.log");
    let common = ["--lines", "2000", "--seed", "3", "-q"];
    assert!(loggen(&[&common[..], &["--gzip", "-o", gz.to_str().unwrap()]].concat()).status.success());
    assert!(loggen(&[&common[..], &["-o", plain.to_str().unwrap()]].concat()).status.success());
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()).read_to_end(&mut decoded).unwrap();
    assert_eq!(decoded, std::fs::read(&plain).unwrap());
    // Same options, same compressed bytes too.
    let gz2 = dir.join("out2.log.gz");
    assert!(loggen(&[&common[..], &["--gzip", "-o", gz2.to_str().unwrap()]].concat()).status.success());
    assert_eq!(std::fs::read(&gz).unwrap(), std::fs::read(&gz2).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_and_errors_are_clear() {
    let help = loggen(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for opt in [
        "--seed",
        "--lines",
        "--start",
        "--duration",
        "--visitors",
        "--ddos",
        "--error-storm",
        "--invalid-fraction",
        "--duplicate-fraction",
        "--out-of-order-fraction",
        "--late",
        "--huge-lines",
        "--offset",
        "--format",
        "--output",
        "--gzip",
        "EXAMPLES",
    ] {
        assert!(text.contains(opt), "help lacks {opt}");
    }
    let bad = loggen(&["--ddos", "2030-01-01T00:00:00Z,150"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("outside the span"));
    let bad = loggen(&["--error-storm", "+1h,12"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("AT,COUNT,WINDOW"));
    assert!(!loggen(&["--offset", "+2500"]).status.success());
    assert!(!loggen(&["--duration", "2x"]).status.success());
}
