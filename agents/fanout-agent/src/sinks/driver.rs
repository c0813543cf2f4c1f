//! Runs one sink against its channel: take → write → commit, or keep the
//! batch and retry with exponential backoff. Shutdown finishes or rolls back
//! the batch in hand, then closes the sink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clickstream_channel::{Channel, Taken};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{BatchSink, SinkError};
use crate::metrics::{label, Metrics};

const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Drives `sink` until `shutdown` turns true.
pub async fn drive<S: BatchSink>(mut sink: S, channel: Arc<dyn Channel>, batch_size: usize, metrics: Metrics, mut shutdown: watch::Receiver<bool>) {
    let name = sink.name();
    let labels = label("sink", name);
    // Every series of this sink exists from the start, at 0.
    let _ = metrics.sink_events.get_or_create(&labels);
    let _ = metrics.sink_batches.get_or_create(&labels);
    let _ = metrics.sink_errors.get_or_create(&labels);
    let _ = metrics.events_skipped.get_or_create(&labels);
    metrics.observe_channel(name, &*channel);
    let mut last_tick = Instant::now();
    'outer: loop {
        if *shutdown.borrow() {
            break;
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = sink.tick().await {
                warn!(sink = name, error = %e, "sink housekeeping failed");
            }
            last_tick = Instant::now();
        }
        let ch = Arc::clone(&channel);
        let taken: Taken = match tokio::task::spawn_blocking(move || ch.take(batch_size, Duration::from_millis(200))).await {
            Ok(Ok(Some(t))) => t,
            Ok(Ok(None)) => {
                metrics.observe_channel(name, &*channel);
                continue;
            }
            Ok(Err(e)) => {
                error!(sink = name, error = %e, "channel take failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => {
                error!(sink = name, error = %e, "channel take task failed");
                continue;
            }
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            match sink.write_batch(&taken.events).await {
                Ok(()) => {
                    if let Err(e) = channel.commit(taken.id) {
                        warn!(sink = name, error = %e, "commit after a durable write failed; the batch may be written again");
                    }
                    metrics.sink_events.get_or_create(&labels).inc_by(taken.events.len() as u64);
                    metrics.sink_batches.get_or_create(&labels).inc();
                    metrics.sink_last_success.get_or_create(&labels).set(now_secs());
                    metrics.observe_channel(name, &*channel);
                    break;
                }
                Err(SinkError::Permanent(why)) => {
                    // The batch can never be written; keep it visible rather than loop forever.
                    error!(sink = name, events = taken.events.len(), error = %why, "batch permanently rejected by the sink; left in the channel, retrying slowly");
                    metrics.sink_errors.get_or_create(&labels).inc();
                    backoff = MAX_BACKOFF;
                }
                Err(SinkError::Retryable(why)) => {
                    metrics.sink_errors.get_or_create(&labels).inc();
                    warn!(sink = name, error = %why, retry_in = ?backoff, "sink write failed; retrying the batch");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => { channel.rollback(); break 'outer; }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if let Err(e) = sink.tick().await {
                warn!(sink = name, error = %e, "sink housekeeping failed");
            }
        }
    }
    if let Err(e) = sink.shutdown().await {
        error!(sink = name, error = %e, "sink shutdown failed; un-acknowledged events stay in its channel");
    }
    info!(sink = name, "sink stopped");
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
