//! The windowing core: events in, row updates out. Pure and synchronous —
//! no I/O, no clock — so it is unit-tested directly and benchmarked alone.
//!
//! Per event ([`Core::process`]), in this order:
//! 1. **Duplicate?** Same event id as an event counted in a window that is
//!    still open, or as one of the partition's recent records (a re-sent
//!    batch): counted once, whatever the watermark says by now.
//! 2. **Late?** Older than its lane's watermark (newest corroborated event
//!    time of the same web server in the same partition, minus the allowed
//!    lateness; a single line far ahead does not move it, see
//!    [`crate::partition::LaneClock`]): written to `late_events`, counted
//!    nowhere else.
//! 3. **Already final?** Every window it belongs to ended at or before the
//!    global watermark (`closed_through`). After a restart such an event is a
//!    replay of something the final rows already hold and is skipped;
//!    otherwise it is late (`window_final`), which only happens when an idle
//!    partition wakes up behind the others.
//!    (An id whose windows are closed cannot come back into an open window:
//!    duplicates share their event time.)
//! 4. **Counted** into its DDoS window, its health windows and its
//!    popularity windows that are still open.
//!
//! [`Core::advance`] moves the global watermark — the minimum over the lanes
//! of active partitions — and closes every window that ends at or before
//! it, producing final rows.
//!
//! Health and popularity windows are kept per partition (each partition's
//! share, [`HealthPart`], [`PopularityPart`]), and so is the duplicate
//! memory: what a partition contributes depends only on its own records, so
//! instances sharing a topic's partitions, in any assignment, produce the
//! shares one instance would. [`crate::merge`] combines them. [`Core::drain`] hands over the rows changed
//! since the last drain. [`Core::checkpoint`] says where a restart must
//! resume so that replaying rebuilds every open window exactly; see
//! `docs/speed-layer.md` for why that makes kill -9 invisible in the tables.

use std::collections::{BTreeMap, BTreeSet};

use clickstream_sketch::Position;
use rustc_hash::FxHashSet;

use crate::aggregates::{DdosAgg, HealthAgg, HostTable, WindowStore};
use crate::merge::WindowKind;
use crate::partition::{ClockRule, Hold, PartitionCheckpoint, PartitionState};
use crate::rows::*;
use crate::windows::WindowSpec;

/// Window shapes and thresholds.
#[derive(Debug, Clone, Copy)]
pub struct CoreConfig {
    /// Allowed lateness, ms.
    pub lateness: i64,
    /// DDoS window (tumbling).
    pub ddos: WindowSpec,
    /// Alert above this many requests per address and window.
    pub ddos_threshold: u64,
    /// Health windows.
    pub health: WindowSpec,
    /// Unhealthy above this many non-200 responses per host and window.
    pub health_threshold: u64,
    /// Popularity windows.
    pub popularity: WindowSpec,
    /// Rows of the top list per window.
    pub top_n: usize,
    /// Listening time (ms) a partition, or a web server within one, must be
    /// quiet at the head of the partition before it stops holding the
    /// watermark back.
    pub idle_after: i64,
    /// Offsets per partition whose event ids are remembered beyond their
    /// windows (see [`crate::partition::RecentIds`]).
    pub recent_ids: i64,
    /// How far ahead an event may be before it needs corroboration to move
    /// its lane's watermark (see [`crate::partition::LaneClock`]).
    pub clock: ClockRule,
}

impl CoreConfig {
    /// The issue's defaults: 1 s DDoS windows over 100, 5 min / 1 min health
    /// windows over 10, 5 min / 1 min popularity with a top 10, 10 s lateness.
    pub fn issue_defaults() -> CoreConfig {
        CoreConfig {
            lateness: 10_000,
            ddos: WindowSpec::tumbling(1_000),
            ddos_threshold: 100,
            health: WindowSpec::sliding(300_000, 60_000),
            health_threshold: 10,
            popularity: WindowSpec::sliding(300_000, 60_000),
            top_n: 10,
            idle_after: 30_000,
            recent_ids: 20_000,
            clock: ClockRule { far_ahead: 60_000, quorum: 3 },
        }
    }

