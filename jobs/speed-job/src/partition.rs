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
//! A lane's watermark follows its newest *corroborated* event time
//! ([`LaneClock`]): a line far ahead of its server's stream (a clock step, a
//! proxy, a mis-set timezone) is counted but held aside, and moves the
//! watermark only once enough far-ahead lines agree (a real clock jump), so
//! one stray line cannot make the lines after it late.
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

/// Most far-ahead events a corroboration can ask for (`windows.far_ahead_quorum`).
pub const MAX_QUORUM: usize = 8;

/// How a lane's watermark may move (`windows.far_ahead`, `windows.far_ahead_quorum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockRule {
    /// An event more than this (ms) ahead of the lane's newest corroborated
    /// time is *far ahead*.
    pub far_ahead: i64,
    /// Far-ahead events that must agree before the watermark follows them
    /// (1: every event moves it at once, the plain maximum).
    pub quorum: usize,
}

/// A lane's event-time progress: its newest corroborated event time and the
/// far-ahead times held aside until corroborated or caught up.
///
/// The rule, per event at `t` that is not late:
/// - `t` within `far_ahead` of `max_time`: `max_time` follows it as a plain
///   maximum, and held times it reached are dropped (the stream caught up);
/// - otherwise (far ahead, or the lane has no corroborated time yet) `t` is
///   *held*: counted into its windows like any event, but the watermark does
///   not move. Once `quorum` times are held, the jump is real: `max_time`
///   becomes the `quorum`-th newest of them (a time that many events have
///   reached), and held times at or below it are dropped.
///
/// So a single stray line far ahead never moves the watermark on its own,
/// while a real clock jump does after `quorum` lines; a lane's first
/// `quorum` events corroborate its start the same way. Without jumps the
/// result is the plain maximum, as before. The state depends only on the
/// lane's own events in partition order, so it is the same in every run,
/// and it is small and `Copy` (pins save it whole; checkpoints store it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneClock {
    /// Newest corroborated event time (`i64::MIN`: none yet). The lane's
    /// watermark is this minus the allowed lateness.
    pub max_time: i64,
    /// Held far-ahead times, newest first: `held[..n_held]`, all > `max_time`.
    held: [i64; MAX_QUORUM - 1],
    n_held: u8,
}

impl Default for LaneClock {
    fn default() -> LaneClock {
        LaneClock::EMPTY
    }
}

impl LaneClock {
    /// No event yet.
    pub const EMPTY: LaneClock = LaneClock { max_time: i64::MIN, held: [i64::MIN; MAX_QUORUM - 1], n_held: 0 };

    /// A clock as a checkpoint stored it (held times beyond what any quorum
    /// can use are dropped: the newest are kept).
    pub fn from_parts(max_time: i64, held: &[i64]) -> LaneClock {
        let mut c = LaneClock { max_time, ..LaneClock::EMPTY };
        let mut times: Vec<i64> = held.iter().copied().filter(|&t| t > max_time).collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        times.truncate(MAX_QUORUM - 1);
        c.held[..times.len()].copy_from_slice(&times);
        c.n_held = times.len() as u8;
        c
    }

    /// The newest event time taken into account, held ones included.
    pub fn newest(&self) -> i64 {
        self.held().first().map_or(self.max_time, |&h| h.max(self.max_time))
    }

    /// Held far-ahead times, newest first.
    pub fn held(&self) -> &[i64] {
        &self.held[..self.n_held as usize]
    }

