//! Shared helpers of the integration tests: the master-copy writer (what the
//! fan-out agent's HDFS sink writes: Avro container files with the ClickEvent
//! schema, written here with `apache_avro::Writer`), an independent
//! computation of the expected reports, a throw-away MySQL database, and
//! running the real binary.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use apache_avro::{Codec, DeflateSettings, Writer};
use chrono::{DateTime, NaiveDate, Timelike};
use clickstream_contract::schema::click_event_schema;
use clickstream_contract::ClickEvent;
use clickstream_logparse::{LineOrigin, Parser};
use diesel::prelude::*;
use diesel::sql_types::{Bigint, Bool, Date, Integer, Nullable, Text, Unsigned};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn hdfs_url() -> String {
    std::env::var("HDFS_URL").unwrap_or_else(|_| "hdfs://127.0.0.1:8020".into())
}

pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://clickstream:clickstream@127.0.0.1:3306/clickstream".into())
}

pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}_{:08x}", std::process::id(), rand::random::<u32>())
}

/// Parses a log file with the real parser, as a spool agent would.
pub fn parse_log(path: &Path, host: &str) -> Vec<ClickEvent<'static>> {
    let data = std::fs::read(path).unwrap();
    let parser = Parser::default();
    let fingerprint = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&data));
    let file = path.display().to_string();
    let mut out = Vec::new();
    let mut offset = 0usize;
    for line in data.split_inclusive(|b| *b == b'\n') {
        let origin = LineOrigin { source_host: host, source_file: &file, file_fingerprint: &fingerprint, byte_offset: offset as u64 };
        if let Ok(e) = parser.parse_event(line, &origin) {
            out.push(e.into_owned());
        }
        offset += line.len();
    }
    out
}

pub fn partition(e: &ClickEvent) -> (NaiveDate, u32) {
    let t = DateTime::from_timestamp_millis(e.event_time_ms).unwrap();
    (t.date_naive(), t.hour())
}

/// One container file with one block per group, encoded with apache-avro's
/// own writer (a flush ends a block), and the byte range of each block's
/// data (between its header and its sync marker).
pub fn container_blocks(groups: &[Vec<&ClickEvent>], codec: Codec) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let schema = click_event_schema();
    let mut w = Writer::builder().schema(schema).writer(Vec::new()).codec(codec).block_size(1 << 30).build().unwrap();
    for group in groups {
        for e in group {
            let datum = e.to_datum();
            #[allow(deprecated)]
            let value = apache_avro::from_avro_datum(schema, &mut &datum[..], None).unwrap();
            w.append_value(value).unwrap();
        }
        w.flush().unwrap();
    }
    let bytes = w.into_inner().unwrap();
    // Every block, and the header, end with the file's sync marker (its last 16 bytes).
    let sync = bytes[bytes.len() - 16..].to_vec();
    let ends: Vec<usize> = (0..bytes.len() - 15).filter(|&i| bytes[i..i + 16] == sync[..]).map(|i| i + 16).collect();
    assert_eq!(ends.len(), groups.len() + 1, "header plus one block per group");
    let ranges = ends.windows(2).map(|w| w[0]..w[1] - 16).collect();
    (bytes, ranges)
}

/// One container file, encoded with apache-avro's own writer.
pub fn container_bytes(events: &[&ClickEvent], codec: Codec) -> Vec<u8> {
    let schema = click_event_schema();
    let mut w = Writer::builder().schema(schema).writer(Vec::new()).codec(codec).block_size(16 * 1024).build().unwrap();
    for e in events {
        let datum = e.to_datum();
        #[allow(deprecated)]
        let value = apache_avro::from_avro_datum(schema, &mut &datum[..], None).unwrap();
        w.append_value(value).unwrap();
    }
    w.into_inner().unwrap()
}

/// The event ids in a container file, read with apache-avro's reader.
pub fn ids_in(bytes: &[u8]) -> HashSet<String> {
    let reader = apache_avro::Reader::new(bytes).unwrap();
    reader
        .map(|v| match v.unwrap() {
            apache_avro::types::Value::Record(fields) => match &fields[0].1 {
                apache_avro::types::Value::String(s) => s.clone(),
                other => panic!("event_id is {other:?}"),
            },
            other => panic!("record expected, got {other:?}"),
        })
        .collect()
}

