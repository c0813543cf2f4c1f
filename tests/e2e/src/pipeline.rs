//! The pipeline harness of the end-to-end tests: one run of every real
//! release binary as a separate process — spool agents, fan-out agent,
//! speed job, batch job, `serve` — with a Tansu broker of the run's own and
//! its own topic, HDFS directory, keyspace and database on the services of
//! `scripts/stack`. Used by `tests/pipeline.rs` (numbers against the
//! oracle) and `tests/dashboard.rs` (the dashboard in a browser).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clickstream_testkit::kafka::{PrivateKafka, TlsFront};
use clickstream_testkit::{free_port, repo, unique, wait_until, Service};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use crate::oracle;

/// The web servers of every run (the sample logs' two).
pub const HOSTS: [&str; 2] = ["weblog1", "weblog2"];
/// The speed job's `windows.allowed_lateness` in these runs.
pub const LATENESS_MS: i64 = 10_000;

/// `$key`, or `default` when unset or empty.
pub fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.into())
}

/// The release build of a binary: what users run, and fast enough to move
/// the sample logs through every stage in seconds (`scripts/test` builds it).
pub fn binary(name: &str) -> String {
    let p = repo().join("target/release").join(name);
    assert!(p.exists(), "{} not built: run `cargo build --release --workspace --bins` (scripts/test does)", p.display());
    p.display().to_string()
}

/// A MySQL URL split for the `mariadb` command-line client.
pub struct Mysql {
    /// The test user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: String,
}

impl Mysql {
    /// From `$MYSQL_URL` (`scripts/stack env`), else the stack's default.
    pub fn from_env() -> Mysql {
        let url = env_or("MYSQL_URL", "mysql://clickstream:clickstream@127.0.0.1:3306/clickstream");
        let rest = url.strip_prefix("mysql://").expect("MYSQL_URL starts with mysql://");
        let (auth, rest) = rest.split_once('@').unwrap();
        let (user, password) = auth.split_once(':').unwrap();
        let hostport = rest.split('/').next().unwrap();
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
        Mysql { user: user.into(), password: password.into(), host: host.into(), port: port.into() }
    }

    /// The URL of database `db` for the binaries' configs.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://{}:{}@{}:{}/{db}", self.user, self.password, self.host, self.port)
    }

    /// Runs `sql`, returns the rows as tab-separated fields.
    pub fn query(&self, db: &str, sql: &str) -> Vec<Vec<String>> {
        let out = Command::new("mariadb")
            .args(["-h", &self.host, "-P", &self.port, "-u", &self.user])
            .arg(format!("-p{}", self.password))
            .args(["-N", "-B", "-e", sql])
            .args((!db.is_empty()).then_some(db))
            .output()
            .expect("running the mariadb client (scripts/stack deps installs it)");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
    }
}

/// One run of the pipeline: its own topic, HDFS directory, keyspace and database.
pub struct Pipeline {
    /// Configs, state, spool directories and logs of the run (kept when a test fails).
    pub dir: tempfile::TempDir,
    /// The run's unique name: topic, keyspace, database, HDFS root and job name derive from it.
    pub name: String,
    /// The Kafka topic.
    pub topic: String,
    /// `hdfs://host:port` of the stack's NameNode.
    pub hdfs_url: String,
    /// The master copy's root path inside HDFS.
    pub hdfs_root: String,
    /// CQL contact points (comma-separated).
    pub cql: String,
    /// The speed views' keyspace.
    pub keyspace: String,
    /// The MySQL server.
    pub mysql: Mysql,
    /// The batch views' database.
    pub db: String,
    /// Where the fan-out agent's Avro source listens.
    pub fanout_port: u16,
    /// Metrics and API ports by service name.
    pub ports: BTreeMap<&'static str, u16>,
    /// A broker of this run's own: the whole suite's topics in the shared
    /// one must not slow the pipeline down.
    pub kafka: PrivateKafka,
    /// With [`Pipeline::over_tls`]: the TLS front every Kafka client goes
    /// through, and the CA the fan-out agent and the speed job trust.
    pub kafka_tls: Option<(TlsFront, PathBuf)>,
    /// The librdkafka properties of the fan-out agent's producer and the
    /// speed job's consumer (TOML lines): TLS or SASL settings, or none.
    pub kafka_properties: String,
}

