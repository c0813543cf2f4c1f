//! Why a line was rejected: a stable machine-readable reason plus a message a
//! person can act on. Rejected lines are never dropped: the agents write them,
//! with this reason, to a dead-letter file.

use std::fmt;

/// Stable, machine-readable reasons. The string forms ([`RejectReason::as_str`])
/// appear in dead-letter files and metric labels, so they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Blank line (nothing but white space).
    Empty,
    /// Longer than the configured maximum line length.
    TooLong,
    /// Not valid UTF-8.
    NotUtf8,
    /// The line does not have the shape of the configured log format.
    Unparseable,
    /// The client field is empty or holds characters no address or host name has.
    BadClient,
    /// The timestamp is malformed or names an impossible date or time.
    BadTimestamp,
    /// The status is not a number from 100 to 599.
    BadStatus,
    /// The response size is neither `-` nor a non-negative number.
    BadBytes,
}

impl RejectReason {
    /// Every reason, for metrics that pre-register their labels.
    pub const ALL: [RejectReason; 8] = [
        RejectReason::Empty,
        RejectReason::TooLong,
        RejectReason::NotUtf8,
        RejectReason::Unparseable,
        RejectReason::BadClient,
        RejectReason::BadTimestamp,
        RejectReason::BadStatus,
        RejectReason::BadBytes,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Empty => "empty",
            RejectReason::TooLong => "too_long",
            RejectReason::NotUtf8 => "not_utf8",
            RejectReason::Unparseable => "unparseable",
            RejectReason::BadClient => "bad_client",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::BadStatus => "bad_status",
            RejectReason::BadBytes => "bad_bytes",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected line: reason and explanation. The line itself stays with the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Machine-readable reason.
    pub reason: RejectReason,
    /// What was wrong, where in the line, and what was expected.
    pub message: String,
}

impl Rejection {
    pub(crate) fn new(reason: RejectReason, message: impl Into<String>) -> Rejection {
        Rejection { reason, message: message.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Rejection {}

/// Shortens a field for a message, so a 60 KiB garbage line does not make a 60 KiB message.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}…", &s[..end])
}