pub fn codecs() -> [Codec; 3] {
    [Codec::Deflate(DeflateSettings::default()), Codec::Snappy, Codec::Null]
}

/// Where fixture files go.
pub enum Target {
    Local(PathBuf),
    Hdfs { client: hdfs_native::Client, root: String },
}

impl Target {
    pub fn local(dir: &Path) -> Target {
        Target::Local(dir.to_path_buf())
    }

    pub fn hdfs(root: &str) -> Target {
        let client = hdfs_native::ClientBuilder::new().with_url(hdfs_url()).build().unwrap();
        Target::Hdfs { client, root: root.to_string() }
    }

    /// The URL the batch job is given.
    pub fn url(&self) -> String {
        match self {
            Target::Local(d) => format!("file://{}", d.display()),
            Target::Hdfs { root, .. } => format!("{}{root}", hdfs_url()),
        }
    }

    pub fn put(&self, rel: &str, bytes: Vec<u8>) {
        match self {
            Target::Local(d) => {
                let p = d.join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
            Target::Hdfs { client, root } => {
                let path = format!("{root}/{rel}");
                rt().block_on(async {
                    let opts = hdfs_native::WriteOptions::default().overwrite(true).create_parent(true);
                    let mut w = client.create(&path, opts).await.unwrap();
                    w.write_bytes(bytes::Bytes::from(bytes)).await.unwrap();
                    w.close().await.unwrap();
                });
            }
        }
    }

    pub fn remove(&self, rel: &str) {
        match self {
            Target::Local(d) => std::fs::remove_file(d.join(rel)).unwrap(),
            Target::Hdfs { client, root } => {
                rt().block_on(client.delete(&format!("{root}/{rel}"), false)).unwrap();
            }
        }
    }

    pub fn cleanup(&self) {
        if let Target::Hdfs { client, root } = self {
            let _ = rt().block_on(client.delete(root, true));
        }
    }

    /// Writes `events` as the HDFS sink would: per (day, hour) partition,
    /// `files_per_hour` files named `<instance>-<first_event_ms>-<seq>.avro`,
    /// cycling through the codecs. Returns the relative paths written.
    pub fn write_master(&self, instance: &str, events: &[ClickEvent], files_per_hour: usize) -> Vec<String> {
        let mut parts: BTreeMap<(NaiveDate, u32), Vec<&ClickEvent>> = BTreeMap::new();
        for e in events {
            parts.entry(partition(e)).or_default().push(e);
        }
        let mut files = Vec::new();
        let mut seq = 0;
        for ((day, hour), evs) in parts {
            let per = evs.len().div_ceil(files_per_hour).max(1);
            for chunk in evs.chunks(per) {
                let codec = codecs()[seq % 3];
                let first = chunk.iter().map(|e| e.event_time_ms).min().unwrap();
                let rel = format!("date={day}/hour={hour:02}/{instance}-{first}-{seq}.avro");
                files.push((rel, container_bytes(chunk, codec)));
                seq += 1;
            }
        }
        let written = files.iter().map(|(rel, _)| rel.clone()).collect();
        self.put_all(files);
        written
    }

    /// Writes many files; on HDFS concurrently (each close waits for the
    /// DataNode, so one at a time would take most of the test's time).
    pub fn put_all(&self, files: Vec<(String, Vec<u8>)>) {
        match self {
            Target::Local(_) => files.into_iter().for_each(|(rel, b)| self.put(&rel, b)),
            Target::Hdfs { client, root } => rt().block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for (rel, b) in files {
                    let (client, path) = (client.clone(), format!("{root}/{rel}"));
                    set.spawn(async move {
                        let opts = hdfs_native::WriteOptions::default().overwrite(true).create_parent(true);
                        let mut w = client.create(&path, opts).await.unwrap();
                        w.write_bytes(bytes::Bytes::from(b)).await.unwrap();
                        w.close().await.unwrap();
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            }),
        }
    }
}

pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

// ------------------------------------------------------------------ expectations

/// A day's expected report rows, computed here without the job's code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayRows {
    pub requests: u64,
    pub unique_visitors: u64,
    pub success: u64,
    pub failure: u64,
    pub bytes: u64,
    pub status: BTreeMap<u16, u64>,
    /// hour -> (requests, unique visitors, bytes, success, failure)
    pub hours: BTreeMap<u8, (u64, u64, u64, u64, u64)>,
}

/// The straightforward way: a set of seen ids, a set of visitor strings.
pub fn expected(events: &[ClickEvent], with_user_agent: bool, success_below: i32) -> BTreeMap<NaiveDate, DayRows> {
    let mut seen = HashSet::new();
    let mut visitors: BTreeMap<NaiveDate, HashSet<String>> = BTreeMap::new();
    let mut hour_visitors: BTreeMap<(NaiveDate, u32), HashSet<String>> = BTreeMap::new();
    let mut out: BTreeMap<NaiveDate, DayRows> = BTreeMap::new();
    for e in events {
        if !seen.insert(e.event_id.to_string()) {
            continue;
        }
        let (day, hour) = partition(e);
        let v = if with_user_agent { format!("{}|{}", e.client_addr, e.user_agent.as_deref().unwrap_or("")) } else { e.client_addr.to_string() };
        let d = out.entry(day).or_default();
        for h in 0..24u8 {
            d.hours.entry(h).or_insert((0, 0, 0, 0, 0));
        }
        let bytes = e.response_bytes.unwrap_or(0) as u64;
        let ok = e.status < success_below;
        d.requests += 1;
        d.bytes += bytes;
        if ok {
            d.success += 1
        } else {
            d.failure += 1
        }
        *d.status.entry(e.status as u16).or_insert(0) += 1;
        let hr = d.hours.get_mut(&(hour as u8)).unwrap();
        hr.0 += 1;
        hr.2 += bytes;
        if ok {
            hr.3 += 1
        } else {
            hr.4 += 1
        }
        visitors.entry(day).or_default().insert(v.clone());
        hour_visitors.entry((day, hour)).or_default().insert(v);
    }
    for (day, d) in out.iter_mut() {
        d.unique_visitors = visitors[day].len() as u64;
        for (h, row) in d.hours.iter_mut() {
            row.1 = hour_visitors.get(&(*day, u32::from(*h))).map_or(0, |s| s.len() as u64);
        }
    }
    out
}

// ------------------------------------------------------------------ MySQL

/// A database of its own for one test, dropped at the end.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn create() -> TestDb {
        let base = mysql_url();
        let name = unique_name("clickstream_test");
        let mut c = MysqlConnection::establish(&base).unwrap_or_else(|e| panic!("MariaDB at {base}: {e}. Start it with `scripts/stack up mariadb`."));
        diesel::sql_query(format!("CREATE DATABASE `{name}`")).execute(&mut c).unwrap();
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        TestDb { name, url }
    }

    pub fn conn(&self) -> MysqlConnection {
        MysqlConnection::establish(&self.url).unwrap()
    }

    /// Everything the reports hold, per day.
    pub fn rows(&self) -> BTreeMap<NaiveDate, DayRows> {
        #[derive(QueryableByName)]
        struct D {
            #[diesel(sql_type = Date)]
            day: NaiveDate,
            #[diesel(sql_type = Unsigned<Bigint>)]
            requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            unique_visitors: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            success_requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            failure_requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            bytes_sent: u64,
        }
        #[derive(QueryableByName)]
        struct S {
            #[diesel(sql_type = Date)]
            day: NaiveDate,
            #[diesel(sql_type = Integer)]
            status: i32,
            #[diesel(sql_type = Unsigned<Bigint>)]
            requests: u64,
        }
        #[derive(QueryableByName)]
        struct H {
            #[diesel(sql_type = Date)]
            day: NaiveDate,
            #[diesel(sql_type = Integer)]
            hour: i32,
            #[diesel(sql_type = Unsigned<Bigint>)]
            requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            unique_visitors: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            bytes_sent: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            success_requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            failure_requests: u64,
        }
        let mut c = self.conn();
        // One consistent snapshot of all three tables.
        c.transaction(|c| {
            let days: Vec<D> = diesel::sql_query(
                "SELECT day, requests, unique_visitors, success_requests, failure_requests, bytes_sent FROM daily_traffic",
            )
            .load(c)?;
            let codes: Vec<S> = diesel::sql_query("SELECT day, CAST(status AS SIGNED) AS status, requests FROM daily_status_codes").load(c)?;
            let hours: Vec<H> = diesel::sql_query(
                "SELECT day, CAST(hour AS SIGNED) AS hour, requests, unique_visitors, bytes_sent, success_requests, failure_requests FROM hourly_traffic",
            )
            .load(c)?;
            let mut out: BTreeMap<NaiveDate, DayRows> = BTreeMap::new();
            for d in days {
                out.insert(
                    d.day,
                    DayRows {
                        requests: d.requests,
                        unique_visitors: d.unique_visitors,
                        success: d.success_requests,
                        failure: d.failure_requests,
                        bytes: d.bytes_sent,
                        ..DayRows::default()
                    },
                );
            }
            for s in codes {
                out.entry(s.day).or_default().status.insert(s.status as u16, s.requests);
            }
            for h in hours {
                out.entry(h.day).or_default().hours.insert(
                    h.hour as u8,
                    (h.requests, h.unique_visitors, h.bytes_sent, h.success_requests, h.failure_requests),
                );
            }
            Ok::<_, diesel::result::Error>(out)
        })
        .unwrap()
    }

    /// (outcome, files_read, files_in_progress, files_corrupt, events_read, events_unique, inputs, error) per run.
    pub fn runs(&self) -> Vec<Run> {
        diesel::sql_query(
            "SELECT run_id, outcome, reason, CAST(files_read AS SIGNED) AS files_read, CAST(files_in_progress AS SIGNED) AS files_in_progress, \
             CAST(files_corrupt AS SIGNED) AS files_corrupt, CAST(records_skipped AS SIGNED) AS records_skipped, CAST(blocks_skipped AS SIGNED) AS blocks_skipped, CAST(events_read AS SIGNED) AS events_read, \
             CAST(events_unique AS SIGNED) AS events_unique, inputs, error, finished_at IS NOT NULL AS finished \
             FROM batch_runs ORDER BY run_id",
        )
        .load(&mut self.conn())
        .unwrap()
    }
}

