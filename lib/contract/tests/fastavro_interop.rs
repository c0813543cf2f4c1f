//! Cross-implementation proof with Python's fastavro (tests/interop/avro_fastavro.py):
//! fastavro decodes what this crate encodes, and this crate decodes what
//! fastavro encodes, single-object framing and fingerprint included.
//!
//! Needs a Python with fastavro: `$CLICKSTREAM_PYTHON`, else `<repo>/.venv/bin/python`
//! (made by `scripts/test`). Without it the test fails and says how to get it.

mod common;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;

use clickstream_contract::{ClickEvent, IngestMeta};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CLICKSTREAM_PYTHON") {
        return p.into();
    }
    let venv = repo().join(".venv/bin/python");
    assert!(venv.exists(), "no Python with fastavro: run `scripts/test` (creates .venv) or set CLICKSTREAM_PYTHON");
    venv
}

fn run_py(args: &[&Path]) {
    let script = repo().join("tests/interop/avro_fastavro.py");
    let schema = repo().join("schemas/avro/click_event.avsc");
    let mode = args[0].to_str().unwrap();
    let out = Command::new(python()).arg(&script).arg(mode).arg(&schema).args(&args[1..]).output().expect("running python");
    assert!(out.status.success(), "fastavro side failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn to_json(e: &ClickEvent<'_>) -> Value {
    json!({
        "event_id": e.event_id, "source_host": e.source_host, "client_addr": e.client_addr,
        "remote_user": e.remote_user, "event_time": e.event_time_ms, "method": e.method,
        "path": e.path, "query": e.query, "protocol": e.protocol, "status": e.status,
        "response_bytes": e.response_bytes, "referrer": e.referrer, "user_agent": e.user_agent,
        "category": e.category,
        "ingest": {"source_file": e.ingest.source_file, "file_fingerprint": e.ingest.file_fingerprint,
                   "byte_offset": e.ingest.byte_offset},
        "raw_line": e.raw_line,
    })
}

fn str_of(v: &Value, k: &str) -> Cow<'static, str> {
    Cow::Owned(v[k].as_str().unwrap_or_else(|| panic!("{k} missing")).to_string())
}

fn opt_of(v: &Value, k: &str) -> Option<Cow<'static, str>> {
    v[k].as_str().map(|s| Cow::Owned(s.to_string()))
}

fn from_json(v: &Value) -> ClickEvent<'static> {
    ClickEvent {
        event_id: str_of(v, "event_id"),
        source_host: str_of(v, "source_host"),
        client_addr: str_of(v, "client_addr"),
        remote_user: opt_of(v, "remote_user"),
        event_time_ms: v["event_time"].as_i64().unwrap(),
        method: str_of(v, "method"),
        path: str_of(v, "path"),
        query: opt_of(v, "query"),
        protocol: str_of(v, "protocol"),
        status: v["status"].as_i64().unwrap() as i32,
        response_bytes: v["response_bytes"].as_i64(),
        referrer: opt_of(v, "referrer"),
        user_agent: opt_of(v, "user_agent"),
        category: str_of(v, "category"),
        ingest: IngestMeta {
            source_file: str_of(&v["ingest"], "source_file"),
            file_fingerprint: str_of(&v["ingest"], "file_fingerprint"),
            byte_offset: v["ingest"]["byte_offset"].as_i64().unwrap(),
        },
        raw_line: str_of(v, "raw_line"),
    }
}

fn frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let n = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(&data[pos + 4..pos + 4 + n]);
        pos += 4 + n;
    }
    out
}

#[test]
fn fastavro_decodes_rust_encoded_events() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, jsonl) = (dir.path().join("events.bin"), dir.path().join("events.jsonl"));
    let mut runner = TestRunner::deterministic();
    let strategy = common::arb_event().prop_map(|mut e| {
        // fastavro turns timestamp-millis into datetime, which spans years 1..9999.
        e.event_time_ms = e.event_time_ms.rem_euclid(4_102_444_800_000);
        e
    });
    let mut events = vec![common::sample_event()];
    events.extend((0..300).map(|_| strategy.new_tree(&mut runner).unwrap().current()));
    let (mut bin_out, mut json_out) = (Vec::new(), String::new());
    for e in &events {
        let mut frame = Vec::new();
        e.encode_single_object(&mut frame);
        bin_out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        bin_out.extend_from_slice(&frame);
        json_out.push_str(&to_json(e).to_string());
        json_out.push('\n');
    }
    std::fs::write(&bin, bin_out).unwrap();
    std::fs::write(&jsonl, json_out).unwrap();
    run_py(&[Path::new("decode"), &bin, &jsonl]);
}

#[test]
fn rust_decodes_fastavro_encoded_events() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, jsonl) = (dir.path().join("events.bin"), dir.path().join("events.jsonl"));
    run_py(&[Path::new("encode"), &bin, &jsonl]);
    let data = std::fs::read(&bin).unwrap();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let expected: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let frames = frames(&data);
    assert_eq!(frames.len(), expected.len());
    assert!(frames.len() >= 300);
    for (frame, want) in frames.iter().zip(&expected) {
        let got = ClickEvent::decode_single_object(frame).unwrap_or_else(|e| panic!("{e} for {want}"));
        assert_eq!(got, from_json(want));
        // And re-encoding gives fastavro's bytes back exactly.
        let mut again = Vec::new();
        got.encode_single_object(&mut again);
        assert_eq!(&again, frame);
    }
}
