//! `cql-standin`: serve the CQL stand-in (see the library docs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// A local STAND-IN for Cassandra (not Cassandra): an in-memory, single-node
/// CQL native protocol v4 server supporting the statements this project issues.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9042")]
    listen: SocketAddr,
    /// Keep the data in this JSON file: loaded at start, saved every
    /// --snapshot-interval and at shutdown. Without it, data lives in memory only.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Seconds between snapshots (and purges of expired rows).
    #[arg(long, default_value_t = 5)]
    snapshot_interval: u64,
    /// Log JSON objects instead of text lines.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    clickstream_telemetry::init_logging(args.log_json);
    let opts = cql_standin::Options {
        listen: args.listen,
        snapshot: args.snapshot.clone(),
        snapshot_interval: Duration::from_secs(args.snapshot_interval.max(1)),
    };
    let (bound, serve) = cql_standin::start(opts, clickstream_telemetry::shutdown_signal()).await?;
    tracing::warn!(
        listen = %bound,
        snapshot = ?args.snapshot,
        "cql-standin is a STAND-IN for Cassandra, NOT Cassandra: in-memory, single node, CQL native protocol v4, \
         only the statements this project issues (see tools/cql-standin)"
    );
    serve.await;
    tracing::info!("cql-standin stopped");
    Ok(())
}
