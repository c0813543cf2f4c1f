//! The real `fanout-agent` binary with the real Tansu broker and the real
//! Hadoop HDFS (both from `scripts/stack`): Apache Avro's Java client sends,
//! every event lands in Kafka and exactly once in the HDFS master copy.

mod common;

use std::time::{Duration, Instant};

use clickstream_avro_ipc::client::{ClientOptions, FlumeClient};
use clickstream_avro_ipc::flume::Status;
use clickstream_testkit::java::{send_with_java, send_with_java_over};
use common::*;

/// A Flume event as a stock sender builds it: headers and body.
type FlumeEvent = (Vec<(String, String)>, Vec<u8>);

#[test]
fn java_netty_transceiver_batches_land_in_kafka_and_hdfs() {
    let s = Setup::new("interop");
    let agent = s.start(&kafka_brokers(), "");
    let events = sample_events("weblog1", 3000);
    let java_events: Vec<_> = events.iter().map(|(h, b, _)| (h.clone(), b.clone())).collect();
    let (ok, out) = send_with_java(s.dir.path(), s.listen, &java_events, 100, false);
    assert!(ok, "the Java client did not get OK for every batch:\n{out}");
    let want = ids_of(&events);
    let in_kafka = kafka_ids(&kafka_brokers(), &s.topic, want.len(), Duration::from_secs(60));
    assert_eq!(in_kafka.keys().cloned().collect::<std::collections::BTreeSet<_>>(), want, "every event at least once in Kafka");
    wait_until(Duration::from_secs(30), "HDFS sink wrote everything", || {
        agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= want.len() as f64
    });
    assert_eq!(agent.terminate(), Some(0));
    let records = assert_exactly_once_in_hdfs(&s, &events);
    // Partitioned by event time.
    for (path, e) in &records {
        let t = e.event_time_ms / 1000;
        let (date, hour) = partition_of(path);
        let days = t.div_euclid(86_400);
        let expected_hour = format!("{:02}", t.rem_euclid(86_400) / 3600);
        assert_eq!(hour, expected_hour, "{path}");
        assert!(date.starts_with("2026-11-2"), "{path} for day {days}");
    }
}

#[test]
fn hostile_frames_and_oversized_batches_close_only_their_connection() {
    let s = Setup::new("hostile");
    let agent = s.start(&kafka_brokers(), "");
    let cfg = s.config(&kafka_brokers(), "");
    drop(cfg);
    let events = sample_events("weblog1", 50);
    let enc = encoded(&events);
    rt().block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = format!("127.0.0.1:{}", s.listen);
        // Garbage bytes.
        let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf)).await;
        // A frame claiming 2 GiB.
        let mut huge = tokio::net::TcpStream::connect(&addr).await.unwrap();
        huge.write_all(&[0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), huge.read(&mut buf)).await;
        // A well-behaved client is still served.
        let mut client = FlumeClient::connect(addr.as_str(), ClientOptions::default()).await.unwrap();
        assert_eq!(client.append_batch_encoded(&enc).await.unwrap(), Status::Ok);
    });
    wait_until(Duration::from_secs(30), "events written", || agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 50.0);
    assert_eq!(agent.metric("fanout_agent_events_received_total", ""), 50.0);
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn oversized_batch_is_refused_and_invalid_bodies_are_kept_aside() {
    let s = Setup::new("limits");
    let extra = "";
    let config = s.config(&kafka_brokers(), extra).replace("put_timeout = \"2s\"", "put_timeout = \"2s\"\nmax_batch_events = 20");
    let agent = Service::start(env!("CARGO_BIN_EXE_fanout-agent"), s.dir.path(), "fanout", &config, s.metrics);
    let events = sample_events("weblog1", 30);
    let enc = encoded(&events);
    rt().block_on(async {
        let addr = format!("127.0.0.1:{}", s.listen);
        let mut client = FlumeClient::connect(addr.as_str(), ClientOptions::default()).await.unwrap();
        assert!(client.append_batch_encoded(&enc).await.is_err(), "30 events > max_batch_events = 20");
        let mut client = FlumeClient::connect(addr.as_str(), ClientOptions::default()).await.unwrap();
        // A batch with one event whose body is not a ClickEvent.
        let mut bad = Vec::new();
        clickstream_avro_ipc::flume::encode_event(&[("host", "x")], b"not an event", &mut bad);
        let mut batch = enc[..10].to_vec();
        batch.push(bad);
        assert_eq!(client.append_batch_encoded(&batch).await.unwrap(), Status::Ok);
    });
    wait_until(Duration::from_secs(30), "10 events written", || agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 10.0);
    assert_eq!(agent.metric("fanout_agent_events_invalid_total", ""), 1.0);
    let dl = std::fs::read_to_string(s.dir.path().join("state/dead-letter.jsonl")).unwrap();
    assert!(dl.contains("not a ClickEvent") || dl.contains("ClickEvent"), "{dl}");
    assert_eq!(agent.terminate(), Some(0));
}

