//! Writes the seed corpora of the fuzz targets, `fuzz/corpus/<target>/`, from
//! the repository's real data through the project's own encoders:
//!
//! ```text
//! cargo run -p clickstream-fuzz-targets --example seed_corpus
//! ```
//!
//! Deterministic: running it again rewrites the same files (a target's
//! directory is emptied first), so the corpora in git are reproducible.
//! Seeds are small on purpose: the fuzzer mutates short inputs faster, and
//! a handful per target covers each decoder's paths (codecs, headers,
//! handshake variants, positions); the fuzzer finds the rest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use apache_avro::{Codec, DeflateSettings, Writer};
use clickstream_avro_ipc::handshake::HandshakeRequest;
use clickstream_avro_ipc::{avro, call, flume, frame, protocol};
use clickstream_channel::{Channel, ChannelConfig, DurableChannel, Position};
use clickstream_contract::schema::click_event_schema;
use clickstream_contract::ClickEvent;
use clickstream_fuzz_targets::{container_partition, TARGETS};
use clickstream_logparse::{LineOrigin, Parser};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let logs = [
        std::fs::read(root.join("sample-logs/weblog1.txt")).expect("sample-logs/weblog1.txt"),
        std::fs::read(root.join("sample-logs/weblog2.txt")).expect("sample-logs/weblog2.txt"),
        std::fs::read(root.join("tests/data/apache_logs")).expect("tests/data/apache_logs"),
    ];
    // A few lines spread over each log: beginnings, middles, odd ones.
    let lines: Vec<&[u8]> = logs.iter().flat_map(|log| log.split_inclusive(|b| *b == b'\n').step_by(397).take(8)).collect();
    let events = parse(&lines);
    let corpus = |name: &str| Corpus::new(&root, name);

    let mut c = corpus("log_line");
    lines.iter().for_each(|l| c.add(l));
    events.iter().take(6).for_each(|e| c.add(regex_format_line(e).as_bytes()));

    let mut c = corpus("click_event");
    for e in events.iter().take(8) {
        c.add(&e.to_datum());
        let mut single = Vec::new();
        e.encode_single_object(&mut single);
        c.add(&single);
    }

    let bodies = flume_bodies(&events, &lines);
    let mut c = corpus("flume_batch");
    for n in [1, 2, 5] {
        c.add(&[&[0u8][..], &append_batch(&bodies[..n])].concat());
    }
    c.add(&[&[1u8][..], &bodies[3]].concat());

    let mut c = corpus("ipc_request");
    for (with_protocol, n) in [(false, 1), (true, 3)] {
        c.add(&connection(with_protocol, &bodies[..n]));
    }

    let mut c = corpus("container_file");
    let (day, hour) = container_partition();
    let in_hour: Vec<&ClickEvent> = events_of_hour(&logs[0], day, hour);
    for codec in [Codec::Null, Codec::Deflate(DeflateSettings::default()), Codec::Snappy] {
        c.add(&container(&in_hour[..4], 4, codec));
        c.add(&container(&in_hour, 3, codec));
    }
    // A file of a next schema version (a field added with a default): the
    // reader's resolving path, which the current files never take.
    c.add(&container_next(&in_hour, 3, Codec::Deflate(DeflateSettings::default())));

    let mut c = corpus("wal_segment");
    let segment = wal_segment(&bodies);
    c.add(&[&[0u8][..], &segment].concat());
    c.add(&[&[1u8][..], &segment].concat());
    Corpus::check_all_written(&root);
}

/// One target's corpus directory, emptied and filled with numbered files.
struct Corpus {
    dir: PathBuf,
    next: usize,
}

impl Corpus {
    fn new(root: &Path, name: &str) -> Corpus {
        assert!(TARGETS.iter().any(|(n, _)| *n == name), "no target named {name}");
        let dir = root.join("fuzz/corpus").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        Corpus { dir, next: 0 }
    }

    fn add(&mut self, data: &[u8]) {
        std::fs::write(self.dir.join(format!("seed-{:03}", self.next)), data).expect("seed file");
        self.next += 1;
    }

    /// Every target got seeds: a new target must be added here too.
    fn check_all_written(root: &Path) {
        for (name, _) in TARGETS {
            assert!(root.join("fuzz/corpus").join(name).read_dir().is_ok_and(|mut d| d.next().is_some()), "no seeds written for {name}");
        }
    }
}

fn parse(lines: &[&[u8]]) -> Vec<ClickEvent<'static>> {
    let parser = Parser::default();
    let mut offset = 0;
    let mut out = Vec::new();
    for line in lines {
        let origin =
            LineOrigin { source_host: "web1", source_file: "/var/log/nginx/access.log", file_fingerprint: "5f0c3e1a9b7d2468", byte_offset: offset };
        if let Ok(e) = parser.parse_event(line, &origin) {
            out.push(e.into_owned());
        }
        offset += line.len() as u64;
    }
    out
}

/// The event as a line of the log_line target's regex format.
fn regex_format_line(e: &ClickEvent) -> String {
    let time = chrono::DateTime::from_timestamp_millis(e.event_time_ms).expect("event time").to_rfc3339();
    let opt = |s: &Option<std::borrow::Cow<str>>| s.as_deref().unwrap_or("-").to_string();
    let bytes = e.response_bytes.map_or("-".to_string(), |b| b.to_string());
    format!(
        "{time} {} {} {} {} {} {} {bytes} \"{}\" \"{}\"\n",
        e.client_addr,
        opt(&e.remote_user),
        e.method,
        e.path,
        e.protocol,
        e.status,
        opt(&e.referrer),
        opt(&e.user_agent)
    )
}

