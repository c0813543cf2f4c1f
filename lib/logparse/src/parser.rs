//! [`Parser`]: one line in, a validated [`ParsedLine`] or a [`Rejection`] out;
//! and the limit it applies unless configured, [`DEFAULT_MAX_LINE_BYTES`].
//! A parser is built from the `[parser]` table by the `config` module.

use std::borrow::Cow;

use clickstream_contract::{rules, ClickEvent, EventId, IngestMeta};
use regex::Regex;

use crate::category::CategoryRule;
use crate::fields::{split_common_or_combined, unescape, RawFields};
use crate::reject::{excerpt, RejectReason, Rejection};
use crate::request::{parse_request, Request, UNKNOWN_METHOD, UNKNOWN_PART};
use crate::timestamp::{parse_clf, parse_iso8601};

/// The longest line accepted when `parser.max_line_bytes` is not set (and
/// by [`Parser::default`]): 64 KiB, as the spool agent reads.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// The line format a parser was built for.
#[derive(Debug, Clone)]
pub(crate) enum LineFormat {
    Auto,
    Combined,
    Common,
    Regex(Box<Regex>),
}

/// Parses, validates and normalises access-log lines. Built from a
/// `ParserConfig` (the `[parser]` table); cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Parser {
    format: LineFormat,
    category: CategoryRule,
    max_line_bytes: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(LineFormat::Auto, CategoryRule::default(), DEFAULT_MAX_LINE_BYTES)
    }
}

/// A valid line's normalised fields, borrowing from the line where nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    /// Client address or host name, lower-cased.
    pub client_addr: Cow<'a, str>,
    /// Authenticated user, `None` for `-`.
    pub remote_user: Option<Cow<'a, str>>,
    /// UTC epoch milliseconds.
    pub event_time_ms: i64,
    /// Upper-cased method, or `UNKNOWN`.
    pub method: Cow<'a, str>,
    /// Path without query.
    pub path: Cow<'a, str>,
    /// Query without `?`.
    pub query: Option<Cow<'a, str>>,
    /// Protocol.
    pub protocol: Cow<'a, str>,
    /// Status, 100..=599.
    pub status: u16,
    /// Response size, `None` for `-`.
    pub response_bytes: Option<u64>,
    /// Referer, `None` for `-`, empty, or common format.
    pub referrer: Option<Cow<'a, str>>,
    /// User agent, trimmed, `None` for `-`, empty, or common format.
    pub user_agent: Option<Cow<'a, str>>,
    /// Derived category.
    pub category: Cow<'a, str>,
}

/// Where a line was read: what the event id and ingest metadata are made of.
#[derive(Debug, Clone, Copy)]
pub struct LineOrigin<'a> {
    /// The web server / agent name.
    pub source_host: &'a str,
    /// Path of the file as first seen.
    pub source_file: &'a str,
    /// Fingerprint of the log stream (its first line; see
    /// `clickstream_contract::event_id`), part of the event id.
    pub file_fingerprint: &'a str,
    /// Offset of the line's first byte in the (decompressed) stream.
    pub byte_offset: u64,
}

fn reject(reason: RejectReason, message: impl Into<String>) -> Rejection {
    Rejection::new(reason, message)
}

/// `-` and empty mean absent in access logs.
fn present(s: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    s.filter(|v| !v.is_empty() && v != "-")
}

fn trimmed(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) if o.trim().len() == o.len() => Cow::Owned(o),
        Cow::Owned(o) => Cow::Owned(o.trim().to_string()),
    }
}

impl Parser {
    pub(crate) fn new(format: LineFormat, category: CategoryRule, max_line_bytes: usize) -> Parser {
        Parser { format, category, max_line_bytes }
    }

    /// The longest line accepted, in bytes.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Parses one line (with or without its `\n` / `\r\n` terminator).
    pub fn parse<'a>(&'a self, line: &'a [u8]) -> Result<ParsedLine<'a>, Rejection> {
        let text = self.check_text(line)?;
        let raw = match &self.format {
            LineFormat::Regex(re) => regex_fields(re, text)?,
            _ => split_common_or_combined(text).map_err(|why| reject(RejectReason::Unparseable, format!("not a common/combined log line: {why}")))?,
        };
        match self.format {
            LineFormat::Combined if raw.user_agent.is_none() => {
                return Err(reject(RejectReason::Unparseable, "combined format expected, line ends after the size"))
            }
            LineFormat::Common if raw.user_agent.is_some() => {
                return Err(reject(RejectReason::Unparseable, "common format expected, line continues after the size"))
            }
            _ => {}
        }
        self.validate(raw)
    }