#[test]
fn kill_9_loses_nothing_that_was_acknowledged() {
    let s = Setup::new("kill9");
    let events = sample_events("weblog1", 4000);
    let enc = encoded(&events);
    let mut acked = std::collections::BTreeSet::new();
    let mut sent = 0;
    for round in 0..3 {
        let agent = s.start(&kafka_brokers(), "# no-idempotence");
        let stop_at = (round + 1) * enc.len() / 3;
        rt().block_on(async {
            let addr = format!("127.0.0.1:{}", s.listen);
            let mut client = FlumeClient::connect(addr.as_str(), ClientOptions::default()).await.unwrap();
            while sent < stop_at {
                let end = (sent + 200).min(enc.len());
                if client.append_batch_encoded(&enc[sent..end]).await.unwrap() == Status::Ok {
                    acked.extend(events[sent..end].iter().map(|e| e.2.clone()));
                }
                sent = end;
            }
        });
        agent.kill9();
    }
    let agent = s.start(&kafka_brokers(), "# no-idempotence");
    let in_kafka = kafka_ids(&kafka_brokers(), &s.topic, acked.len(), Duration::from_secs(60));
    assert!(acked.iter().all(|id| in_kafka.contains_key(id)), "an acknowledged event is missing from Kafka");
    wait_until(Duration::from_secs(30), "HDFS channel drained", || agent.metric("fanout_agent_channel_events", "sink=\"hdfs\"") == 0.0);
    assert_eq!(agent.terminate(), Some(0));
    let (records, open) = rt().block_on(hdfs_records(&s.hdfs_root));
    assert!(open.is_empty(), "{open:?}");
    let counts = id_counts(&records);
    assert!(acked.iter().all(|id| counts.contains_key(id)), "an acknowledged event is missing from HDFS");
}

