//! Per-Kafka-partition progress: watermarks, idleness, and the offsets that
//! open windows still depend on (what a checkpoint must resume from).
//!
//! Why per partition: the order in which a consumer interleaves partitions
//! is up to the client library and differs between runs, but the order
//! *within* a partition is fixed.
//!
//! Why per web server inside a partition (a *lane*): one partition carries
//! the events of every spool agent, and how two agents' batches interleave
//! is up to them. Two servers' hourly log files dropped a minute apart, or a
//! backlog replayed at full speed, put one server hours ahead of the other
//! in the same partition; a single partition watermark would then call
//! every event of the slower server late. Each server's own events do keep
//! their order within a partition (one agent reads its files in order and
//! waits for each acknowledgement), so a watermark per (partition, server)
//! gives every event the same verdict in every run, whoever is ahead. This
//! is Flink's per-split watermark, applied to the real sources.
//!
//! Idleness (a quiet partition or web server stops holding windows open) is
//! measured on a *listening clock* the job passes in, and a clock only starts
//! once the partition was read to its end after the lane's last event: a
//! lane whose partition still has unread records is never idle, however long
//! the job spends on other partitions. Reading a backlog therefore gives
//! every event the same verdict in every run; only live silence, at the head
//! of the partition, makes a lane idle.

use std::collections::{BTreeMap, VecDeque};

use compact_str::CompactString;

/// A lane's state as saved in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneCheckpoint {
    /// Web server (source host) of the lane.
    pub host: String,
    /// First offset of this lane an open window still needs. Its events
    /// below this offset are fully accounted for and skipped on replay.
    pub resume_offset: i64,
    /// Newest event time of the lane before `resume_offset` (`i64::MIN`: none).
    pub max_time: i64,
}

/// A partition's state as saved in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCheckpoint {
    /// Kafka partition.
    pub partition: i32,
    /// First offset any lane still needs: resume reading here.
    pub resume_offset: i64,
    /// Next offset not yet processed when the checkpoint was taken; events
    /// below it are replays after a restart.
    pub replay_until: i64,
    /// One entry per web server seen in the partition, sorted by host.
    pub lanes: Vec<LaneCheckpoint>,
}

impl PartitionCheckpoint {
    /// The offset to commit to the consumer group: every record below it is
    /// counted and its rows are written (the checkpoint is written after
    /// them), so lag tools measured against it (`speed_job_consumer_lag`,
    /// Burrow, `kafka-consumer-groups`) see only what is really not yet
    /// counted, and 0 for a caught-up job. Restarts never start here: they
    /// seek to `resume_offset` from the checkpoint row, which is authoritative.
    pub fn committed_offset(&self) -> i64 {
        self.replay_until
    }

    /// Records a restart would read again before reaching new ones: the
    /// events still held by open windows plus the recent-ids memory
    /// (`windows.dedup_recent_records`). Already counted, so not lag;
    /// reported on its own (`speed_job_replay_window_records`).
    pub fn replay_window(&self) -> i64 {
        (self.replay_until - self.resume_offset).max(0)
    }
}

/// One web server's events within a partition.
#[derive(Debug, Clone)]
pub struct Lane {
    host: CompactString,
    /// Newest event time seen (not counting events that were behind the
    /// watermark); `i64::MIN` before the first.
    pub max_time: i64,
    /// After a restart: this lane's events below this offset were accounted
    /// for before the checkpoint and are skipped.
    pub skip_below: i64,
    /// Listening-clock time (ms) of the first end-of-partition after this
    /// lane's last event; `None` while the lane may still have unread events.
    quiet_since: Option<i64>,
    /// For every "last window end" bucket still open: the first offset of
    /// this lane that counted into it, and the lane's max time just before.
    pins: BTreeMap<i64, (i64, i64)>,
}

/// The event ids of a partition's most recent records (the last `span`
/// offsets), whatever their verdict.
///
/// Why: the open-window dedup set forgets an id when its windows close, but
/// a re-sent batch (an agent or the fan-out agent retrying after a crash)
/// can come back after that: with sparse or replayed logs one batch spans
/// hours of event time, so by the time its copy arrives, its first events'
/// windows may be final. Re-sent copies land in the same partition (the key
/// is the client address) within a few batches of the original, so a
/// window of recent *offsets* recognises them whatever the event times.
/// Offsets, not counts or time, keep the verdict the same in every run and
/// after a restart (the checkpoint resumes `span` offsets earlier to refill it).
///
/// Only events that would otherwise be late consult it (a copy of an event
/// in an open window is caught by the open-window set), so it is a plain
/// ring: pushing costs next to nothing, and the rare lookup scans it.
#[derive(Debug, Clone, Default)]
pub struct RecentIds {
    span: i64,
    order: VecDeque<(i64, u128)>,
}

