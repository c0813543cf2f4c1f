//! The spool agent: one per web server. Replaces Flume's spooling-directory
//! source + file channel + Avro sink, and fixes what Flume users complain
//! about: a modified, reused, empty or binary file never stops the agent.
//!
//! ```text
//! spool dirs ─► source (scan, read, parse) ─► channel (WAL) ─► sink (Avro RPC) ─► fan-out agent
//!                 └─► dead-letter files, quarantine
//! ```
//!
//! - [`config`]: the TOML file, validated once;
//! - [`preflight`]: what `validate` checks on the machine (directories);
//! - [`source`]: the spooling-directory source;
//! - [`sink`]: the Avro forwarder with failover / load balancing;
//! - [`metrics`]: the Prometheus metrics;
//! - [`run`]: wiring and orderly shutdown.

#![deny(missing_docs)]
pub mod config;
pub mod metrics;
pub mod preflight;
pub mod run;
pub mod sink;
pub mod source;
