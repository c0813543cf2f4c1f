//! Per-Kafka-partition progress: watermark, idleness, and the offsets that
//! open windows still depend on (what a checkpoint must resume from).
//!
//! Why per partition: the order in which a consumer interleaves partitions
//! is up to the client library and differs between runs, but the order
//! *within* a partition is fixed. Deciding lateness by the event's own
//! partition watermark therefore gives the same verdict for every event in
//! every run, which is what lets a restart reproduce an uninterrupted run.

use std::collections::BTreeMap;

/// A partition's state as saved in a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCheckpoint {
    /// Kafka partition.
    pub partition: i32,
    /// First offset an open window still needs: resume reading here.
    pub resume_offset: i64,
    /// Newest event time of the partition before `resume_offset` (`None`: no event yet).
    pub resume_max_time: Option<i64>,
    /// Next offset not yet processed when the checkpoint was taken; events
    /// below it are replays after a restart.
    pub replay_until: i64,
}

/// Progress of one partition.
#[derive(Debug, Clone, Default)]
pub struct PartitionState {
    /// Newest event time seen (not counting events that were behind the watermark).
    pub max_time: Option<i64>,
    /// Next offset to process.
    pub next_offset: i64,
    /// Offsets below this were processed before the last restart.
    pub replay_until: i64,
    /// Caught up and silent for the idle timeout: does not hold the global watermark back.
    pub idle: bool,
    /// For every "last window end" bucket still open: the first offset that
    /// counted into it, and the partition's max time just before that offset.
    pins: BTreeMap<i64, (i64, Option<i64>)>,
}

impl PartitionState {
    /// Restores a partition from its checkpoint.
    pub fn restore(cp: &PartitionCheckpoint) -> PartitionState {
        PartitionState {
            max_time: cp.resume_max_time,
            next_offset: cp.resume_offset,
            replay_until: cp.replay_until,
            idle: false,
            pins: BTreeMap::new(),
        }
    }

    /// This partition's watermark: events older than this are late.
    pub fn watermark(&self, lateness: i64) -> Option<i64> {
        self.max_time.map(|m| m.saturating_sub(lateness))
    }

    /// Remembers that the event at `offset` counts into windows that all end
    /// by `bucket_end`; `max_before` is the partition's max time before it.
    #[inline]
    pub fn pin(&mut self, bucket_end: i64, offset: i64, max_before: Option<i64>) {
        self.pins.entry(bucket_end).or_insert((offset, max_before));
    }

    /// Forgets pins of windows that are all closed.
    pub fn unpin_through(&mut self, closed_through: i64) {
        while let Some(e) = self.pins.first_entry() {
            if *e.key() > closed_through {
                break;
            }
            e.remove();
        }
    }

    /// Where a restart must resume so every open window is rebuilt.
    pub fn checkpoint(&self, partition: i32) -> PartitionCheckpoint {
        let first = self.pins.values().min_by_key(|(offset, _)| *offset);
        let (resume_offset, resume_max_time) = match first {
            Some(&(offset, max_before)) => (offset, max_before),
            None => (self.next_offset, self.max_time),
        };
        PartitionCheckpoint {
            partition,
            resume_offset,
            resume_max_time,
            replay_until: self.next_offset.max(self.replay_until),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_from_the_oldest_pinned_offset() {
        let mut p = PartitionState {
            next_offset: 100,
            max_time: Some(5_000),
            ..Default::default()
        };
        p.pin(60_000, 40, Some(1_000));
        p.pin(120_000, 70, Some(3_000));
        p.pin(60_000, 80, Some(4_000)); // later offset, same bucket: first one stays
        assert_eq!(
            p.checkpoint(3),
            PartitionCheckpoint {
                partition: 3,
                resume_offset: 40,
                resume_max_time: Some(1_000),
                replay_until: 100
            }
        );
        p.unpin_through(60_000);
        assert_eq!(p.checkpoint(3).resume_offset, 70);
        p.unpin_through(120_000);
        assert_eq!(p.checkpoint(3).resume_offset, 100);
        assert_eq!(p.checkpoint(3).resume_max_time, Some(5_000));
    }
}
