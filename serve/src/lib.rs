//! The serving layer: an HTTP JSON API and a live dashboard over the two
//! views of the lambda architecture — the batch views in MySQL (exact,
//! daily) and the speed views in Cassandra (minutes old). See
//! `docs/serving.md`.
//!
//! | module | job |
//! | --- | --- |
//! | [`config`] | `conf/serve.toml`: parsed, validated once, errors name the key |
//! | [`stores`] | read-only access: [`stores::mysql`] (batch views), [`stores::cql`] (speed views) |
//! | [`api`] | one module per route; parameters checked in [`api::params`], errors in [`api::error`] |
//! | [`stream`] | server-sent events: one poller, changed views pushed to every open dashboard |
//! | [`hub`] | the stream's newest copy of every view and their fan-out, held by [`state`] |
//! | [`dashboard`] | the page at `/`: HTML, JS and CSS embedded in the binary |
//! | [`metrics`] | Prometheus counters and latency histograms by route |
//! | [`server`] | the router joining API, stream and dashboard; start, serve, shut down |
//! | [`preflight`] | what `validate` checks on the machine and, with `--connect`, in the stores |
//! | [`state`], [`time`] | what handlers share; event-time helpers |
#![deny(missing_docs)]

pub mod api;
pub mod config;
pub mod dashboard;
pub mod hub;
pub mod metrics;
pub mod preflight;
pub mod server;
pub mod state;
pub mod stores;
pub mod stream;
pub mod time;