    /// From the validated configuration.
    pub fn from_config(c: &crate::config::Config) -> CoreConfig {
        let ms = |d: std::time::Duration| d.as_millis() as i64;
        CoreConfig {
            lateness: ms(c.windows.allowed_lateness),
            ddos: WindowSpec::tumbling(ms(c.ddos.window)),
            ddos_threshold: c.ddos.threshold,
            health: WindowSpec::sliding(ms(c.health.window), ms(c.health.slide)),
            health_threshold: c.health.threshold,
            popularity: WindowSpec::sliding(ms(c.popularity.window), ms(c.popularity.slide)),
            top_n: c.popularity.top_n,
            idle_after: ms(c.windows.idle_partition_timeout),
            recent_ids: c.windows.dedup_recent_records as i64,
            clock: ClockRule { far_ahead: ms(c.windows.far_ahead), quorum: c.windows.far_ahead_quorum },
        }
    }

    /// End of the last window of any kind that an event at `t` counts in.
    fn last_end(&self, t: i64) -> i64 {
        self.ddos.last_end(t).max(self.health.last_end(t)).max(self.popularity.last_end(t))
    }
}

/// The fields of a click event the windows need, borrowed from the record.
#[derive(Debug, Clone, Copy)]
pub struct Click<'a> {
    /// The event id as a number (for the dedup set).
    pub id: u128,
    /// The event id as written (for `late_events`).
    pub event_id: &'a str,
    /// Event time, ms.
    pub time_ms: i64,
    /// Client address.
    pub client: &'a str,
    /// Web server.
    pub host: &'a str,
    /// Category.
    pub category: &'a str,
    /// HTTP status.
    pub status: i32,
}

impl<'a> Click<'a> {
    /// Picks the fields from a decoded event; `None` if its id is not 32 hex digits.
    pub fn from_event(e: &'a clickstream_contract::ClickEvent<'a>) -> Option<Click<'a>> {
        let id = if e.event_id.len() == 32 {
            u128::from_str_radix(&e.event_id, 16).ok()?
        } else {
            return None;
        };
        Some(Click {
            id,
            event_id: &e.event_id,
            time_ms: e.event_time_ms,
            client: &e.client_addr,
            host: &e.source_host,
            category: &e.category,
            status: e.status,
        })
    }
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Counted into its windows.
    Counted,
    /// Same id as an event already counted.
    Duplicate,
    /// Written to `late_events`.
    Late(LateReason),
    /// A replay (after a restart) of an event whose windows are already final.
    Replayed,
}

/// Running totals, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Events counted.
    pub counted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Late events.
    pub late: u64,
    /// Replays skipped.
    pub replayed: u64,
    /// Events counted while far ahead of their lane's watermark and not
    /// (yet) corroborated: they did not move it.
    pub held_ahead: u64,
    /// Windows closed: DDoS, health, popularity.
    pub windows_closed: [u64; 3],
    /// (address, window) pairs that crossed the DDoS threshold.
    pub ddos_alerts: u64,
}

/// How much state is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    /// Open windows of all kinds.
    pub open_windows: usize,
    /// Open (window, key) aggregates of all kinds.
    pub open_keys: usize,
    /// Event ids held for deduplication.
    pub dedup_ids: usize,
}

/// One partition's open health and popularity windows and the ids counted
/// in them: its share of the views, independent of the other partitions.
struct Share {
    health: WindowStore<HealthAgg>,
    popularity: WindowStore<u64>,
    /// Ids of counted events by the end of their last window.
    dedup: BTreeMap<i64, FxHashSet<u128>>,
    /// Size of the last closed dedup bucket: new buckets start with this capacity.
    dedup_typical: usize,
}

