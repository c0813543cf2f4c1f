//! Delivery reports counted per batch.
//!
//! The sink acknowledges whole batches, so it does not need a future per
//! record (what rdkafka's `FutureProducer` gives: an allocation, a channel
//! and a wake-up per event). Each record carries a reference to its batch's
//! [`BatchDeliveries`] as its delivery opaque; librdkafka's delivery callback
//! counts it down and keeps the first error, and the batch's acknowledgement
//! waits for the count to reach zero.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use tokio::sync::Notify;

/// The producer the sink uses.
pub type BatchProducer = ThreadedProducer<BatchContext>;

/// Routes every delivery report to its batch.
pub struct BatchContext;

impl ClientContext for BatchContext {}

impl ProducerContext for BatchContext {
    type DeliveryOpaque = Arc<BatchDeliveries>;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: Arc<BatchDeliveries>) {
        if let Err((e, _)) = result {
            batch.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.clone());
        }
        if batch.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            batch.done.notify_one();
        }
    }
}

/// The outstanding delivery reports of one batch.
pub struct BatchDeliveries {
    remaining: AtomicUsize,
    first_error: Mutex<Option<KafkaError>>,
    done: Notify,
}

/// Why a batch was not confirmed.
pub enum Unconfirmed {
    /// A record was refused or timed out in librdkafka.
    Failed(KafkaError),
    /// Not every report came within the time allowed.
    TimedOut,
}

impl BatchDeliveries {
    /// A batch of `records` records, none delivered yet.
    pub fn new(records: usize) -> Arc<BatchDeliveries> {
        Arc::new(BatchDeliveries { remaining: AtomicUsize::new(records), first_error: Mutex::new(None), done: Notify::new() })
    }

    /// Waits until every record of the batch has its report, `timeout` at most.
    pub async fn confirmed(&self, timeout: Duration) -> Result<(), Unconfirmed> {
        if self.remaining.load(Ordering::Acquire) > 0 && tokio::time::timeout(timeout, self.done.notified()).await.is_err() {
            return Err(Unconfirmed::TimedOut);
        }
        match self.first_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(Unconfirmed::Failed(e)),
            None => Ok(()),
        }
    }
}
