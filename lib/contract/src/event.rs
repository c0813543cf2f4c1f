//! [`ClickEvent`]: the Rust twin of `schemas/avro/click_event.avsc`.

use std::borrow::Cow;

/// One parsed, validated, normalised access-log line.
///
/// Text fields are [`Cow`] so that the parser can hand out events that borrow
/// from the line it just read (no allocation on the hot path) while decoders
/// and channels can hold owned events ([`ClickEvent::into_owned`]).
/// Field order and meaning follow the schema file; see its `doc` strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickEvent<'a> {
    /// 32 hex digits, see [`crate::EventId`].
    pub event_id: Cow<'a, str>,
    /// The web server the line came from.
    pub source_host: Cow<'a, str>,
    /// Client IP address or host name.
    pub client_addr: Cow<'a, str>,
    /// Authenticated user; `None` for `-`.
    pub remote_user: Option<Cow<'a, str>>,
    /// UTC milliseconds since the Unix epoch.
    pub event_time_ms: i64,
    /// Upper-cased method, or `UNKNOWN`.
    pub method: Cow<'a, str>,
    /// Request target without the query.
    pub path: Cow<'a, str>,
    /// Query string without `?`.
    pub query: Option<Cow<'a, str>>,
    /// Protocol, e.g. `HTTP/1.1`.
    pub protocol: Cow<'a, str>,
    /// HTTP status, 100..=599.
    pub status: i32,
    /// Response size; `None` for `-`.
    pub response_bytes: Option<i64>,
    /// Referer; `None` for `-`, empty, or common log format.
    pub referrer: Option<Cow<'a, str>>,
    /// User-Agent; `None` for `-`, empty, or common log format.
    pub user_agent: Option<Cow<'a, str>>,
    /// Derived category.
    pub category: Cow<'a, str>,
    /// Where the line was read.
    pub ingest: IngestMeta<'a>,
    /// The line as read, without its terminator.
    pub raw_line: Cow<'a, str>,
}

/// Where a line was read: file, stream fingerprint and byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestMeta<'a> {
    /// Path of the spooled file.
    pub source_file: Cow<'a, str>,
    /// Fingerprint of the log stream the line belongs to (hex): XXH3-128 of
    /// the stream's first line, shared by every copy of the log (see
    /// [`crate::event_id`]). The Avro field keeps its name `file_fingerprint`.
    pub file_fingerprint: Cow<'a, str>,
    /// Offset of the line's first byte.
    pub byte_offset: i64,
}

fn own(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

impl ClickEvent<'_> {
    /// Detaches the event from the buffer it borrows from.
    pub fn into_owned(self) -> ClickEvent<'static> {
        ClickEvent {
            event_id: own(self.event_id),
            source_host: own(self.source_host),
            client_addr: own(self.client_addr),
            remote_user: self.remote_user.map(own),
            event_time_ms: self.event_time_ms,
            method: own(self.method),
            path: own(self.path),
            query: self.query.map(own),
            protocol: own(self.protocol),
            status: self.status,
            response_bytes: self.response_bytes,
            referrer: self.referrer.map(own),
            user_agent: self.user_agent.map(own),
            category: own(self.category),
            ingest: IngestMeta {
                source_file: own(self.ingest.source_file),
                file_fingerprint: own(self.ingest.file_fingerprint),
                byte_offset: self.ingest.byte_offset,
            },
            raw_line: own(self.raw_line),
        }
    }

    /// Whether the response counts as a success (status below 400).
    pub fn is_success(&self) -> bool {
        self.status < 400
    }
}
