//! The dashboard's stream hub: the newest copy of every view, and the fan-out
//! of changed views to every open dashboard.
//!
//! It lives apart from the `stream` module (the handler and the poller)
//! because the handler state holds a hub, and the stream needs that state:
//! here it depends on no other module of the crate.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::futures::Notified;
use tokio::sync::{broadcast, watch, Notify};

/// One pushed view.
#[derive(Debug, Clone)]
pub struct Event {
    /// The SSE event name.
    pub name: &'static str,
    /// Its JSON.
    pub data: Arc<str>,
}

struct Inner {
    tx: broadcast::Sender<Event>,
    latest: Mutex<BTreeMap<&'static str, Arc<str>>>,
    wake: Notify,
    closed: watch::Sender<bool>,
}

/// Fans the poller's changes out to every open dashboard.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// A hub with no dashboards.
    pub fn new() -> Hub {
        let (tx, _) = broadcast::channel(64);
        Hub { inner: Arc::new(Inner { tx, latest: Mutex::new(BTreeMap::new()), wake: Notify::new(), closed: watch::Sender::new(false) }) }
    }

    /// Ends every stream (shutdown).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
        self.inner.wake.notify_one();
    }

    /// The newest copy of every view, for a dashboard that just connected.
    pub(crate) fn latest(&self) -> Vec<Event> {
        let latest = self.inner.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.iter().map(|(name, data)| Event { name, data: data.clone() }).collect()
    }

    /// Stores `data` as the newest copy of `name` and pushes it if it changed.
    pub(crate) fn publish(&self, name: &'static str, data: String) {
        let mut latest = self.inner.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.get(name).is_some_and(|d| **d == *data) {
            return;
        }
        let data: Arc<str> = data.into();
        latest.insert(name, data.clone());
        let _ = self.inner.tx.send(Event { name, data });
    }

    /// Forgets every copy, so the next dashboard never starts from stale ones.
    pub(crate) fn forget(&self) {
        self.inner.latest.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The changes pushed from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.tx.subscribe()
    }

    /// Open dashboards (subscribers).
    pub(crate) fn watchers(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// Wakes the poller now instead of at its next tick.
    pub(crate) fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Resolves when [`Hub::wake`] or [`Hub::close`] is called.
    pub(crate) fn woken(&self) -> Notified<'_> {
        self.inner.wake.notified()
    }

    /// Whether the hub is closed, watched: `wait_for(|c| *c)` resolves on shutdown.
    pub(crate) fn closed(&self) -> watch::Receiver<bool> {
        self.inner.closed.subscribe()
    }
}