    /// Parses a line and builds the event, with its deterministic id.
    pub fn parse_event<'a>(&'a self, line: &'a [u8], origin: &LineOrigin<'a>) -> Result<ClickEvent<'a>, Rejection> {
        let parsed = self.parse(line)?;
        // `parse` succeeded, so the line is UTF-8; strip the terminator as it did.
        let raw_line = strip_terminator(std::str::from_utf8(line).unwrap_or_default());
        Ok(parsed.into_event(raw_line, origin))
    }

    /// Length, terminator, UTF-8 and blank-line checks shared by all formats.
    fn check_text<'a>(&self, line: &'a [u8]) -> Result<&'a str, Rejection> {
        if line.len() > self.max_line_bytes + 2 || strip_terminator_bytes(line).len() > self.max_line_bytes {
            return Err(reject(RejectReason::TooLong, format!("line of {} bytes exceeds max_line_bytes = {}", line.len(), self.max_line_bytes)));
        }
        let text =
            std::str::from_utf8(line).map_err(|e| reject(RejectReason::NotUtf8, format!("invalid UTF-8 at byte {} of the line", e.valid_up_to())))?;
        let text = strip_terminator(text);
        if text.trim().is_empty() {
            return Err(reject(RejectReason::Empty, "blank line"));
        }
        Ok(text)
    }

    fn validate<'a>(&'a self, raw: RawFields<'a>) -> Result<ParsedLine<'a>, Rejection> {
        if !rules::is_client_addr(raw.client) {
            return Err(reject(RejectReason::BadClient, format!("client {} is not an IP address or host name", excerpt(raw.client))));
        }
        let client_addr =
            if raw.client.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(raw.client.to_ascii_lowercase()) } else { Cow::Borrowed(raw.client) };
        let event_time_ms = if raw.time_is_iso8601 { parse_iso8601(raw.time) } else { parse_clf(raw.time) }
            .map_err(|why| reject(RejectReason::BadTimestamp, format!("timestamp {}: {why}", excerpt(raw.time))))?;
        let status = raw
            .status
            .parse::<i64>()
            .ok()
            .filter(|_| raw.status.len() == 3)
            .and_then(rules::status)
            .ok_or_else(|| reject(RejectReason::BadStatus, format!("status {} is not a number from 100 to 599", excerpt(raw.status))))?;
        let response_bytes = match raw.bytes {
            None | Some("-") => None,
            Some(b) => Some(
                b.parse::<u64>()
                    .ok()
                    .filter(|n| *n <= i64::MAX as u64)
                    .ok_or_else(|| reject(RejectReason::BadBytes, format!("response size {} is neither '-' nor a byte count", excerpt(b))))?,
            ),
        };
        let request = match (raw.request, raw.method, raw.path) {
            (Some(r), _, _) => parse_request(r),
            (None, Some(m), Some(p)) => parse_request(Cow::Owned(match raw.protocol {
                Some(proto) if !proto.is_empty() => format!("{m} {p} {proto}"),
                _ => format!("{m} {p}"),
            })),
            _ => parse_request(Cow::Borrowed("-")),
        };
        let Request { method, path, query, protocol } = request;
        let category = if method == UNKNOWN_METHOD && path == UNKNOWN_PART {
            self.category.categorize("/")
        } else {
            match &path {
                Cow::Borrowed(p) => self.category.categorize(p),
                Cow::Owned(p) => Cow::Owned(self.category.categorize(p).into_owned()),
            }
        };
        Ok(ParsedLine {
            client_addr,
            remote_user: present(raw.user.map(Cow::Borrowed)),
            event_time_ms,
            method,
            path,
            query,
            protocol,
            status,
            response_bytes,
            referrer: present(raw.referrer.map(trimmed)),
            user_agent: present(raw.user_agent.map(trimmed)),
            category,
        })
    }
}

impl<'a> ParsedLine<'a> {
    /// The event for this line: fields plus id and ingest metadata.
    pub fn into_event(self, raw_line: &'a str, origin: &LineOrigin<'a>) -> ClickEvent<'a> {
        let id = EventId::of_line(origin.source_host, origin.file_fingerprint, origin.byte_offset, raw_line.as_bytes());
        let id_hex = id.to_hex();
        ClickEvent {
            event_id: Cow::Owned(String::from_utf8_lossy(&id_hex).into_owned()),
            source_host: Cow::Borrowed(origin.source_host),
            client_addr: self.client_addr,
            remote_user: self.remote_user,
            event_time_ms: self.event_time_ms,
            method: self.method,
            path: self.path,
            query: self.query,
            protocol: self.protocol,
            status: i32::from(self.status),
            response_bytes: self.response_bytes.map(|b| b as i64),
            referrer: self.referrer,
            user_agent: self.user_agent,
            category: self.category,
            ingest: IngestMeta {
                source_file: Cow::Borrowed(origin.source_file),
                file_fingerprint: Cow::Borrowed(origin.file_fingerprint),
                byte_offset: origin.byte_offset as i64,
            },
            raw_line: Cow::Borrowed(raw_line),
        }
    }
}

fn strip_terminator(s: &str) -> &str {
    let s = s.strip_suffix('\n').unwrap_or(s);
    s.strip_suffix('\r').unwrap_or(s)
}

fn strip_terminator_bytes(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}

fn regex_fields<'a>(re: &Regex, text: &'a str) -> Result<RawFields<'a>, Rejection> {
    let caps = re.captures(text).ok_or_else(|| reject(RejectReason::Unparseable, "line does not match parser.regex"))?;
    let get = |name: &str| caps.name(name).map(|m| m.as_str());
    let time = get("time").unwrap_or_default();
    Ok(RawFields {
        client: get("client").unwrap_or_default(),
        user: get("user"),
        time_is_iso8601: time.as_bytes().get(4) == Some(&b'-'),
        time,
        request: get("request").map(unescape),
        method: get("method"),
        path: get("path"),
        protocol: get("protocol"),
        status: get("status").unwrap_or_default(),
        bytes: get("bytes"),
        referrer: get("referrer").map(unescape),
        user_agent: get("user_agent").map(unescape),
    })
}
