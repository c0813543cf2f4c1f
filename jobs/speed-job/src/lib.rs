//! `speed-job`: the speed layer of the clickstream pipeline.
//!
//! Consumes click events from Kafka in a consumer group and maintains, in
//! event time, DDoS alerts (tumbling windows per client address), server
//! health (sliding windows per web server) and category popularity (sliding
//! windows per category, with a top-N), upserted into Cassandra as the
//! windows change and marked final when they close.
//!
//! Map of the modules, from the pure core outwards:
//! - [`windows`]: window arithmetic; [`aggregates`]: open windows and
//!   per-key aggregates with change tracking; [`partition`]: per-partition
//!   watermarks and resume offsets; [`core`]: the state machine tying them
//!   together (late / already final / duplicate / counted); [`rows`]: the
//!   rows it produces, per partition; [`merge`]: the partitions' shares of
//!   a window combined into the rows readers see.
//! - [`config`]: the TOML file, validated once; [`preflight`]: what
//!   `validate` checks on the machine and, with `--connect`, in the world.
//! - [`schema`]: `schemas/cql` rendered and applied; [`sink`]: prepared
//!   statements, writes, the checkpoint table, the merge of shared windows.
//! - [`source`]: the Kafka consumer (group, assignment from the checkpoint,
//!   idle partitions, lag statistics).
//! - [`metrics`]: Prometheus metrics; [`health`]: what `/health` says; [`job`]: the run loop and its
//!   flush/checkpoint/commit ordering; [`time`]: UTC days.
//!
//! Exactly-once effect across crashes: see `docs/speed-layer.md`.
#![deny(missing_docs)]

pub mod aggregates;
pub mod config;
pub mod core;
pub mod health;
pub mod job;
pub mod merge;
pub mod metrics;
pub mod partition;
pub mod preflight;
pub mod rows;
pub mod schema;
pub mod show;
pub mod sink;
pub mod source;
pub mod time;
pub mod windows;

#[cfg(test)]
#[path = "core_tests.rs"]
mod core_tests;