#[test]
fn validate_and_help() {
    let s = Setup::new("validate");
    let run = |text: &str| validate_config(&s, text);
    let good = s.config(&kafka_brokers(), "");
    assert!(run(&good).status.success());
    let bad = run(&good.replace("topic = \"", "topic = \"bad topic "));
    assert_eq!(bad.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sinks.kafka.topic"));
    let bad = run(&good.replace("instance_id = \"fanout-test\"", "instance_id = \"a/b\""));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("agent.instance_id"));
    // The health bound: accepted in range, a zero refused with its key.
    assert!(run(&with_health_bound(&good, "90s")).status.success());
    let bad = run(&with_health_bound(&good, "0s"));
    assert_eq!(bad.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("agent.health_sink_failing_after"), "{}", String::from_utf8_lossy(&bad.stderr));
    // A channel that cannot hold one full batch would refuse it forever.
    let small = run(&good.replace("[sinks.hdfs.channel]\n", "[sinks.hdfs.channel]\nmax_events = 100\n"));
    assert_eq!(small.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&small.stderr).contains("invalid `sinks.hdfs.channel.max_events`: 100 is below source.max_batch_events"),
        "{}",
        String::from_utf8_lossy(&small.stderr)
    );
    // One sink alone is a valid agent; none is not.
    let hdfs_only = run(&without_section(&good, "[sinks.kafka]"));
    assert!(hdfs_only.status.success(), "{}", String::from_utf8_lossy(&hdfs_only.stderr));
    assert!(String::from_utf8_lossy(&hdfs_only.stdout).contains("sinks: hdfs"), "{}", String::from_utf8_lossy(&hdfs_only.stdout));
    let none = run(&without_section(&without_section(&good, "[sinks.kafka]"), "[sinks.hdfs]"));
    assert_eq!(none.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no sink is configured"), "{}", String::from_utf8_lossy(&none.stderr));
    // The machine: a port taken and a state directory that cannot be
    // created are named; --config-only skips both.
    let taken = std::net::TcpListener::bind(("127.0.0.1", s.listen)).unwrap();
    let blocker = s.dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let world = good.replace(
        &format!("state_dir = \"{}\"", s.dir.path().join("state").display()),
        &format!("state_dir = \"{}\"", blocker.join("state").display()),
    );
    let bad = run(&world);
    let err = String::from_utf8_lossy(&bad.stderr).to_string();
    assert_eq!(bad.status.code(), Some(78), "{err}");
    assert!(err.contains("source.listen") && err.contains("in use"), "{err}");
    assert!(err.contains("agent.state_dir") && err.contains("cannot be created"), "{err}");
    let path = s.dir.path().join("validate.toml");
    let only = std::process::Command::new(env!("CARGO_BIN_EXE_fanout-agent")).args(["validate", "--config-only"]).arg(&path).output().unwrap();
    assert!(only.status.success(), "{}", String::from_utf8_lossy(&only.stderr));
    drop(taken);
    // --connect asks each destination: the stack's broker and NameNode
    // answer; a broker and a NameNode where nothing listens are each named,
    // with exit 69 (EX_UNAVAILABLE), not 78: the file is right, the world is not.
    let connect = |text: &str| {
        std::fs::write(&path, text).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_fanout-agent")).args(["validate", "--connect"]).arg(&path).output().unwrap()
    };
    let ok = connect(&good);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("every destination answered"));
    let nobody = format!("127.0.0.1:{}", clickstream_testkit::free_port());
    let down = good
        .replace(&format!("brokers = \"{}\"", kafka_brokers()), &format!("brokers = \"{nobody}\""))
        .replace(&hdfs_url(), &format!("hdfs://{nobody}"));
    let bad = connect(&down);
    let err = String::from_utf8_lossy(&bad.stderr).to_string();
    assert_eq!(bad.status.code(), Some(69), "{err}");
    assert!(err.contains(&format!("sinks.kafka.brokers {nobody}: no broker answered")), "{err}");
    assert!(err.contains(&format!("sinks.hdfs.url hdfs://{nobody}")), "{err}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_fanout-agent")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("validate"));
}

/// After a clean stop: no file of the master copy is left open and every
/// event of `events` is in it exactly once. Returns the records.
fn assert_exactly_once_in_hdfs(s: &Setup, events: &[SampleEvent]) -> Vec<(String, clickstream_contract::ClickEvent<'static>)> {
    let (records, open) = rt().block_on(hdfs_records(&s.hdfs_root));
    assert!(open.is_empty(), "files left open after a clean shutdown: {open:?}");
    let counts = id_counts(&records);
    assert_eq!(counts.keys().cloned().collect::<std::collections::BTreeSet<_>>(), ids_of(events));
    assert!(counts.values().all(|c| *c == 1), "every event exactly once in HDFS");
    records
}

/// `fanout-agent validate` on `text`, written to a file in the test's directory.
fn validate_config(s: &Setup, text: &str) -> std::process::Output {
    let path = s.dir.path().join("validate.toml");
    std::fs::write(&path, text).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_fanout-agent")).arg("validate").arg(&path).output().unwrap()
}

