//! The real `scylla` 1.9 driver against the stand-in, over TCP, for every
//! statement shape the project issues.
//!
//! With `CASSANDRA_CONTACT_POINTS=host:port` set, the same tests run against
//! that real Cassandra/ScyllaDB instead (tests of stand-in-only facts, such
//! as its cluster name, are skipped there).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::Consistency;
use scylla::value::CqlTimestamp;

fn real_cluster() -> Option<String> {
    std::env::var("CASSANDRA_CONTACT_POINTS").ok().filter(|s| !s.is_empty())
}

/// A session to the real cluster if configured, else to a fresh stand-in.
async fn session() -> Session {
    let node = match real_cluster() {
        Some(cp) => cp.split(',').next().unwrap_or_default().trim().to_string(),
        None => cql_standin::spawn_for_tests().await.to_string(),
    };
    SessionBuilder::new().known_node(node).build().await.expect("connecting with the scylla driver")
}

/// A keyspace name unique to this process and call.
fn keyspace(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("standin_{tag}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

async fn create_keyspace(s: &Session, ks: &str) {
    s.query_unpaged(format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"), &[])
        .await
        .unwrap();
}

const HEALTH_DDL: &str = "CREATE TABLE IF NOT EXISTS {ks}.health (
    source_host text, day text, window_start timestamp, non_200 bigint, status_classes set<text>, is_final boolean,
    PRIMARY KEY ((source_host, day), window_start)
) WITH CLUSTERING ORDER BY (window_start DESC) AND default_time_to_live = 3600";

async fn health_table(s: &Session, ks: &str) {
    create_keyspace(s, ks).await;
    s.query_unpaged(HEALTH_DDL.replace("{ks}", ks), &[]).await.unwrap();
    s.await_schema_agreement().await.unwrap();
}

#[tokio::test]
async fn says_it_is_a_stand_in() {
    if real_cluster().is_some() {
        return;
    }
    let s = session().await;
    let r = s.query_unpaged("SELECT cluster_name, release_version FROM system.local WHERE key='local'", &[]).await.unwrap();
    let (name, version) = r.into_rows_result().unwrap().single_row::<(String, String)>().unwrap();
    assert!(name.contains("not Cassandra"), "{name}");
    assert!(version.contains("standin"), "{version}");
}

#[tokio::test]
async fn ddl_is_idempotent_and_reaches_driver_metadata() {
    let s = session().await;
    let ks = keyspace("ddl");
    health_table(&s, &ks).await;
    // Running the schema again is a no-op, as the speed job does on every start.
    health_table(&s, &ks).await;
    s.refresh_metadata().await.unwrap();
    let state = s.get_cluster_state();
    let table = &state.get_keyspace(&ks).expect("keyspace in driver metadata").tables["health"];
    assert_eq!(table.partition_key, vec!["source_host", "day"]);
    assert_eq!(table.clustering_key, vec!["window_start"]);
    // Without IF NOT EXISTS a second CREATE fails like Cassandra's.
    let err = s.query_unpaged(HEALTH_DDL.replace("{ks}", &ks).replace(" IF NOT EXISTS", ""), &[]).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("exist"), "{err}");
}

#[tokio::test]
async fn prepared_upserts_read_back_in_clustering_order_with_ranges_and_limit() {
    let s = session().await;
    let ks = keyspace("rw");
    health_table(&s, &ks).await;
    let mut insert = s
        .prepare(format!("INSERT INTO {ks}.health (source_host, day, window_start, non_200, status_classes, is_final) VALUES (?, ?, ?, ?, ?, ?)"))
        .await
        .unwrap();
    insert.set_consistency(Consistency::LocalQuorum);
    let classes: BTreeSet<String> = ["4xx".to_string(), "5xx".to_string()].into();
    for minute in 0..5i64 {
        s.execute_unpaged(&insert, ("web1", "2026-11-20", CqlTimestamp(minute * 60_000), minute, &classes, false)).await.unwrap();
    }
    s.execute_unpaged(&insert, ("web2", "2026-11-20", CqlTimestamp(0), 99i64, &classes, true)).await.unwrap();
    // Upsert: the same key again replaces the row's named cells.
    s.execute_unpaged(&insert, ("web1", "2026-11-20", CqlTimestamp(120_000), 12i64, &classes, true)).await.unwrap();

    let all = s.prepare(format!("SELECT window_start, non_200, is_final FROM {ks}.health WHERE source_host = ? AND day = ?")).await.unwrap();
    let rows: Vec<(CqlTimestamp, i64, bool)> =
        s.execute_unpaged(&all, ("web1", "2026-11-20")).await.unwrap().into_rows_result().unwrap().rows().unwrap().collect::<Result<_, _>>().unwrap();
    let starts: Vec<i64> = rows.iter().map(|r| r.0 .0).collect();
    assert_eq!(starts, vec![240_000, 180_000, 120_000, 60_000, 0], "newest first (CLUSTERING ORDER DESC)");
    assert_eq!(rows[2], (CqlTimestamp(120_000), 12, true));

    let range = s
        .prepare(format!(
            "SELECT window_start, non_200 FROM {ks}.health WHERE source_host = ? AND day = ? \
             AND window_start >= ? AND window_start < ? ORDER BY window_start ASC LIMIT ?"
        ))
        .await
        .unwrap();
    let rows: Vec<(CqlTimestamp, i64)> = s
        .execute_unpaged(&range, ("web1", "2026-11-20", CqlTimestamp(60_000), CqlTimestamp(240_000), 2i32))
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![(CqlTimestamp(60_000), 1), (CqlTimestamp(120_000), 12)]);

    let multi = s
        .query_unpaged(
            format!("SELECT source_host, non_200 FROM {ks}.health WHERE source_host IN ('web1', 'web2') AND day = '2026-11-20' AND window_start = 0"),
            &[],
        )
        .await
        .unwrap();
    let mut got: Vec<(String, i64)> = multi.into_rows_result().unwrap().rows().unwrap().collect::<Result<_, _>>().unwrap();
    got.sort();
    assert_eq!(got, vec![("web1".into(), 0), ("web2".into(), 99)]);

    let sets: Vec<(BTreeSet<String>,)> = s
        .query_unpaged(format!("SELECT status_classes FROM {ks}.health WHERE source_host = 'web2' AND day = '2026-11-20'"), &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sets, vec![(classes.clone(),)]);
}

