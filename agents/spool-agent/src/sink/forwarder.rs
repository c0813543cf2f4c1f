//! The delivery loop: take → send → commit (or rollback and retry).

use std::sync::Arc;
use std::time::Duration;

use clickstream_avro_ipc::client::{ClientError, ClientOptions, FlumeClient};
use clickstream_avro_ipc::flume::Status;
use clickstream_channel::{Bytes, Channel, Taken};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{ReceiverHealth, Receivers};
use crate::config::SinkSettings;
use crate::metrics::{label, Metrics};

/// Why a batch, or an idle forwarder's health probe (an empty batch), did
/// not reach a receiver. Its text goes to the log and to the receiver's
/// `/health` detail, so it says which receiver and which step failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be opened: refused, timed out, or the TLS
    /// handshake failed.
    #[error("{}", connect_message(.address, .cause))]
    Connect {
        /// The receiver's `host:port`, as configured.
        address: String,
        /// The client's error.
        cause: ClientError,
    },
    /// The connection was open but the appendBatch call failed (no answer,
    /// a broken connection, a protocol error); the connection is dropped.
    #[error("sending {} to {address}: {cause}", batch_words(*.events))]
    Call {
        /// The receiver's `host:port`, as configured.
        address: String,
        /// How many events the batch held (0 for the health probe).
        events: usize,
        /// The client's error.
        cause: ClientError,
    },
}

/// The client's own connect errors already name the address as configured
/// and say what to check; a TLS failure names the resolved peer, so the
/// configured address goes in front of it.
fn connect_message(address: &str, cause: &ClientError) -> String {
    match cause {
        ClientError::Connect { .. } | ClientError::ConnectTimeout { .. } => cause.to_string(),
        _ => format!("connecting to {address}: {cause}"),
    }
}

fn batch_words(events: usize) -> String {
    match events {
        0 => "the health probe (an empty batch)".to_string(),
        1 => "a batch of 1 event".to_string(),
        n => format!("a batch of {n} events"),
    }
}

/// Delivers the channel's batches to the receivers.
pub struct Forwarder {
    channel: Arc<dyn Channel>,
    receivers: Receivers,
    options: ClientOptions,
    batch_size: usize,
    metrics: Metrics,
    /// How long a receiver may go unasked before an idle forwarder probes it.
    probe_interval: Duration,
    /// Shared with `/health`.
    health: Arc<std::sync::Mutex<Vec<ReceiverHealth>>>,
}

impl Forwarder {
    /// A forwarder configured by `[sink]`.
    pub fn new(cfg: &SinkSettings, channel: Arc<dyn Channel>, metrics: Metrics, health: Arc<std::sync::Mutex<Vec<ReceiverHealth>>>) -> Forwarder {
        let receivers = Receivers::new(cfg.receivers.clone(), cfg.selector, cfg.backoff_initial, cfg.backoff_max);
        let options = cfg.client.clone();
        Forwarder { channel, receivers, options, batch_size: cfg.batch_size, metrics, probe_interval: cfg.health_probe_interval, health }
    }

    fn publish_health(&self) {
        let h = self.receivers.health();
        for r in &h {
            self.metrics.receiver_up.get_or_create(&label("receiver", r.address.clone())).set(i64::from(r.up));
            let _ = self.metrics.batches_failed.get_or_create(&label("receiver", r.address.clone()));
        }
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = h;
        let stats = self.channel.stats();
        self.metrics.channel_events.set(stats.events as i64);
        self.metrics.channel_bytes.set(stats.bytes as i64);
    }