impl RecentIds {
    fn new(span: i64) -> RecentIds {
        RecentIds { span, order: VecDeque::new() }
    }

    /// Whether `id` was among the records of the last `span` offsets before `offset`.
    pub fn contains(&self, offset: i64, id: u128) -> bool {
        let from = offset - self.span;
        self.order.iter().any(|&(o, x)| x == id && o >= from && o < offset)
    }

    /// Remembers the record at `offset` (and forgets those more than `span` before it).
    #[inline]
    pub fn push(&mut self, offset: i64, id: u128) {
        if self.span <= 0 {
            return;
        }
        while self.order.front().is_some_and(|&(o, _)| o < offset - self.span) {
            self.order.pop_front();
        }
        self.order.push_back((offset, id));
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// How a partition bounds the global watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// No event yet: windows may not close until it has some (or is idle).
    Unknown,
    /// Its slowest active lane's watermark.
    At(i64),
    /// Every lane is idle: it holds nothing back.
    Nothing,
}

impl Lane {
    /// This lane's watermark: its events older than this are late.
    #[inline]
    pub fn watermark(&self, lateness: i64) -> i64 {
        self.max_time.saturating_sub(lateness)
    }

    /// An event of this lane was read: its idle clock stops.
    #[inline]
    pub fn event_read(&mut self) {
        self.quiet_since = None;
    }

    /// Remembers that the event at `offset` counts into windows that all end
    /// by `bucket_end`; `max_before` is the lane's max time before it.
    #[inline]
    pub fn pin(&mut self, bucket_end: i64, offset: i64, max_before: i64) {
        self.pins.entry(bucket_end).or_insert((offset, max_before));
    }

    fn checkpoint(&self, next_offset: i64) -> LaneCheckpoint {
        let first = self.pins.values().min_by_key(|(offset, _)| *offset);
        let (resume_offset, max_time) = match first {
            Some(&(offset, max_before)) => (offset, max_before),
            // Nothing open: everything of this lane so far is accounted for.
            None => (next_offset.max(self.skip_below), self.max_time),
        };
        LaneCheckpoint { host: self.host.to_string(), resume_offset, max_time }
    }
}

/// Progress of one partition.
#[derive(Debug, Clone, Default)]
pub struct PartitionState {
    /// Next offset to process.
    pub next_offset: i64,
    /// Offsets below this were processed before the last restart.
    pub replay_until: i64,
    /// Listening-clock time (ms) the partition was last read to its end
    /// with no record since; `None` while it has (or may have) unread records.
    quiet_since: Option<i64>,
    /// When a record ends a quiet spell: when that spell began (the core
    /// checks at its next advance whether the partition had gone idle).
    woke_from: Option<i64>,
    /// One per web server seen here; a handful, so a vector beats a map.
    lanes: Vec<Lane>,
    /// Ids of the most recent records, for duplicates of closed windows.
    recent: RecentIds,
}

impl PartitionState {
    /// An empty partition remembering the ids of its last `recent_span` offsets.
    pub fn new(recent_span: i64) -> PartitionState {
        PartitionState { recent: RecentIds::new(recent_span), ..PartitionState::default() }
    }

    /// Restores a partition from its checkpoint.
    pub fn restore(cp: &PartitionCheckpoint, recent_span: i64) -> PartitionState {
        PartitionState {
            recent: RecentIds::new(recent_span),
            next_offset: cp.resume_offset,
            replay_until: cp.replay_until,
            quiet_since: None,
            woke_from: None,
            lanes: cp
                .lanes
                .iter()
                .map(|l| Lane {
                    host: CompactString::from(l.host.as_str()),
                    max_time: l.max_time,
                    skip_below: l.resume_offset,
                    quiet_since: None,
                    pins: BTreeMap::new(),
                })
                .collect(),
        }
    }

    /// [`PartitionState::lane`], and the partition's recent ids beside it.
    #[inline]
    pub fn lane_and_recent(&mut self, host: &str) -> (&mut Lane, &mut RecentIds) {
        let i = match self.lanes.iter().position(|l| l.host == host) {
            Some(i) => i,
            None => {
                self.lane(host);
                self.lanes.len() - 1
            }
        };
        (&mut self.lanes[i], &mut self.recent)
    }

    /// The lane of web server `host`, created empty (max time `i64::MIN`:
    /// nothing is late against it) on the server's first event here.
    #[inline]
    pub fn lane(&mut self, host: &str) -> &mut Lane {
        match self.lanes.iter().position(|l| l.host == host) {
            Some(i) => &mut self.lanes[i],
            None => {
                self.lanes.push(Lane {
                    host: CompactString::from(host),
                    max_time: i64::MIN,
                    skip_below: i64::MIN,
                    quiet_since: None,
                    pins: BTreeMap::new(),
                });
                self.lanes.last_mut().expect("just pushed")
            }
        }
    }

