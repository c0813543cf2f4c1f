//! Helpers shared by the integration tests: a recording handler, a server on
//! port 0, and deterministic test events.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clickstream_avro_ipc::{encode_event, serve_with_stats, BatchHandler, ReceivedEvent, ServerLimits, ServerStats, Status};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Records every batch; answers from a script of statuses, then `Ok`.
#[derive(Default)]
pub struct Recorder {
    pub batches: Mutex<Vec<Vec<ReceivedEvent>>>,
    pub script: Mutex<VecDeque<Status>>,
    pub delay: Mutex<Duration>,
}

impl Recorder {
    pub fn with_script(script: impl IntoIterator<Item = Status>) -> Self {
        let r = Recorder::default();
        r.script.lock().unwrap().extend(script);
        r
    }

    pub fn events(&self) -> Vec<ReceivedEvent> {
        self.batches.lock().unwrap().iter().flatten().cloned().collect()
    }

    pub fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }
}

impl BatchHandler for Recorder {
    async fn on_batch(&self, events: Vec<ReceivedEvent>) -> Status {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.batches.lock().unwrap().push(events);
        self.script.lock().unwrap().pop_front().unwrap_or(Status::Ok)
    }
}

/// A running server; dropping it does not stop it, call `stop`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    pub handler: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(limits: ServerLimits, handler: Recorder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ServerStats::default());
        let handler = Arc::new(handler);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_stats(listener, handler.clone(), limits, stats.clone(), async move {
            let _ = rx.await;
        }));
        TestServer { addr, stats, handler, stop: Some(tx), task }
    }

    /// Signals shutdown and waits until `serve` has returned.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("server stops within 10 s").unwrap();
    }

    /// Waits until `cond` holds for the stats (the server updates them asynchronously).
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&clickstream_avro_ipc::StatsSnapshot) -> bool) {
        for _ in 0..500 {
            if cond(&self.stats.snapshot()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}; stats: {:?}", self.stats.snapshot());
    }
}

/// A deterministic test event: headers and body vary in size and content
/// (empty bodies, binary bytes, non-ASCII text, the odd large body).
pub fn test_event(i: usize) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = vec![("seq".to_string(), i.to_string()), ("host".to_string(), "rust".to_string())];
    if i.is_multiple_of(3) {
        headers.push(("path".to_string(), format!("/päth/{i}?q=ü&x=\"quoted\"")));
    }
    let body = match i % 5 {
        0 => Vec::new(),
        1 => (0..=255u8).cycle().skip(i % 256).take(300).collect(),
        2 => format!("GET /index.html HTTP/1.1 event-{i} ✓").into_bytes(),
        3 if i % 1000 == 3 => vec![b'x'; 100_000],
        _ => format!("event-{i}").into_bytes(),
    };
    (headers, body)
}

pub fn encoded_test_event(i: usize) -> Vec<u8> {
    let (headers, body) = test_event(i);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    encode_event(&headers, &body, &mut out);
    out
}
