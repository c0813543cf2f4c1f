//! Shared helpers for the contract tests: random events, and the same event as
//! an `apache_avro::types::Value`, built field by field from the schema's view.

#![allow(dead_code)]

use std::borrow::Cow;

use apache_avro::types::Value;
use clickstream_contract::{ClickEvent, EventId, IngestMeta};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including empty strings and multi-byte characters.
    proptest::string::string_regex("(?s).{0,40}").unwrap()
}

/// Arbitrary events: every optional field both present and absent, extreme numbers.
pub fn arb_event() -> impl Strategy<Value = ClickEvent<'static>> {
    (
        (text(), text(), proptest::option::of(text()), any::<i64>(), text(), text()),
        (proptest::option::of(text()), text(), any::<i32>(), proptest::option::of(any::<i64>())),
        (proptest::option::of(text()), proptest::option::of(text()), text(), text(), text(), any::<i64>(), text()),
    )
        .prop_map(|(a, b, c)| {
            let (host, client, user, time, method, path) = a;
            let (query, protocol, status, bytes) = b;
            let (referrer, agent, category, file, fp, offset, raw) = c;
            ClickEvent {
                event_id: Cow::Owned(EventId::derive(&host, &fp, offset as u64).to_string()),
                source_host: host.into(),
                client_addr: client.into(),
                remote_user: user.map(Cow::Owned),
                event_time_ms: time,
                method: method.into(),
                path: path.into(),
                query: query.map(Cow::Owned),
                protocol: protocol.into(),
                status,
                response_bytes: bytes,
                referrer: referrer.map(Cow::Owned),
                user_agent: agent.map(Cow::Owned),
                category: category.into(),
                ingest: IngestMeta { source_file: file.into(), file_fingerprint: fp.into(), byte_offset: offset },
                raw_line: raw.into(),
            }
        })
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn opt(v: Option<Value>) -> Value {
    match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(v)),
    }
}

/// The event as apache-avro's generic value, written independently of the codec.
pub fn to_value(e: &ClickEvent<'_>) -> Value {
    Value::Record(vec![
        ("event_id".into(), s(&e.event_id)),
        ("source_host".into(), s(&e.source_host)),
        ("client_addr".into(), s(&e.client_addr)),
        ("remote_user".into(), opt(e.remote_user.as_deref().map(s))),
        ("event_time".into(), Value::TimestampMillis(e.event_time_ms)),
        ("method".into(), s(&e.method)),
        ("path".into(), s(&e.path)),
        ("query".into(), opt(e.query.as_deref().map(s))),
        ("protocol".into(), s(&e.protocol)),
        ("status".into(), Value::Int(e.status)),
        ("response_bytes".into(), opt(e.response_bytes.map(Value::Long))),
        ("referrer".into(), opt(e.referrer.as_deref().map(s))),
        ("user_agent".into(), opt(e.user_agent.as_deref().map(s))),
        ("category".into(), s(&e.category)),
        (
            "ingest".into(),
            Value::Record(vec![
                ("source_file".into(), s(&e.ingest.source_file)),
                ("file_fingerprint".into(), s(&e.ingest.file_fingerprint)),
                ("byte_offset".into(), Value::Long(e.ingest.byte_offset)),
            ]),
        ),
        ("raw_line".into(), s(&e.raw_line)),
    ])
}

/// A realistic event, for fixed-value tests.
pub fn sample_event() -> ClickEvent<'static> {
    let raw = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /category/books?page=2 HTTP/1.1" 200 203023 "http://example.com/" "Mozilla/5.0 \"quoted\"""#;
    ClickEvent {
        event_id: Cow::Owned(EventId::derive("weblog1", "ab12", 0).to_string()),
        source_host: "weblog1".into(),
        client_addr: "83.149.9.216".into(),
        remote_user: None,
        event_time_ms: 1_431_857_103_000,
        method: "GET".into(),
        path: "/category/books".into(),
        query: Some("page=2".into()),
        protocol: "HTTP/1.1".into(),
        status: 200,
        response_bytes: Some(203_023),
        referrer: Some("http://example.com/".into()),
        user_agent: Some("Mozilla/5.0 \"quoted\"".into()),
        category: "books".into(),
        ingest: IngestMeta { source_file: "/spool/a.log".into(), file_fingerprint: "ab12".into(), byte_offset: 0 },
        raw_line: raw.into(),
    }
}
