//! The Avro source's batch handler and the replicating selector: every
//! received batch goes into each sink's channel; the sender hears OK only
//! when every required channel holds it durably.
//!
//! Bodies are checked to be `ClickEvent`s on the way in: a malformed event
//! would otherwise block a sink forever. Such events go to a dead-letter file
//! (`<state_dir>/dead-letter.jsonl`) with a metric, and the rest of the batch
//! is accepted.
//!
//! The channels get the bodies only (see [`crate::records`]): neither sink
//! reads the Flume headers, and leaving them out writes, syncs and reads a
//! sixth less per event.
//!
//! A batch that only some channels accepted is answered FAILED and sent again
//! by the sender, so those channels may hold it twice: at-least-once, with
//! every event keeping its id, which every downstream consumer deduplicates.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clickstream_avro_ipc::flume::{ReceivedEvent, Status};
use clickstream_avro_ipc::server::BatchHandler;
use clickstream_channel::{Channel, ChannelError};
use clickstream_contract::ClickEvent;
use tracing::{error, warn};

use crate::metrics::{label, Metrics};

/// One sink's channel as the selector sees it.
#[derive(Clone)]
pub struct Route {
    /// Sink name, for metrics and logs.
    pub sink: &'static str,
    /// Its channel.
    pub channel: Arc<dyn Channel>,
    /// Whether the sender must wait for this channel.
    pub required: bool,
}

/// The Avro source's handler.
pub struct Replicator {
    routes: Vec<Route>,
    put_timeout: Duration,
    metrics: Metrics,
    dead_letter: Mutex<Option<std::fs::File>>,
    dead_letter_path: PathBuf,
}

impl Replicator {
    /// A replicator over `routes`.
    pub fn new(routes: Vec<Route>, put_timeout: Duration, metrics: Metrics, dead_letter_path: PathBuf) -> Replicator {
        Replicator { routes, put_timeout, metrics, dead_letter: Mutex::new(None), dead_letter_path }
    }

    fn dead_letter(&self, event: &ReceivedEvent, why: &str) {
        use base64::Engine as _;
        self.metrics.events_invalid.inc();
        let line = serde_json::json!({
            "reason": why,
            "headers": event.headers().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&event.body),
        });
        let mut file = self.dead_letter.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            match std::fs::OpenOptions::new().create(true).append(true).open(&self.dead_letter_path) {
                Ok(f) => *file = Some(f),
                Err(e) => {
                    error!(path = %self.dead_letter_path.display(), error = %e, event = %line, "cannot open the dead-letter file; invalid event logged here");
                    return;
                }
            }
        }
        let f = file.as_mut().expect("opened above");
        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.sync_data()) {
            error!(path = %self.dead_letter_path.display(), error = %e, event = %line, "cannot write the dead-letter file; invalid event logged here");
        }
    }
}

/// The one full check of an event in the agent (the server checked the Flume
/// envelope): the sinks then read only the fields they route by.
fn is_click_event(event: &ReceivedEvent) -> Result<(), String> {
    ClickEvent::decode_datum(&event.body).map(|_| ()).map_err(|e| format!("body is not a ClickEvent: {e}"))
}

/// Puts a batch into one route's channel; `false` when a required channel refused it.
fn put_route(route: &Route, refs: &[&[u8]], timeout: Duration, metrics: &Metrics) -> bool {
    let wait = if route.required { timeout } else { Duration::ZERO };
    match route.channel.put(refs, None, wait) {
        Ok(()) => {
            metrics.observe_channel(route.sink, &*route.channel);
            true
        }
        Err(e @ (ChannelError::Full { .. } | ChannelError::DiskFloor { .. })) if !route.required => {
            metrics.events_skipped.get_or_create(&label("sink", route.sink)).inc_by(refs.len() as u64);
            warn!(sink = route.sink, error = %e, "optional sink's channel has no room; batch skipped for it");
            true
        }
        Err(e) => {
            warn!(sink = route.sink, error = %e, "required channel did not take the batch; answering FAILED so the sender retries");
            false
        }
    }
}

impl BatchHandler for Replicator {
    async fn on_batch(&self, events: Vec<ReceivedEvent>) -> Status {
        self.metrics.batches_received.inc();
        self.metrics.events_received.inc_by(events.len() as u64);
        let mut good: Vec<Bytes> = Vec::with_capacity(events.len());
        for e in &events {
            match is_click_event(e) {
                Ok(()) => good.push(e.body.clone()),
                Err(why) => {
                    warn!(%why, "invalid event kept in the dead-letter file");
                    self.dead_letter(e, &why);
                }
            }
        }
        if good.is_empty() {
            return Status::Ok;
        }
        let routes = self.routes.clone();
        let timeout = self.put_timeout;
        let metrics = self.metrics.clone();
        // Channel puts block on fsync: keep them off the async workers, and
        // put into every channel at once so the fsyncs overlap (the last
        // one on this thread: with one sink, no thread is started).
        let result = tokio::task::spawn_blocking(move || {
            let refs: Vec<&[u8]> = good.iter().map(|b| b.as_ref()).collect();
            let Some((last, others)) = routes.split_last() else { return true };
            std::thread::scope(|scope| {
                let puts: Vec<_> = others
                    .iter()
                    .map(|route| {
                        let (refs, metrics) = (&refs, &metrics);
                        scope.spawn(move || put_route(route, refs, timeout, metrics))
                    })
                    .collect();
                let here = put_route(last, &refs, timeout, &metrics);
                puts.into_iter().fold(here, |ok, p| p.join().unwrap_or(false) && ok)
            })
        })
        .await;
        match result {
            Ok(true) => Status::Ok,
            _ => {
                self.metrics.batches_refused.inc();
                Status::Failed
            }
        }
    }
}
