//! Open windows and their per-key aggregates, with change tracking.
//!
//! A [`WindowStore`] maps window start -> key -> aggregate. Windows close in
//! order of their end, so a `BTreeMap` by start lets closing pop from the
//! front. Every aggregate remembers whether it changed since the last flush,
//! and the store keeps the list of changed `(window, key)` pairs, so a flush
//! touches only what changed (not every open key).
//!
//! Allocation is what the hot path would otherwise spend its time on (a
//! new key per address and second for the DDoS windows): keys are
//! [`CompactString`]s, which hold addresses, host names and categories of up
//! to 24 bytes inline, and a new window's map is sized like the last one
//! closed.

use std::collections::BTreeMap;

use clickstream_sketch::{Hll, Position};
use compact_str::CompactString;
use rustc_hash::FxHashMap;

/// A window's aggregates by key.
pub type Keys<A> = FxHashMap<CompactString, Slot<A>>;

/// An aggregate plus its "changed since the last flush" flag.
#[derive(Debug, Clone, Default)]
pub struct Slot<A> {
    /// The aggregate.
    pub agg: A,
    /// Changed since the last drain.
    pub dirty: bool,
}

/// Open windows of one kind.
#[derive(Debug)]
pub struct WindowStore<A> {
    /// Window length, ms (end = start + size).
    pub size: i64,
    windows: BTreeMap<i64, Keys<A>>,
    changed: Vec<(i64, CompactString)>,
    keys: usize,
    /// Size of the last closed window: new windows start with this capacity.
    typical_keys: usize,
}

impl<A: Default> WindowStore<A> {
    /// An empty store of windows of `size` ms.
    pub fn new(size: i64) -> WindowStore<A> {
        WindowStore { size, windows: BTreeMap::new(), changed: Vec::new(), keys: 0, typical_keys: 0 }
    }

    /// Updates the aggregate of `key` in the window starting at `start` with
    /// `f`; `f` returns whether the change is worth writing (marks it dirty).
    #[inline]
    pub fn update(&mut self, start: i64, key: &str, f: impl FnOnce(&mut A) -> bool) {
        let typical = self.typical_keys;
        let window = self.windows.entry(start).or_insert_with(|| FxHashMap::with_capacity_and_hasher(typical, Default::default()));
        let slot = match window.get_mut(key) {
            Some(s) => s,
            None => {
                self.keys += 1;
                window.entry(CompactString::new(key)).or_default()
            }
        };
        if f(&mut slot.agg) && !slot.dirty {
            slot.dirty = true;
            self.changed.push((start, CompactString::new(key)));
        }
    }

    /// Removes and returns, oldest first, every window ending at or before `through`.
    pub fn close(&mut self, through: i64) -> Vec<(i64, Keys<A>)> {
        let mut out = Vec::new();
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() + self.size > through {
                break;
            }
            let (start, keys) = entry.remove_entry();
            self.keys -= keys.len();
            self.typical_keys = keys.len();
            out.push((start, keys));
        }
        out
    }

    /// Calls `f(start, key, aggregate)` for every aggregate changed since the
    /// last drain that is still open, and clears the flags.
    pub fn drain_changed(&mut self, mut f: impl FnMut(i64, &str, &A)) {
        for (start, key) in std::mem::take(&mut self.changed) {
            if let Some(slot) = self.windows.get_mut(&start).and_then(|w| w.get_mut(&key)) {
                if slot.dirty {
                    slot.dirty = false;
                    f(start, &key, &slot.agg);
                }
            }
        }
    }

    /// The keys of an open window.
    pub fn window(&self, start: i64) -> Option<&Keys<A>> {
        self.windows.get(&start)
    }

    /// Open windows.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Open (window, key) aggregates.
    pub fn open_keys(&self) -> usize {
        self.keys
    }
}

