//! Product-level tests: deployment files (`tests/deploy.rs`), the whole
//! pipeline end to end (`tests/pipeline.rs`) and the dashboard following it
//! in a browser (`tests/dashboard.rs`), on the harness of [`pipeline`].
//! [`configs`] makes single-binary configurations from conf/.
//! [`oracle`] computes what the
//! pipeline must produce from the raw log files alone, without any of the
//! project's own parsing or aggregation code, so that a bug shared by the
//! agents and the jobs cannot hide behind itself.

#![deny(missing_docs)]

pub mod configs;
pub mod oracle;
pub mod pipeline;