impl Pipeline {
    /// A pipeline on a broker of its own, without TLS or SASL.
    pub fn new(tag: &str) -> Pipeline {
        Pipeline::with_kafka(tag, PrivateKafka::start(), None, String::new())
    }

    /// A pipeline whose broker requires SASL (SCRAM-SHA-256) with one user;
    /// the fan-out agent and the speed job log in as that user, or with
    /// `wrong_password` (to see the login refused).
    pub fn over_sasl(tag: &str, wrong_password: bool) -> Pipeline {
        let (user, password) = ("clickstream", "scram-test-secret");
        let kafka = PrivateKafka::start_with_sasl_user(user, password);
        let login = if wrong_password { "not-the-password" } else { password };
        Pipeline::with_kafka(tag, kafka, None, PrivateKafka::sasl_client_properties(user, login))
    }

    /// A pipeline whose broker is reached only over TLS; the fan-out agent
    /// and the speed job trust the front's CA, or with `trust_another_ca` a
    /// CA that signed nothing (to see the handshake refused).
    pub fn over_tls(tag: &str, trust_another_ca: bool) -> Pipeline {
        let (kafka, front) = PrivateKafka::start_behind_tls();
        let ca = if trust_another_ca { front.pki.other_ca.clone() } else { front.pki.ca.clone() };
        let properties = front.client_properties(&ca);
        Pipeline::with_kafka(tag, kafka, Some((front, ca)), properties)
    }

    fn with_kafka(tag: &str, kafka: PrivateKafka, kafka_tls: Option<(TlsFront, PathBuf)>, kafka_properties: String) -> Pipeline {
        let name = unique(&format!("e2e-{tag}")).replace('-', "_");
        let mysql = Mysql::from_env();
        let db = format!("clickstream_test_{name}"); // the stack grants the test user clickstream_test*
        mysql.query("", &format!("CREATE DATABASE `{db}`"));
        let ports = ["weblog1", "weblog2", "fanout", "speed", "serve", "serve_api"].into_iter().map(|p| (p, free_port())).collect();
        let p = Pipeline {
            dir: tempfile::tempdir().unwrap(),
            topic: format!("clickstream.{name}"),
            hdfs_url: env_or("HDFS_URL", "hdfs://127.0.0.1:8020"),
            hdfs_root: format!("/clickstream/{name}/master"),
            cql: env_or("CQL_CONTACT_POINTS", "127.0.0.1:9042"),
            keyspace: name.clone(),
            name,
            mysql,
            db,
            fanout_port: free_port(),
            ports,
            kafka,
            kafka_tls,
            kafka_properties,
        };
        for host in HOSTS {
            std::fs::create_dir_all(p.spool(host)).unwrap();
        }
        p
    }

    /// `bootstrap.servers` of the pipeline's clients.
    pub fn brokers(&self) -> String {
        self.kafka_tls.as_ref().map_or_else(|| self.kafka.addr(), |(front, _)| front.addr())
    }

    /// A path inside the run's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `host`'s spool directory.
    pub fn spool(&self, host: &str) -> PathBuf {
        self.path(&format!("spool/{host}"))
    }

    /// The spool agent of web server `host` (release build), sending to this run's fan-out agent.
    pub fn spool_agent(&self, host: &'static str) -> Service {
        let config = format!(
            r#"
[agent]
host = "{host}"
state_dir = "{state}"
[source]
spool_dirs = ["{spool}"]
quiet_period = "300ms"
rescan_interval = "1s"
batch_size = 500
[channel]
min_free_disk_bytes = 0
[sink]
receivers = [{{ address = "127.0.0.1:{fanout}" }}]
batch_size = 500
backoff_initial = "100ms"
health_probe_interval = "1s"
[metrics]
listen = "127.0.0.1:{port}"
"#,
            state = self.path(host).display(),
            spool = self.spool(host).display(),
            fanout = self.fanout_port,
            port = self.ports[host],
        );
        Service::start(&binary("spool-agent"), self.dir.path(), host, &config, self.ports[host])
    }

