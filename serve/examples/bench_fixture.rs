//! Benchmark data for `serve/bench/run.sh`: a MySQL database with the batch
//! job's schema and a week of batch days, and a CQL keyspace with the speed
//! job's schema and two days of speed rows for two web servers (every
//! 5-minute window sliding by 1 minute, alerts, popularity windows, a
//! checkpoint) — the shape the real jobs write.
//!
//! ```text
//! cargo run --example bench_fixture -p serve -- create MYSQL_URL CQL_HOST:PORT NAME
//! cargo run --example bench_fixture -p serve -- drop   MYSQL_URL CQL_HOST:PORT NAME
//! ```
//!
//! `MYSQL_URL` names any database of the server (the user needs CREATE);
//! NAME becomes both the database and the keyspace name.

use std::path::Path;

use chrono::{Days, NaiveDate};
use diesel::mysql::MysqlConnection;
use diesel::{Connection, RunQueryDsl};
use futures_util::future::try_join_all;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const HOSTS: [&str; 2] = ["weblog1", "weblog2"];
const CATEGORIES: [&str; 12] = ["shoes", "bags", "hats", "shirts", "jeans", "socks", "watches", "belts", "scarves", "gloves", "boots", "sale"];

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis()
}

fn db_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.rsplit_once('/').expect("mysql://user:pw@host:port/db").0)
}

fn create_mysql(base: &str, name: &str, first: NaiveDate, days: u64) -> anyhow::Result<()> {
    let mut c = MysqlConnection::establish(base)?;
    diesel::sql_query(format!("CREATE DATABASE `{name}`")).execute(&mut c)?;
    let mut c = MysqlConnection::establish(&db_url(base, name))?;
    // The batch job's own migrations, in order.
    let mut paths: Vec<_> = std::fs::read_dir(repo().join("jobs/batch-job/migrations"))?.flatten().map(|e| e.path().join("up.sql")).collect();
    paths.sort();
    let mut sql = String::new();
    for p in paths {
        sql.push_str(&std::fs::read_to_string(p)?);
        sql.push('\n');
    }
    let sql: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    for stmt in sql.split(";\n").map(|s| s.trim().trim_end_matches(';')).filter(|s| !s.is_empty()) {
        diesel::sql_query(stmt).execute(&mut c)?;
    }
    diesel::sql_query(
        "INSERT INTO batch_runs (started_at, finished_at, outcome, day_from, day_to, source_url, visitor_definition, \
         success_below, skip_corrupt, days_written, host, pid, job_version) VALUES \
         (NOW(3), NOW(3), 'succeeded', '2026-11-14', '2026-11-20', 'file:///bench', 'client', 400, 0, 7, 'bench', 1, 'bench')",
    )
    .execute(&mut c)?;
    for i in 0..days {
        let d = first + Days::new(i);
        let hours: Vec<(u64, u64)> = (0..24u64).map(|h| (200 + 37 * ((h * 7 + i) % 24), 20 + (h * 3 + i) % 17)).collect();
        let total: u64 = hours.iter().map(|h| h.0).sum();
        diesel::sql_query(format!(
            "INSERT INTO daily_traffic (day, weekday, requests, unique_visitors, success_requests, failure_requests, bytes_sent, \
             events_read, duplicates_dropped, visitor_definition, success_below, run_id, computed_at) VALUES \
             ('{d}', {}, {total}, 300, {total}, 0, 0, {total}, 0, 'client', 400, 1, NOW(3))",
            d.format("%u")
        ))
        .execute(&mut c)?;
        let values: Vec<String> = hours.iter().enumerate().map(|(h, (n, v))| format!("('{d}', {h}, {n}, {v}, 0, {n}, 0)")).collect();
        diesel::sql_query(format!(
            "INSERT INTO hourly_traffic (day, hour, requests, unique_visitors, bytes_sent, success_requests, failure_requests) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut c)?;
        insert_slices(&mut c, d, i)?;
    }
    let cols = "days_reported, requests, unique_visitors, computed_at";
    diesel::sql_query(format!("INSERT INTO weekly_visitors (week_start, iso_year, iso_week, {cols}) VALUES ('2026-11-09', 2026, 46, 1, 5000, 300, NOW(3)), ('2026-11-16', 2026, 47, 5, 25000, 900, NOW(3))"))
        .execute(&mut c)?;
    diesel::sql_query(format!("INSERT INTO monthly_visitors (month_start, {cols}) VALUES ('2026-11-01', 7, 35000, 1100, NOW(3))")).execute(&mut c)?;
    Ok(())
}

/// Web servers and categories of the batch days (issue 22's slices).
const BENCH_SERVERS: u64 = 4;
const BENCH_CATEGORIES: u64 = 30;

/// A day's slices: every server and category with 24 hourly rows, and 100 top paths.
fn insert_slices(c: &mut MysqlConnection, d: NaiveDate, i: u64) -> anyhow::Result<()> {
    let values: Vec<(&str, String)> = (1..=BENCH_SERVERS)
        .map(|k| ("server", format!("web{k}")))
        .chain((1..=BENCH_CATEGORIES).map(|k| ("category", format!("category-{k:02}"))))
        .collect();
    let cols = "requests, unique_visitors, success_requests, failure_requests, bytes_sent";
    let mut daily = Vec::new();
    let mut hourly = Vec::new();
    for (n, (dimension, value)) in values.iter().enumerate() {
        let per_hour = |h: u64| 10 + (h * 7 + i + n as u64) % 40;
        let total: u64 = (0..24).map(per_hour).sum();
        daily.push(format!("('{d}', '{dimension}', '{value}', {total}, {}, {}, {}, {})", total / 3, total - total / 20, total / 20, total * 900));
        for h in 0..24u64 {
            let r = per_hour(h);
            hourly.push(format!("('{d}', {h}, '{dimension}', '{value}', {r}, {}, {}, {}, {})", r / 2, r - r / 20, r / 20, r * 900));
        }
    }
    diesel::sql_query(format!("INSERT INTO daily_dimension_traffic (day, dimension, value, {cols}) VALUES {}", daily.join(", "))).execute(c)?;
    diesel::sql_query(format!("INSERT INTO hourly_dimension_traffic (day, hour, dimension, value, {cols}) VALUES {}", hourly.join(", ")))
        .execute(c)?;
    let paths: Vec<String> = (1..=100u64)
        .map(|rank| {
            let r = 5000 / rank + 10;
            format!("('{d}', {rank}, '/category/books/item-{rank:03}', {r}, {}, {}, {})", r - r / 25, r / 25, r * 2000)
        })
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO daily_top_paths (day, `rank`, path, requests, success_requests, failure_requests, bytes_sent) VALUES {}",
        paths.join(", ")
    ))
    .execute(c)?;
    Ok(())
}

