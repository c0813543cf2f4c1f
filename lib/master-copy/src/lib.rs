//! The HDFS master copy, in one place: the batch layer's input, written by
//! the fan-out agent's HDFS sink and read by the batch job.
//!
//! # Layout
//!
//! ```text
//! <root>/date=YYYY-MM-DD/hour=HH/<prefix>-<first_event_ms>-<seq>.avro       closed: read these
//! <root>/date=YYYY-MM-DD/hour=HH/_<prefix>-<first_event_ms>-<seq>.avro.tmp  being written
//! ```
//!
//! UTC event time decides the partition ([`layout`]); names say what a file
//! is ([`names`]): the `_` of files in use hides them from Hive, Spark and
//! Trino, not from the batch job, which waits for them.
//!
//! # File format
//!
//! Each file is an Avro 1.x object container file ([`container`]), readable
//! by any Avro implementation (Java `DataFileReader`, fastavro,
//! `apache_avro::Reader`; the tests read every file back with the latter):
//!
//! - header: magic `Obj\x01`; metadata map with `avro.schema` = the exact
//!   text of `schemas/avro/click_event.avsc` and `avro.codec` = `deflate`
//!   (default), `snappy` or `null` ([`codec`]); a random 16-byte sync marker
//!   per file;
//! - then one block per batch (per file the batch touched): record count,
//!   byte size, the records, the file's sync marker. Each record is one
//!   `ClickEvent` Avro binary datum, the Flume event body as received;
//! - the same event may appear more than once (in one file or several)
//!   after retries or a crash: transport is at-least-once and the batch job
//!   deduplicates by `event_id`. It is never missing once acknowledged.
//!
//! Files written with an earlier or later compatible schema are read through
//! Avro's schema resolution ([`schema`]).
//!
//! # Storage
//!
//! [`storage`]: HDFS (`hdfs://`, through `hdfs-native`, no JVM) or a local
//! directory (`file://`, same layout) behind one trait.
//!
//! What stays outside: the sink's policy (rolling, grouping, syncing, crash
//! recovery) in `agents/fanout-agent/src/sinks/hdfs/`, and the batch job's
//! pipeline (decoding, deduplication, reports) in `jobs/batch-job`.
#![deny(missing_docs)]

pub mod codec;
pub mod container;
pub mod layout;
pub mod names;
pub mod schema;
pub mod storage;
#[cfg(test)]
mod testdata;

pub use codec::{BlockCompressor, BlockDecompressor, Codec, MAX_BLOCK_BYTES};
