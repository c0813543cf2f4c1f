//! The systemd protocol against a real notification socket, as systemd sets
//! it up: a Unix datagram socket named by `NOTIFY_SOCKET`, with the watchdog
//! enabled through `WATCHDOG_USEC`/`WATCHDOG_PID`. One test per binary: it
//! sets the process environment.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use clickstream_telemetry::systemd::Service;

/// Every datagram received within `window`, in order.
fn drain(sock: &UnixDatagram, window: Duration) -> Vec<String> {
    let end = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = end.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
            Err(e) => panic!("reading the notify socket: {e}"),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_then_watchdog_pings_only_while_the_loop_beats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    std::env::set_var("NOTIFY_SOCKET", &path);
    std::env::set_var("WATCHDOG_USEC", "400000");
    std::env::set_var("WATCHDOG_PID", std::process::id().to_string());

    let service = Service::from_env();
    let progress = service.progress();
    let beating = tokio::spawn(async move {
        for _ in 0..20 {
            progress.beat();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Then the loop "hangs": no more beats.
    });
    service.ready("serving on 127.0.0.1:0");
    let first = drain(&sock, Duration::from_millis(900));
    assert!(first[0].lines().any(|l| l == "READY=1"), "READY=1 first: {first:?}");
    assert!(first[0].contains("STATUS=serving on 127.0.0.1:0"), "{first:?}");
    let pings = first.iter().filter(|m| m.trim() == "WATCHDOG=1").count();
    // 100 ms ticks over ~900 ms while beating (1 s of beats).
    assert!(pings >= 5, "too few watchdog pings while the loop beats: {first:?}");
    beating.await.unwrap();

    // Stuck: after at most timeout/2 + one tick, the pings stop for good.
    let _ = drain(&sock, Duration::from_millis(350));
    let stuck = drain(&sock, Duration::from_millis(800));
    assert!(stuck.iter().all(|m| m.trim() != "WATCHDOG=1"), "pings went on while the loop was stuck: {stuck:?}");

    // The loop goes round again: pings resume; the drain is announced.
    let progress = service.progress();
    let again = tokio::spawn(async move {
        for _ in 0..8 {
            progress.beat();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let resumed = drain(&sock, Duration::from_millis(400));
    assert!(resumed.iter().any(|m| m.trim() == "WATCHDOG=1"), "pings did not resume: {resumed:?}");
    again.await.unwrap();
    service.stopping("draining");
    let last = drain(&sock, Duration::from_millis(300));
    assert!(last.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")), "{last:?}");
}