    /// A record of this partition was read: it is not caught up.
    #[inline]
    pub fn record_read(&mut self) {
        if let Some(since) = self.quiet_since.take() {
            self.woke_from = Some(since);
        }
    }

    /// The start of the quiet spell the last records ended, if any (taken).
    pub fn take_woke_from(&mut self) -> Option<i64> {
        self.woke_from.take()
    }

    /// Restarts every running idle clock at `now`: traffic resumed after a
    /// pause, so partitions and servers that were idle get the full timeout
    /// again to show their first new record. Without this, whichever
    /// partition the consumer happens to fetch first after a pause would
    /// close windows ahead of the others' unread records.
    pub fn restart_idle_clocks(&mut self, now: i64) {
        if self.quiet_since.is_some() {
            self.quiet_since = Some(now);
        }
        for lane in &mut self.lanes {
            if lane.quiet_since.is_some() {
                lane.quiet_since = Some(now);
            }
        }
    }

    /// The partition was read to its end at `now` (listening clock, ms):
    /// every lane without an event since its clock started starts it now.
    pub fn caught_up(&mut self, now: i64) {
        self.quiet_since.get_or_insert(now);
        for lane in &mut self.lanes {
            lane.quiet_since.get_or_insert(now);
        }
    }

    /// How far this partition lets windows close at `now`: the slowest
    /// watermark of its lanes that are not idle (quiet for `idle_after` ms).
    /// A web server that went quiet (agent down, server retired) stops
    /// holding windows open, as a partition with no events at all does.
    pub fn hold(&self, lateness: i64, now: i64, idle_after: i64) -> Hold {
        let idle = |since: Option<i64>| since.is_some_and(|s| now.saturating_sub(s) >= idle_after);
        if self.lanes.is_empty() {
            return if idle(self.quiet_since) { Hold::Nothing } else { Hold::Unknown };
        }
        self.lanes
            .iter()
            .filter(|l| !idle(l.quiet_since))
            .map(|l| l.watermark(lateness))
            .min()
            .map_or(Hold::Nothing, Hold::At)
    }

    /// How far the fastest lane has got (for when every partition is idle).
    pub fn max_watermark(&self, lateness: i64) -> Option<i64> {
        self.lanes.iter().map(|l| l.watermark(lateness)).max()
    }

    /// Forgets pins of windows that are all closed.
    pub fn unpin_through(&mut self, closed_through: i64) {
        for lane in &mut self.lanes {
            while let Some(e) = lane.pins.first_entry() {
                if *e.key() > closed_through {
                    break;
                }
                e.remove();
            }
        }
    }

