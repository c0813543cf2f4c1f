//! The Avro source's batch handler and the replicating selector: every
//! received batch goes into each sink's channel; the sender hears OK only
//! when every required channel holds it durably.
//!
//! Bodies are checked to be `ClickEvent`s that keep the contract's rules on
//! the way in: a malformed event would otherwise block a sink forever, and
//! an impossible one (status 0, a negative size) would stop a day's report. Such events go to a dead-letter file
//! (`<state_dir>/dead-letter.jsonl`) with a metric, and the rest of the batch
//! is accepted.
//!
//! A stock Flume agent sends raw access-log lines instead (`source.body =
//! "line"` or `"auto"`): [`LineReader`] parses each with the spool agents'
//! parser into the same `ClickEvent`, so the sinks never see the difference.
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
use clickstream_contract::codec::DecodeError;
use clickstream_contract::rules::Violation;
use clickstream_contract::{rules, ClickEvent};
use clickstream_logparse::Rejection;
use tracing::{error, info, warn};

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

/// Why an event is kept out of the channels. It goes to the dead-letter
/// file with this text as its `reason` (and to the log), so the text names
/// the field or the header at fault; operators and tests read it.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// The body does not decode as a `ClickEvent` datum.
    #[error("body is not a ClickEvent: {0}")]
    NotAClickEvent(DecodeError),
    /// The body decodes but breaks the contract's rules (`rules::validate`).
    #[error("invalid ClickEvent: {0}")]
    Invalid(Violation),
    /// A raw line without the header that names its web server.
    #[error("no `{header}` header names the web server (Flume's host interceptor adds it)")]
    NoHost {
        /// `source.host_header`.
        header: String,
    },
    /// The parser refused the raw line.
    #[error("line rejected: {0}")]
    Line(Rejection),
    /// The raw line parsed into an event that breaks the contract's rules.
    #[error("invalid ClickEvent from a line: {0}")]
    InvalidFromLine(Violation),
    /// `source.body = "auto"`: the body is neither kind.
    #[error("neither a ClickEvent ({as_event}) nor an access-log line ({as_line})")]
    Neither {
        /// Why it is not a `ClickEvent`.
        as_event: Box<Rejected>,
        /// Why it is not an access-log line.
        as_line: Box<Rejected>,
    },
}

/// The Avro source's handler.
pub struct Replicator {
    routes: Vec<Route>,
    put_timeout: Duration,
    metrics: Metrics,
    dead_letter: Mutex<Option<std::fs::File>>,
    dead_letter_path: PathBuf,
    lines: Option<LineReader>,
    pauses: Arc<Pauses>,
}

/// The required channels that are refusing batches, and why. While a disk
/// is full the senders retry every few seconds; one log line and one
/// `source_paused` increment per pause (not per refused batch) say so, and
/// one line says when the channel takes batches again.
#[derive(Default)]
struct Pauses(Mutex<std::collections::HashMap<&'static str, &'static str>>);

impl Pauses {
    fn refused(&self, sink: &'static str, error: &ChannelError, metrics: &Metrics) {
        let reason = match error {
            ChannelError::Full { .. } | ChannelError::BatchTooLarge { .. } => "channel_full",
            ChannelError::DiskFloor { .. } => "disk_floor",
            _ => "channel_error",
        };
        let mut paused = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if paused.insert(sink, reason) != Some(reason) {
            metrics.source_paused.get_or_create(&vec![("sink", sink.to_string()), ("reason", reason.to_string())]).inc();
            warn!(sink, reason, %error, "required channel refuses batches; answering FAILED so the senders keep them (logged once per pause)");
        }
    }

    fn accepted(&self, sink: &'static str) {
        let mut paused = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = paused.remove(sink) {
            info!(sink, reason, "required channel takes batches again");
        }
    }
}

impl Replicator {
    /// A replicator over `routes`.
    pub fn new(routes: Vec<Route>, put_timeout: Duration, metrics: Metrics, dead_letter_path: PathBuf) -> Replicator {
        Replicator { routes, put_timeout, metrics, dead_letter: Mutex::new(None), dead_letter_path, lines: None, pauses: Arc::default() }
    }

    /// Also (or, unless `lines.auto`, only) accepts raw access-log lines.
    pub fn with_lines(mut self, lines: LineReader) -> Replicator {
        self.lines = Some(lines);
        self
    }

    /// The body the channels get for `event`: a checked `ClickEvent` datum,
    /// or one made of a raw line.
    fn accept(&self, event: &ReceivedEvent) -> Result<Bytes, Rejected> {
        let Some(lines) = &self.lines else {
            return is_click_event(event).map(|()| event.body.clone());
        };
        if !lines.auto {
            return lines.event_of(event).inspect(|_| {
                self.metrics.events_from_lines.inc();
            });
        }
        is_click_event(event).map(|()| event.body.clone()).or_else(|as_event| {
            let datum = lines.event_of(event).map_err(|as_line| Rejected::Neither { as_event: Box::new(as_event), as_line: Box::new(as_line) })?;
            self.metrics.events_from_lines.inc();
            Ok(datum)
        })
    }

