//! Seeded, deterministic generator of realistic Apache access-log lines of a
//! web shop, with injectable scenarios and ground truth for tests.
//!
//! Why it exists: the parser, the agents and the speed/batch jobs of the
//! clickstream pipeline need inputs whose *expected results are known* —
//! exactly 150 requests from one address in one second, exactly 12 failures
//! in five minutes, a known share of broken lines — and that are the same on
//! every machine, so a failing test can be replayed byte for byte.
//!
//! * Same [`Config`] (seed included) => byte-identical output everywhere: all
//!   randomness comes from seeded ChaCha8 streams through integer arithmetic
//!   (see `rng`), never from thread-local RNGs or hash-map order.
//! * Every line comes with its [`LineKind`] and, for valid lines, the
//!   [`Event`] a correct parser must read, so tests compute expectations
//!   independently of the parser.
//! * Lines are `Vec<u8>`: some invalid lines are deliberately not UTF-8.
//! * Streaming with constant memory: ten million lines need a few megabytes.
//!
//! ```
//! use clickstream_loggen::{generate, Config, Ddos, LineKind};
//!
//! let start = Config::default().start;
//! let cfg = Config {
//!     seed: 7,
//!     lines: 2_000,
//!     ddos: vec![Ddos { at: start + 3600, count: 150, addr: Some("203.0.113.9".into()) }],
//!     invalid_fraction: 0.01,
//!     ..Config::default()
//! };
//! let lines = generate(cfg).unwrap();
//! assert_eq!(lines.len(), 2_000);
//! let burst = lines.iter().filter(|l| l.kind == LineKind::Ddos).count();
//! assert_eq!(burst, 150);
//! let invalid = lines.iter().filter(|l| !l.kind.is_valid()).count();
//! assert_eq!(invalid, 20);
//! let e = lines.iter().find_map(|l| l.event.as_ref()).unwrap();
//! assert!(e.ts >= start);
//! ```
#![deny(missing_docs)]

mod agents;
mod catalog;
mod config;
mod curve;
mod generator;
mod invalid;
mod item;
mod population;
mod record;
mod reorder;
mod rng;
mod session;
mod summary;
pub mod time;
mod truth;

pub use catalog::{category_of, CATEGORIES, SHOP_ORIGIN};
pub use config::{Config, ConfigError, Ddos, ErrorStorm, Format, NORMAL_MAX_PER_SECOND};
pub use generator::{generate, Generator};
pub use invalid::OVERSIZED_MIN;
pub use summary::{DdosReport, StormReport, Summary};
pub use truth::{Event, GeneratedLine, InvalidKind, LineKind, Request};