async fn create_cql(s: &Session, ks: &str, first: NaiveDate, end_ms: i64) -> anyhow::Result<()> {
    let mut cql = String::new();
    for f in ["001_keyspace.cql", "002_speed_views.cql"] {
        cql.push_str(&std::fs::read_to_string(repo().join("schemas/cql").join(f))?);
        cql.push('\n');
    }
    let cql = cql
        .replace("{{keyspace}}", ks)
        .replace("{{replication}}", "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        .replace("{{ttl_seconds}}", "0");
    let cql: String = cql
        .lines()
        .map(|l| match l.find("--") {
            Some(i) if !l[..i].contains('\'') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    for stmt in cql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        s.query_unpaged(stmt.to_string(), &[]).await?;
    }
    s.await_schema_agreement().await?;
    let health = s
        .prepare(format!(
            "INSERT INTO {ks}.server_health (source_host, day, window_start, window_end, requests, non_200, status_1xx, \
             status_2xx, status_3xx, status_4xx, status_5xx, unhealthy, is_final, visitors_hll, visitors_estimate) \
             VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?, 0, ?, true, ?, ?)"
        ))
        .await?;
    // Visitor sketches as the speed job writes them: by default one visitor
    // per request (sparse sketches of 450-720 bytes); $BENCH_VISITORS sets
    // the distinct visitors per window (above 1,365 the sketch is dense, 4 KB).
    let visitors: Option<i64> = std::env::var("BENCH_VISITORS").ok().and_then(|v| v.parse().ok());
    let start = ms(first);
    let mut pending = Vec::new();
    for host in HOSTS {
        let mut t = start;
        while t + 5 * MIN <= end_ms {
            let n: i64 = 150 + (t / MIN) % 90;
            let bad: i64 = (t / MIN) % 13;
            let day = chrono::DateTime::from_timestamp_millis(t).unwrap().date_naive().to_string();
            let mut sketch = clickstream_sketch::Hll::new();
            for i in 0..visitors.unwrap_or(n) {
                let k = (t / MIN) * 37 + i;
                sketch.insert(format!("10.{}.{}.{}", k >> 16 & 255, k >> 8 & 255, k & 255).as_bytes());
            }
            let values =
                (host, day, CqlTimestamp(t), CqlTimestamp(t + 5 * MIN), n, bad, n - bad, bad, bad > 10, sketch.to_bytes(), sketch.estimate() as i64);
            pending.push(async { s.execute_unpaged(&health, values).await.map(|_| ()) });
            if pending.len() == 256 {
                try_join_all(pending.drain(..)).await?;
            }
            t += MIN;
        }
    }
    try_join_all(pending.drain(..)).await?;
    for i in 0..((end_ms - start) / HOUR) {
        let t = start + i * HOUR + 17 * MIN + 3000;
        let day = chrono::DateTime::from_timestamp_millis(t).unwrap().date_naive().to_string();
        s.query_unpaged(
            format!(
                "INSERT INTO {ks}.ddos_alerts (day, window_start, client_addr, window_end, requests, first_seen, last_seen, \
                 source_hosts, is_final) VALUES (?, ?, ?, ?, ?, ?, ?, ?, true)"
            ),
            (
                &day,
                CqlTimestamp(t),
                format!("198.51.100.{}", i % 250),
                CqlTimestamp(t + 1000),
                150 + i,
                CqlTimestamp(t),
                CqlTimestamp(t + 999),
                vec!["weblog1".to_string()],
            ),
        )
        .await?;
        s.query_unpaged(
            format!(
                "INSERT INTO {ks}.health_alerts (day, window_start, source_host, window_end, requests, non_200, is_final) \
                 VALUES (?, ?, ?, ?, ?, ?, true)"
            ),
            (&day, CqlTimestamp(t - 3000 + 20 * MIN), "weblog2", CqlTimestamp(t - 3000 + 25 * MIN), 200i64, 12i64),
        )
        .await?;
    }
    let top = s
        .prepare(format!("INSERT INTO {ks}.category_top (window_start, rank, category, requests, window_end, is_final) VALUES (?, ?, ?, ?, ?, true)"))
        .await?;
    let pop = s
        .prepare(format!("INSERT INTO {ks}.category_popularity (window_start, category, window_end, requests, is_final) VALUES (?, ?, ?, ?, true)"))
        .await?;
    let mut w = end_ms - 3 * HOUR;
    while w + 5 * MIN <= end_ms {
        let mut counts: Vec<(&str, i64)> = CATEGORIES.iter().enumerate().map(|(i, c)| (*c, 10 + ((w / MIN + 7 * i as i64) % 50))).collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (rank, (c, n)) in counts.iter().enumerate() {
            if rank < 10 {
                s.execute_unpaged(&top, (CqlTimestamp(w), rank as i32 + 1, *c, *n, CqlTimestamp(w + 5 * MIN))).await?;
            }
            s.execute_unpaged(&pop, (CqlTimestamp(w), *c, CqlTimestamp(w + 5 * MIN), *n)).await?;
        }
        w += MIN;
    }
    s.query_unpaged(
        format!(
            "INSERT INTO {ks}.speed_checkpoints (job, topic, kafka_partition, resume_offset, replay_until, closed_through, \
             updated_at) VALUES ('speed-job', 'clickstream.events', 0, 0, 0, ?, ?)"
        ),
        (end_ms - 10_000, CqlTimestamp(end_ms)),
    )
    .await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, cmd, mysql, cql, name] = &args[..] else {
        anyhow::bail!("usage: bench_fixture create|drop MYSQL_URL CQL_HOST:PORT NAME");
    };
    let session = SessionBuilder::new().known_node(cql).build().await?;
    match cmd.as_str() {
        "create" => {
            // Batch: 2026-11-14..20. Speed: 2026-11-21 all day and 2026-11-22 until 12:00.
            let first_batch = NaiveDate::from_ymd_opt(2026, 11, 14).unwrap();
            create_mysql(mysql, name, first_batch, 7)?;
            let first_speed = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
            create_cql(&session, name, first_speed, ms(first_speed) + 36 * HOUR).await?;
            println!("{}", db_url(mysql, name));
        }
        "drop" => {
            let mut c = MysqlConnection::establish(mysql)?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS `{name}`")).execute(&mut c)?;
            session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), &[]).await?;
        }
        other => anyhow::bail!("unknown command {other}"),
    }
    Ok(())
}