    /// The fan-out agent (release build): Kafka and HDFS sinks of this run.
    pub fn fanout_agent(&self) -> Service {
        let config = format!(
            r#"
[agent]
instance_id = "{name}"
state_dir = "{state}"
[source]
listen = "127.0.0.1:{listen}"
[sinks.kafka]
brokers = "{brokers}"
topic = "{topic}"
partitions = 4
idempotent = false
linger = "5ms"
[sinks.kafka.producer]
{kafka_properties}[sinks.kafka.channel]
min_free_disk_bytes = 0
[sinks.hdfs]
url = "{hdfs}"
path = "{root}/date=%Y-%m-%d/hour=%H/"
roll_idle = "2s"
[sinks.hdfs.channel]
min_free_disk_bytes = 0
[metrics]
listen = "127.0.0.1:{port}"
"#,
            name = self.name,
            state = self.path("fanout").display(),
            listen = self.fanout_port,
            brokers = self.brokers(),
            kafka_properties = self.kafka_properties,
            topic = self.topic,
            hdfs = self.hdfs_url,
            root = self.hdfs_root,
            port = self.ports["fanout"],
        );
        Service::start(&binary("fanout-agent"), self.dir.path(), "fanout", &config, self.ports["fanout"])
    }

    /// The speed job (release build) on this run's topic and keyspace.
    pub fn speed_job(&self) -> Service {
        let cps: Vec<String> = self.cql.split(',').map(|c| format!("\"{}\"", c.trim())).collect();
        let config = format!(
            r#"
[kafka]
brokers = "{brokers}"
topic = "{topic}"
group_id = "{name}"
[kafka.properties]
{kafka_properties}[cassandra]
contact_points = [{cps}]
keyspace = "{ks}"
ttl = "1d"
request_timeout = "30s"
[windows]
allowed_lateness = "{lateness}ms"
idle_partition_timeout = "30s"  # longer than any restart or broker stall here: kills must not make servers idle
sources = ["weblog1", "weblog2"]
[job]
name = "{name}"
flush_interval = "250ms"
health_failing_after = "2s"
[metrics]
listen = "127.0.0.1:{port}"
"#,
            brokers = self.brokers(),
            kafka_properties = self.kafka_properties,
            topic = self.topic,
            name = self.name,
            cps = cps.join(", "),
            ks = self.keyspace,
            port = self.ports["speed"],
            lateness = LATENESS_MS,
        );
        Service::start(&binary("speed-job"), self.dir.path(), "speed", &config, self.ports["speed"])
    }

