//! Parsing, validation and normalisation of web-server access-log lines.
//!
//! Every line the spool agents read goes through [`Parser::parse`], which
//! either returns a [`ParsedLine`] (normalised: method upper-cased, UTC
//! milliseconds, `-` turned into `None`, category derived) or a [`Rejection`]
//! with a stable machine-readable [`RejectReason`] and a message for people.
//! No line is dropped: callers keep rejected lines in dead-letter files.
//!
//! Modules, in the order a line passes through them:
//! - [`config`]: the `[parser]` table, validated once into a [`Parser`];
//! - `fields`: the hand-written splitter for common/combined lines (custom
//!   formats use a regex with named groups instead);
//! - [`timestamp`]: `dd/Mon/yyyy:HH:MM:SS ±hhmm` and RFC 3339 to UTC millis;
//! - [`request`]: the request line split into method, path, query, protocol;
//! - [`category`]: the category rule;
//! - [`parser`]: validation and normalisation tying the above together,
//!   and the default line limit;
//! - [`reject`]: reasons and messages.
//!
//! Leniency, decided once here: a user agent that lacks only its closing quote
//! at the end of the line is accepted (the rest of the line is intact); a
//! request line that is not `METHOD TARGET [PROTOCOL]` (`-`, scanner garbage)
//! is accepted with method `UNKNOWN`, because the status it got is real.
#![deny(missing_docs)]

pub mod category;
pub mod config;
mod fields;
pub mod parser;
pub mod reject;
pub mod request;
pub mod timestamp;

pub use category::{CategoryConfig, CategoryRule};
pub use config::{ConfigError, FormatName, ParserConfig};
pub use parser::{LineOrigin, ParsedLine, Parser, DEFAULT_MAX_LINE_BYTES};
pub use reject::{RejectReason, Rejection};
