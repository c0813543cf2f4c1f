//! Fuzz targets: one function per decoder of the pipeline that reads bytes
//! from outside (issue 19, point 5).
//!
//! Each function takes arbitrary bytes, runs them through the decoder the way
//! the pipeline does, and asserts what must hold for *any* input. A decoder
//! may refuse input (`Err`), but a panic, an unbounded allocation or a broken
//! invariant is a bug. The functions are shared by the coverage-guided
//! fuzzer (the cargo-afl binaries in `fuzz/`, outside the workspace) and by
//! `tests/corpus.rs`, which replays the committed corpora and every
//! regression input on each `cargo test`, so a fixed crash stays fixed.
//!
//! [`TARGETS`] names them all: the fuzz script, the corpus generator and the
//! replay test iterate over it, so a new target cannot be forgotten by one
//! of them.
#![deny(missing_docs)]

mod avro_ipc;
mod batch;
mod channel;
mod click_event;
mod logline;

pub use avro_ipc::{flume_batch, ipc_request};
pub use batch::{container_file, container_partition};
pub use channel::wal_segment;
pub use click_event::click_event;
pub use logline::log_line;

/// A fuzz target: its name (the directory of its corpus) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("ipc_request", ipc_request),
    ("flume_batch", flume_batch),
    ("click_event", click_event),
    ("log_line", log_line),
    ("container_file", container_file),
    ("wal_segment", wal_segment),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