    /// Creates the batch layer's tables in this run's database, as the batch
    /// job's migration does (`jobs/batch-job/migrations`), for a `serve`
    /// that runs before any batch run.
    pub fn create_batch_tables(&self) {
        let dir = repo().join("jobs/batch-job/migrations");
        let mut migrations: Vec<PathBuf> =
            std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path().join("up.sql")).filter(|p| p.exists()).collect();
        migrations.sort();
        assert!(!migrations.is_empty(), "no migrations in {}", dir.display());
        for m in migrations {
            self.mysql.query(&self.db, &std::fs::read_to_string(&m).unwrap());
        }
    }

    /// `serve` (release build) over this run's MySQL database and keyspace,
    /// following this run's speed job (its checkpoint is "now"); the API
    /// and dashboard on `http://127.0.0.1:{ports["serve_api"]}/`.
    pub fn serve(&self) -> Service {
        let cps: Vec<String> = self.cql.split(',').map(|c| format!("\"{}\"", c.trim())).collect();
        let config = format!(
            r#"
[http]
listen = "127.0.0.1:{api}"
[mysql]
url = "{mysql}"
[cassandra]
contact_points = [{cps}]
keyspace = "{ks}"
[speed]
job_name = "{name}"
topic = "{topic}"
allowed_lateness = "{lateness}ms"
host_refresh = "1s"
[stream]
interval = "500ms"
[metrics]
listen = "127.0.0.1:{port}"
"#,
            api = self.ports["serve_api"],
            mysql = self.mysql.url(&self.db),
            cps = cps.join(", "),
            ks = self.keyspace,
            name = self.name,
            topic = self.topic,
            lateness = LATENESS_MS,
            port = self.ports["serve"],
        );
        Service::start(&binary("serve"), self.dir.path(), "serve", &config, self.ports["serve"])
    }

    /// The valid lines of `sample-logs/weblog1.txt`, the file the secured
    /// Kafka tests send.
    pub fn weblog1_sample() -> (Vec<u8>, f64) {
        let log = repo().join("sample-logs/weblog1.txt");
        let (hits, _) = oracle::read_log("weblog1", &log);
        (std::fs::read(&log).unwrap(), hits.len() as f64)
    }

    /// Runs the fan-out agent, the speed job and weblog1's spool agent, drops
    /// the weblog1 sample and waits until every valid line went through
    /// Kafka (`how`: the Kafka security in use, for the wait's message).
    /// Returns the services, which keep running until dropped.
    pub fn carry_weblog1_through_kafka(&self, how: &str) -> [Service; 3] {
        let fanout = self.fanout_agent();
        let speed = self.speed_job();
        let spool = self.spool_agent("weblog1");
        let (data, want) = Pipeline::weblog1_sample();
        self.drop_file("weblog1", "weblog1.txt", &data);
        wait_until(Duration::from_secs(180), &format!("every valid line in Kafka over {how} and read back by the speed job over {how}"), || {
            fanout.metric("fanout_agent_sink_events_total", "sink=\"kafka\"") == want && speed.metric("speed_job_events_consumed_total", "") == want
        });
        [fanout, speed, spool]
    }

    /// Drops `data` into `host`'s spool directory as `name`, atomically.
    pub fn drop_file(&self, host: &str, name: &str, data: &[u8]) {
        let staging = self.path(&format!("{host}-{name}.part"));
        std::fs::write(&staging, data).unwrap();
        std::fs::rename(&staging, self.spool(host).join(name)).unwrap();
    }

    /// Runs the batch job for the sample days; returns its exit code.
    pub fn batch_job(&self) -> i32 {
        let config = format!(
            "[source]\nurl = \"{}{}\"\n[mysql]\nurl = \"{}\"\n[completeness]\ngrace_minutes = 0\n",
            self.hdfs_url,
            self.hdfs_root,
            self.mysql.url(&self.db)
        );
        let path = self.path("batch.toml");
        std::fs::write(&path, config).unwrap();
        let out = Command::new(binary("batch-job"))
            .arg("--config")
            .arg(&path)
            .args(["run", "--from", "2026-11-20", "--to", "2026-11-21", "--no-progress"])
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!("batch-job: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        out.status.code().unwrap_or(-1)
    }

    /// Lines rejected into the agents' dead-letter files, per host.
    pub fn dead_letters(&self, host: &str) -> usize {
        files_under(&self.path(host))
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".rejected.jsonl"))
            .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
            .sum()
    }

    /// The batch views in MySQL, in the oracle's shape, for comparing with it.
    pub fn mysql_days(&self) -> BTreeMap<String, oracle::Day> {
        let mut days: BTreeMap<String, oracle::Day> = BTreeMap::new();
        let q = "SELECT day, requests, unique_visitors, success_requests, failure_requests, bytes_sent FROM daily_traffic";
        for r in self.mysql.query(&self.db, q) {
            let n: Vec<u64> = r[1..].iter().map(|v| v.parse().unwrap()).collect();
            let d = days.entry(r[0].clone()).or_default();
            (d.requests, d.visitors, d.success, d.failure, d.bytes) = (n[0], n[1], n[2], n[3], n[4]);
        }
        for r in self.mysql.query(&self.db, "SELECT day, status, requests FROM daily_status_codes") {
            days.get_mut(&r[0]).unwrap().statuses.insert(r[1].parse().unwrap(), r[2].parse().unwrap());
        }
        let q = "SELECT day, hour, requests, unique_visitors, bytes_sent FROM hourly_traffic WHERE requests > 0";
        for r in self.mysql.query(&self.db, q) {
            let n: Vec<u64> = r[2..].iter().map(|v| v.parse().unwrap()).collect();
            days.get_mut(&r[0]).unwrap().hours.insert(r[1].parse().unwrap(), (n[0], n[1], n[2]));
        }
        days
    }

    /// The batch layer's reports by web server, category, path, week and
    /// month, in the oracle's shape (hourly rows with traffic only).
    pub fn mysql_slices(&self, top: usize) -> oracle::Slices {
        let mut out = oracle::Slices::default();
        let n = |v: &str| -> u64 { v.parse().unwrap() };
        let cols = "requests, unique_visitors, success_requests, failure_requests, bytes_sent";
        for r in self.mysql.query(&self.db, &format!("SELECT day, dimension, value, {cols} FROM daily_dimension_traffic")) {
            out.daily.insert((r[0].clone(), r[1].clone(), r[2].clone()), (n(&r[3]), n(&r[4]), n(&r[5]), n(&r[6]), n(&r[7])));
        }
        for r in self.mysql.query(&self.db, &format!("SELECT day, hour, dimension, value, {cols} FROM hourly_dimension_traffic WHERE requests > 0")) {
            out.hourly.insert((r[0].clone(), r[1].parse().unwrap(), r[2].clone(), r[3].clone()), (n(&r[4]), n(&r[5]), n(&r[6]), n(&r[7]), n(&r[8])));
        }
        for r in self.mysql.query(&self.db, &format!("SELECT day, path, requests FROM daily_top_paths WHERE `rank` <= {top} ORDER BY day, `rank`")) {
            out.top_paths.entry(r[0].clone()).or_default().push((r[1].clone(), n(&r[2])));
        }
        for r in self.mysql.query(&self.db, "SELECT week_start, days_reported, requests, unique_visitors FROM weekly_visitors") {
            out.weeks.insert(r[0].clone(), (n(&r[1]), n(&r[2]), n(&r[3])));
        }
        for r in self.mysql.query(&self.db, "SELECT month_start, days_reported, requests, unique_visitors FROM monthly_visitors") {
            out.months.insert(r[0].clone(), (n(&r[1]), n(&r[2]), n(&r[3])));
        }
        out
    }

    /// A CQL session to this run's endpoint.
    pub async fn cql_session(&self) -> Session {
        SessionBuilder::new().known_nodes(self.cql.split(',').map(str::trim)).build().await.expect("CQL session")
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the logs, configs and state of a failed run for a look.
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("pipeline files kept in {}", dir.keep().display());
        } else {
            self.mysql.query("", &format!("DROP DATABASE IF EXISTS `{}`", self.db));
        }
    }
}

