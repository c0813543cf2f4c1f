//! Runs one sink against its channel: take → hand over → acknowledged →
//! commit. Up to the sink's [`BatchSink::max_in_flight`] batches wait for
//! their acknowledgement at once, and they are committed oldest first.
//! While the sink writes a batch, the next one is already being read from
//! the channel (when one is waiting), so reading never idles the sink.
//!
//! A failed batch rolls back everything taken, the batches in flight behind
//! it too: those may reach the destination twice (at-least-once, every event
//! keeping its id), but none is committed before it is acknowledged. The
//! oldest batch is then retried after an exponential backoff. Shutdown waits
//! a bounded time for the batches in flight, commits those acknowledged,
//! rolls back the rest and closes the sink.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickstream_channel::{Channel, ChannelError, TakeId, Taken};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::health::SinkHealth;
use super::{BatchSink, SinkError};
use crate::metrics::{label, Labels, Metrics};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The first wait after a failed start-up attempt (doubling up to MAX_BACKOFF).
const START_FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long shutdown waits for the acknowledgements of batches in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long an idle driver waits for a batch before it looks at shutdown and ticks.
const IDLE_TAKE: Duration = Duration::from_millis(200);

/// A batch handed to the sink and not yet acknowledged.
struct InFlight<A> {
    id: TakeId,
    events: u64,
    ack: Pin<Box<A>>,
}

/// One sink, its channel and its metrics.
struct Driver<S: BatchSink> {
    sink: S,
    channel: Arc<dyn Channel>,
    batch_size: usize,
    metrics: Metrics,
    labels: Labels,
    in_flight: VecDeque<InFlight<S::Ack>>,
    /// The next batch, read from the channel while the sink writes the
    /// current one. Taken, so it is rolled back with the rest on failure.
    next: Option<JoinHandle<Result<Option<Taken>, ChannelError>>>,
    backoff: Duration,
    /// What `/health` says about this sink.
    health: Arc<SinkHealth>,
}

