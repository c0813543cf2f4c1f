//! The command line as operators and systemd use it: `--help`, `validate`
//! (exit 78 naming the key), and `run` stopping cleanly on SIGTERM even
//! with a dashboard's event stream open.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn serve(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_serve")).args(args).output().unwrap()
}

#[test]
fn help_lists_the_commands() {
    let out = serve(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["run", "validate", "dashboard"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let out = serve(&["run", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
    assert_eq!(serve(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn validate_accepts_the_example_and_names_the_bad_key() {
    let example = repo_root().join("conf/serve.toml");
    let out = serve(&["validate", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": ok\n"));

    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[speed.health]\nwindow = \"7m\"\nslide = \"1m\"\n", "speed.health.window"),
        ("[mysql]\nurl = \"localhost\"\n", "mysql.url"),
        ("[http]\nlisten = \"127.0.0.1:8080\"\nport = 1\n", "port"),
        ("[stream]\ninterval = \"1ms\"\n", "stream.interval"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = serve(&["validate", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{text}: {err}");
        assert!(err.contains(key), "{text}: {err}");
    }
    let out = serve(&["validate", "/nonexistent/serve.toml"]);
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn sigterm_stops_the_server_with_a_dashboard_connected() {
    let db = TestDb::create();
    let ks = rt().block_on(TestKeyspace::create());
    let s = Serve::start(&db, &ks, "");
    // A dashboard's endless event stream, open.
    let mut stream = TcpStream::connect(s.api).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET /api/stream HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut r = BufReader::new(stream);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    clickstream_testkit::wait_until(Duration::from_secs(10), "the stream client to be counted", || {
        s.service.metric("serve_stream_clients", "") == 1.0
    });
    let started = Instant::now();
    let Serve { service, dir, .. } = s;
    assert_eq!(service.terminate(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    // The stream ended rather than being cut by the kill.
    let mut rest = String::new();
    while r.read_line(&mut rest).unwrap_or(0) > 0 {}
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("SIGTERM received") && log.contains("serve stopped"), "{log}");
    rt().block_on(ks.drop_keyspace());
}