#[derive(QueryableByName, Debug)]
pub struct Run {
    #[diesel(sql_type = Unsigned<Bigint>)]
    pub run_id: u64,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Bigint)]
    pub files_read: i64,
    #[diesel(sql_type = Bigint)]
    pub files_in_progress: i64,
    #[diesel(sql_type = Bigint)]
    pub files_corrupt: i64,
    #[diesel(sql_type = Bigint)]
    pub records_skipped: i64,
    #[diesel(sql_type = Bigint)]
    pub blocks_skipped: i64,
    #[diesel(sql_type = Bigint)]
    pub events_read: i64,
    #[diesel(sql_type = Bigint)]
    pub events_unique: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub inputs: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Bool)]
    pub finished: bool,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = MysqlConnection::establish(&mysql_url()) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS `{}`", self.name)).execute(&mut c);
        }
    }
}

/// The one text column `v` of every row `sql` returns.
pub fn texts(c: &mut MysqlConnection, sql: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Text1 {
        #[diesel(sql_type = Text)]
        v: String,
    }
    diesel::sql_query(sql).load::<Text1>(c).unwrap().into_iter().map(|r| r.v).collect()
}

// ------------------------------------------------------------------ the binary

pub fn batch_job() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_batch-job"));
    c.env_remove("BATCH_JOB_CONFIG").env_remove("BATCH_JOB_SOURCE_URL").env_remove("BATCH_JOB_MYSQL_URL");
    c.env("RUST_LOG", "warn");
    c
}

