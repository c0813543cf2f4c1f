//! The HDFS sink: the batch layer's master copy, as Avro object container
//! files partitioned by event time, on HDFS (`hdfs://`, through
//! `hdfs-native`) or a local disk (`file://`, same layout).
//!
//! # Layout
//!
//! ```text
//! <url path><template>/<prefix>-<first_event_ms>-<seq>.avro       closed: read these
//! <url path><template>/<prefix>-<first_event_ms>-<seq>.avro.tmp   being written
//! default template: /clickstream/master/date=%Y-%m-%d/hour=%H/    (UTC event time)
//! ```
//!
//! The batch job's `source.url` is the sink's `url` plus the template's
//! fixed part: `hdfs://nn:8020` + `/clickstream/master/…` is read as
//! `hdfs://nn:8020/clickstream/master`; `file:///var/lib` as
//! `file:///var/lib/clickstream/master`. A day is complete for the batch job
//! once no `.avro.tmp` is left under `date=D` (files close at the latest
//! `roll_idle` after their last event) and its grace period has passed.
//!
//! # File format (the "master copy file format")
//!
//! Each file is an Avro 1.x object container file, readable by any Avro
//! implementation (Java `DataFileReader`, fastavro, `apache_avro::Reader`;
//! the tests read every file back with the latter):
//!
//! - header: magic `Obj\x01`; metadata map with `avro.schema` = the exact
//!   text of `schemas/avro/click_event.avsc` and `avro.codec` = `deflate`
//!   (default), `snappy` or `null`; a random 16-byte sync marker per file;
//! - then one block per batch (per file the batch touched): record count,
//!   byte size, the records, the file's sync marker. The records are the
//!   channel's records verbatim (the Flume event bodies): each is one `ClickEvent` Avro binary datum,
//!   so nothing is re-encoded. `deflate` blocks are raw RFC 1951 (no zlib
//!   header), `snappy` blocks are raw snappy plus the big-endian CRC-32 of
//!   the uncompressed block, as the Avro specification says;
//! - every event is in exactly one directory: the one of its own event time
//!   (and `%{host}`, if the template uses it), whatever batch it came in;
//! - the same event may appear more than once (in one file or several)
//!   after retries or a crash: transport is at-least-once and the batch job
//!   deduplicates by `event_id`. It is never missing once acknowledged.
//!
//! # Durability and crash recovery
//!
//! A batch is acknowledged (`write_batch` returns `Ok`, and only then is it
//! committed out of the channel) after each of its blocks was appended whole
//! and the file synced: `hsync` on HDFS (on the DataNodes' disks, length
//! recorded by the NameNode), `fdatasync` locally. After a failed call a file
//! is never appended to again. So acknowledged blocks are always complete
//! and precede any torn one, and recovery ([`recovery`]) keeps exactly the
//! complete blocks: at start-up for this prefix's leftover `.tmp` files
//! (after HDFS lease recovery, since the dead writer still holds the lease),
//! and at run time for files it gave up on. The file prefix (default: the
//! agent's instance id) must therefore be unique per running agent.
//!
//! # Modules
//!
//! - [`config`] — `[sinks.hdfs]` and its validation
//! - [`path`] — the directory template
//! - [`names`] — file names
//! - [`codec`] — block compression
//! - [`container`] — writing blocks, and scanning files back
//! - [`storage`] — HDFS and local back ends behind one trait
//! - [`recovery`] — finalising `.tmp` files nobody writes any more
//! - [`sink`] — [`HdfsSink`], the [`BatchSink`](super::BatchSink)
//! - [`stats`] — metrics

pub mod codec;
pub mod config;
pub mod container;
pub mod names;
pub mod path;
pub mod recovery;
pub mod sink;
pub mod stats;
pub mod storage;

pub use config::{Codec, HdfsSinkConfig};
pub use sink::{HdfsSink, RecoveryReport};
pub use stats::HdfsSinkStats;
pub use storage::{AnyStorage, Storage, StorageWriter};
