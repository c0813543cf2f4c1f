//! The HDFS sink: the batch layer's master copy, as Avro object container
//! files partitioned by event time, on HDFS (`hdfs://`, through
//! `hdfs-native`) or a local disk (`file://`, same layout).
//!
//! The layout, file names, container format and storage back ends are the
//! master copy's, shared with the batch job: `lib/master-copy`
//! ([`clickstream_master_copy`]). This module holds the sink's policy only:
//! which file an event goes to, when files roll, how batches are grouped,
//! synced and acknowledged, and crash recovery.
//!
//! The batch job's `source.url` is the sink's `url` plus the template's
//! fixed part: `hdfs://nn:8020` + `/clickstream/master/…` is read as
//! `hdfs://nn:8020/clickstream/master`; `file:///var/lib` as
//! `file:///var/lib/clickstream/master`. A day is complete for the batch job
//! once no `.avro.tmp` is left under `date=D` (files close at the latest
//! `roll_idle` after their last event) and its grace period has passed.
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
//! - [`config`] — `[sinks.hdfs]` and its validation into [`HdfsSinkSettings`]
//! - [`recovery`] — finalising `.tmp` files nobody writes any more
//! - [`sink`] — [`HdfsSink`], the [`BatchSink`](super::BatchSink)
//! - [`stats`] — metrics

pub mod config;
pub mod recovery;
pub mod sink;
pub mod stats;

pub use config::{Codec, HdfsSinkConfig, HdfsSinkSettings};
pub use sink::{HdfsFailure, HdfsSink, HdfsTask, RecoveryReport};
pub use stats::HdfsSinkStats;