    /// Takes the event time `t` (not late) into account; returns whether it
    /// was held aside far ahead of the lane's corroborated time (a lane's
    /// first events, waiting for their quorum, are not).
    #[inline]
    pub fn observe(&mut self, t: i64, rule: ClockRule) -> bool {
        if rule.quorum <= 1 {
            self.max_time = self.max_time.max(t);
            return false;
        }
        if self.max_time != i64::MIN && t <= self.max_time.saturating_add(rule.far_ahead) {
            if t > self.max_time {
                self.max_time = t;
                self.drop_caught_up();
            }
            return false;
        }
        let mut times = [i64::MIN; MAX_QUORUM];
        let n = self.n_held as usize;
        times[..n].copy_from_slice(&self.held[..n]);
        times[n] = t;
        let times = &mut times[..=n];
        times.sort_unstable_by(|a, b| b.cmp(a));
        let quorum = rule.quorum.min(MAX_QUORUM);
        // Before the lane has a corroborated time its first events wait for
        // a quorum too, but they are not "ahead" of anything.
        let ahead = self.max_time != i64::MIN;
        if times.len() >= quorum {
            self.max_time = self.max_time.max(times[quorum - 1]);
        }
        let keep: Vec<i64> = times.iter().copied().filter(|&x| x > self.max_time).collect();
        // At most quorum - 1 are above the quorum-th newest.
        self.held[..keep.len()].copy_from_slice(&keep);
        self.n_held = keep.len() as u8;
        ahead && times.len() < quorum
    }

    fn drop_caught_up(&mut self) {
        let n = self.n_held as usize;
        let keep = self.held[..n].iter().take_while(|&&x| x > self.max_time).count();
        self.n_held = keep as u8;
    }
}

/// A lane's state as saved in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneCheckpoint {
    /// Web server (source host) of the lane.
    pub host: String,
    /// First offset of this lane an open window still needs. Its events
    /// below this offset are fully accounted for and skipped on replay.
    pub resume_offset: i64,
    /// Newest corroborated event time of the lane before `resume_offset`
    /// (`i64::MIN`: none).
    pub max_time: i64,
    /// Far-ahead event times held aside before `resume_offset`, newest first
    /// (see [`LaneClock`]).
    pub held: Vec<i64>,
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
    /// The partition's windows ending at or before this (ms) are closed: its
    /// shares of them are final. The minimum over all partitions of the
    /// topic is the watermark of the merged views.
    pub closed_through: i64,
    /// The newest event time of any web server in the partition, minus the
    /// lateness (`i64::MIN`: no events): when an instance's partitions are
    /// all idle, it closes windows up to the newest of these over the
    /// whole topic, as one instance owning every partition would.
    pub max_watermark: i64,
    /// Every partition of its owner was idle (read to its end and quiet):
    /// when all partitions of the topic say so, the input has ended for now.
    pub idle: bool,
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
    /// Newest corroborated event time and held far-ahead times (events that
    /// were behind the watermark do not count).
    pub clock: LaneClock,
    /// After a restart: this lane's events below this offset were accounted
    /// for before the checkpoint and are skipped.
    pub skip_below: i64,
    /// Listening-clock time (ms) of the first end-of-partition after this
    /// lane's last event; `None` while the lane may still have unread events.
    quiet_since: Option<i64>,
    /// For every "last window end" bucket still open: the first offset of
    /// this lane that counted into it, and the lane's clock just before.
    pins: BTreeMap<i64, (i64, LaneClock)>,
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
        self.clock.max_time.saturating_sub(lateness)
    }

    /// An event of this lane was read: its idle clock stops.
    #[inline]
    pub fn event_read(&mut self) {
        self.quiet_since = None;
    }

    /// Remembers that the event at `offset` counts into windows that all end
    /// by `bucket_end`; `before` is the lane's clock before it.
    #[inline]
    pub fn pin(&mut self, bucket_end: i64, offset: i64, before: LaneClock) {
        self.pins.entry(bucket_end).or_insert((offset, before));
    }

    fn checkpoint(&self, next_offset: i64) -> LaneCheckpoint {
        let first = self.pins.values().min_by_key(|(offset, _)| *offset);
        let (resume_offset, clock) = match first {
            Some(&(offset, before)) => (offset, before),
            // Nothing open: everything of this lane so far is accounted for.
            None => (next_offset.max(self.skip_below), self.clock),
        };
        LaneCheckpoint { host: self.host.to_string(), resume_offset, max_time: clock.max_time, held: clock.held().to_vec() }
    }
}

