//! The batch layer of the clickstream pipeline: daily reports from the HDFS
//! master copy into MySQL.
//!
//! Modules, in the order data flows through them:
//! - [`source`]: the master copy on HDFS or a local disk: listing a day's
//!   `date=…/hour=…` partitions, reading files (the layout, container
//!   format and storage are `lib/master-copy`'s, shared with the fan-out
//!   agent's HDFS sink);
//! - [`decode`]: the nine fields the reports need, decoded in place;
//! - [`pipeline`]: one day read in parallel, each file counted whole or not at all;
//! - [`dedup`], [`intern`] and [`visitors`]: exact deduplication by event id,
//!   values stored once with dense ids, exact visitor counts and visitor sets;
//! - [`aggregate`]: a day's numbers for the four reports and their slices
//!   (per web server, per category, top paths);
//! - [`sink`]: MySQL (diesel): migrations, `batch_runs`, one-transaction day replacement;
//! - [`run`], [`complete`], [`reconcile`], [`output`]: the commands' logic and
//!   what they print (`reconcile` re-reports days whose files changed: late logs);
//! - [`config`], [`cli`], [`error`]: settings, flags, errors and exit codes.
//!
//! Definitions and guarantees are in `docs/batch-layer.md`; the SQL side for
//! analysts in `docs/reporting.md`.
#![deny(missing_docs)]

pub mod aggregate;
pub mod cli;
pub mod complete;
pub mod config;
pub mod decode;
pub mod dedup;
pub mod error;
pub mod intern;
pub mod output;
pub mod pipeline;
pub mod reconcile;
pub mod run;
pub mod sink;
pub mod source;
pub mod textfile;
pub mod visitors;
