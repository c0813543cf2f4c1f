//! [`MemoryChannel`]: the put/take contract without a disk. Fast; its content
//! is lost when the process dies, so a crash can lose what the previous hop
//! already saw acknowledged (the spool source still re-reads unfinished files).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::ledger::Ledger;
use crate::{Channel, ChannelError, ChannelStats, Position, TakeId, Taken};

struct State {
    ledger: Ledger<Vec<Bytes>>,
    next_seq: u64,
    positions: HashMap<String, Vec<u8>>,
}

/// An in-memory channel bounded by events and bytes.
pub struct MemoryChannel {
    state: Mutex<State>,
    changed: Condvar,
}

impl MemoryChannel {
    /// A channel holding at most `max_events` events and `max_bytes` bytes.
    pub fn new(max_events: u64, max_bytes: u64) -> MemoryChannel {
        MemoryChannel {
            state: Mutex::new(State { ledger: Ledger::new(max_events, max_bytes, 0), next_seq: 1, positions: HashMap::new() }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_until(&self, deadline: Instant, mut ready: impl FnMut(&State) -> bool) -> Option<MutexGuard<'_, State>> {
        let mut state = self.lock();
        while !ready(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        Some(state)
    }
}

impl Channel for MemoryChannel {
    fn put(&self, events: &[&[u8]], position: Option<Position>, timeout: Duration) -> Result<(), ChannelError> {
        let n = events.len() as u64;
        let bytes: u64 = events.iter().map(|e| e.len() as u64).sum();
        self.lock().ledger.check_fits(n, bytes)?;
        let Some(mut state) = self.wait_until(Instant::now() + timeout, |s| s.ledger.has_room(n, bytes)) else {
            return Err(self.lock().ledger.full_error());
        };
        let seq = state.next_seq;
        state.next_seq += 1;
        state.ledger.push(seq, n, bytes, events.iter().map(|e| Bytes::copy_from_slice(e)).collect());
        if let Some(p) = position {
            if p.value.is_empty() {
                state.positions.remove(&p.key);
            } else {
                state.positions.insert(p.key, p.value);
            }
        }
        drop(state);
        self.changed.notify_all();
        Ok(())
    }

    fn take(&self, max_events: usize, timeout: Duration) -> Result<Option<Taken>, ChannelError> {
        let Some(mut state) = self.wait_until(Instant::now() + timeout, |s| s.ledger.has_pending()) else {
            return Ok(None);
        };
        let (id, batches) = state.ledger.take(max_events).expect("pending batches exist");
        let events = batches.into_iter().flat_map(|b| b.iter().cloned()).collect();
        Ok(Some(Taken { id, events }))
    }

    fn commit(&self, id: TakeId) -> Result<(), ChannelError> {
        self.lock().ledger.commit(id)?;
        self.changed.notify_all();
        Ok(())
    }

    fn rollback(&self) {
        self.lock().ledger.rollback();
        self.changed.notify_all();
    }

    fn positions(&self) -> HashMap<String, Vec<u8>> {
        self.lock().positions.clone()
    }

    fn stats(&self) -> ChannelStats {
        self.lock().ledger.stats()
    }
}
