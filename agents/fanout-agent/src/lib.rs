//! The fan-out agent: receives events from the spool agents over Flume's
//! Avro RPC and writes every event both to Kafka (speed layer) and to the
//! HDFS master copy (batch layer).
//!
//! ```text
//! Avro source ─► replicating selector ─┬─► channel ─► Kafka sink
//!   (source)       (source)            └─► channel ─► HDFS sink
//! ```
//!
//! - [`config`]: the TOML file, validated once;
//! - [`source`]: the Avro source's handler and the replicating selector;
//! - [`records`]: what a channel record is (a `ClickEvent` datum), and the
//!   marker that keeps an earlier agent's channel from being misread;
//! - [`sinks`]: the sink trait, the shared channel driver, Kafka and HDFS;
//! - [`metrics`]: Prometheus metrics;
//! - [`run`]: wiring and the shutdown order.

#![deny(missing_docs)]
pub mod config;
pub mod metrics;
pub mod preflight;
pub mod records;
pub mod run;
pub mod sinks;
pub mod source;