/// Requests of one client address in one DDoS window.
#[derive(Debug, Clone, Default)]
pub struct DdosAgg {
    /// Requests.
    pub requests: u64,
    /// Earliest event time.
    pub first_seen: i64,
    /// Latest event time.
    pub last_seen: i64,
    /// Web servers that answered, as a bit set over [`HostTable`] indexes.
    pub hosts: u64,
    /// The Kafka partition of the address's events (it is their key).
    pub partition: i32,
}

/// Names of the web servers seen, so a DDoS aggregate can hold its set of
/// servers as a bit set instead of allocating a list per (address, second).
#[derive(Debug, Default)]
pub struct HostTable {
    names: Vec<CompactString>,
}

impl HostTable {
    /// Most distinct servers a DDoS row can list (more are counted, not named).
    pub const MAX: usize = 64;

    /// The bit of `host` (0 past the first 64 distinct servers).
    #[inline]
    pub fn bit(&mut self, host: &str) -> u64 {
        if let Some(i) = self.names.iter().position(|h| h == host) {
            return 1 << i;
        }
        if self.names.len() < Self::MAX {
            self.names.push(CompactString::new(host));
            return 1 << (self.names.len() - 1);
        }
        0
    }

    /// The names in a bit set, sorted.
    pub fn names(&self, bits: u64) -> Vec<String> {
        let mut v: Vec<String> = self.names.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, h)| h.to_string()).collect();
        v.sort();
        v
    }
}

impl DdosAgg {
    /// Counts one request answered by the server with bit `host`.
    #[inline]
    pub fn add(&mut self, t: i64, host: u64) {
        if self.requests == 0 || t < self.first_seen {
            self.first_seen = t;
        }
        if self.requests == 0 || t > self.last_seen {
            self.last_seen = t;
        }
        self.requests += 1;
        self.hosts |= host;
    }
}

/// Responses of one web server in one health window.
#[derive(Debug, Clone, Default)]
pub struct HealthAgg {
    /// Responses.
    pub requests: u64,
    /// Status other than 200.
    pub non_200: u64,
    /// By class 1xx..5xx.
    pub classes: [u64; 5],
    /// Distinct client addresses, as a HyperLogLog sketch (4 KiB): merged
    /// by `serve` over the windows tiling an hour and over the web servers.
    /// Order- and duplicate-insensitive, so replays rebuild it byte for byte.
    pub visitors: Hll,
}

impl HealthAgg {
    /// Counts one response from the client whose sketch position is
    /// `visitor` (hashed once per event by the caller, for all its windows).
    #[inline]
    pub fn add(&mut self, status: i32, visitor: Position) {
        self.visitors.insert_at(visitor);
        self.requests += 1;
        if status != 200 {
            self.non_200 += 1;
        }
        if let Some(c) = self.classes.get_mut((status / 100 - 1).clamp(0, 4) as usize) {
            *c += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_changes_and_closes_in_end_order() {
        let mut s: WindowStore<u64> = WindowStore::new(10);
        s.update(0, "a", |n| {
            *n += 1;
            true
        });
        s.update(0, "a", |n| {
            *n += 1;
            true
        });
        s.update(10, "b", |n| {
            *n += 1;
            false
        });
        let mut seen = Vec::new();
        s.drain_changed(|w, k, n| seen.push((w, k.to_string(), *n)));
        assert_eq!(seen, vec![(0, "a".to_string(), 2)]);
        s.drain_changed(|_, _, _| panic!("nothing changed"));
        assert_eq!(s.open_keys(), 2);
        let closed = s.close(19);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0, 0);
        assert_eq!((s.open_windows(), s.open_keys()), (1, 1));
    }

    #[test]
    fn health_counts_classes() {
        let mut h = HealthAgg::default();
        for (i, st) in [200, 200, 304, 404, 500, 503, 101].into_iter().enumerate() {
            h.add(st, Position::of(if i < 4 { b"10.0.0.1" } else { b"10.0.0.2" }));
        }
        assert_eq!((h.requests, h.non_200, h.classes), (7, 5, [1, 2, 1, 1, 2]));
        assert_eq!(h.visitors.estimate(), 2);
    }
}