/// Flume events as senders write them: single-object ClickEvents from the
/// spool agent, and raw lines with a stock Flume agent's headers.
fn flume_bodies(events: &[ClickEvent], lines: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (e, line) in events.iter().zip(lines).take(6) {
        let mut single = Vec::new();
        e.encode_single_object(&mut single);
        let mut event = Vec::new();
        flume::encode_event(&[], &single, &mut event);
        out.push(event);
        let mut event = Vec::new();
        flume::encode_event(&[("host", "web2"), ("timestamp", "1795136407000")], line, &mut event);
        out.push(event);
    }
    out
}

fn append_batch(events: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    flume::encode_append_batch(events, &mut out);
    out
}

/// A client's first frames: handshake (with the protocol text or without,
/// as Java sends it before and after a `NONE`), `appendBatch`, then `append`.
fn connection(with_protocol: bool, events: &[Vec<u8>]) -> Vec<u8> {
    let hash = protocol::md5();
    let request =
        HandshakeRequest { client_hash: hash, client_protocol: with_protocol.then(|| protocol::text().to_string()), server_hash: hash, meta: None };
    let mut first = Vec::new();
    request.encode(&mut first);
    call::encode_request_header(protocol::APPEND_BATCH, &mut first);
    first.extend_from_slice(&append_batch(events));
    let mut second = Vec::new();
    avro::put_long(&mut second, 0);
    avro::put_str(&mut second, protocol::APPEND);
    second.extend_from_slice(&events[0]);
    let mut out = Vec::new();
    frame::encode(1, &first, &mut out).expect("frame");
    frame::encode(2, &second, &mut out).expect("frame");
    out
}

fn events_of_hour(log: &[u8], day: chrono::NaiveDate, hour: u8) -> Vec<&'static ClickEvent<'static>> {
    let lines: Vec<&[u8]> = log.split_inclusive(|b| *b == b'\n').take(200).collect();
    let start = clickstream_day_hour_ms(day, hour);
    let events: Vec<ClickEvent<'static>> =
        parse(&lines).into_iter().filter(|e| (start..start + 3_600_000).contains(&e.event_time_ms)).take(9).collect();
    assert!(events.len() >= 4, "sample-logs/weblog1.txt starts in the container target's hour");
    Box::leak(events.into_boxed_slice()).iter().collect()
}

fn clickstream_day_hour_ms(day: chrono::NaiveDate, hour: u8) -> i64 {
    day.and_hms_opt(hour.into(), 0, 0).expect("hour").and_utc().timestamp_millis()
}

/// A container file written by apache-avro's own writer, `per_block`
/// records a block (a flush ends a block).
fn container(events: &[&ClickEvent], per_block: usize, codec: Codec) -> Vec<u8> {
    let schema = click_event_schema();
    let mut w = Writer::builder().schema(schema).writer(Vec::new()).codec(codec).block_size(1 << 20).build().expect("writer");
    for block in events.chunks(per_block) {
        for e in block {
            let datum = e.to_datum();
            #[allow(deprecated)]
            let value = apache_avro::from_avro_datum(schema, &mut &datum[..], None).expect("datum");
            w.append_value(value).expect("append");
        }
        w.flush().expect("flush");
    }
    w.into_inner().expect("container")
}

/// Like [`container`], with the current schema plus a `tenant` field
/// (default "main") after `category`, as a next version would write.
fn container_next(events: &[&ClickEvent], per_block: usize, codec: Codec) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(clickstream_contract::schema::CLICK_EVENT_SCHEMA_JSON).expect("schema JSON");
    let fields = v["fields"].as_array_mut().expect("fields");
    let at = fields.iter().position(|f| f["name"] == "category").expect("category") + 1;
    fields.insert(at, serde_json::json!({"name": "tenant", "type": "string", "default": "main"}));
    let next = apache_avro::Schema::parse(&v).expect("next schema");
    let current = click_event_schema();
    let mut w = Writer::builder().schema(&next).writer(Vec::new()).codec(codec).block_size(1 << 20).build().expect("writer");
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(current).reader_schema(&next).build().expect("resolving reader");
    for block in events.chunks(per_block) {
        for e in block {
            w.append_value(reader.read_value(&mut &e.to_datum()[..]).expect("datum")).expect("append");
        }
        w.flush().expect("flush");
    }
    w.into_inner().expect("container")
}

/// A segment written by the real durable channel: puts with and without
/// positions, some taken and committed, as a running agent leaves it.
fn wal_segment(events: &[Vec<u8>]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("clickstream-seed-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ChannelConfig { dir: Some(dir.clone()), fsync: false, min_free_disk_bytes: 0, ..Default::default() };
    {
        let channel = DurableChannel::open(&config).expect("channel");
        for (i, pair) in events.chunks(2).take(3).enumerate() {
            let batch: Vec<&[u8]> = pair.iter().map(|e| e.as_slice()).collect();
            let position = (i % 2 == 0).then(|| Position { key: "5f0c3e1a9b7d2468".into(), value: (i as u64 * 100).to_le_bytes().to_vec() });
            channel.put(&batch, position, Duration::ZERO).expect("put");
        }
        let taken = channel.take(2, Duration::ZERO).expect("take").expect("a batch");
        channel.commit(taken.id).expect("commit");
    }
    let segment = std::fs::read(dir.join(format!("{:020}.wal", 1))).expect("segment 1");
    let _ = std::fs::remove_dir_all(&dir);
    segment
}
