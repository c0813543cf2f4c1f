//! A full disk under the fan-out agent's Kafka channel, with Kafka down: the
//! agent answers FAILED (the sender keeps its events), uses no CPU while it
//! waits, and once Kafka is back and the channel drained, the channel gives
//! its disk back and the agent accepts batches again by itself. Every
//! acknowledged event reaches Kafka. Runs its own Tansu broker (`PrivateKafka`); skips with a
//! message where a tmpfs cannot be mounted.

mod common;

use std::time::Duration;

use clickstream_avro_ipc::client::{ClientOptions, FlumeClient};
use clickstream_avro_ipc::flume::Status;
use clickstream_testkit::disk::{cpu_time, SmallDisk};
use common::*;

/// The agent's configuration with only the Kafka sink, its channel on `dir`
/// with a disk floor.
fn kafka_only(s: &Setup, brokers: &str, dir: &std::path::Path, floor: u64) -> String {
    let config = s.config(brokers, "# no-idempotence");
    let hdfs = config.find("[sinks.hdfs]").unwrap();
    let metrics = config.find("[metrics]").unwrap();
    let config = format!("{}{}", &config[..hdfs], &config[metrics..]);
    config.replace(
        "[sinks.kafka.channel]\nmin_free_disk_bytes = 0",
        &format!("[sinks.kafka.channel]\nmin_free_disk_bytes = {floor}\ndir = \"{}\"", dir.join("channel").display()),
    )
}

#[test]
fn a_full_disk_refuses_batches_without_spinning_and_clears_by_itself() {
    let s = Setup::new("disk-full");
    let disk = match SmallDisk::mount(&s.dir.path().join("small-disk"), "16m") {
        Ok(d) => d,
        Err(e) => {
            println!("SKIPPED a_full_disk_refuses_batches_without_spinning_and_clears_by_itself: cannot mount a small tmpfs here ({e}); run as root");
            return;
        }
    };
    let floor: u64 = 6 << 20;
    // The agent starts against a running broker (it sets up its topic), which then crashes.
    let kafka = PrivateKafka::start();
    let brokers = kafka.addr();
    let agent = Service::start(env!("CARGO_BIN_EXE_fanout-agent"), s.dir.path(), "fanout", &kafka_only(&s, &brokers, &disk.path, floor), s.metrics);
    kafka.kill();
    let events = sample_events("weblog1", 60_000);
    let enc = encoded(&events);
    let addr = format!("127.0.0.1:{}", s.listen);
    let mut acked = std::collections::BTreeSet::new();
    let mut next = 0;
    let rt = rt();
    let mut client = rt.block_on(FlumeClient::connect(addr.as_str(), ClientOptions::default())).unwrap();
    let mut send = |next: &mut usize, acked: &mut std::collections::BTreeSet<String>| -> Status {
        let end = (*next + 500).min(enc.len());
        let status = rt.block_on(client.append_batch_encoded(&enc[*next..end])).unwrap();
        if status == Status::Ok {
            acked.extend(events[*next..end].iter().map(|e| e.2.clone()));
            *next = end;
        }
        status
    };
    // Kafka is down: the channel fills the disk up to its floor.
    while send(&mut next, &mut acked) == Status::Ok {
        assert!(next < enc.len(), "the disk never filled");
    }
    assert!(acked.len() >= 10_000, "{} events before the floor", acked.len());
    let log = std::fs::read_to_string(&agent.log).unwrap();
    assert!(log.contains("below the floor"), "the refusal names the disk floor: {}", agent.log_tail(5));
    // Refusing, with the sender retrying every 200 ms: no spin.
    let pid = agent.child.id();
    let before = cpu_time(pid);
    for _ in 0..15 {
        assert_eq!(send(&mut next, &mut acked), Status::Failed, "still refused while Kafka is down");
        std::thread::sleep(Duration::from_millis(200));
    }
    let cpu = cpu_time(pid) - before;
    assert!(cpu < Duration::from_millis(500), "the refusing agent used {cpu:?} of CPU in 3 s");
    // Sixteen refused batches, one pause: one log line and one count.
    let paused = || agent.metric("fanout_agent_source_paused_total", "reason=\"disk_floor\"");
    assert_eq!(paused(), 1.0, "one pause, however many batches it refused");
    let log = std::fs::read_to_string(&agent.log).unwrap();
    assert_eq!(log.matches("required channel refuses batches").count(), 1, "{}", agent.log_tail(10));
    // Kafka comes back: the channel drains, gives its disk back, and the
    // same batch goes through; nothing else is done by hand.
    kafka.up();
    wait_until(Duration::from_secs(180), "a batch accepted again", || send(&mut next, &mut acked) == Status::Ok);
    let text = std::fs::read_to_string(&agent.log).unwrap();
    assert!(text.contains("reclaimed the acknowledged active segment"), "{}", agent.log_tail(10));
    assert!(text.contains("required channel takes batches again"), "the end of the pause is logged");
    let reading = std::time::Instant::now();
    let got = kafka_ids(&brokers, &s.topic, acked.len(), Duration::from_secs(180));
    eprintln!("read {} of {} acknowledged events back from Kafka in {:?}", got.len(), acked.len(), reading.elapsed());
    assert!(acked.iter().all(|id| got.contains_key(id)), "an acknowledged event is missing from Kafka");
    assert_eq!(agent.terminate(), Some(0));
}