/// Progress of one partition.
#[derive(Debug, Clone, Default)]
pub struct PartitionState {
    /// Next offset to process.
    pub next_offset: i64,
    /// Offsets below this were processed before the last restart.
    pub replay_until: i64,
    /// Windows ending at or before this were closed before the last restart
    /// (`i64::MIN`: none): they never reopen.
    pub closed_through: i64,
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
        PartitionState { recent: RecentIds::new(recent_span), closed_through: i64::MIN, ..PartitionState::default() }
    }

    /// Restores a partition from its checkpoint.
    pub fn restore(cp: &PartitionCheckpoint, recent_span: i64) -> PartitionState {
        PartitionState {
            recent: RecentIds::new(recent_span),
            next_offset: cp.resume_offset,
            replay_until: cp.replay_until,
            closed_through: cp.closed_through,
            quiet_since: None,
            woke_from: None,
            lanes: cp
                .lanes
                .iter()
                .map(|l| Lane {
                    host: CompactString::from(l.host.as_str()),
                    clock: LaneClock::from_parts(l.max_time, &l.held),
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
                    clock: LaneClock::EMPTY,
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
        self.lanes.iter().filter(|l| !idle(l.quiet_since)).map(|l| l.watermark(lateness)).min().map_or(Hold::Nothing, Hold::At)
    }

    /// How far the fastest lane has got, held far-ahead events included
    /// (for when every partition is idle). Why held ones count here: once
    /// everything is idle the input has ended for now, nothing is left to
    /// corroborate them, and the windows of a stream's last lines (sparse
    /// lanes' last lines are often held) should close as they did before.
    pub fn max_watermark(&self, lateness: i64) -> Option<i64> {
        self.lanes.iter().filter(|l| l.clock.newest() != i64::MIN).map(|l| l.clock.newest().saturating_sub(lateness)).max()
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

    /// Where a restart must resume so every open window is rebuilt, given
    /// the owner's global watermark.
    pub fn checkpoint(&self, partition: i32, closed_through: i64, lateness: i64) -> PartitionCheckpoint {
        let mut lanes: Vec<LaneCheckpoint> = self.lanes.iter().map(|l| l.checkpoint(self.next_offset)).collect();
        lanes.sort_by(|a, b| a.host.cmp(&b.host));
        // `recent.span` earlier than any lane needs, so the ids of the
        // records before the first re-processed one are known again.
        let resume_offset = (lanes.iter().map(|l| l.resume_offset).min().unwrap_or(self.next_offset).min(self.next_offset) - self.recent.span).max(0);
        PartitionCheckpoint {
            partition,
            resume_offset,
            replay_until: self.next_offset.max(self.replay_until),
            lanes,
            closed_through: closed_through.max(self.closed_through),
            max_watermark: self.max_watermark(lateness).unwrap_or(i64::MIN),
            idle: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock at `max_time` with nothing held.
    fn at(max_time: i64) -> LaneClock {
        LaneClock { max_time, ..LaneClock::EMPTY }
    }

    const RULE: ClockRule = ClockRule { far_ahead: 60_000, quorum: 3 };

    /// Feeds `times` (seconds) to a fresh clock; returns max_time (seconds) after each.
    fn run(rule: ClockRule, times: &[i64]) -> Vec<i64> {
        let mut c = LaneClock::EMPTY;
        times
            .iter()
            .map(|t| {
                c.observe(t * 1000, rule);
                if c.max_time == i64::MIN {
                    -1
                } else {
                    c.max_time / 1000
                }
            })
            .collect()
    }

    #[test]
    fn a_single_far_ahead_line_does_not_move_the_clock() {
        // The case: one line 5 minutes ahead, first of its file.
        let got = run(RULE, &[1000, 1001, 1002, 1300, 1003, 1004, 1005]);
        // (1001: the start's own held lines, 1001 and 1002, corroborate up to
        // 1001 with it; 1300 itself never becomes the clock.)
        assert_eq!(got, vec![-1, -1, 1000, 1001, 1003, 1004, 1005]);
        // The same line as the lane's very first event.
        let got = run(RULE, &[1300, 1000, 1001, 1002, 1003]);
        assert_eq!(got, vec![-1, -1, 1000, 1002, 1003], "the first three corroborate 1000, not 1300");
        // The stream catches up with the held line: from then on a plain maximum.
        let mut c = LaneClock::EMPTY;
        for t in [1000, 1001, 1002, 1300, 1250, 1299, 1301] {
            c.observe(t * 1000, RULE);
        }
        assert_eq!((c.max_time, c.held()), (1_301_000, &[][..]));
    }

    #[test]
    fn a_real_clock_jump_moves_the_clock_after_a_quorum_of_lines() {
        let got = run(RULE, &[1000, 1001, 1002, 4600, 4601, 4602, 4603, 1003]);
        assert_eq!(got, vec![-1, -1, 1000, 1001, 1002, 4600, 4603, 4603]);
        // quorum 1 is the plain maximum (every event moves the watermark).
        let max = ClockRule { far_ahead: 60_000, quorum: 1 };
        assert_eq!(run(max, &[1000, 1300, 1001]), vec![1000, 1300, 1300]);
        // Scattered far-ahead lines not caught up count towards a quorum.
        assert_eq!(run(RULE, &[1000, 1001, 1002, 1300, 1900, 1003, 5000]), vec![-1, -1, 1000, 1001, 1002, 1003, 1300]);
    }

    #[test]
    fn held_times_hold_nothing_open_but_count_once_everything_is_idle() {
        let mut p = PartitionState::default();
        for t in [1000, 1001, 1002, 1300] {
            p.lane("web1").clock.observe(t * 1000, RULE);
        }
        assert_eq!(p.hold(10_000, 0, 30), Hold::At(991_000), "the corroborated 1001 s");
        assert_eq!(p.max_watermark(10_000), Some(1_290_000), "the input ended: up to the held 1300 s");
    }

    #[test]
    fn a_clock_survives_its_checkpoint_parts() {
        let mut c = LaneClock::EMPTY;
        for t in [1000, 1001, 1002, 1300, 1500] {
            c.observe(t * 1000, RULE);
        }
        assert_eq!(c.held(), &[1_500_000, 1_300_000]);
        let back = LaneClock::from_parts(c.max_time, c.held());
        assert_eq!(back, c);
        // A checkpoint written before held times existed: nothing held.
        assert_eq!(LaneClock::from_parts(1_002_000, &[]), at(1_002_000));
        let mut cont = back;
        assert!(!cont.observe(1_003_000, RULE));
        assert!(!cont.observe(1_600_000, RULE), "third far-ahead line: corroborated");
        assert_eq!(cont.max_time, 1_300_000);
    }

    #[test]
    fn resumes_from_the_oldest_pinned_offset_of_any_lane() {
        let mut p = PartitionState { next_offset: 100, ..Default::default() };
        p.lane("web1");
        p.lane("web2").clock.max_time = 900;
        let a = p.lane("web1");
        a.clock.max_time = 5_000;
        a.pin(60_000, 40, at(1_000));
        a.pin(120_000, 70, at(3_000));
        a.pin(60_000, 80, at(4_000)); // later offset, same bucket: first one stays
        let b = p.lane("web2");
        b.pin(120_000, 55, at(900));
        let cp = p.checkpoint(3, i64::MIN, 0);
        assert_eq!(cp.resume_offset, 40);
        assert_eq!(cp.replay_until, 100);
        assert_eq!(
            cp.lanes,
            vec![
                LaneCheckpoint { host: "web1".into(), resume_offset: 40, max_time: 1_000, held: vec![] },
                LaneCheckpoint { host: "web2".into(), resume_offset: 55, max_time: 900, held: vec![] },
            ]
        );
        p.unpin_through(60_000);
        assert_eq!(p.checkpoint(3, i64::MIN, 0).resume_offset, 55);
        p.unpin_through(120_000);
        let cp = p.checkpoint(3, i64::MIN, 0);
        assert_eq!(cp.resume_offset, 100);
        assert_eq!(cp.lanes[0], LaneCheckpoint { host: "web1".into(), resume_offset: 100, max_time: 5_000, held: vec![] });
    }

    #[test]
    fn a_slow_lane_holds_the_partition_watermark_back() {
        let mut p = PartitionState::default();
        assert_eq!(p.hold(10_000, 0, 30), Hold::Unknown);
        p.lane("web1").clock.max_time = 10_000_000;
        assert_eq!(p.hold(10_000, 0, 30), Hold::At(9_990_000));
        p.lane("web2").clock.max_time = 1_000_000;
        assert_eq!(p.hold(10_000, 0, 30), Hold::At(990_000));
        assert_eq!(p.max_watermark(10_000), Some(9_990_000));
    }

    #[test]
    fn only_a_lane_quiet_at_the_head_of_its_partition_goes_idle() {
        let mut p = PartitionState::default();
        p.lane("web1").clock.max_time = 10_000_000;
        p.lane("web2").clock.max_time = 1_000_000;
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
        assert_eq!(p.checkpoint(0, i64::MIN, 0).resume_offset, 400, "resumes early enough to refill the ids");
        p.next_offset = 50;
        assert_eq!(p.checkpoint(0, i64::MIN, 0).resume_offset, 0);
    }

    #[test]
    fn a_caught_up_partition_commits_its_end_and_reports_the_replay_window_apart() {
        // 1,000 records read and flushed, an open window pinned at offset 900,
        // 200 recent ids: a restart resumes at 700, yet nothing is uncounted.
        let mut p = PartitionState::new(200);
        p.next_offset = 1_000;
        p.lane("web1").pin(60_000, 900, at(5));
        let cp = p.checkpoint(0, i64::MIN, 0);
        assert_eq!(cp.resume_offset, 700);
        assert_eq!(cp.committed_offset(), 1_000, "lag against the partition end (1,000) is 0");
        assert_eq!(cp.replay_window(), 300);
        // During a replay after a restart the commit never goes back.
        let mut r = PartitionState::restore(&cp, 200);
        r.next_offset = 750;
        let again = r.checkpoint(0, i64::MIN, 0);
        assert_eq!(again.committed_offset(), 1_000);
        assert!(again.replay_window() >= 300 - 50, "{again:?}");
        // Nothing open and no recent ids: no replay window either.
        let q = PartitionState { next_offset: 40, ..Default::default() }.checkpoint(1, i64::MIN, 0);
        assert_eq!((q.committed_offset(), q.replay_window()), (40, 0));
    }

    #[test]
    fn a_restored_lane_skips_what_it_had_accounted_for() {
        let cp = PartitionCheckpoint {
            partition: 0,
            resume_offset: 10,
            replay_until: 50,
            lanes: vec![LaneCheckpoint { host: "web1".into(), resume_offset: 30, max_time: 7, held: vec![] }],
            closed_through: 5,
            max_watermark: 0,
            idle: false,
        };
        let mut p = PartitionState::restore(&cp, 0);
        assert_eq!(p.next_offset, 10);
        let lane = p.lane("web1");
        assert_eq!((lane.skip_below, lane.clock.max_time), (30, 7));
        assert_eq!(p.closed_through, 5, "the windows it had closed stay closed");
        assert_eq!(p.checkpoint(0, i64::MIN, 0).closed_through, 5, "whatever its new owner's watermark");
    }
}
