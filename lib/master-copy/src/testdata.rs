//! Events for the crate's unit tests, one builder for every module.

use clickstream_contract::ClickEvent;

/// Event `i` of a test: ids, times, statuses and sizes differ by `i`; the
/// optional fields hold values, so unions are exercised both ways.
pub(crate) fn event(i: i64) -> ClickEvent<'static> {
    ClickEvent {
        event_id: format!("{i:032x}").into(),
        source_host: "web1".into(),
        client_addr: "10.0.0.1".into(),
        remote_user: None,
        event_time_ms: 1_795_132_800_000 + i,
        method: "GET".into(),
        path: "/a".into(),
        query: Some("q=1".into()),
        protocol: "HTTP/1.1".into(),
        status: 200 + i as i32,
        response_bytes: Some(i),
        referrer: None,
        user_agent: Some("UA".into()),
        category: "home".into(),
        ingest: clickstream_contract::IngestMeta { source_file: "f".into(), file_fingerprint: "ff".into(), byte_offset: i },
        raw_line: "line".into(),
    }
}
