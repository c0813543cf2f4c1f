//! `cql-standin`: a local STAND-IN for Cassandra. It is not Cassandra.
//!
//! No real Cassandra (or ScyllaDB) can be installed on the project's
//! machines, yet the speed job must be tested against something that speaks
//! the real CQL native protocol to the real `scylla` driver over TCP. This
//! crate is that something: a single-node, in-memory server of the CQL
//! native protocol v4 that supports exactly the statements the project
//! issues — and fails loudly, with an `Invalid` error naming the feature, on
//! anything else. The same tests run against a real cluster when
//! `CASSANDRA_CONTACT_POINTS` is set.
//!
//! Map of the modules, in the order a request flows through them:
//! - [`frame`]: frames and the protocol's primitive notations;
//! - [`server`]: TCP accept loop, connections, request dispatch (STARTUP,
//!   OPTIONS, REGISTER, QUERY, PREPARE, EXECUTE, BATCH), paging;
//! - [`cql`]: the CQL subset: lexer, statements, parser;
//! - [`engine`]: executes statements; [`system`] computes the `system.*`
//!   and `system_schema.*` tables drivers read on connect;
//! - [`schema`] (keyspaces, tables), [`store`] (rows, cells, write
//!   timestamps, TTL), [`types`] (CQL types, ordering, literals);
//! - [`result`]: `RESULT` bodies; [`error`]: `ERROR` codes;
//! - [`snapshot`]: optional JSON persistence.
//!
//! What it does like Cassandra: upserts, last-write-wins by write timestamp,
//! `default_time_to_live` and `USING TTL` (expired cells vanish on read),
//! `TTL()`/`WRITETIME()`, clustering order, ranges on clustering columns,
//! `IN`, `LIMIT`, paging, prepared statements with partition-key indexes,
//! logged/unlogged batches applied atomically, schema agreement.
//! What it does not: replication, consistency levels (a single node
//! satisfies all), counters, lightweight transactions, secondary indexes,
//! materialized views, UDTs, compression, authentication, tombstone
//! semantics beyond last-write-wins of cells.
#![deny(missing_docs)]

pub mod cql;
pub mod engine;
pub mod error;
pub mod frame;
pub mod result;
pub mod schema;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod system;
pub mod types;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use engine::Database;
pub use server::Shared;

/// What [`start`] needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Snapshot file to load at start and save periodically and at shutdown.
    pub snapshot: Option<PathBuf>,
    /// How often to save the snapshot (and purge expired rows).
    pub snapshot_interval: Duration,
}

impl Options {
    /// Listen on `listen`, no snapshot.
    pub fn listen(listen: SocketAddr) -> Options {
        Options { listen, snapshot: None, snapshot_interval: Duration::from_secs(5) }
    }
}

fn host_id(listen: SocketAddr) -> [u8; 16] {
    use std::hash::{Hash, Hasher};
    let mut id = [0u8; 16];
    for (i, chunk) in id.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (i, "cql-standin", listen.port(), std::process::id()).hash(&mut h);
        chunk.copy_from_slice(&h.finish().to_be_bytes());
    }
    id[6] = (id[6] & 0x0F) | 0x40;
    id[8] = (id[8] & 0x3F) | 0x80;
    id
}

/// Binds, loads the snapshot if any, and returns the bound address and a
/// future that serves until `shutdown` resolves (then saves the snapshot).
pub async fn start(
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, impl Future<Output = ()> + Send)> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {} (is another server on that port? choose one with --listen)", opts.listen))?;
    let bound = listener.local_addr()?;
    let mut db = match &opts.snapshot {
        Some(p) => snapshot::load(p)?.unwrap_or_default(),
        None => Database::default(),
    };
    db.set_host_id(host_id(bound));
    let shared = Shared::new(db, opts.snapshot.clone());
    let interval = opts.snapshot_interval;
    let fut = async move {
        let saver = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    persist(&shared);
                }
            })
        };
        server::run(listener, shared.clone(), shutdown).await;
        saver.abort();
        persist(&shared);
    };
    Ok((bound, fut))
}

/// Purges expired rows and saves the snapshot, if configured.
fn persist(shared: &Arc<Shared>) {
    let mut db = shared.db.lock().unwrap_or_else(|p| p.into_inner());
    db.purge_expired(engine::now_ms());
    if let Some(path) = &shared.snapshot {
        if let Err(e) = snapshot::save(&db, path) {
            tracing::error!(error = %e, "saving the snapshot failed");
        }
    }
}

/// Starts a stand-in on `127.0.0.1:0` in the current tokio runtime, for
/// tests: returns its address; it runs until the runtime ends.
pub async fn spawn_for_tests() -> SocketAddr {
    let (addr, fut) = start(Options::listen(([127, 0, 0, 1], 0).into()), std::future::pending()).await.expect("starting cql-standin");
    tokio::spawn(fut);
    addr
}
