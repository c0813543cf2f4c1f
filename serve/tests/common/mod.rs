//! Test harness of the serving layer: the real MariaDB and the real CQL
//! endpoint of `scripts/stack` (`MYSQL_URL`, `CQL_CONTACT_POINTS` from
//! `scripts/stack env`; `scripts/test` exports them), an isolated MySQL
//! database with the batch job's own migration applied and a SELECT-only
//! user for `serve`, an isolated keyspace with the speed job's own CQL
//! schema, writers of known rows into both, and the real `serve` binary.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::NaiveDate;
use clickstream_testkit::{free_port, Service};
use diesel::mysql::MysqlConnection;
use diesel::{Connection, RunQueryDsl};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://clickstream:clickstream@127.0.0.1:3306/clickstream".into())
}

/// The CQL endpoint of the stack: `$CQL_CONTACT_POINTS` (scripts/stack env),
/// `$CASSANDRA_CONTACT_POINTS` (a real cluster), else the stack's default.
pub fn cql_contact_point() -> String {
    ["CQL_CONTACT_POINTS", "CASSANDRA_CONTACT_POINTS"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "127.0.0.1:9042".into())
        .split(',')
        .next()
        .unwrap()
        .trim()
        .to_string()
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}_{}_{nanos:08x}", std::process::id())
}

pub fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Midnight UTC of `d` in ms.
pub fn midnight(d: &str) -> i64 {
    day(d).and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis()
}

pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

// ------------------------------------------------------------------ MySQL