impl Share {
    fn new(cfg: &CoreConfig) -> Share {
        Share {
            health: WindowStore::new(cfg.health.size),
            popularity: WindowStore::new(cfg.popularity.size),
            dedup: BTreeMap::new(),
            dedup_typical: 0,
        }
    }
}

/// The windowing state machine.
pub struct Core {
    cfg: CoreConfig,
    partitions: BTreeMap<i32, PartitionState>,
    /// The global watermark: windows ending at or before it are final.
    closed_through: i64,
    /// The newest partition watermark of the whole topic, other instances'
    /// partitions included (from their checkpoints), when every partition
    /// of the topic is idle (`i64::MIN` otherwise): where windows close then.
    topic_max: i64,
    /// Every partition of this instance was idle at the last advance.
    idle: bool,
    /// Web servers expected in every partition (`windows.sources`).
    expected: Vec<String>,
    ddos: WindowStore<DdosAgg>,
    shares: BTreeMap<i32, Share>,
    dedup_len: usize,
    /// Web servers seen (DDoS rows list them).
    hosts: HostTable,
    /// Rows produced by closing windows and by late events, until drained.
    pending: Updates,
    stats: CoreStats,
}

impl Core {
    /// An empty core.
    pub fn new(cfg: CoreConfig) -> Core {
        Core {
            cfg,
            partitions: BTreeMap::new(),
            closed_through: i64::MIN,
            topic_max: i64::MIN,
            idle: false,
            expected: Vec::new(),
            ddos: WindowStore::new(cfg.ddos.size),
            shares: BTreeMap::new(),
            dedup_len: 0,
            hosts: HostTable::default(),
            pending: Updates::default(),
            stats: CoreStats::default(),
        }
    }

    /// Restores partitions from their checkpoints (each keeps its own
    /// `closed_through`: windows it had closed never reopen, whichever
    /// instance owned it). The caller then reads each partition from its
    /// `resume_offset`.
    pub fn restore(&mut self, checkpoints: &[PartitionCheckpoint]) {
        // The global watermark starts from the lanes (next advance); a
        // partition restored here keeps its own floor, and one without a
        // checkpoint (new, or never processed) has none.
        for cp in checkpoints {
            self.partitions.insert(cp.partition, PartitionState::restore(cp, self.cfg.recent_ids));
        }
    }

    /// Declares the web servers expected in the stream (call before
    /// [`Core::assign`]): each gets a lane in every partition that holds the
    /// watermark back until its first event there, or until it is idle.
    pub fn expect_sources(&mut self, hosts: &[String]) {
        self.expected = hosts.to_vec();
    }

    /// Declares the partitions this job reads: each holds the watermark back
    /// until it has events or is idle.
    pub fn assign(&mut self, partitions: &[i32]) {
        for &p in partitions {
            let span = self.cfg.recent_ids;
            let state = self.partitions.entry(p).or_insert_with(|| PartitionState::new(span));
            for host in &self.expected {
                state.lane(host);
            }
        }
    }