    /// Where a restart must resume so every open window is rebuilt.
    pub fn checkpoint(&self, partition: i32) -> PartitionCheckpoint {
        let mut lanes: Vec<LaneCheckpoint> =
            self.lanes.iter().map(|l| l.checkpoint(self.next_offset)).collect();
        lanes.sort_by(|a, b| a.host.cmp(&b.host));
        // `recent.span` earlier than any lane needs, so the ids of the
        // records before the first re-processed one are known again.
        let resume_offset = (lanes
            .iter()
            .map(|l| l.resume_offset)
            .min()
            .unwrap_or(self.next_offset)
            .min(self.next_offset)
            - self.recent.span)
            .max(0);
        PartitionCheckpoint {
            partition,
            resume_offset,
            replay_until: self.next_offset.max(self.replay_until),
            lanes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_from_the_oldest_pinned_offset_of_any_lane() {
        let mut p = PartitionState { next_offset: 100, ..Default::default() };
        p.lane("web1");
        p.lane("web2").max_time = 900;
        let a = p.lane("web1");
        a.max_time = 5_000;
        a.pin(60_000, 40, 1_000);
        a.pin(120_000, 70, 3_000);
        a.pin(60_000, 80, 4_000); // later offset, same bucket: first one stays
        let b = p.lane("web2");
        b.pin(120_000, 55, 900);
        let cp = p.checkpoint(3);
        assert_eq!(cp.resume_offset, 40);
        assert_eq!(cp.replay_until, 100);
        assert_eq!(
            cp.lanes,
            vec![
                LaneCheckpoint { host: "web1".into(), resume_offset: 40, max_time: 1_000 },
                LaneCheckpoint { host: "web2".into(), resume_offset: 55, max_time: 900 },
            ]
        );
        p.unpin_through(60_000);
        assert_eq!(p.checkpoint(3).resume_offset, 55);
        p.unpin_through(120_000);
        let cp = p.checkpoint(3);
        assert_eq!(cp.resume_offset, 100);
        assert_eq!(cp.lanes[0], LaneCheckpoint { host: "web1".into(), resume_offset: 100, max_time: 5_000 });
    }

    #[test]
    fn a_slow_lane_holds_the_partition_watermark_back() {
        let mut p = PartitionState::default();
        assert_eq!(p.hold(10_000, 0, 30), Hold::Unknown);
        p.lane("web1").max_time = 10_000_000;
        assert_eq!(p.hold(10_000, 0, 30), Hold::At(9_990_000));
        p.lane("web2").max_time = 1_000_000;
        assert_eq!(p.hold(10_000, 0, 30), Hold::At(990_000));
        assert_eq!(p.max_watermark(10_000), Some(9_990_000));
    }

    #[test]
    fn only_a_lane_quiet_at_the_head_of_its_partition_goes_idle() {
        let mut p = PartitionState::default();
        p.lane("web1").max_time = 10_000_000;
        p.lane("web2").max_time = 1_000_000;
        // However long web2 is silent: while the partition is not read to
        // its end, its next event may be the very next record.
        assert_eq!(p.hold(10_000, 1_000_000, 30), Hold::At(990_000));
        p.caught_up(100);
        assert_eq!(p.hold(10_000, 129, 30), Hold::At(990_000), "not quiet long enough");
        // web1 goes on, web2 stays quiet for the idle timeout.
        p.record_read();
        p.lane("web1").event_read();
        assert_eq!(p.hold(10_000, 130, 30), Hold::At(9_990_000));
        p.caught_up(140);
        assert_eq!(p.hold(10_000, 169, 30), Hold::At(9_990_000));
        assert_eq!(p.hold(10_000, 170, 30), Hold::Nothing, "both idle");
    }

    #[test]
    fn a_partition_without_events_holds_until_quiet_for_the_timeout() {
        let mut p = PartitionState::default();
        p.caught_up(0);
        assert_eq!(p.hold(10_000, 29, 30), Hold::Unknown);
        assert_eq!(p.hold(10_000, 30, 30), Hold::Nothing);
        p.record_read();
        assert_eq!(p.hold(10_000, 1_000, 30), Hold::Unknown);
    }

    #[test]
    fn recent_ids_are_those_of_the_last_span_offsets() {
        let mut r = RecentIds::new(3);
        r.push(10, 1);
        r.push(11, 2);
        r.push(12, 1);
        assert!(r.contains(13, 1) && r.contains(13, 2));
        assert!(r.contains(14, 2), "offsets 11, 12, 13 are the last 3 before 14");
        assert!(!r.contains(15, 2));
        assert!(r.contains(15, 1), "offset 12 still holds id 1");
        assert!(!r.contains(16, 1));
        r.push(20, 3);
        assert_eq!(r.len(), 1, "older records are forgotten");
        assert!(!r.contains(20, 3), "a record is not its own copy");
        let mut p = PartitionState::new(100);
        p.next_offset = 500;
        assert_eq!(p.checkpoint(0).resume_offset, 400, "resumes early enough to refill the ids");
        p.next_offset = 50;
        assert_eq!(p.checkpoint(0).resume_offset, 0);
    }

    #[test]
    fn a_caught_up_partition_commits_its_end_and_reports_the_replay_window_apart() {
        // 1,000 records read and flushed, an open window pinned at offset 900,
        // 200 recent ids: a restart resumes at 700, yet nothing is uncounted.
        let mut p = PartitionState::new(200);
        p.next_offset = 1_000;
        p.lane("web1").pin(60_000, 900, 5);
        let cp = p.checkpoint(0);
        assert_eq!(cp.resume_offset, 700);
        assert_eq!(cp.committed_offset(), 1_000, "lag against the partition end (1,000) is 0");
        assert_eq!(cp.replay_window(), 300);
        // During a replay after a restart the commit never goes back.
        let mut r = PartitionState::restore(&cp, 200);
        r.next_offset = 750;
        let again = r.checkpoint(0);
        assert_eq!(again.committed_offset(), 1_000);
        assert!(again.replay_window() >= 300 - 50, "{again:?}");
        // Nothing open and no recent ids: no replay window either.
        let q = PartitionState { next_offset: 40, ..Default::default() }.checkpoint(1);
        assert_eq!((q.committed_offset(), q.replay_window()), (40, 0));
    }

    #[test]
    fn a_restored_lane_skips_what_it_had_accounted_for() {
        let cp = PartitionCheckpoint {
            partition: 0,
            resume_offset: 10,
            replay_until: 50,
            lanes: vec![LaneCheckpoint { host: "web1".into(), resume_offset: 30, max_time: 7 }],
        };
        let mut p = PartitionState::restore(&cp, 0);
        assert_eq!(p.next_offset, 10);
        let lane = p.lane("web1");
        assert_eq!((lane.skip_below, lane.max_time), (30, 7));
    }
}