pub fn run(args: &[&str], source: &str, db: &str) -> Output {
    let out = batch_job().args(["--source", source, "--mysql-url", db]).args(args).output().unwrap();
    eprintln!(
        "batch-job {args:?} -> {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn sample_events() -> Vec<ClickEvent<'static>> {
    let root = repo_root();
    let mut events = parse_log(&root.join("sample-logs/weblog1.txt"), "web1");
    events.extend(parse_log(&root.join("sample-logs/weblog2.txt"), "web2"));
    events
}

pub fn apache_events() -> Vec<ClickEvent<'static>> {
    parse_log(&repo_root().join("tests/data/apache_logs"), "elastic")
}

/// A few events again, as a retried delivery would write them (another
/// instance, same hour partitions).
pub fn redelivery(events: &[ClickEvent<'static>], every: usize) -> Vec<ClickEvent<'static>> {
    events.iter().step_by(every).cloned().collect()
}

// ------------------------------------------------------------------ slices (issue 22)

/// One slice's expected counters: (requests, unique visitors, success, failure, bytes).
pub type Slice = (u64, u64, u64, u64, u64);

/// One ranked path: (path, requests, success, failure, bytes).
pub type RankedPath = (String, u64, u64, u64, u64);

/// Every slice the new reports hold, computed here from the parsed events:
/// sets of seen ids and visitor strings, nothing of the job's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Slices {
    /// (day, dimension, value) -> the day.
    pub daily: BTreeMap<(NaiveDate, String, String), Slice>,
    /// (day, hour, dimension, value) -> the hour; hours without traffic of a value seen that day are zeros.
    pub hourly: BTreeMap<(NaiveDate, u8, String, String), Slice>,
    /// day -> (path, requests, success, failure, bytes), most requested first, ties by path.
    pub top_paths: BTreeMap<NaiveDate, Vec<RankedPath>>,
    /// Monday -> (days with data, requests, distinct visitors over the week).
    pub weeks: BTreeMap<NaiveDate, (u64, u64, u64)>,
    /// First of the month -> (days with data, requests, distinct visitors over the month).
    pub months: BTreeMap<NaiveDate, (u64, u64, u64)>,
}

/// The straightforward way, with success = status < 400 and visitor = client address.
pub fn expected_slices(events: &[ClickEvent], top_paths: usize) -> Slices {
    use chrono::Datelike;
    let mut seen = HashSet::new();
    let mut visitors: BTreeMap<(NaiveDate, Option<u8>, String, String), HashSet<String>> = BTreeMap::new();
    let mut counts: BTreeMap<(NaiveDate, Option<u8>, String, String), Slice> = BTreeMap::new();
    let mut paths: BTreeMap<NaiveDate, BTreeMap<String, RankedPath>> = BTreeMap::new();
    let mut weeks: BTreeMap<NaiveDate, (BTreeSet<NaiveDate>, u64, HashSet<String>)> = BTreeMap::new();
    let mut months: BTreeMap<NaiveDate, (BTreeSet<NaiveDate>, u64, HashSet<String>)> = BTreeMap::new();
    for e in events {
        if !seen.insert(e.event_id.to_string()) {
            continue;
        }
        let (day, hour) = partition(e);
        let bytes = e.response_bytes.unwrap_or(0) as u64;
        let ok = e.status < 400;
        for (dimension, value) in [("server", e.source_host.to_string()), ("category", e.category.to_string())] {
            for h in [None, Some(hour as u8)] {
                let key = (day, h, dimension.to_string(), value.clone());
                let c = counts.entry(key.clone()).or_default();
                c.0 += 1;
                c.4 += bytes;
                if ok {
                    c.2 += 1
                } else {
                    c.3 += 1
                }
                visitors.entry(key).or_default().insert(e.client_addr.to_string());
            }
        }
        let p = paths.entry(day).or_default().entry(e.path.to_string()).or_insert_with(|| (e.path.to_string(), 0, 0, 0, 0));
        p.1 += 1;
        p.4 += bytes;
        if ok {
            p.2 += 1
        } else {
            p.3 += 1
        }
        let monday = day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()));
        for (map, start) in [(&mut weeks, monday), (&mut months, day.with_day(1).unwrap())] {
            let r = map.entry(start).or_default();
            r.0.insert(day);
            r.1 += 1;
            r.2.insert(e.client_addr.to_string());
        }
    }
    let mut out = Slices::default();
    for ((day, hour, dimension, value), mut c) in counts {
        c.1 = visitors[&(day, hour, dimension.clone(), value.clone())].len() as u64;
        match hour {
            None => {
                for h in 0..24u8 {
                    out.hourly.entry((day, h, dimension.clone(), value.clone())).or_default();
                }
                out.daily.insert((day, dimension, value), c);
            }
            Some(h) => {
                out.hourly.insert((day, h, dimension, value), c);
            }
        }
    }
    for (day, p) in paths {
        let mut ranked: Vec<RankedPath> = p.into_values().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(top_paths);
        out.top_paths.insert(day, ranked);
    }
    let finish = |m: BTreeMap<NaiveDate, (BTreeSet<NaiveDate>, u64, HashSet<String>)>| {
        m.into_iter().map(|(k, (days, n, v))| (k, (days.len() as u64, n, v.len() as u64))).collect()
    };
    out.weeks = finish(weeks);
    out.months = finish(months);
    out
}