    /// The consumer reached the end of `partition` at `now` (the job's
    /// listening clock, ms): from now on its silence, and the silence of each
    /// web server in it, counts towards idleness. Records read later stop
    /// the clocks they concern.
    pub fn caught_up(&mut self, partition: i32, now: i64) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.caught_up(now);
        }
    }

    /// Tells the core what every partition's checkpoint (whoever owns it)
    /// says: the newest [`PartitionCheckpoint::max_watermark`], and whether
    /// all are idle. When the whole topic is idle, this instance closes
    /// windows up to that newest watermark, as one instance owning every
    /// partition would (its own partitions may hold no events at all).
    pub fn topic_progress(&mut self, max_watermark: i64, all_idle: bool) {
        self.topic_max = if all_idle { max_watermark } else { i64::MIN };
    }

    /// The global watermark (`i64::MIN` before any window closed).
    pub fn closed_through(&self) -> i64 {
        self.closed_through
    }

    /// Running totals.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// How much state is held.
    pub fn state_size(&self) -> StateSize {
        let shares = self.shares.values();
        StateSize {
            open_windows: self.open_windows().iter().sum(),
            open_keys: self.ddos.open_keys() + shares.map(|s| s.health.open_keys() + s.popularity.open_keys()).sum::<usize>(),
            dedup_ids: self.dedup_len,
        }
    }

    /// Open windows per kind: DDoS, health, popularity (a window open in
    /// several partitions counts once per partition).
    pub fn open_windows(&self) -> [usize; 3] {
        let (h, p) = self.shares.values().fold((0, 0), |(h, p), s| (h + s.health.open_windows(), p + s.popularity.open_windows()));
        [self.ddos.open_windows(), h, p]
    }

    /// Processes the event at `offset` of `partition`.
    #[inline]
    pub fn process(&mut self, partition: i32, offset: i64, c: &Click<'_>) -> Verdict {
        let cfg = self.cfg;
        let p = self.partitions.entry(partition).or_insert_with(|| PartitionState::new(cfg.recent_ids));
        p.next_offset = p.next_offset.max(offset + 1);
        p.record_read();
        let replay_until = p.replay_until;
        // Windows this partition closed before a restart (maybe under
        // another instance) stay closed.
        let g = self.closed_through.max(p.closed_through);
        let (lane, recent) = p.lane_and_recent(c.host);
        lane.event_read();
        // Every record, whatever its verdict, is one of the recent ones.
        recent.push(offset, c.id);
        if offset < lane.skip_below {
            // Accounted for before the checkpoint this run resumed from.
            self.stats.replayed += 1;
            return Verdict::Replayed;
        }
        let t = c.time_ms;
        let bucket = cfg.last_end(t);
        let share = self.shares.entry(partition).or_insert_with(|| Share::new(&cfg));
        // A re-sent copy of an event counted in a window still open is a
        // duplicate however far its server has moved on since; so is a copy
        // of one of the partition's recent records that would otherwise be
        // late (its windows closed meanwhile). Copies share the original's
        // key (the client address), so they are in its partition.
        if share.dedup.get(&bucket).is_some_and(|ids| ids.contains(&c.id)) {
            self.stats.duplicates += 1;
            return Verdict::Duplicate;
        }
        let wm = lane.watermark(cfg.lateness);
        if t < wm {
            if recent.contains(offset, c.id) {
                self.stats.duplicates += 1;
                return Verdict::Duplicate;
            }
            self.stats.late += 1;
            self.pending.late.push(late_row(c, wm, LateReason::BehindWatermark, partition, offset));
            return Verdict::Late(LateReason::BehindWatermark);
        }
        let before = lane.clock;
        let held = lane.clock.observe(t, cfg.clock);
        if bucket <= g {
            if offset < replay_until {
                self.stats.replayed += 1;
                return Verdict::Replayed;
            }
            if recent.contains(offset, c.id) {
                self.stats.duplicates += 1;
                return Verdict::Duplicate;
            }
            self.stats.late += 1;
            self.pending.late.push(late_row(c, g, LateReason::WindowFinal, partition, offset));
            return Verdict::Late(LateReason::WindowFinal);
        }
        let typical = share.dedup_typical;
        let bucket_ids = share.dedup.entry(bucket).or_insert_with(|| FxHashSet::with_capacity_and_hasher(typical, Default::default()));
        if !bucket_ids.insert(c.id) {
            self.stats.duplicates += 1;
            return Verdict::Duplicate;
        }
        self.dedup_len += 1;
        lane.pin(bucket, offset, before);
        if held {
            self.stats.held_ahead += 1;
        }

        let ds = cfg.ddos.last_start(t);
        if ds + cfg.ddos.size > g {
            let (threshold, stats) = (cfg.ddos_threshold, &mut self.stats);
            let host = self.hosts.bit(c.host);
            self.ddos.update(ds, c.client, |a| {
                a.add(t, host);
                a.partition = partition;
                if a.requests == threshold + 1 {
                    stats.ddos_alerts += 1;
                }
                a.requests > threshold
            });
        }
        // Hashed once here, applied to every health window of the event.
        let visitor = Position::of(c.client.as_bytes());
        for s in cfg.health.starts(t) {
            if s + cfg.health.size > g {
                share.health.update(s, c.host, |a| {
                    a.add(c.status, visitor);
                    true
                });
            }
        }
        for s in cfg.popularity.starts(t) {
            if s + cfg.popularity.size > g {
                share.popularity.update(s, c.category, |n| {
                    *n += 1;
                    true
                });
            }
        }
        self.stats.counted += 1;
        Verdict::Counted
    }

    /// Moves the global watermark at `now` (listening clock, ms) to the
    /// minimum over the lanes that are not idle (the maximum of all when
    /// everything is idle) and closes the windows it passed. Called once per
    /// flush. A partition that had gone idle and has records again restarts
    /// every idle clock (see [`PartitionState::restart_idle_clocks`]).
    /// Returns whether it moved.
    pub fn advance(&mut self, now: i64) -> bool {
        let (lateness, idle_after) = (self.cfg.lateness, self.cfg.idle_after);
        let mut woke_from_idle = false;
        for p in self.partitions.values_mut() {
            if p.take_woke_from().is_some_and(|since| now.saturating_sub(since) >= idle_after) {
                woke_from_idle = true;
            }
        }
        if woke_from_idle {
            for p in self.partitions.values_mut() {
                p.restart_idle_clocks(now);
            }
        }
        let mut unknown = false;
        let mut slowest: Option<i64> = None;
        for p in self.partitions.values() {
            match p.hold(lateness, now, idle_after) {
                Hold::Unknown => unknown = true,
                Hold::At(wm) => slowest = Some(slowest.map_or(wm, |s| s.min(wm))),
                Hold::Nothing => {}
            }
        }
        let candidate = match (unknown, slowest) {
            (true, _) => None,
            (false, Some(wm)) => Some(wm),
            (false, None) => {
                let own = self.partitions.values().filter_map(|p| p.max_watermark(lateness)).max();
                own.max(Some(self.topic_max).filter(|&t| t > i64::MIN))
            }
        };
        self.idle = !unknown && slowest.is_none();
        match candidate {
            Some(g) if g > self.closed_through => {
                self.closed_through = g;
                self.close_windows();
                true
            }
            _ => false,
        }
    }

    fn close_windows(&mut self) {
        let g = self.closed_through;
        let cfg = self.cfg;
        let progress = |partitions: &BTreeMap<i32, PartitionState>, p: i32| partitions.get(&p).map_or(0, |s| s.next_offset);
        for (start, keys) in self.ddos.close(g) {
            self.stats.windows_closed[0] += 1;
            for (addr, slot) in keys {
                if slot.agg.requests > cfg.ddos_threshold {
                    let at = progress(&self.partitions, slot.agg.partition);
                    self.pending.ddos.push(ddos_row(start, cfg.ddos.size, &addr, &slot.agg, &self.hosts, true, at));
                }
            }
        }
        let mut closed = [BTreeSet::new(), BTreeSet::new()];
        for (&partition, share) in &mut self.shares {
            let at = progress(&self.partitions, partition);
            for (start, keys) in share.health.close(g) {
                closed[0].insert(start);
                for (host, slot) in keys {
                    self.pending.health.push(health_part((partition, at), start, cfg.health.size, &host, &slot.agg, true));
                }
            }
            for (start, keys) in share.popularity.close(g) {
                closed[1].insert(start);
                for (category, slot) in keys {
                    self.pending.popularity.push(popularity_part((partition, at), start, cfg.popularity.size, &category, slot.agg, true));
                }
            }
            while let Some(e) = share.dedup.first_entry() {
                if *e.key() > g {
                    break;
                }
                let ids = e.remove();
                self.dedup_len -= ids.len();
                share.dedup_typical = ids.len();
            }
        }
        self.stats.windows_closed[1] += closed[0].len() as u64;
        self.stats.windows_closed[2] += closed[1].len() as u64;
        for p in self.partitions.values_mut() {
            p.unpin_through(g);
        }
    }

    /// Rows changed since the last drain: updates of open windows, final rows
    /// of windows closed since, and late events.
    pub fn drain(&mut self) -> Updates {
        let cfg = self.cfg;
        let mut out = std::mem::take(&mut self.pending);
        // Final rows were produced first, but open-window updates never
        // concern a closed window, so the order within a flush is free.
        let (hosts, partitions) = (&self.hosts, &self.partitions);
        let progress = |p: i32| partitions.get(&p).map_or(0, |s| s.next_offset);
        self.ddos.drain_changed(|start, addr, a| out.ddos.push(ddos_row(start, cfg.ddos.size, addr, a, hosts, false, progress(a.partition))));
        for (&partition, share) in &mut self.shares {
            let at = (partition, progress(partition));
            share.health.drain_changed(|start, host, a| out.health.push(health_part(at, start, cfg.health.size, host, a, false)));
            share
                .popularity
                .drain_changed(|start, category, n| out.popularity.push(popularity_part(at, start, cfg.popularity.size, category, *n, false)));
        }
        out
    }

    /// Where a restart resumes each partition, with the windows it has
    /// closed. Valid once the rows of [`Core::drain`] have been written.
    pub fn checkpoint(&self) -> Vec<PartitionCheckpoint> {
        let checkpoint =
            |(&p, s): (&i32, &PartitionState)| PartitionCheckpoint { idle: self.idle, ..s.checkpoint(p, self.closed_through, self.cfg.lateness) };
        self.partitions.iter().map(checkpoint).collect()
    }

    /// The (kind, window start) pairs a set of updates touches: the windows
    /// whose merged rows must be recomputed.
    pub fn touched(u: &Updates) -> BTreeSet<(WindowKind, i64)> {
        let health = u.health.iter().map(|r| (WindowKind::Health, r.window_start));
        health.chain(u.popularity.iter().map(|r| (WindowKind::Popularity, r.window_start))).collect()
    }
}

