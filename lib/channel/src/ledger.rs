//! Bookkeeping shared by both channels: which put batches are pending, taken
//! or done, capacity accounting, and the contiguous acknowledged prefix.

use std::collections::VecDeque;

use crate::{ChannelError, ChannelStats, TakeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Taken,
    Done,
}

struct Entry<T> {
    seq: u64,
    events: u64,
    bytes: u64,
    state: State,
    data: T,
}

/// Batches not yet acknowledged, oldest first; `T` is where a batch's events are.
pub(crate) struct Ledger<T> {
    entries: VecDeque<Entry<T>>,
    events: u64,
    bytes: u64,
    in_flight: u64,
    cap_events: u64,
    cap_bytes: u64,
    /// Every batch up to and including this sequence is acknowledged.
    acked_upto: u64,
}

impl<T> Ledger<T> {
    pub fn new(cap_events: u64, cap_bytes: u64, acked_upto: u64) -> Ledger<T> {
        Ledger { entries: VecDeque::new(), events: 0, bytes: 0, in_flight: 0, cap_events, cap_bytes, acked_upto }
    }

    pub fn check_fits(&self, events: u64, bytes: u64) -> Result<(), ChannelError> {
        if events > self.cap_events || bytes > self.cap_bytes {
            return Err(ChannelError::BatchTooLarge { events, bytes, capacity_events: self.cap_events, capacity_bytes: self.cap_bytes });
        }
        Ok(())
    }

    /// Whether a batch fits now. An empty channel takes any batch that fits at all.
    pub fn has_room(&self, events: u64, bytes: u64) -> bool {
        self.entries.is_empty() || (self.events + events <= self.cap_events && self.bytes + bytes <= self.cap_bytes)
    }

    pub fn full_error(&self) -> ChannelError {
        ChannelError::Full { events: self.events, bytes: self.bytes }
    }

    pub fn push(&mut self, seq: u64, events: u64, bytes: u64, data: T) {
        debug_assert!(self.entries.back().is_none_or(|e| e.seq < seq));
        self.events += events;
        self.bytes += bytes;
        self.entries.push_back(Entry { seq, events, bytes, state: State::Pending, data });
    }

    /// Marks pending batches taken, oldest first, up to `max_events` (at least one batch).
    pub fn take(&mut self, max_events: usize) -> Option<(TakeId, Vec<&T>)> {
        let mut picked = Vec::new();
        let mut count = 0u64;
        for (i, e) in self.entries.iter_mut().enumerate().filter(|(_, e)| e.state == State::Pending) {
            if !picked.is_empty() && count + e.events > max_events as u64 {
                break;
            }
            count += e.events;
            e.state = State::Taken;
            picked.push(i);
        }
        let (&first, &last) = (picked.first()?, picked.last()?);
        self.in_flight += count;
        let id = TakeId { first: self.entries[first].seq, last: self.entries[last].seq };
        Some((id, picked.into_iter().map(|i| &self.entries[i].data).collect()))
    }

    /// Marks a take done; returns the new acknowledged prefix if it moved.
    pub fn commit(&mut self, id: TakeId) -> Result<Option<u64>, ChannelError> {
        let mut any = false;
        for e in self.entries.iter_mut().filter(|e| e.seq >= id.first && e.seq <= id.last && e.state == State::Taken) {
            e.state = State::Done;
            self.in_flight -= e.events;
            any = true;
        }
        if !any {
            return Err(ChannelError::NotTaken { first: id.first, last: id.last });
        }
        let before = self.acked_upto;
        while self.entries.front().is_some_and(|e| e.state == State::Done) {
            let e = self.entries.pop_front().expect("front exists");
            self.events -= e.events;
            self.bytes -= e.bytes;
            self.acked_upto = e.seq;
        }
        Ok((self.acked_upto != before).then_some(self.acked_upto))
    }

    /// Everything taken becomes pending again.
    pub fn rollback(&mut self) {
        for e in self.entries.iter_mut().filter(|e| e.state == State::Taken) {
            e.state = State::Pending;
        }
        self.in_flight = 0;
    }

    /// Drops a batch that cannot be read (corrupt on disk): counted as done.
    pub fn discard(&mut self, seq: u64) -> Option<u64> {
        let e = self.entries.iter_mut().find(|e| e.seq == seq)?;
        if e.state == State::Pending {
            e.state = State::Taken;
            self.in_flight += e.events;
        }
        self.commit(TakeId { first: seq, last: seq }).ok().flatten()
    }

    pub fn acked_upto(&self) -> u64 {
        self.acked_upto
    }

    pub fn has_pending(&self) -> bool {
        self.entries.iter().any(|e| e.state == State::Pending)
    }

    pub fn stats(&self) -> ChannelStats {
        ChannelStats {
            events: self.events,
            bytes: self.bytes,
            batches: self.entries.len() as u64,
            in_flight_events: self.in_flight,
            capacity_events: self.cap_events,
            capacity_bytes: self.cap_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_commit_rollback() {
        let mut l = Ledger::new(100, 1000, 0);
        for seq in 1..=4 {
            l.push(seq, 10, 100, seq);
        }
        let (a, data) = l.take(20).unwrap();
        assert_eq!((a, data.into_iter().copied().collect::<Vec<_>>()), (TakeId { first: 1, last: 2 }, vec![1, 2]));
        let (b, _) = l.take(5).unwrap(); // at least one batch even when larger than max
        assert_eq!(b, TakeId { first: 3, last: 3 });
        // Out-of-order commit does not move the prefix.
        assert_eq!(l.commit(b).unwrap(), None);
        assert_eq!(l.commit(a).unwrap(), Some(3));
        assert!(l.commit(a).is_err());
        let (c, _) = l.take(100).unwrap();
        assert_eq!(c, TakeId { first: 4, last: 4 });
        l.rollback();
        assert_eq!(l.take(100).unwrap().0, c);
        assert_eq!(l.stats().in_flight_events, 10);
        assert_eq!(l.commit(c).unwrap(), Some(4));
        assert_eq!(l.stats(), ChannelStats { capacity_events: 100, capacity_bytes: 1000, ..Default::default() });
    }

    #[test]
    fn room_and_limits() {
        let mut l: Ledger<()> = Ledger::new(10, 1000, 0);
        assert!(l.check_fits(11, 1).is_err());
        assert!(l.has_room(10, 1000));
        l.push(1, 6, 10, ());
        assert!(!l.has_room(5, 10));
        assert!(l.has_room(4, 10));
    }
}