#[tokio::test]
async fn null_deletes_a_cell_and_unset_keeps_it() {
    let s = session().await;
    let ks = keyspace("null");
    health_table(&s, &ks).await;
    let insert =
        s.prepare(format!("INSERT INTO {ks}.health (source_host, day, window_start, non_200, is_final) VALUES (?, ?, ?, ?, ?)")).await.unwrap();
    let key = ("h", "d", CqlTimestamp(0));
    s.execute_unpaged(&insert, (key.0, key.1, key.2, Some(5i64), Some(true))).await.unwrap();
    s.execute_unpaged(&insert, (key.0, key.1, key.2, None::<i64>, scylla::value::MaybeUnset::<bool>::Unset)).await.unwrap();
    let row: (Option<i64>, Option<bool>) = s
        .query_unpaged(format!("SELECT non_200, is_final FROM {ks}.health WHERE source_host = 'h' AND day = 'd'"), &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row()
        .unwrap();
    assert_eq!(row, (None, Some(true)));
}

#[tokio::test]
async fn default_time_to_live_and_using_ttl_expire_rows_on_read() {
    let s = session().await;
    let ks = keyspace("ttl");
    create_keyspace(&s, &ks).await;
    s.query_unpaged(format!("CREATE TABLE IF NOT EXISTS {ks}.t (k text, c int, v bigint, PRIMARY KEY (k, c)) WITH default_time_to_live = 1"), &[])
        .await
        .unwrap();
    s.await_schema_agreement().await.unwrap();
    let plain = s.prepare(format!("INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")).await.unwrap();
    let with_ttl = s.prepare(format!("INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?) USING TTL ?")).await.unwrap();
    s.execute_unpaged(&plain, ("a", 1i32, 10i64)).await.unwrap(); // table default: 1 s
    s.execute_unpaged(&with_ttl, ("a", 2i32, 20i64, 0i32)).await.unwrap(); // TTL 0: never expires
    s.execute_unpaged(&with_ttl, ("a", 3i32, 30i64, 100i32)).await.unwrap();
    let ttls: Vec<(i32, Option<i32>)> = s
        .query_unpaged(format!("SELECT c, TTL(v) FROM {ks}.t WHERE k = 'a'"), &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ttls.len(), 3);
    assert!(matches!(ttls[0], (1, Some(1))), "{ttls:?}");
    assert_eq!(ttls[1], (2, None));
    assert!(matches!(ttls[2], (3, Some(t)) if (99..=100).contains(&t)), "{ttls:?}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let left: Vec<(i32,)> = s
        .query_unpaged(format!("SELECT c FROM {ks}.t WHERE k = 'a'"), &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(left, vec![(2,), (3,)], "the row under the table's default TTL has expired");
}

#[tokio::test]
async fn batches_apply_every_statement() {
    let s = session().await;
    let ks = keyspace("batch");
    health_table(&s, &ks).await;
    let insert = s.prepare(format!("INSERT INTO {ks}.health (source_host, day, window_start, non_200) VALUES (?, ?, ?, ?)")).await.unwrap();
    for kind in [BatchType::Unlogged, BatchType::Logged] {
        let mut batch = Batch::new(kind);
        let mut values = Vec::new();
        for i in 0..20i64 {
            batch.append_statement(insert.clone());
            values.push(("b", "d", CqlTimestamp(i * 1000), i));
        }
        s.batch(&batch, values).await.unwrap();
    }
    let n: (i64,) = s
        .query_unpaged(format!("SELECT COUNT(*) FROM {ks}.health WHERE source_host = 'b' AND day = 'd'"), &[])
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row()
        .unwrap();
    assert_eq!(n.0, 20);
}

#[tokio::test]
async fn paged_reads_return_every_row_once() {
    let s = session().await;
    let ks = keyspace("paging");
    health_table(&s, &ks).await;
    let insert = s.prepare(format!("INSERT INTO {ks}.health (source_host, day, window_start, non_200) VALUES (?, ?, ?, ?)")).await.unwrap();
    for i in 0..25i64 {
        s.execute_unpaged(&insert, ("p", "d", CqlTimestamp(i), i)).await.unwrap();
    }
    let mut select = s.prepare(format!("SELECT non_200 FROM {ks}.health WHERE source_host = ? AND day = ?")).await.unwrap();
    select.set_page_size(10);
    let rows: Vec<(i64,)> = s.execute_iter(select, ("p", "d")).await.unwrap().rows_stream::<(i64,)>().unwrap().try_collect().await.unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), (0..25).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn unsupported_or_wrong_statements_fail_loudly() {
    let s = session().await;
    let ks = keyspace("err");
    create_keyspace(&s, &ks).await;
    let e = s.query_unpaged(format!("SELECT * FROM {ks}.missing"), &[]).await.unwrap_err();
    assert!(e.to_string().contains("unconfigured table") || e.to_string().contains("missing"), "{e}");
    let e = s.query_unpaged("SELEC nonsense", &[]).await.unwrap_err();
    assert!(!e.to_string().is_empty());
    if real_cluster().is_none() {
        let e = s.query_unpaged(format!("CREATE TABLE {ks}.c (k text PRIMARY KEY, n counter)"), &[]).await.unwrap_err();
        assert!(e.to_string().contains("counter"), "{e}");
    }
}