/// Drives `sink` until `shutdown` turns true.
pub async fn drive<S: BatchSink>(sink: S, channel: Arc<dyn Channel>, batch_size: usize, metrics: Metrics, shutdown: watch::Receiver<bool>) {
    let health = Arc::new(SinkHealth::new(sink.name()));
    health.started();
    drive_reporting(sink, channel, batch_size, metrics, shutdown, health).await
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Starts `sink` ([`BatchSink::start`]), again after a backoff (doubling up
/// to [`MAX_BACKOFF`]) while that fails, with one WARN per attempt; then
/// drives it until `shutdown`, reporting its state to `health`. Meanwhile
/// the sink's channel takes the source's events as usual. Shutdown during
/// the start-up ends the task at once: the events stay in the channel.
pub async fn start_and_drive<S: BatchSink>(
    mut sink: S,
    channel: Arc<dyn Channel>,
    batch_size: usize,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
    health: Arc<SinkHealth>,
) {
    let name = sink.name();
    let target = sink.target();
    health.set_target(target.clone());
    let labels = label("sink", name);
    for series in [&metrics.sink_events, &metrics.sink_batches, &metrics.sink_errors, &metrics.events_skipped] {
        let _ = series.get_or_create(&labels);
    }
    let mut backoff = START_FIRST_BACKOFF;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = tokio::select! {
            r = sink.start() => r,
            _ = stopped(&mut shutdown) => {
                info!(sink = name, destination = %target, attempt, "shutdown while the sink was starting; its events stay in its channel");
                return;
            }
        };
        match result {
            Ok(()) => break,
            Err(e) => {
                health.start_failed(&e.to_string());
                metrics.sink_errors.get_or_create(&label("sink", name)).inc();
                warn!(
                    sink = name, destination = %target, attempt, retry_in = ?backoff, error = %e,
                    "sink cannot start; the agent serves meanwhile and the sink's events wait in its channel (a required sink's full channel makes senders retry); check that {target} is up and reachable from this host, and the sink's address in the config"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped(&mut shutdown) => {
                        info!(sink = name, destination = %target, attempt, "shutdown while the sink was starting; its events stay in its channel");
                        return;
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    if attempt > 1 {
        info!(sink = name, destination = %target, attempts = attempt, "sink started; draining the events that waited in its channel");
    }
    health.started();
    drive_reporting(sink, channel, batch_size, metrics, shutdown, health).await
}

/// Drives a started `sink` until `shutdown` turns true, reporting to `health`.
async fn drive_reporting<S: BatchSink>(
    sink: S,
    channel: Arc<dyn Channel>,
    batch_size: usize,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
    health: Arc<SinkHealth>,
) {
    let labels = label("sink", sink.name());
    let mut d = Driver { sink, channel, batch_size, metrics, labels, in_flight: VecDeque::new(), next: None, backoff: FIRST_BACKOFF, health };
    d.register_series();
    let mut last_tick = Instant::now();
    while !*shutdown.borrow() {
        if last_tick.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = d.sink.tick().await {
                warn!(sink = d.name(), error = %e, "sink housekeeping failed");
            }
            last_tick = Instant::now();
        }
        let result = if d.may_take() {
            match d.take().await {
                Some(taken) => d.hand_over(taken).await,
                None => continue,
            }
        } else {
            let oldest = d.in_flight.front_mut().expect("may_take is true when nothing is in flight");
            tokio::select! {
                r = &mut oldest.ack => r.map(|()| d.acknowledged()),
                _ = shutdown.changed() => continue,
            }
        };
        if let Err(e) = result {
            d.failed(e).await;
            tokio::select! {
                _ = tokio::time::sleep(d.backoff) => {}
                _ = shutdown.changed() => {}
            }
            d.backoff = (d.backoff * 2).min(MAX_BACKOFF);
        }
    }
    d.stop().await;
}

impl<S: BatchSink> Driver<S> {
    fn name(&self) -> &'static str {
        self.sink.name()
    }

    /// Every series of this sink exists from the start, at 0.
    fn register_series(&self) {
        let m = &self.metrics;
        let _ = m.sink_events.get_or_create(&self.labels);
        let _ = m.sink_batches.get_or_create(&self.labels);
        let _ = m.sink_errors.get_or_create(&self.labels);
        let _ = m.events_skipped.get_or_create(&self.labels);
        m.observe_channel(self.name(), &*self.channel);
    }

    /// Whether to take another batch now rather than wait for the oldest
    /// acknowledgement: there is room in flight, and either nothing is in
    /// flight (wait for input), a batch was read ahead, or input is waiting.
    fn may_take(&self) -> bool {
        if self.in_flight.is_empty() {
            return true;
        }
        if self.in_flight.len() >= self.sink.max_in_flight() {
            return false;
        }
        let s = self.channel.stats();
        self.next.is_some() || s.events > s.in_flight_events
    }

    fn spawn_take(&self, wait: Duration) -> JoinHandle<Result<Option<Taken>, ChannelError>> {
        let (ch, n) = (Arc::clone(&self.channel), self.batch_size);
        tokio::task::spawn_blocking(move || ch.take(n, wait))
    }

    /// Starts reading the next batch if one is already waiting.
    fn prefetch(&mut self) {
        let s = self.channel.stats();
        if self.next.is_none() && s.events > s.in_flight_events {
            self.next = Some(self.spawn_take(Duration::ZERO));
        }
    }

    /// Drops the batch being read ahead (before a rollback hands it out again).
    async fn forget_prefetched(&mut self) {
        if let Some(next) = self.next.take() {
            let _ = next.await;
        }
    }

    async fn take(&mut self) -> Option<Taken> {
        let wait = if self.in_flight.is_empty() { IDLE_TAKE } else { Duration::ZERO };
        let read = match self.next.take() {
            Some(next) => next,
            None => self.spawn_take(wait),
        };
        match read.await {
            Ok(Ok(Some(t))) => Some(t),
            Ok(Ok(None)) => {
                self.metrics.observe_channel(self.name(), &*self.channel);
                if self.in_flight.is_empty() && self.channel.stats().events == 0 {
                    self.health.idle();
                }
                None
            }
            Ok(Err(e)) => {
                error!(sink = self.name(), error = %e, "channel take failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                None
            }
            Err(e) => {
                error!(sink = self.name(), error = %e, "channel take task failed");
                None
            }
        }
    }

    async fn hand_over(&mut self, taken: Taken) -> Result<(), SinkError> {
        self.prefetch();
        let ack = self.sink.send_batch(&taken.events).await?;
        self.in_flight.push_back(InFlight { id: taken.id, events: taken.events.len() as u64, ack: Box::pin(ack) });
        Ok(())
    }

    /// The oldest batch in flight is durable at the destination: commit it.
    fn acknowledged(&mut self) {
        let done = self.in_flight.pop_front().expect("an acknowledged batch was in flight");
        if let Err(e) = self.channel.commit(done.id) {
            warn!(sink = self.name(), error = %e, "commit after a durable write failed; the batch may be written again");
        }
        let m = &self.metrics;
        m.sink_events.get_or_create(&self.labels).inc_by(done.events);
        m.sink_batches.get_or_create(&self.labels).inc();
        m.sink_last_success.get_or_create(&self.labels).set(now_secs());
        m.observe_channel(self.name(), &*self.channel);
        self.health.batch_written();
        self.backoff = FIRST_BACKOFF;
    }

    /// A batch failed: everything taken goes back to the channel, oldest first.
    async fn failed(&mut self, e: SinkError) {
        self.forget_prefetched().await;
        self.metrics.sink_errors.get_or_create(&self.labels).inc();
        let in_flight: u64 = self.in_flight.iter().map(|f| f.events).sum();
        self.health.batch_failed(&e.to_string());
        match e {
            SinkError::Permanent(why) => {
                // The batch can never be written; keep it visible rather than loop fast.
                error!(sink = self.name(), in_flight, error = %why, "batch permanently rejected by the sink; left in the channel, retrying slowly");
                self.backoff = MAX_BACKOFF;
            }
            SinkError::Retryable(why) => {
                warn!(sink = self.name(), in_flight, error = %why, retry_in = ?self.backoff, "sink write failed; retrying from the oldest unacknowledged batch");
            }
        }
        self.in_flight.clear();
        self.channel.rollback();
    }

    /// Waits (bounded) for the batches in flight, commits the acknowledged
    /// ones, hands the rest back to the channel and closes the sink.
    async fn stop(mut self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while let Some(oldest) = self.in_flight.front_mut() {
            match tokio::time::timeout_at(deadline, &mut oldest.ack).await {
                Ok(Ok(())) => self.acknowledged(),
                Ok(Err(e)) => {
                    warn!(sink = self.name(), error = %e, "a batch in flight failed during shutdown; it stays in the channel");
                    break;
                }
                Err(_) => {
                    warn!(
                        sink = self.name(),
                        batches = self.in_flight.len(),
                        "batches in flight not acknowledged within {SHUTDOWN_GRACE:?} of shutdown; they stay in the channel"
                    );
                    break;
                }
            }
        }
        self.in_flight.clear();
        self.forget_prefetched().await;
        self.channel.rollback();
        if let Err(e) = self.sink.shutdown().await {
            error!(sink = self.name(), error = %e, "sink shutdown failed; un-acknowledged events stay in its channel");
        }
        info!(sink = self.name(), "sink stopped");
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use clickstream_channel::{Bytes, MemoryChannel};
    use tokio::sync::oneshot;

    use super::*;

    type Handed = Arc<Mutex<Vec<(Vec<Bytes>, oneshot::Sender<Result<(), SinkError>>)>>>;

    /// A sink whose acknowledgements the test gives by hand.
    struct HandAckedSink {
        handed: Handed,
        max_in_flight: usize,
    }

    impl BatchSink for HandAckedSink {
        type Ack = Pin<Box<dyn std::future::Future<Output = Result<(), SinkError>> + Send>>;

        fn name(&self) -> &'static str {
            "test"
        }

        fn max_in_flight(&self) -> usize {
            self.max_in_flight
        }

        async fn send_batch<E: AsRef<[u8]> + Sync>(&mut self, events: &[E]) -> Result<Self::Ack, SinkError> {
            let (tx, rx) = oneshot::channel();
            self.handed.lock().unwrap().push((events.iter().map(|e| Bytes::copy_from_slice(e.as_ref())).collect(), tx));
            Ok(Box::pin(async move { rx.await.unwrap_or_else(|_| Err(retryable())) }))
        }
    }

    /// A failure to retry, as a destination that went away reports it.
    fn retryable() -> SinkError {
        crate::sinks::kafka::KafkaFailure::DeliveryTimeout { topic: "test".into(), timeout: Duration::ZERO }.into()
    }

    fn first_bytes(handed: &Handed) -> Vec<u8> {
        handed.lock().unwrap().iter().map(|(events, _)| events[0][0]).collect()
    }

    async fn until(what: &str, ok: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn ack(handed: &Handed, i: usize, result: Result<(), SinkError>) {
        let tx = std::mem::replace(&mut handed.lock().unwrap()[i].1, oneshot::channel().0);
        tx.send(result).unwrap();
    }

    /// A memory channel holding `batches` puts of ten one-byte events (the
    /// byte is the batch's number), drained by a hand-acknowledged sink.
    fn drive_batches_of_ten(batches: u8, max_in_flight: usize) -> (Arc<dyn Channel>, Handed, watch::Sender<bool>, JoinHandle<()>) {
        let channel: Arc<dyn Channel> = Arc::new(MemoryChannel::new(1000, 1 << 20));
        for b in 0..batches {
            let events: Vec<Vec<u8>> = (0..10).map(|_| vec![b]).collect();
            let refs: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
            channel.put(&refs, None, Duration::ZERO).unwrap();
        }
        let handed: Handed = Arc::default();
        let sink = HandAckedSink { handed: Arc::clone(&handed), max_in_flight };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(drive(sink, Arc::clone(&channel), 10, Metrics::default(), stopped));
        (channel, handed, stop, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_in_flight_commit_oldest_first_and_a_failure_sends_them_all_again() {
        let (channel, handed, stop, task) = drive_batches_of_ten(5, 3);

        until("three batches in flight", || handed.lock().unwrap().len() == 3).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(first_bytes(&handed), [0, 1, 2], "no more than max_in_flight batches are handed over");

        // A younger batch's acknowledgement commits nothing while the oldest waits.
        ack(&handed, 1, Ok(()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(channel.stats().events, 50);

        // The oldest fails: everything taken is handed over again, oldest first.
        ack(&handed, 0, Err(retryable()));
        until("the retry", || handed.lock().unwrap().len() == 6).await;
        assert_eq!(first_bytes(&handed), [0, 1, 2, 0, 1, 2]);
        assert_eq!(channel.stats().events, 50, "nothing is committed before it is acknowledged");

        for i in 3..6 {
            ack(&handed, i, Ok(()));
        }
        until("the last two batches", || handed.lock().unwrap().len() == 8).await;
        ack(&handed, 6, Ok(()));
        ack(&handed, 7, Ok(()));
        until("an empty channel", || channel.stats().events == 0).await;
        assert_eq!(first_bytes(&handed), [0, 1, 2, 0, 1, 2, 3, 4]);

        stop.send(true).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_next_batch_is_read_ahead_and_rolled_back_with_a_failure() {
        let (channel, handed, stop, task) = drive_batches_of_ten(3, 1);

        until("the first batch", || handed.lock().unwrap().len() == 1).await;
        until("the second batch read ahead", || channel.stats().in_flight_events == 20).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(handed.lock().unwrap().len(), 1, "read ahead, not handed over");

        // The failure hands the read-ahead batch out again too: the retry starts at the oldest.
        ack(&handed, 0, Err(retryable()));
        until("the retry", || handed.lock().unwrap().len() == 2).await;
        for i in 1..4 {
            ack(&handed, i, Ok(()));
            if i < 3 {
                until("the next batch", || handed.lock().unwrap().len() == i + 2).await;
            }
        }
        until("an empty channel", || channel.stats().events == 0).await;
        assert_eq!(first_bytes(&handed), [0, 0, 1, 2], "each batch once more after the failure, in order");

        stop.send(true).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_commits_what_is_acknowledged_in_time_and_keeps_the_rest() {
        let channel: Arc<dyn Channel> = Arc::new(MemoryChannel::new(1000, 1 << 20));
        for b in 0..2u8 {
            channel.put(&[&[b][..]], None, Duration::ZERO).unwrap();
        }
        let handed: Handed = Arc::default();
        let sink = HandAckedSink { handed: Arc::clone(&handed), max_in_flight: 2 };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(drive(sink, Arc::clone(&channel), 1, Metrics::default(), stopped));
        until("two batches in flight", || handed.lock().unwrap().len() == 2).await;
        stop.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        ack(&handed, 0, Ok(()));
        ack(&handed, 1, Err(retryable()));
        task.await.unwrap();
        let s = channel.stats();
        assert_eq!((s.events, s.in_flight_events), (1, 0), "the failed batch is back in the channel, untaken");
    }
}
