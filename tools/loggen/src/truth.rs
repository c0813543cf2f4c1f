//! Ground truth: what each generated line is, independent of any parser.
//!
//! Tests of the parser and of the jobs compute their expected values from
//! these types (kinds, event times, statuses, categories) instead of from the
//! parser's own output, so a parser bug cannot hide itself.

use std::fmt;

use crate::catalog::category_of;
use crate::time::UnixSeconds;

/// Why a line is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidKind {
    /// A valid line cut before its status field (a writer died mid-line).
    Truncated,
    /// Text that is not an access-log line at all (an error-log line, a JSON
    /// record, a bare request, random words).
    Garbage,
    /// Well-formed except the `[time]` field (`32/Foo/2015`, hour 25, no zone, ISO form, empty).
    BadTimestamp,
    /// Well-formed except the status (`abc`, `999`, `2000`, `20`, `-`, `2OO`).
    BadStatus,
    /// Not UTF-8: binary noise, or a well-formed line with raw invalid bytes in the request target.
    InvalidUtf8,
    /// Longer than 64 KiB (a huge query string); only with `huge_lines`.
    Oversized,
}

impl InvalidKind {
    /// All kinds, in summary order.
    pub const ALL: [InvalidKind; 6] = [
        InvalidKind::Truncated,
        InvalidKind::Garbage,
        InvalidKind::BadTimestamp,
        InvalidKind::BadStatus,
        InvalidKind::InvalidUtf8,
        InvalidKind::Oversized,
    ];

    /// Short lower-case name, as the summary prints it.
    pub fn name(self) -> &'static str {
        match self {
            InvalidKind::Truncated => "truncated",
            InvalidKind::Garbage => "garbage",
            InvalidKind::BadTimestamp => "bad-timestamp",
            InvalidKind::BadStatus => "bad-status",
            InvalidKind::InvalidUtf8 => "invalid-utf8",
            InvalidKind::Oversized => "oversized",
        }
    }
}

/// What a generated line is.
///
/// Every kind except `Invalid` is a valid access-log line with an [`Event`].
/// Ordering guarantee: the lines of kind `Normal`, `Ddos` and `ErrorStorm`, in
/// output order, have non-decreasing event times; `OutOfOrder` lines are older
/// than a line written before them (by at most `out_of_order_max_secs`), and
/// `Late` lines are exactly `late_by_secs` older than the newest line written
/// before them (or at the start of the span, if that is closer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineKind {
    /// Ordinary traffic of the visitor population (including the rare valid
    /// request-less `"-" 408` lines).
    Normal,
    /// Part of an injected DDoS burst.
    Ddos,
    /// Part of an injected error storm (status 5xx).
    ErrorStorm,
    /// A verbatim repeat of the most recent `Normal` or `OutOfOrder` line.
    Duplicate,
    /// Normal traffic whose time is far behind the lines written before it.
    Late,
    /// Normal traffic written after a newer neighbour.
    OutOfOrder,
    /// Not a valid access-log line.
    Invalid(InvalidKind),
}

impl LineKind {
    /// Whether the line is a valid access-log line.
    pub fn is_valid(self) -> bool {
        !matches!(self, LineKind::Invalid(_))
    }

    /// Short lower-case name, as the summary prints it.
    pub fn name(self) -> &'static str {
        match self {
            LineKind::Normal => "normal",
            LineKind::Ddos => "ddos",
            LineKind::ErrorStorm => "error-storm",
            LineKind::Duplicate => "duplicate",
            LineKind::Late => "late",
            LineKind::OutOfOrder => "out-of-order",
            LineKind::Invalid(k) => k.name(),
        }
    }
}

impl fmt::Display for LineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineKind::Invalid(k) => write!(f, "invalid({})", k.name()),
            k => f.write_str(k.name()),
        }
    }
}

/// The request line of an event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// `GET`, `POST` or `HEAD`.
    pub method: &'static str,
    /// Path and query, unescaped (Apache's `\"` read back as `"`).
    pub target: String,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'static str,
}

/// The facts of one valid line, as a correct parser should read them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// Event time, seconds since the epoch, UTC (the line's offset applied).
    pub ts: UnixSeconds,
    /// Client address or host name (`%h`).
    pub client: String,
    /// Authenticated user (`%u`); `None` for `-`.
    pub user: Option<String>,
    /// The request; `None` for Apache's request-less `"-"` line (status 408).
    pub request: Option<Request>,
    /// Final status.
    pub status: u16,
    /// Body bytes; `None` for `-`.
    pub bytes: Option<u64>,
    /// Referrer, unescaped; `None` for `-` and in the common format.
    pub referrer: Option<String>,
    /// User agent, unescaped; `None` for `-` and in the common format.
    pub user_agent: Option<String>,
}

impl Event {
    /// Category of the request by the parser's rule (see [`category_of`]);
    /// `None` for a request-less line.
    pub fn category(&self) -> Option<&str> {
        self.request.as_ref().map(|r| category_of(&r.target))
    }

    /// Whether the response was a success in the narrowest sense (status 200).
    pub fn is_200(&self) -> bool {
        self.status == 200
    }
}

/// One output line with its ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedLine {
    /// The line's bytes, without the trailing newline (not always UTF-8).
    pub bytes: Vec<u8>,
    /// What the line is.
    pub kind: LineKind,
    /// The event a correct parser reads from it; `None` for invalid lines.
    pub event: Option<Event>,
}

impl GeneratedLine {
    /// The line as text, when it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}