/// The stack's MariaDB socket (root authenticates by socket).
fn root_socket() -> PathBuf {
    std::env::var("CLICKSTREAM_STACK_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".stack")).join("mariadb/mysqld.sock")
}

/// Runs SQL as MariaDB's root through the stack's socket (creating users
/// needs a global privilege the `clickstream` user does not have).
fn mysql_root(sql: &str) {
    let sock = root_socket();
    let out = Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", sock.display()))
        .args(["-uroot", "-e", sql])
        .output()
        .expect("the mariadb client (scripts/stack deps installs it)");
    assert!(
        out.status.success(),
        "mariadb as root via {}: {}\n(start the stack: scripts/stack up mariadb)",
        sock.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A database of its own with the batch job's schema, a read-only user for
/// `serve`, both dropped at the end.
pub struct TestDb {
    pub name: String,
    /// The `clickstream` user's URL of the database (writes the fixtures).
    pub url: String,
    /// The read-only user's URL (what `serve` is given).
    pub ro_url: String,
    ro_user: String,
}

/// The GRANT statements of docs/serving.md, for database `db`.
pub fn read_only_user_sql(user: &str, password: &str, db: &str) -> String {
    format!(
        "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';
         GRANT SELECT ON `{db}`.daily_traffic TO '{user}'@'127.0.0.1';
         GRANT SELECT ON `{db}`.hourly_traffic TO '{user}'@'127.0.0.1';
         GRANT SELECT ON `{db}`.daily_dimension_traffic TO '{user}'@'127.0.0.1';
         GRANT SELECT ON `{db}`.hourly_dimension_traffic TO '{user}'@'127.0.0.1';
         GRANT SELECT ON `{db}`.daily_top_paths TO '{user}'@'127.0.0.1';
         GRANT SELECT ON `{db}`.weekly_visitors TO '{user}'@'127.0.0.1';
         GRANT SELECT ON `{db}`.monthly_visitors TO '{user}'@'127.0.0.1';"
    )
}

impl TestDb {
    pub fn create() -> TestDb {
        let base = mysql_url();
        let name = unique("clickstream_test_serve");
        let mut c = MysqlConnection::establish(&base).unwrap_or_else(|e| panic!("MariaDB at {base}: {e}. Start it with `scripts/stack up mariadb`."));
        diesel::sql_query(format!("CREATE DATABASE `{name}`")).execute(&mut c).unwrap();
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        // From here on, a panic drops the database again.
        let mut db = TestDb { name, url, ro_url: String::new(), ro_user: String::new() };
        let mut c = db.conn();
        // The batch job's own migration: the tables and views exactly as it creates them.
        let dir = repo_root().join("jobs/batch-job/migrations");
        let mut migrations: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
        migrations.sort();
        for m in migrations {
            let sql = std::fs::read_to_string(m.join("up.sql")).unwrap();
            let without_comments: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
            // Statements end at a `;` that ends a line (comments hold `;` too).
            for stmt in without_comments.split(";\n").map(|s| s.trim().trim_end_matches(';')).filter(|s| !s.is_empty()) {
                diesel::sql_query(stmt).execute(&mut c).unwrap_or_else(|e| panic!("{stmt}: {e}"));
            }
        }
        db.ro_user = format!("serve_ro_{:08x}", rand_u32());
        mysql_root(&read_only_user_sql(&db.ro_user, "serve-ro-pw", &db.name));
        let host = base.rsplit_once('@').unwrap().1.rsplit_once('/').unwrap().0;
        db.ro_url = format!("mysql://{}:serve-ro-pw@{host}/{}", db.ro_user, db.name);
        db
    }

    pub fn conn(&self) -> MysqlConnection {
        MysqlConnection::establish(&self.url).unwrap()
    }

    pub fn exec(&self, sql: &str) {
        diesel::sql_query(sql).execute(&mut self.conn()).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Writes one day as the batch job does: a `batch_runs` row, the
    /// `daily_traffic` row and 24 `hourly_traffic` rows with
    /// `hours[h] = (requests, unique_visitors)`. Returns the run id.
    pub fn batch_day(&self, d: &str, hours: &[(u64, u64); 24], day_visitors: u64) -> u64 {
        let mut c = self.conn();
        diesel::sql_query(format!(
            "INSERT INTO batch_runs (started_at, finished_at, outcome, day_from, day_to, source_url, visitor_definition, \
             success_below, skip_corrupt, days_written, host, pid, job_version) VALUES \
             ('2026-11-22 01:00:00', '2026-11-22 01:00:05', 'succeeded', '{d}', '{d}', 'file:///test', 'client', 400, 0, 1, 'test', 1, 'test')"
        ))
        .execute(&mut c)
        .unwrap();
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Unsigned<diesel::sql_types::BigInt>)]
            id: u64,
        }
        let run: Id = diesel::sql_query("SELECT LAST_INSERT_ID() AS id").get_result(&mut c).unwrap();
        let total: u64 = hours.iter().map(|h| h.0).sum();
        let weekday = day(d).format("%u");
        diesel::sql_query(format!(
            "INSERT INTO daily_traffic (day, weekday, requests, unique_visitors, success_requests, failure_requests, bytes_sent, \
             events_read, duplicates_dropped, visitor_definition, success_below, run_id, computed_at) VALUES \
             ('{d}', {weekday}, {total}, {day_visitors}, {total}, 0, 0, {total}, 0, 'client', 400, {}, '2026-11-22 01:00:05.000')",
            run.id
        ))
        .execute(&mut c)
        .unwrap();
        let values: Vec<String> = hours.iter().enumerate().map(|(h, (n, v))| format!("('{d}', {h}, {n}, {v}, 0, {n}, 0)")).collect();
        diesel::sql_query(format!(
            "INSERT INTO hourly_traffic (day, hour, requests, unique_visitors, bytes_sent, success_requests, failure_requests) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut c)
        .unwrap();
        run.id
    }

    /// `daily_dimension_traffic` rows of a batch day (`batch_day` first) as
    /// the batch job writes them, `(value, requests, unique_visitors,
    /// failure_requests, bytes_sent)`, and their 24 `hourly_dimension_traffic`
    /// rows each: the day's requests and failures in hours 9 and 10
    /// (`requests - requests / 2` and `requests / 2`, failures likewise),
    /// zeros elsewhere, as the batch job writes every hour of a value seen.
    pub fn batch_dimension(&self, d: &str, dimension: &str, values: &[(&str, u64, u64, u64, u64)]) {
        let daily: Vec<String> =
            values.iter().map(|(v, n, u, f, b)| format!("('{d}', '{dimension}', '{v}', {n}, {u}, {}, {f}, {b})", n - f)).collect();
        self.exec(&format!(
            "INSERT INTO daily_dimension_traffic (day, dimension, value, requests, unique_visitors, success_requests, \
             failure_requests, bytes_sent) VALUES {}",
            daily.join(", ")
        ));
        let mut hourly = Vec::new();
        for (v, n, u, f, b) in values {
            for h in 0..24u64 {
                let (n, f, u, b) = match h {
                    9 => (n - n / 2, f - f / 2, *u, b - b / 2),
                    10 => (n / 2, f / 2, u / 2, b / 2),
                    _ => (0, 0, 0, 0),
                };
                hourly.push(format!("('{d}', {h}, '{dimension}', '{v}', {n}, {u}, {}, {f}, {b})", n - f));
            }
        }
        self.exec(&format!(
            "INSERT INTO hourly_dimension_traffic (day, hour, dimension, value, requests, unique_visitors, success_requests, \
             failure_requests, bytes_sent) VALUES {}",
            hourly.join(", ")
        ));
    }

    /// `daily_top_paths` rows of a batch day, ranked in the order given:
    /// `(path, requests, failure_requests, bytes_sent)`.
    pub fn batch_top_paths(&self, d: &str, paths: &[(&str, u64, u64, u64)]) {
        let rows: Vec<String> =
            paths.iter().enumerate().map(|(i, (p, n, f, b))| format!("('{d}', {}, '{p}', {n}, {}, {f}, {b})", i + 1, n - f)).collect();
        self.exec(&format!(
            "INSERT INTO daily_top_paths (day, `rank`, path, requests, success_requests, failure_requests, bytes_sent) VALUES {}",
            rows.join(", ")
        ));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = MysqlConnection::establish(&mysql_url()) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS `{}`", self.name)).execute(&mut c);
        }
        if !self.ro_user.is_empty() {
            // Never panic in drop (it may run while a test unwinds).
            let _ = Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", root_socket().display()))
                .args(["-uroot", "-e", &format!("DROP USER IF EXISTS '{}'@'127.0.0.1'", self.ro_user)])
                .output();
        }
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() as u32
}

// ------------------------------------------------------------------ CQL

/// A keyspace of its own with the speed job's schema (`schemas/cql`), dropped at the end.
pub struct TestKeyspace {
    pub name: String,
    pub contact_point: String,
    pub session: Session,
}

impl TestKeyspace {
    pub async fn create() -> TestKeyspace {
        let contact_point = cql_contact_point();
        let session = SessionBuilder::new()
            .known_node(&contact_point)
            .build()
            .await
            .unwrap_or_else(|e| panic!("CQL at {contact_point}: {e}. Start it with `scripts/stack up cql`."));
        let name = unique("serve_test");
        let mut cql = String::new();
        for f in ["001_keyspace.cql", "002_speed_views.cql"] {
            cql.push_str(&std::fs::read_to_string(repo_root().join("schemas/cql").join(f)).unwrap());
            cql.push('\n');
        }
        let cql = cql
            .replace("{{keyspace}}", &name)
            .replace("{{replication}}", "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            .replace("{{ttl_seconds}}", "0");
        let without_comments: String = cql
            .lines()
            .map(|l| match l.find("--") {
                Some(i) if !l[..i].contains('\'') => &l[..i],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            session.query_unpaged(stmt.to_string(), &[]).await.unwrap_or_else(|e| panic!("{stmt}: {e}"));
        }
        session.await_schema_agreement().await.unwrap();
        TestKeyspace { name, contact_point, session }
    }

    async fn run(&self, cql: String, values: impl scylla::serialize::row::SerializeRow) {
        self.session.query_unpaged(cql.clone(), values).await.unwrap_or_else(|e| panic!("{cql}: {e}"));
    }

    /// A `server_health` row as a speed job without visitor sketches wrote it.
    pub async fn health(&self, host: &str, start: i64, len: i64, requests: i64, non_200: i64) {
        self.health_with(host, start, len, requests, non_200, None).await;
    }

    /// A `server_health` row as the speed job writes it, with the sketch of
    /// the window's client addresses (`None`: the column left null).
    pub async fn health_with(&self, host: &str, start: i64, len: i64, requests: i64, non_200: i64, visitors: Option<&clickstream_sketch::Hll>) {
        let d = serve::time::day_of(start).to_string();
        let (hll, estimate) = match visitors {
            Some(v) => (Some(v.to_bytes()), Some(v.estimate() as i64)),
            None => (None, None),
        };
        self.run(
            format!(
                "INSERT INTO {}.server_health (source_host, day, window_start, window_end, requests, non_200, status_1xx, \
                 status_2xx, status_3xx, status_4xx, status_5xx, unhealthy, is_final, visitors_hll, visitors_estimate) \
                 VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?, 0, ?, true, ?, ?)",
                self.name
            ),
            (host, d, CqlTimestamp(start), CqlTimestamp(start + len), requests, non_200, requests - non_200, non_200, non_200 > 10, hll, estimate),
        )
        .await;
    }

    /// Every sliding window (length 5 min, slide 1 min) of `hour_start`'s
    /// hour for `host`, window k (starting k minutes in) with `f(k)` requests.
    pub async fn health_hour(&self, host: &str, hour_start: i64, f: impl Fn(i64) -> i64) {
        for k in 0..60 {
            self.health(host, hour_start + k * MIN, 5 * MIN, f(k), 0).await;
        }
    }

    pub async fn ddos(&self, start: i64, client: &str, hosts: &[&str], requests: i64) {
        let d = serve::time::day_of(start).to_string();
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        self.run(
            format!(
                "INSERT INTO {}.ddos_alerts (day, window_start, client_addr, window_end, requests, first_seen, last_seen, \
                 source_hosts, is_final) VALUES (?, ?, ?, ?, ?, ?, ?, ?, true)",
                self.name
            ),
            (d, CqlTimestamp(start), client, CqlTimestamp(start + 1000), requests, CqlTimestamp(start + 10), CqlTimestamp(start + 990), hosts),
        )
        .await;
    }

    pub async fn health_alert(&self, start: i64, host: &str, requests: i64, non_200: i64) {
        let d = serve::time::day_of(start).to_string();
        self.run(
            format!(
                "INSERT INTO {}.health_alerts (day, window_start, source_host, window_end, requests, non_200, is_final) \
                 VALUES (?, ?, ?, ?, ?, ?, true)",
                self.name
            ),
            (d, CqlTimestamp(start), host, CqlTimestamp(start + 5 * MIN), requests, non_200),
        )
        .await;
    }

    /// `category_top` and `category_popularity` rows of one 5-minute window,
    /// `counts` in rank order.
    pub async fn popularity(&self, start: i64, counts: &[(&str, i64)], is_final: bool) {
        for (i, (cat, n)) in counts.iter().enumerate() {
            self.run(
                format!(
                    "INSERT INTO {}.category_top (window_start, rank, category, requests, window_end, is_final) VALUES (?, ?, ?, ?, ?, ?)",
                    self.name
                ),
                (CqlTimestamp(start), i as i32 + 1, *cat, *n, CqlTimestamp(start + 5 * MIN), is_final),
            )
            .await;
            self.run(
                format!(
                    "INSERT INTO {}.category_popularity (window_start, category, window_end, requests, is_final) VALUES (?, ?, ?, ?, ?)",
                    self.name
                ),
                (CqlTimestamp(start), *cat, CqlTimestamp(start + 5 * MIN), *n, is_final),
            )
            .await;
        }
    }

    /// The speed job's checkpoint row for partition 0, with its watermark
    /// (only the columns serve reads and the key: the rest is the job's business).
    pub async fn checkpoint(&self, closed_through: i64) {
        self.run(
            format!(
                "INSERT INTO {}.speed_checkpoints (job, topic, kafka_partition, resume_offset, replay_until, closed_through, \
                 updated_at) VALUES ('speed-job', 'clickstream.events', 0, 0, 0, ?, ?)",
                self.name
            ),
            (closed_through, CqlTimestamp(closed_through)),
        )
        .await;
    }

    pub async fn drop_keyspace(&self) {
        let _ = self.session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", self.name), &[]).await;
    }
}

// ------------------------------------------------------------------ serve

/// A running `serve` binary.
pub struct Serve {
    pub service: Service,
    pub api: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// A configuration for tests: free ports, the given stores, fast stream.
pub fn config(mysql_url: &str, cql: &str, keyspace: &str, extra: &str) -> (String, u16, u16) {
    let (api, metrics) = (free_port(), free_port());
    let text = format!(
        r#"
[http]
listen = "127.0.0.1:{api}"
request_timeout = "5s"

[mysql]
url = "{mysql_url}"
pool_size = 4
connect_timeout = "2s"

[cassandra]
contact_points = ["{cql}"]
keyspace = "{keyspace}"
consistency = "one"

[speed]
host_refresh = "0s"

[stream]
interval = "200ms"

[metrics]
listen = "127.0.0.1:{metrics}"
{extra}
"#
    );
    (text, api, metrics)
}

impl Serve {
    pub fn start(db: &TestDb, ks: &TestKeyspace, extra: &str) -> Serve {
        Serve::start_with(&db.ro_url, ks, extra)
    }

    pub fn start_with(mysql_url: &str, ks: &TestKeyspace, extra: &str) -> Serve {
        Serve::start_on(mysql_url, &ks.contact_point, &ks.name, extra)
    }

    /// `serve` on `db` alone, for routes that read only MySQL: the CQL
    /// endpoint is configured (serve connects to it lazily) but never asked,
    /// so these tests need no Cassandra.
    pub fn start_batch_only(db: &TestDb) -> Serve {
        Serve::start_on(&db.ro_url, &cql_contact_point(), "serve_test_unused", "")
    }

    fn start_on(mysql_url: &str, cql: &str, keyspace: &str, extra: &str) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let (text, api, metrics) = config(mysql_url, cql, keyspace, extra);
        let service = Service::start(env!("CARGO_BIN_EXE_serve"), dir.path(), "serve", &text, metrics);
        let api: SocketAddr = ([127, 0, 0, 1], api).into();
        clickstream_testkit::wait_until(Duration::from_secs(20), "the API listener", || TcpStream::connect(api).is_ok());
        Serve { service, api, dir }
    }

    pub fn get(&self, path: &str) -> Response {
        get(self.api, path)
    }

    /// GET and parse a 200 JSON answer.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json()
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A plain HTTP/1.1 GET (`Connection: close`, body read to the end; not for the stream).
pub fn get(addr: SocketAddr, path: &str) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Response { status, head: head.to_string(), body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
