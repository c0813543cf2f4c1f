//! The click-event contract shared by every agent and job.
//!
//! One definition of the event travels the whole pipeline, so this crate is the
//! only place that knows its shape:
//!
//! - [`schema`]: the Avro schema files from `schemas/avro/`, embedded at
//!   compile time, and the schema fingerprint used on Kafka.
//! - [`event`]: [`ClickEvent`], the Rust twin of `click_event.avsc`.
//! - [`codec`]: Avro binary datum encoding and decoding of a [`ClickEvent`],
//!   and the single-object framing (`C3 01` + fingerprint + datum) used for
//!   Kafka record values.
//! - [`event_id`]: the deterministic event id that lets every sink
//!   deduplicate, so at-least-once transport never changes a final number.
//! - [`rules`]: what a valid event holds, field by field: the one rulebook
//!   the parser, the fan-out agent and the jobs apply.
//!
//! The codec is written out by hand for speed (the edge agents encode every
//! line); tests prove it byte-identical to `apache-avro`'s generic encoder and
//! to Python's `fastavro` in both directions.
#![deny(missing_docs)]

pub mod codec;
pub mod event;
pub mod event_id;
pub mod rules;
pub mod schema;
pub mod varint;

pub use codec::{DecodeError, RoutingFields, SINGLE_OBJECT_MARKER};

/// The Kafka topic of the events when a configuration names none: where the
/// fan-out agent writes them, where the speed job reads them, and half of
/// the key of the speed job's checkpoint rows that serve looks up.
pub const EVENTS_TOPIC: &str = "clickstream.events";

/// [`EVENTS_TOPIC`] as a serde default (`#[serde(default = "clickstream_contract::events_topic")]`).
pub fn events_topic() -> String {
    EVENTS_TOPIC.into()
}
pub use event::{ClickEvent, IngestMeta};
pub use event_id::EventId;