fn late_row(c: &Click<'_>, watermark: i64, reason: LateReason, partition: i32, offset: i64) -> LateRow {
    LateRow {
        event_time: c.time_ms,
        event_id: c.event_id.to_string(),
        source_host: c.host.to_string(),
        client_addr: c.client.to_string(),
        category: c.category.to_string(),
        status: c.status,
        watermark,
        reason,
        partition,
        offset,
    }
}

fn ddos_row(start: i64, size: i64, addr: &str, a: &DdosAgg, hosts: &HostTable, is_final: bool, progress: i64) -> DdosRow {
    let hosts = hosts.names(a.hosts);
    DdosRow {
        window_start: start,
        window_end: start + size,
        client_addr: addr.to_string(),
        requests: a.requests,
        first_seen: a.first_seen,
        last_seen: a.last_seen,
        source_hosts: hosts,
        is_final,
        progress,
    }
}

/// `(partition, progress)`: where a share comes from.
type Origin = (i32, i64);

fn health_part((partition, progress): Origin, start: i64, size: i64, host: &str, a: &HealthAgg, is_final: bool) -> HealthPart {
    HealthPart {
        partition,
        progress,
        source_host: host.to_string(),
        window_start: start,
        window_end: start + size,
        requests: a.requests,
        non_200: a.non_200,
        classes: a.classes,
        visitors_hll: a.visitors.to_bytes(),
        is_final,
    }
}

fn popularity_part((partition, progress): Origin, start: i64, size: i64, category: &str, requests: u64, is_final: bool) -> PopularityPart {
    PopularityPart { partition, window_start: start, window_end: start + size, category: category.to_string(), requests, is_final, progress }
}
