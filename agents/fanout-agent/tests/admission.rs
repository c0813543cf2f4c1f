//! Admission before trust, through the real `fanout-agent` binary: while a
//! real sender keeps delivering, hostile and slow peers from other addresses
//! open 500 idle connections, begin 64 unfinished first frames of 3.9 MB and
//! announce 47 MiB frames. The sender must get every event through (nothing
//! lost), the hostile connections must be refused or closed and counted, and
//! the agent's memory must stay under the bound its configuration sets.

mod common;

use std::time::{Duration, Instant};

use clickstream_avro_ipc::client::{ClientOptions, FlumeClient};
use clickstream_avro_ipc::flume::Status;
use common::*;
use tokio::io::AsyncWriteExt;

/// Resident memory of `pid` in bytes (`VmRSS`).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A connection from `ip` (a loopback address of its own) to the agent.
async fn connect_from(ip: &str, port: u16) -> Option<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(format!("{ip}:0").parse().unwrap()).ok()?;
    socket.connect(([127, 0, 0, 1], port).into()).await.ok()
}

/// A frame header declaring one buffer of `len` bytes, then `sent` of them.
fn partial_frame(len: u32, sent: usize) -> Vec<u8> {
    let mut wire = vec![0, 0, 0, 1, 0, 0, 0, 1];
    wire.extend_from_slice(&len.to_be_bytes());
    wire.resize(wire.len() + sent, b'x');
    wire
}

/// The budget of buffers the test's configuration sets.
const BUFFERED: u64 = 64 << 20;

#[test]
fn hostile_peers_neither_lock_out_a_sender_nor_exceed_the_memory_bound() {
    let s = Setup::new("admission");
    let limits = format!(
        "put_timeout = \"2s\"\nmax_frame_bytes = 16777216\nmax_first_frame_bytes = 4194304\nmax_buffered_bytes = {BUFFERED}\n\
         handshake_timeout = \"2s\"\nframe_timeout = \"5s\"\nmax_connections_per_address = 16"
    );
    let config = s.config(&kafka_brokers(), "").replace("put_timeout = \"2s\"", &limits);
    let agent = Service::start(env!("CARGO_BIN_EXE_fanout-agent"), s.dir.path(), "fanout", &config, s.metrics);
    let pid = agent.child.id();

    // The real sender, from 127.0.0.1: every batch until OK, reconnecting after an error.
    // A first thousand events warm the agent up; its memory then is the baseline.
    let events = sample_events("weblog1", 4000);
    let mut enc = encoded(&events);
    s.send_all(&enc.drain(..1000).collect::<Vec<_>>(), 100);
    wait_until(Duration::from_secs(30), "the warm-up events written", || agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= 1000.0);
    let before = rss(pid);
    let port = s.listen;
    let sender = std::thread::spawn(move || {
        rt().block_on(async move {
            let mut retries = 0;
            let mut client = None;
            for batch in enc.chunks(100) {
                loop {
                    if client.is_none() {
                        client = FlumeClient::connect(format!("127.0.0.1:{port}").as_str(), ClientOptions::default()).await.ok();
                    }
                    if let Some(c) = client.as_mut() {
                        match c.append_batch_encoded(batch).await {
                            Ok(Status::Ok) => break,
                            _ => client = None,
                        }
                    }
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            retries
        })
    });

    // The attack, for about eight seconds.
    let peak = rt().block_on(async {
        let mut held = Vec::new();
        // 500 connections that send two bytes and nothing more.
        for _ in 0..500 {
            if let Some(mut c) = connect_from("127.0.0.2", port).await {
                let _ = c.write_all(&[0, 0]).await;
                held.push(c);
            }
        }
        // 64 unfinished 3.9 MB first frames from four addresses (250 MB wanted).
        for i in 0..64 {
            if let Some(mut c) = connect_from(&format!("127.0.0.{}", 3 + i % 4), port).await {
                let wire = partial_frame(4_000_000, 3_900_000);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), c.write_all(&wire)).await;
                    tokio::time::sleep(Duration::from_secs(10)).await;
                });
            }
        }
        // 20 announcements of a 47 MiB frame, from two addresses.
        for i in 0..20 {
            if let Some(mut c) = connect_from(&format!("127.0.0.{}", 7 + i % 2), port).await {
                let _ = c.write_all(&partial_frame(47 << 20, 1024)).await;
                held.push(c);
            }
        }
        let mut peak = 0;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(8) {
            peak = peak.max(rss(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(held);
        peak
    });

    let retries = sender.join().unwrap();
    let want = ids_of(&events);
    wait_until(Duration::from_secs(60), "HDFS sink wrote every event", || {
        agent.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") >= want.len() as f64
    });
    let closed = |reason: &str| agent.metric("fanout_agent_connections_closed_total", &format!("reason=\"{reason}\""));
    eprintln!(
        "rss before {} MB, peak {} MB; sender retries {retries}; closed per_address {}, slow {}, bad_frame {}, buffer waits {}",
        before >> 20,
        peak >> 20,
        closed("per_address"),
        closed("slow"),
        closed("bad_frame"),
        agent.metric("fanout_agent_source_buffer_waits_total", "")
    );
    // (A few more than the 16 allowed get in as the first ones are closed at their deadline.)
    assert!(closed("per_address") >= 400.0, "the idle flood was refused per address");
    assert!(closed("slow") >= 16.0, "silent and unfinished connections were closed at their deadlines");
    assert!(closed("bad_frame") >= 20.0, "47 MiB first frames were refused on their header");
    // The bound: the agent's own working set plus the buffer budget (and slack for the allocator).
    let bound = before + BUFFERED + (32 << 20);
    assert!(peak <= bound, "peak RSS {} MB over the bound {} MB", peak >> 20, bound >> 20);
    assert_eq!(agent.terminate(), Some(0));
    let (records, open) = rt().block_on(hdfs_records(&s.hdfs_root));
    assert!(open.is_empty(), "{open:?}");
    let got: std::collections::BTreeSet<String> = id_counts(&records).into_keys().collect();
    assert_eq!(got, want, "every event of the real sender arrived");
}