    fn dead_letter(&self, event: &ReceivedEvent, why: &Rejected) {
        use base64::Engine as _;
        self.metrics.events_invalid.inc();
        let line = serde_json::json!({
            "reason": why.to_string(),
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

/// Turns raw access-log lines from stock Flume senders into `ClickEvent`s.
///
/// A Flume sender says nothing about where a line sits in its log unless it
/// is a taildir source with `fileHeader = true` and `byteOffsetHeader =
/// true`: then the id is positional, like a spool agent's (file, offset,
/// line), and a replayed batch keeps its ids. Otherwise the id can only come
/// from the line itself (host and bytes), so a replay is deduplicated but
/// two byte-identical lines of one host (same client, second and request)
/// count once.
pub struct LineReader {
    /// The spool agents' parser, from `[source.parser]`.
    pub parser: clickstream_logparse::Parser,
    /// The header naming the web server (`source.host_header`).
    pub host_header: String,
    /// `auto`: try the body as a `ClickEvent` first.
    pub auto: bool,
}

/// The stream name of lines that come without a position (see [`LineReader`]).
const NO_POSITION: &str = "flume-line";

impl LineReader {
    /// The `ClickEvent` datum of a raw line, or why there is none.
    fn event_of(&self, event: &ReceivedEvent) -> Result<Bytes, Rejected> {
        let headers = event.headers();
        let header = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let host = header(&self.host_header).ok_or_else(|| Rejected::NoHost { header: self.host_header.clone() })?;
        let file = header("file");
        let stream: String;
        let (stream, offset) = match (file, header("byteoffset").and_then(|o| o.parse::<u64>().ok())) {
            (Some(f), Some(o)) => {
                stream = format!("flume-file:{f}");
                (stream.as_str(), o)
            }
            _ => (NO_POSITION, 0),
        };
        let origin =
            clickstream_logparse::LineOrigin { source_host: host, source_file: file.unwrap_or("-"), file_fingerprint: stream, byte_offset: offset };
        let e = self.parser.parse_event(&event.body, &origin).map_err(Rejected::Line)?;
        rules::validate(&e).map_err(Rejected::InvalidFromLine)?;
        Ok(Bytes::from(e.to_datum()))
    }
}

/// The one full check of an event in the agent (the server checked the Flume
/// envelope): the body decodes as a `ClickEvent` and keeps the contract's
/// rules (`clickstream_contract::rules`), so no impossible value reaches
/// Kafka or the master copy; the sinks then read only the fields they route by.
fn is_click_event(event: &ReceivedEvent) -> Result<(), Rejected> {
    let e = ClickEvent::decode_datum(&event.body).map_err(Rejected::NotAClickEvent)?;
    rules::validate(&e).map_err(Rejected::Invalid)
}

/// Puts a batch into one route's channel; `false` when a required channel refused it.
fn put_route(route: &Route, refs: &[&[u8]], timeout: Duration, metrics: &Metrics, pauses: &Pauses) -> bool {
    let wait = if route.required { timeout } else { Duration::ZERO };
    match route.channel.put(refs, None, wait) {
        Ok(()) => {
            metrics.observe_channel(route.sink, &*route.channel);
            pauses.accepted(route.sink);
            true
        }
        // A batch larger than the whole channel can never fit: for an
        // optional sink that is the same as full (validation keeps
        // max_events >= source.max_batch_events; max_bytes may still be small).
        Err(e @ (ChannelError::Full { .. } | ChannelError::DiskFloor { .. } | ChannelError::BatchTooLarge { .. })) if !route.required => {
            metrics.events_skipped.get_or_create(&label("sink", route.sink)).inc_by(refs.len() as u64);
            warn!(sink = route.sink, error = %e, "optional sink's channel has no room; batch skipped for it");
            true
        }
        Err(e) => {
            pauses.refused(route.sink, &e, metrics);
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
            match self.accept(e) {
                Ok(body) => good.push(body),
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
        let pauses = self.pauses.clone();
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
                        let (refs, metrics, pauses) = (&refs, &metrics, &*pauses);
                        scope.spawn(move || put_route(route, refs, timeout, metrics, pauses))
                    })
                    .collect();
                let here = put_route(last, &refs, timeout, &metrics, &pauses);
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

#[cfg(test)]
mod tests {
    use clickstream_avro_ipc::flume::encode_event;
    use clickstream_channel::MemoryChannel;
    use clickstream_logparse::{LineOrigin, Parser};

    use super::*;

    /// `n` valid events as the source receives them.
    fn received(n: usize) -> Vec<ReceivedEvent> {
        let parser = Parser::default();
        (0..n)
            .map(|i| {
                let line = format!("10.0.0.{} - - [20/Nov/2026:10:00:{:02} +0000] \"GET /products/{i} HTTP/1.1\" 200 512", i % 250, i % 60);
                let origin = LineOrigin { source_host: "weblog1", source_file: "access.log", file_fingerprint: "fp", byte_offset: i as u64 * 100 };
                let mut datum = Vec::new();
                parser.parse_event(line.as_bytes(), &origin).expect("a valid line").encode_datum(&mut datum);
                let mut encoded = Vec::new();
                encode_event(&[("host", "weblog1")], &datum, &mut encoded);
                ReceivedEvent { body: Bytes::from(datum), encoded: Bytes::from(encoded) }
            })
            .collect()
    }

    fn route(sink: &'static str, max_events: u64, required: bool) -> Route {
        Route { sink, channel: Arc::new(MemoryChannel::new(max_events, 1 << 30)), required }
    }

    fn skipped(metrics: &Metrics, sink: &'static str) -> u64 {
        metrics.events_skipped.get_or_create(&label("sink", sink)).get()
    }

    #[tokio::test]
    async fn a_full_optional_channel_is_skipped_and_counted_a_full_required_one_fails_the_batch() {
        let (required, optional) = (route("hdfs", 30, true), route("kafka", 10, false));
        let metrics = Metrics::default();
        let dir = tempfile::tempdir().unwrap();
        let replicator = Replicator::new(
            vec![required.clone(), optional.clone()],
            Duration::from_millis(50),
            metrics.clone(),
            dir.path().join("dead-letter.jsonl"),
        );
        let events = |r: &Route| r.channel.stats().events;

        assert_eq!(replicator.on_batch(received(8)).await, Status::Ok);
        assert_eq!((events(&required), events(&optional)), (8, 8), "both channels get every batch while there is room");

        // The optional channel has room for 2 more: the batch of 8 is skipped for it, not cut.
        assert_eq!(replicator.on_batch(received(8)).await, Status::Ok, "a full optional channel does not hold the sender");
        assert_eq!((events(&required), events(&optional)), (16, 8));
        assert_eq!(skipped(&metrics, "kafka"), 8);
        assert_eq!(skipped(&metrics, "hdfs"), 0);

        // The required channel has room for 14: a batch of 20 is refused, after put_timeout,
        // and again when the sender retries: one pause, counted once.
        let paused = || metrics.source_paused.get_or_create(&vec![("sink", "hdfs".into()), ("reason", "channel_full".into())]).get();
        assert_eq!(replicator.on_batch(received(20)).await, Status::Failed, "the sender must retry");
        assert_eq!(replicator.on_batch(received(20)).await, Status::Failed);
        assert_eq!(events(&required), 16);
        assert_eq!(metrics.batches_refused.get(), 2);
        assert_eq!(paused(), 1, "one pause, however many batches it refused");
        assert_eq!(skipped(&metrics, "kafka"), 48, "each route is put on its own: the optional one skipped it too");

        // Once the sinks drain, the same batch goes through.
        for r in [&required, &optional] {
            let taken = r.channel.take(100, Duration::ZERO).unwrap().unwrap();
            r.channel.commit(taken.id).unwrap();
        }
        assert_eq!(replicator.on_batch(received(20)).await, Status::Ok);
        assert_eq!((events(&required), events(&optional)), (20, 0), "20 > the optional channel's whole 10: skipped, not an error");
        assert_eq!(skipped(&metrics, "kafka"), 68);
        // The pause ended with that put: the next refusal is a new pause.
        assert_eq!(replicator.on_batch(received(20)).await, Status::Failed);
        assert_eq!(paused(), 2);
    }

    #[tokio::test]
    async fn invalid_bodies_go_to_the_dead_letter_file_and_the_rest_is_accepted() {
        let only = route("hdfs", 100, true);
        let metrics = Metrics::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead-letter.jsonl");
        let replicator = Replicator::new(vec![only.clone()], Duration::from_millis(50), metrics.clone(), path.clone());
        let mut batch = received(5);
        let mut encoded = Vec::new();
        encode_event(&[("host", "weblog1")], b"\xff not a datum", &mut encoded);
        batch.insert(2, ReceivedEvent { body: Bytes::from_static(b"\xff not a datum"), encoded: Bytes::from(encoded) });
        assert_eq!(replicator.on_batch(batch).await, Status::Ok);
        assert_eq!(only.channel.stats().events, 5);
        assert_eq!(metrics.events_invalid.get(), 1);
        let dead = std::fs::read_to_string(&path).unwrap();
        assert_eq!(dead.lines().count(), 1);
        assert!(dead.contains("not a ClickEvent") && dead.contains("weblog1"), "{dead}");
    }
}