    /// Runs until `shutdown` turns true. The batch in flight is finished (or
    /// rolled back) first; undelivered events stay in the channel.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        self.publish_health();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let channel = Arc::clone(&self.channel);
            let max = self.batch_size;
            let taken = match tokio::task::spawn_blocking(move || channel.take(max, Duration::from_millis(200))).await {
                Ok(Ok(Some(t))) => t,
                Ok(Ok(None)) => {
                    self.probe_idle_receivers().await;
                    self.publish_health();
                    continue;
                }
                Ok(Err(e)) => {
                    warn!(error = %e, "channel take failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "channel take task failed");
                    continue;
                }
            };
            if !self.deliver(taken, &mut shutdown).await {
                break;
            }
        }
        info!("forwarder stopped");
    }

    /// Sends an empty batch to each receiver that has not been asked
    /// anything for `health.probe_interval` (Flume's Avro source, and the
    /// fan-out agent, answer it OK and store nothing). Without it a receiver
    /// that went away while there was nothing to send would look up until
    /// the next file arrives.
    async fn probe_idle_receivers(&mut self) {
        for i in self.receivers.due_for_probe(self.probe_interval) {
            let addr = self.receivers.get(i).cfg.address.clone();
            match self.send::<Bytes>(i, &[]).await {
                Ok(Status::Ok) => self.receivers.succeeded(i),
                Ok(status) => {
                    let wait = self.receivers.failed(i, &format!("answered {status:?} to an empty batch"));
                    warn!(receiver = %addr, ?status, retry_in = ?wait, "receiver did not accept the health probe");
                }
                Err(e) => {
                    let wait = self.receivers.failed(i, &e.to_string());
                    warn!(receiver = %addr, error = %e, retry_in = ?wait, "receiver unreachable (health probe while idle)");
                }
            }
        }
    }

    /// Delivers one batch; `false` when shutdown interrupted (batch rolled back).
    async fn deliver(&mut self, taken: Taken, shutdown: &mut watch::Receiver<bool>) -> bool {
        if taken.events.is_empty() {
            // Position-only puts (file completion) carry no events.
            let _ = self.channel.commit(taken.id);
            return true;
        }
        loop {
            let i = match self.receivers.pick() {
                Ok(i) => i,
                Err(wait) => {
                    self.publish_health();
                    tokio::select! {
                        _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => continue,
                        _ = shutdown.changed() => { self.channel.rollback(); return false; }
                    }
                }
            };
            let addr = self.receivers.get(i).cfg.address.clone();
            match self.send(i, &taken.events).await {
                Ok(Status::Ok) => {
                    self.receivers.succeeded(i);
                    if let Err(e) = self.channel.commit(taken.id) {
                        warn!(error = %e, "commit after delivery failed; the batch may be sent again");
                    }
                    self.metrics.batches_sent.inc();
                    self.metrics.events_sent.inc_by(taken.events.len() as u64);
                    debug!(receiver = %addr, events = taken.events.len(), "batch delivered");
                    self.publish_health();
                    return true;
                }
                Ok(status) => {
                    let wait = self.receivers.failed(i, &format!("answered {status:?}"));
                    self.metrics.batches_failed.get_or_create(&label("receiver", addr.clone())).inc();
                    warn!(receiver = %addr, ?status, retry_in = ?wait, "receiver did not accept the batch");
                }
                Err(e) => {
                    let wait = self.receivers.failed(i, &e.to_string());
                    self.metrics.batches_failed.get_or_create(&label("receiver", addr.clone())).inc();
                    warn!(receiver = %addr, error = %e, retry_in = ?wait, "delivery failed");
                }
            }
            self.publish_health();
            if *shutdown.borrow() {
                self.channel.rollback();
                return false;
            }
        }
    }

    /// Sends `events` to receiver `i`, connecting first if it has no
    /// connection. A failed call leaves the connection for
    /// [`Receivers::failed`] to drop.
    async fn send<E: AsRef<[u8]>>(&mut self, i: usize, events: &[E]) -> Result<Status, SendError> {
        let r = self.receivers.get(i);
        let options = ClientOptions { tls: r.cfg.tls.clone(), ..self.options.clone() };
        if r.client.is_none() {
            let client = FlumeClient::connect(r.cfg.address.as_str(), options)
                .await
                .map_err(|cause| SendError::Connect { address: r.cfg.address.clone(), cause })?;
            r.client = Some(client);
        }
        let client = r.client.as_mut().expect("connected above");
        client.append_batch_encoded(events).await.map_err(|cause| SendError::Call { address: r.cfg.address.clone(), events: events.len(), cause })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_name_the_receiver_and_the_step() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let connect =
            SendError::Connect { address: "fanout-1:41414".into(), cause: ClientError::Connect { peer: "fanout-1:41414".into(), source: refused } };
        let text = connect.to_string();
        assert_eq!(text.matches("fanout-1:41414").count(), 1, "the client's message names it already: {text}");
        let peer = "10.0.0.5:41414".parse().unwrap();
        let call = SendError::Call { address: "fanout-1:41414".into(), events: 500, cause: ClientError::Closed { peer } };
        assert!(call.to_string().starts_with("sending a batch of 500 events to fanout-1:41414: 10.0.0.5:41414 closed"), "{call}");
        let probe = SendError::Call { address: "fanout-1:41414".into(), events: 0, cause: ClientError::Closed { peer } };
        assert!(probe.to_string().starts_with("sending the health probe (an empty batch) to fanout-1:41414: "), "{probe}");
    }
}