/// Every file below `root`, at any depth (none when it does not exist).
pub fn files_under(root: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// Waits until both agents have delivered every file, every channel is
/// empty and the speed job has read everything. Judged by durable facts
/// (completed files, channel depths, unread records), not by counters, which
/// start from zero again when a process is restarted.
pub fn wait_delivered(p: &Pipeline, svc: &BTreeMap<&str, Service>, files_per_host: usize, timeout: Duration) {
    let completed =
        |host: &str| std::fs::read_dir(p.spool(host)).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".COMPLETED")).count();
    wait_until(timeout, "every file completed, every channel empty, the speed job caught up", || {
        let known = svc["speed"].try_metrics().is_some_and(|m| m.contains("speed_job_unread_records{"));
        HOSTS.iter().all(|h| completed(h) == files_per_host && svc[h].metric("spool_agent_channel_events", "") == 0.0)
            && svc["fanout"].metric("fanout_agent_channel_events", "") == 0.0
            && known
            && svc["speed"].metric("speed_job_unread_records", "") == 0.0
    });
}

/// The watermark of the speed job's merged views: the oldest partition
/// watermark its checkpoints record (written after the rows they depend
/// on), once every window ending by then has its final merged rows (none
/// is left in `speed_pending_windows`); `None` before.
pub async fn merged_watermark(s: &Session, p: &Pipeline) -> Option<i64> {
    let q = format!("SELECT closed_through FROM {}.speed_checkpoints WHERE job = ? AND topic = ?", p.keyspace);
    let r = s.query_unpaged(q, (&p.name, &p.topic)).await.ok()?.into_rows_result().ok()?;
    let wm = r.rows::<(i64,)>().ok()?.filter_map(|r| r.ok()).map(|r| r.0).min()?;
    let q = format!("SELECT window_end FROM {}.speed_pending_windows WHERE job = ? AND topic = ? AND window_end <= ?", p.keyspace);
    let pending = s.query_unpaged(q, (&p.name, &p.topic, scylla::value::CqlTimestamp(wm))).await.ok()?.into_rows_result().ok()?.rows_num();
    (pending == 0).then_some(wm)
}