/// `config` without the sink table `header` (and its sub-tables).
fn without_section(config: &str, header: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in config.lines() {
        if line.starts_with('[') {
            skipping = line == header || line.starts_with(&format!("{}.", header.trim_end_matches(']')));
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// An agent with only the HDFS sink (a site without a speed layer): every
/// event lands exactly once in the master copy and nothing waits on Kafka.
#[test]
fn an_agent_with_only_the_hdfs_sink_writes_the_master_copy() {
    let s = Setup::new("hdfsonly");
    let config = without_section(&s.config(&kafka_brokers(), ""), "[sinks.kafka]");
    let agent = Service::start(env!("CARGO_BIN_EXE_fanout-agent"), s.dir.path(), "fanout", &config, s.metrics);
    let events = sample_events("weblog1", 1500);
    let enc = encoded(&events);
    s.send_all(&enc, 500);
    wait_until(Duration::from_secs(30), "HDFS sink wrote everything", || agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 1500.0);
    assert_eq!(agent.metric("fanout_agent_sink_events_total", "sink=\"kafka\""), 0.0, "no Kafka sink runs");
    assert!(!s.dir.path().join("state/channel-kafka").exists(), "no Kafka channel is made");
    assert_eq!(agent.terminate(), Some(0));
    assert_exactly_once_in_hdfs(&s, &events);
}

/// TLS at the source (`[source.tls]`) with an allow-list: senders that
/// trust the agent's CA (Apache Avro's Java client behind a JDK TLS engine,
/// as Flume's Avro sink with `ssl = true`, and the Rust client) are served
/// and their events land exactly once in the master copy; a plain-TCP sender is closed and counted; bad TLS files are
/// configuration errors that `validate` names.
#[test]
fn tls_senders_are_served_and_plain_ones_closed_and_counted() {
    use clickstream_avro_ipc::test_pki::write_test_pki;
    use clickstream_avro_ipc::ClientTls;

    let s = Setup::new("tls");
    let pki = write_test_pki(s.dir.path());
    let tls_table = format!("allow = [\"127.0.0.1\"]\n[source.tls]\ncert = \"{}\"\nkey = \"{}\"\n", pki.cert.display(), pki.key.display());
    let config = without_section(&s.config(&kafka_brokers(), ""), "[sinks.kafka]")
        .replace("put_timeout = \"2s\"\n", &format!("put_timeout = \"2s\"\n{tls_table}"));
    let validate = |text: &str| validate_config(&s, text);
    let good = validate(&config);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("with TLS"), "{}", String::from_utf8_lossy(&good.stdout));
    let bad = validate(&config.replace("server.key", "missing.key"));
    assert_eq!(bad.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&bad.stderr).to_string();
    assert!(stderr.contains("source.tls") && stderr.contains("missing.key"), "{stderr}");

    let agent = Service::start(env!("CARGO_BIN_EXE_fanout-agent"), s.dir.path(), "fanout", &config, s.metrics);
    let events = sample_events("weblog1", 1200);
    let enc = encoded(&events);
    // Apache Avro's Java NettyTransceiver behind a JDK TLS engine, as Flume's
    // Avro sink with ssl = true: half the events.
    let (java_half, rust_half) = (&events[..600], &enc[600..]);
    let java_events: Vec<_> = java_half.iter().map(|(h, b, _)| (h.clone(), b.clone())).collect();
    let (ok, out) = send_with_java_over(s.dir.path(), s.listen, &java_events, 200, false, Some(&pki.ca));
    assert!(ok, "the Java client did not get OK over TLS:\n{out}");
    rt().block_on(async {
        let addr = format!("127.0.0.1:{}", s.listen);
        let mut plain = FlumeClient::connect(addr.as_str(), ClientOptions::default()).await.unwrap();
        assert!(plain.append_batch_encoded(&enc[..10]).await.is_err(), "a plain-TCP sender is not served");
        let tls = ClientTls::from_pem_file(&pki.ca, "localhost").unwrap();
        let mut client = FlumeClient::connect(addr.as_str(), ClientOptions { tls: Some(tls), ..ClientOptions::default() }).await.unwrap();
        for batch in rust_half.chunks(200) {
            assert_eq!(client.append_batch_encoded(batch).await.unwrap(), Status::Ok);
        }
    });
    wait_until(Duration::from_secs(30), "HDFS sink wrote everything", || agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 1200.0);
    wait_until(Duration::from_secs(10), "the failed handshake counted", || {
        agent.metric("fanout_agent_connections_closed_total", "reason=\"tls_handshake\"") >= 1.0
    });
    assert_eq!(agent.metric("fanout_agent_events_received_total", ""), 1200.0, "nothing of the plain sender was taken");
    assert_eq!(agent.terminate(), Some(0));
    assert_exactly_once_in_hdfs(&s, &events);
}

/// Bodies that decode as a `ClickEvent` but break the contract's rulebook
/// (`clickstream_contract::rules`), sent by Apache Avro's Java client among
/// good ones: each is dead-lettered with the field it broke and counted, the
/// sender hears OK, and none reaches Kafka or the master copy (where one
/// would have stopped the day's batch report).
#[test]
fn poison_records_are_dead_lettered_and_reach_neither_kafka_nor_hdfs() {
    use std::borrow::Cow;
    let s = Setup::new("poison");
    let agent = s.start(&kafka_brokers(), "");
    let good = sample_events("weblog1", 100);
    let template = clickstream_contract::ClickEvent::decode_datum(&good[0].1).unwrap().into_owned();
    let poison: Vec<(&str, clickstream_contract::ClickEvent<'static>)> = vec![
        ("event_id", clickstream_contract::ClickEvent { event_id: Cow::Borrowed("not-a-hex-id"), ..template.clone() }),
        ("status", clickstream_contract::ClickEvent { status: 0, ..template.clone() }),
        ("status", clickstream_contract::ClickEvent { status: 1000, ..template.clone() }),
        ("response_bytes", clickstream_contract::ClickEvent { response_bytes: Some(-5), ..template.clone() }),
        ("client_addr", clickstream_contract::ClickEvent { client_addr: Cow::Borrowed(""), ..template.clone() }),
        // 275760-09-13, the largest date JavaScript can name.
        ("event_time", clickstream_contract::ClickEvent { event_time_ms: 8_640_000_000_000_000, ..template.clone() }),
    ];
    let headers = vec![("host".to_string(), "weblog1".to_string())];
    // The poison first: were any let through, the Kafka read-back below would meet it.
    let mut java_events: Vec<_> = poison.iter().map(|(_, e)| (headers.clone(), e.to_datum())).collect();
    java_events.extend(good.iter().map(|(h, b, _)| (h.clone(), b.clone())));
    let (ok, out) = send_with_java(s.dir.path(), s.listen, &java_events, 50, false);
    assert!(ok, "the Java client did not get OK for every batch:\n{out}");

    let want = ids_of(&good);
    let in_kafka = kafka_ids(&kafka_brokers(), &s.topic, want.len(), Duration::from_secs(60));
    assert_eq!(in_kafka.keys().cloned().collect::<std::collections::BTreeSet<_>>(), want, "only the good events in Kafka");
    wait_until(Duration::from_secs(30), "HDFS sink wrote the good events", || {
        agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= want.len() as f64
    });
    assert_eq!(agent.metric("fanout_agent_events_invalid_total", ""), poison.len() as f64);
    let dead = std::fs::read_to_string(s.dir.path().join("state/dead-letter.jsonl")).unwrap();
    let reasons: Vec<String> =
        dead.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(reasons.len(), poison.len(), "{dead}");
    for ((field, _), reason) in poison.iter().zip(&reasons) {
        assert!(reason.starts_with(&format!("invalid ClickEvent: {field}: ")), "{field}: {reason}");
    }
    assert_eq!(agent.terminate(), Some(0));
    assert_exactly_once_in_hdfs(&s, &good);
}

/// A stock Flume tier as the sender (`source.body = "auto"`): raw access-log
/// lines with Flume's `host` and `timestamp` headers, sent by Apache Avro's
/// Java client (the code inside Flume's Avro sink), beside spool agents'
/// `ClickEvent`s. Good lines reach Kafka and HDFS as events parsed by the
/// spool agents' parser; bad lines and a line without a host header are
/// dead-lettered with the reason and counted; a replayed batch adds nothing;
/// taildir's `file` and `byteoffset` headers keep two identical lines apart.
#[test]
fn stock_flume_lines_are_parsed_and_bad_ones_dead_lettered() {
    use std::collections::BTreeSet;
    let s = Setup::new("flume-lines");
    let config = s.config(&kafka_brokers(), "").replace("put_timeout = \"2s\"", "put_timeout = \"2s\"\nbody = \"auto\"");
    let agent = Service::start(env!("CARGO_BIN_EXE_fanout-agent"), s.dir.path(), "fanout", &config, s.metrics);

    let flume =
        |body: &[u8]| (vec![("host".to_string(), "weblog1".to_string()), ("timestamp".to_string(), "1795132800000".to_string())], body.to_vec());
    let content = std::fs::read(clickstream_testkit::repo().join("sample-logs/weblog1.txt")).unwrap();
    let lines: Vec<&[u8]> = content.split(|b| *b == b'\n').filter(|l| !l.is_empty()).take(400).collect();
    let parser = clickstream_logparse::Parser::default();
    let origin = clickstream_logparse::LineOrigin { source_host: "weblog1", source_file: "-", file_fingerprint: "-", byte_offset: 0 };
    let valid: BTreeSet<&[u8]> = lines.iter().copied().filter(|l| parser.parse_event(l, &origin).is_ok()).collect();
    let rejected_in_sample = lines.iter().filter(|l| parser.parse_event(l, &origin).is_err()).count();

    let mut sent: Vec<FlumeEvent> = lines.iter().map(|l| flume(l)).collect();
    let bad: [&[u8]; 3] = [b"not an access log line", b"\xff\xfe binary", b"10.0.0.1 - - [06/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 000 5"];
    sent.extend(bad.iter().map(|b| flume(b)));
    sent.push((vec![("timestamp".to_string(), "1".to_string())], lines[0].to_vec()));
    // Two byte-identical lines that taildir says are at two offsets of one file: two requests.
    let twice = valid.iter().next().unwrap().to_vec();
    for offset in ["100", "5000"] {
        let headers = [("host", "weblog1"), ("file", "/var/log/nginx/access.log"), ("byteoffset", offset)];
        sent.push((headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), twice.clone()));
    }
    // Spool agents' ClickEvents through the same source.
    let events = sample_events("weblog2", 50);
    sent.extend(events.iter().map(|(h, b, _)| (h.clone(), b.clone())));
    let (ok, out) = send_with_java(s.dir.path(), s.listen, &sent, 100, false);
    assert!(ok, "the Java client did not get OK for every batch:\n{out}");
    // A Flume sink that retries a batch sends the same lines again.
    let (ok, out) = send_with_java(s.dir.path(), s.listen, &sent[..100], 100, false);
    assert!(ok, "{out}");

    let want = valid.len() + 2 + events.len();
    let in_kafka = kafka_ids(&kafka_brokers(), &s.topic, want, Duration::from_secs(60));
    assert_eq!(in_kafka.len(), want, "distinct events in Kafka");
    let invalid = rejected_in_sample + bad.len() + 1;
    wait_until(Duration::from_secs(30), "HDFS sink wrote everything", || {
        agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= want as f64
    });
    assert_eq!(agent.metric("fanout_agent_events_invalid_total", ""), invalid as f64);
    assert!(agent.metric("fanout_agent_events_from_lines_total", "") >= (valid.len() + 2) as f64);
    assert_eq!(agent.terminate(), Some(0));

    let (records, open) = rt().block_on(hdfs_records(&s.hdfs_root));
    assert!(open.is_empty(), "{open:?}");
    let counts = id_counts(&records);
    assert_eq!(counts.len(), want, "distinct events in the master copy");
    let raw: BTreeSet<&[u8]> = records.iter().filter(|(_, e)| e.source_host == "weblog1").map(|(_, e)| e.raw_line.as_bytes()).collect();
    assert_eq!(raw, valid, "every valid line, parsed, from the host header");
    assert!(ids_of(&events).iter().all(|id| counts.contains_key(id)), "the ClickEvents are there too");
    let positional: Vec<_> = records.iter().filter(|(_, e)| e.ingest.source_file == "/var/log/nginx/access.log").collect();
    assert_eq!(positional.len(), 2, "taildir's two identical lines at two offsets are two events");

    let dead = std::fs::read_to_string(s.dir.path().join("state/dead-letter.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), invalid, "{dead}");
    assert!(dead.contains("line rejected: unparseable") && dead.contains("line rejected: not_utf8"), "{dead}");
    assert!(dead.contains("line rejected: bad_status"), "{dead}");
    assert!(dead.contains("no `host` header names the web server"), "{dead}");
}

/// The agent's config from [`Setup::config`] with the NameNode at `port` of 127.0.0.1.
fn with_namenode_port(s: &Setup, brokers: &str, port: u16) -> String {
    let real = format!("url = \"{}\"", hdfs_url());
    let config = s.config(brokers, "");
    assert!(config.contains(&real), "{config}");
    config.replace(&real, &format!("url = \"hdfs://127.0.0.1:{port}\""))
}

/// Issue 20, point 3: nothing answers at the NameNode address when the agent
/// starts. It serves at once, Kafka gets every event, `/health` is 503 with
/// the HDFS sink starting (and why); then the NameNode "comes up" at that
/// address (a forwarder to the stack's NameNode, so the shared HDFS is not
/// touched), the HDFS channel drains into the master copy, exactly once,
/// and `/health` is ok.
#[test]
fn hdfs_down_at_start_up_the_agent_serves_kafka_and_hdfs_drains_when_it_comes() {
    let s = Setup::new("hdfs-down-at-start");
    let namenode = free_port();
    let started = Instant::now();
    let agent = s.start_config(&with_namenode_port(&s, &kafka_brokers(), namenode));
    let events = sample_events("weblog1", 1000);
    s.send_all(&encoded(&events), 250); // every batch answered OK
    let served = started.elapsed();
    assert!(served < Duration::from_secs(15), "served only after {served:?}");
    let want = ids_of(&events);
    let in_kafka = kafka_ids(&kafka_brokers(), &s.topic, want.len(), Duration::from_secs(60));
    assert_eq!(in_kafka.keys().cloned().collect::<std::collections::BTreeSet<_>>(), want, "Kafka gets every event while HDFS is down");
    assert_eq!(agent.metric("fanout_agent_channel_events", "sink=\"hdfs\""), 1000.0, "HDFS's events wait in its channel");
    wait_until(Duration::from_secs(30), "/health names the HDFS sink and why", || {
        let (code, body) = health(&agent);
        let hdfs = sink_detail(&body, "hdfs");
        code == 503
            && body["status"] == "unhealthy"
            && hdfs.starts_with("starting for ")
            && hdfs.contains("failed attempts, last: ")
            && hdfs.contains(&format!(":{namenode}"))
    });
    let (_, body) = health(&agent);
    assert!(sink_detail(&body, "kafka").starts_with("ok: "), "{body}");
    eprintln!("health while HDFS is down: {body}");
    let _namenode = Forwarder::start(namenode, hdfs_url().trim_start_matches("hdfs://").to_string());
    let came = Instant::now();
    wait_until(Duration::from_secs(90), "the HDFS channel drained", || {
        agent.metric("fanout_agent_channel_events", "sink=\"hdfs\"") == 0.0
            && agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 1000.0
    });
    wait_until(Duration::from_secs(10), "/health ok", || health(&agent).0 == 200);
    eprintln!("served after {served:?}; HDFS drained {:?} after the NameNode came; health then: {}", came.elapsed(), health(&agent).1);
    assert_eq!(agent.terminate(), Some(0));
    assert_exactly_once_in_hdfs(&s, &events);
}

/// SIGTERM while both sinks retry their start-up (nothing listens at either
/// address): the agent stops at once and cleanly, the events stay in the
/// channels.
#[test]
fn sigterm_while_sinks_cannot_start_stops_promptly_and_cleanly() {
    let s = Setup::new("sinks-down-sigterm");
    let agent = s.start_config(&with_namenode_port(&s, &format!("127.0.0.1:{}", free_port()), free_port()));
    let events = sample_events("weblog1", 100);
    s.send_all(&encoded(&events), 50);
    // Kafka's first attempt gives up after 10 s; HDFS's is still in its call
    // (call_timeout, 30 s): one sink between attempts, one within.
    wait_until(Duration::from_secs(20), "the Kafka sink's first failed attempt", || {
        sink_detail(&health(&agent).1, "kafka").contains("failed attempts")
    });
    let (code, body) = health(&agent);
    assert_eq!(code, 503, "{body}");
    assert!(sink_detail(&body, "hdfs").starts_with("starting for "), "{body}");
    let log = agent.log.clone();
    let asked = Instant::now();
    assert_eq!(agent.terminate(), Some(0));
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("shutdown while the sink was starting"), "{log}");
    assert!(log.contains("fan-out agent stopped cleanly"), "{log}");
    eprintln!("stopped {took:?} after SIGTERM");
}
