//! What `serve validate` checks beyond the file's values: on this machine,
//! that the API's and the metrics endpoint's addresses are free
//! ([`check`]); with `--connect`, that MySQL and Cassandra answer the same
//! pings `/api/health` sends ([`reachable`]). serve itself starts with a
//! store down (and says so in its health), so `--connect` is the deploy
//! script's way to find a wrong URL or password before users do.

use std::time::Duration;

use clickstream_telemetry::preflight::{answers, listen_free};

use crate::config::Config;
use crate::stores::cql::CqlStore;
use crate::stores::mysql::MysqlStore;

/// Problems with this machine, each naming the key and the address.
pub fn check(cfg: &Config) -> Vec<String> {
    let mut addresses = vec![("http.listen", cfg.http.listen)];
    addresses.extend(cfg.metrics.listen.map(|a| ("metrics.listen", a)));
    addresses.into_iter().filter_map(|(key, addr)| listen_free(addr).err().map(|e| format!("{key} {addr}: {e}"))).collect()
}

/// The stores that do not answer, each naming the key and the error (the
/// MySQL URL's password is never shown). Both are asked at once.
pub async fn reachable(cfg: &Config) -> Vec<String> {
    let within = |t: Duration| t + Duration::from_secs(1);
    let mysql = async {
        let store = MysqlStore::new(&cfg.mysql);
        answers("SELECT 1", within(cfg.mysql.connect_timeout), store.ping()).await.err().map(|e| format!("mysql.url: {e}"))
    };
    let cassandra = async {
        let store = CqlStore::new(&cfg.cassandra, &cfg.speed);
        let asked = answers("SELECT release_version FROM system.local", within(cfg.cassandra.request_timeout), store.ping()).await;
        asked.err().map(|e| format!("cassandra.contact_points {}: {e}", cfg.cassandra.contact_points.join(",")))
    };
    let (mysql, cassandra) = tokio::join!(mysql, cassandra);
    mysql.into_iter().chain(cassandra).collect()
}