impl TestDb {
    /// What the new tables hold, in the shape of [`Slices`].
    pub fn slices(&self) -> Slices {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Date)]
            day: NaiveDate,
            #[diesel(sql_type = Integer)]
            hour: i32,
            #[diesel(sql_type = Text)]
            dimension: String,
            #[diesel(sql_type = Text)]
            value: String,
            #[diesel(sql_type = Unsigned<Bigint>)]
            requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            unique_visitors: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            success_requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            failure_requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            bytes_sent: u64,
        }
        #[derive(QueryableByName)]
        struct Path {
            #[diesel(sql_type = Date)]
            day: NaiveDate,
            #[diesel(sql_type = Text)]
            path: String,
            #[diesel(sql_type = Unsigned<Bigint>)]
            requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            success_requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            failure_requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            bytes_sent: u64,
        }
        #[derive(QueryableByName)]
        struct Range {
            #[diesel(sql_type = Date)]
            start: NaiveDate,
            #[diesel(sql_type = Bigint)]
            days_reported: i64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            requests: u64,
            #[diesel(sql_type = Unsigned<Bigint>)]
            unique_visitors: u64,
        }
        let mut c = self.conn();
        let cols = "dimension, value, requests, unique_visitors, success_requests, failure_requests, bytes_sent";
        let daily: Vec<Row> = diesel::sql_query(format!("SELECT day, -1 AS hour, {cols} FROM daily_dimension_traffic")).load(&mut c).unwrap();
        let hourly: Vec<Row> =
            diesel::sql_query(format!("SELECT day, CAST(hour AS SIGNED) AS hour, {cols} FROM hourly_dimension_traffic")).load(&mut c).unwrap();
        let paths: Vec<Path> =
            diesel::sql_query("SELECT day, path, requests, success_requests, failure_requests, bytes_sent FROM daily_top_paths ORDER BY day, `rank`")
                .load(&mut c)
                .unwrap();
        let range = |sql: &str| -> BTreeMap<NaiveDate, (u64, u64, u64)> {
            let rows: Vec<Range> = diesel::sql_query(sql).load(&mut self.conn()).unwrap();
            rows.into_iter().map(|r| (r.start, (r.days_reported as u64, r.requests, r.unique_visitors))).collect()
        };
        let slice = |r: &Row| (r.requests, r.unique_visitors, r.success_requests, r.failure_requests, r.bytes_sent);
        let mut out = Slices {
            daily: daily.iter().map(|r| ((r.day, r.dimension.clone(), r.value.clone()), slice(r))).collect(),
            hourly: hourly.iter().map(|r| ((r.day, r.hour as u8, r.dimension.clone(), r.value.clone()), slice(r))).collect(),
            weeks: range(
                "SELECT week_start AS start, CAST(days_reported AS SIGNED) AS days_reported, requests, unique_visitors FROM weekly_visitors",
            ),
            months: range(
                "SELECT month_start AS start, CAST(days_reported AS SIGNED) AS days_reported, requests, unique_visitors FROM monthly_visitors",
            ),
            ..Slices::default()
        };
        for p in paths {
            out.top_paths.entry(p.day).or_default().push((p.path, p.requests, p.success_requests, p.failure_requests, p.bytes_sent));
        }
        out
    }
}
