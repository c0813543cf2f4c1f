//! The generator: base traffic, scheduled injections and the output pipeline.
//!
//! Lines flow through three stages, each streaming with O(1) state:
//!
//! 1. **Produce**: the base traffic is a fixed number of slots on the
//!    day/night curve ([`SlotClock`]); each slot is, by exact selection
//!    sampling, a normal request, an invalid line, a duplicate, a late line or
//!    an oversized line. DDoS bursts and error-storm lines are merged in by
//!    time. Selection sampling (choose `k` of the `n` remaining with
//!    probability `k/n`) makes the injected counts exact and spread uniformly
//!    without storing positions.
//! 2. **Reorder** ([`Reorder`]): swaps picked lines with a newer neighbour.
//! 3. **Finalize**: resolves duplicates to the previous normal line and keeps
//!    the [`Summary`].
//!
//! The stages pass [`Item`]s, defined in their own module because the
//! reorder stage handles them too.

use std::collections::VecDeque;
use std::io::{self, Write};

use crate::catalog::SHOP_ORIGIN;
use crate::config::{Config, ConfigError, Format, NORMAL_MAX_PER_SECOND};
use crate::curve::SlotClock;
use crate::invalid;
use crate::item::Item;
use crate::population::{random_public_ipv4, Population};
use crate::record::{write_record, Client, Record, Referrer, TimeCache};
use crate::reorder::Reorder;
use crate::rng::{Rng, Stream};
use crate::session::{Context, Session, Shop};
use crate::summary::{DdosReport, StormReport, Summary};
use crate::time::UnixSeconds;
use crate::truth::{Event, GeneratedLine, InvalidKind, LineKind, Request};

/// A session idle for longer than this is over (the usual web-analytics cut).
const SESSION_IDLE_SECS: i64 = 30 * 60;
/// Mean seconds between two requests of one session: sets how many sessions
/// are open at once (`rate * THINK_SECS`).
const THINK_SECS: f64 = 60.0;
/// Sessions kept open even when traffic is thin, so visitors interleave as
/// they do in real logs instead of strictly taking turns.
const MIN_OPEN_SESSIONS: usize = 3;
/// Spare line buffers kept for reuse.
const SPARE_BUFFERS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotKind {
    Normal { displace: bool },
    Invalid,
    Duplicate,
    Late,
    Oversized,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The slot's time on the curve.
    ts: UnixSeconds,
    /// Time used to merge with scheduled lines (a pending asset's time).
    merge_ts: UnixSeconds,
    kind: SlotKind,
}

#[derive(Clone, Debug)]
enum Scheduled {
    Ddos { at: UnixSeconds, left: u32, attacker: u32, report: usize },
    Storm { at: UnixSeconds, window: u64, count: u32, k: u32, next: UnixSeconds, report: usize },
}

impl Scheduled {
    fn next_ts(&self) -> Option<UnixSeconds> {
        match *self {
            Scheduled::Ddos { at, left, .. } => (left > 0).then_some(at),
            Scheduled::Storm { count, k, next, .. } => (k < count).then_some(next),
        }
    }
}

/// Seeded generator of access-log lines with ground truth.
///
/// Iterate it for [`GeneratedLine`]s (bytes + [`LineKind`] + [`Event`]), or
/// call [`Generator::write_next`] / [`Generator::write_all`] for the fast path
/// that skips building events.
pub struct Generator {
    cfg: Config,
    pop: Population,
    attackers: Vec<String>,
    shop: Shop,
    traffic: Rng,
    timing: Rng,
    selection: Rng,
    injection: Rng,
    clock: SlotClock,
    peeked: Option<Slot>,
    slots_seen: u64,
    // Selection sampling state.
    selectable_left: u64,
    invalid_left: u64,
    duplicate_left: u64,
    late_left: u64,
    oversized_left: u64,
    normal_left: u64,
    displace_left: u64,
    // Traffic state.
    sessions: Vec<Session>,
    pending_assets: VecDeque<Record>,
    asset_scratch: Vec<Record>,
    second: UnixSeconds,
    per_second: Vec<u8>,
    touched: Vec<u32>,
    quiet_zones: Vec<(UnixSeconds, UnixSeconds)>,
    scheduled: Vec<Scheduled>,
    newest: Option<UnixSeconds>,
    // Output stages.
    reorder: Reorder,
    ready: VecDeque<Item>,
    produced_all: bool,
    keep_last: bool,
    last_normal: Option<Item>,
    times: TimeCache,
    spare: Vec<Vec<u8>>,
    summary: Summary,
    seen_clients: Vec<bool>,
}

impl Generator {
    /// A generator for `cfg` (validated first).
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let mut injection = Rng::new(cfg.seed, Stream::Injection);

        // Attackers first, so the population can avoid their addresses.
        let mut attackers: Vec<String> = Vec::new();
        let explicit: Vec<&String> = cfg.ddos.iter().filter_map(|d| d.addr.as_ref()).collect();
        let mut attacker_of = Vec::with_capacity(cfg.ddos.len());
        for d in &cfg.ddos {
            let addr = match &d.addr {
                Some(a) => a.clone(),
                None => loop {
                    let a = random_public_ipv4(&mut injection);
                    if !attackers.contains(&a) && !explicit.contains(&&a) {
                        break a;
                    }
                },
            };
            let index = match attackers.iter().position(|a| *a == addr) {
                Some(i) => i,
                None => {
                    attackers.push(addr);
                    attackers.len() - 1
                }
            };
            attacker_of.push(index as u32);
        }
        let pop_seed = cfg.population_seed.unwrap_or(cfg.seed);
        let pop = Population::new(cfg.visitors, &mut Rng::new(pop_seed, Stream::Population), &attackers);

        let mut summary = Summary { seed: cfg.seed, ..Summary::default() };
        let mut scheduled = Vec::new();
        for (i, d) in cfg.ddos.iter().enumerate() {
            summary.ddos_bursts.push(DdosReport { addr: attackers[attacker_of[i] as usize].clone(), at: d.at, count: 0 });
            scheduled.push(Scheduled::Ddos { at: d.at, left: d.count, attacker: attacker_of[i], report: i });
        }
        for (i, s) in cfg.error_storms.iter().enumerate() {
            summary.storms.push(StormReport { at: s.at, window_secs: s.window_secs, count: 0 });
            let mut st = Scheduled::Storm { at: s.at, window: s.window_secs, count: s.count, k: 0, next: s.at, report: i };
            storm_advance(&mut st, &mut injection, false);
            scheduled.push(st);
        }

        let base = cfg.lines - cfg.scheduled_count();
        let specials = cfg.invalid_count() + cfg.duplicate_count() + cfg.late + cfg.huge_lines;
        let clock = SlotClock::new(cfg.start, cfg.end(), cfg.offset.seconds(), cfg.seed, base);
        let seen = pop.len() + attackers.len();
        Ok(Generator {
            pop,
            shop: Shop::new(),
            traffic: Rng::new(cfg.seed, Stream::Traffic),
            timing: Rng::new(cfg.seed, Stream::Timing),
            selection: Rng::new(cfg.seed, Stream::Selection),
            injection,
            clock,
            peeked: None,
            slots_seen: 0,
            selectable_left: base.saturating_sub(1),
            invalid_left: cfg.invalid_count(),
            duplicate_left: cfg.duplicate_count(),
            late_left: cfg.late,
            oversized_left: cfg.huge_lines,
            normal_left: base - specials,
            displace_left: cfg.out_of_order_target().min(base - specials),
            sessions: Vec::new(),
            pending_assets: VecDeque::new(),
            asset_scratch: Vec::new(),
            second: i64::MIN,
            per_second: vec![0; cfg.visitors as usize],
            touched: Vec::new(),
            quiet_zones: cfg.error_storms.iter().map(|s| s.quiet_zone()).collect(),
            scheduled,
            newest: None,
            reorder: Reorder::new(cfg.out_of_order_max_secs),
            ready: VecDeque::new(),
            produced_all: false,
            keep_last: cfg.duplicate_count() > 0,
            last_normal: None,
            times: TimeCache::default(),
            spare: Vec::new(),
            summary,
            seen_clients: vec![false; seen],
            attackers,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counts of the lines produced so far (complete once the generator is exhausted).
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The address of each configured DDoS burst, in [`Config::ddos`] order
    /// (chosen from the seed where none was given).
    pub fn ddos_addrs(&self) -> Vec<&str> {
        self.summary.ddos_bursts.iter().map(|d| d.addr.as_str()).collect()
    }

    /// Addresses of the visitor population, in creation order.
    pub fn visitor_addrs(&self) -> Vec<&str> {
        self.pop.all().iter().map(|v| v.addr.as_str()).collect()
    }

    /// Append the next line and its newline to `out`; `None` when done.
    /// This is the fast path: no [`Event`] is built.
    pub fn write_next(&mut self, out: &mut Vec<u8>) -> Option<LineKind> {
        let item = self.next_item()?;
        out.extend_from_slice(&item.bytes);
        out.push(b'\n');
        let kind = item.kind;
        if self.keep_last && matches!(kind, LineKind::Normal | LineKind::OutOfOrder) {
            if let Some(old) = self.last_normal.replace(item) {
                self.recycle(old.bytes);
            }
        } else {
            self.recycle(item.bytes);
        }
        Some(kind)
    }

    /// Write every remaining line to `w` (buffered internally) and return the summary.
    pub fn write_all<W: Write>(&mut self, mut w: W) -> io::Result<Summary> {
        const FLUSH_AT: usize = 256 * 1024;
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        while self.write_next(&mut buf).is_some() {
            if buf.len() >= FLUSH_AT {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
        w.write_all(&buf)?;
        w.flush()?;
        Ok(self.summary.clone())
    }

    fn recycle(&mut self, mut bytes: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && bytes.capacity() <= 4096 {
            bytes.clear();
            self.spare.push(bytes);
        }
    }

    fn next_item(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(self.finalize(item));
            }
            if self.produced_all {
                return None;
            }
            match self.produce() {
                Some(item) => self.reorder.push(item, &mut self.ready),
                None => {
                    self.reorder.finish(&mut self.ready);
                    self.produced_all = true;
                }
            }
        }
    }

    // ---- stage 3: finalize -------------------------------------------------

    fn finalize(&mut self, mut item: Item) -> Item {
        if item.kind == LineKind::Duplicate {
            let src = self.last_normal.as_ref().expect("a normal line precedes every duplicate");
            item.bytes.extend_from_slice(&src.bytes);
            item.ts = src.ts;
            item.rec = src.rec.clone();
        }
        self.summary.add(item.kind, item.bytes.len());
        if let Some(rec) = &item.rec {
            let s = &mut self.summary;
            s.first_ts = Some(s.first_ts.map_or(rec.ts, |t| t.min(rec.ts)));
            s.last_ts = Some(s.last_ts.map_or(rec.ts, |t| t.max(rec.ts)));
            if rec.status != 200 {
                s.non_200 += 1;
            }
            if rec.req.is_none() {
                s.request_less += 1;
            }
            let slot = match rec.client {
                Client::Visitor(i) => i as usize,
                Client::Extra(i) => self.pop.len() + i as usize,
            };
            if !self.seen_clients[slot] {
                self.seen_clients[slot] = true;
                s.distinct_clients += 1;
            }
        }
        item
    }

    // ---- stage 1: produce --------------------------------------------------

    fn produce(&mut self) -> Option<Item> {
        let base = self.peek_slot().map(|s| s.merge_ts);
        let sched = self.scheduled.iter().enumerate().filter_map(|(i, s)| s.next_ts().map(|t| (t, i))).min();
        match (base, sched) {
            (None, None) => None,
            (Some(b), Some((t, i))) if t < b => Some(self.produce_scheduled(i)),
            (None, Some((_, i))) => Some(self.produce_scheduled(i)),
            _ => {
                let slot = self.peeked.take().expect("peeked");
                Some(self.produce_slot(slot))
            }
        }
    }

    fn peek_slot(&mut self) -> Option<Slot> {
        if self.peeked.is_none() && self.clock.remaining() > 0 {
            let ts = self.clock.next(self.timing.unit()).expect("remaining > 0");
            let first = self.slots_seen == 0;
            self.slots_seen += 1;
            let kind = if first { self.normal_slot() } else { self.select_slot() };
            let merge_ts = match (kind, self.pending_assets.front()) {
                (SlotKind::Normal { .. }, Some(asset)) => asset.ts,
                _ => ts,
            };
            self.peeked = Some(Slot { ts, merge_ts, kind });
        }
        self.peeked
    }

    /// Selection sampling over the slots after the first (which is always
    /// normal, so every duplicate has a line to repeat).
    fn select_slot(&mut self) -> SlotKind {
        let n = self.selectable_left;
        self.selectable_left -= 1;
        let mut x = self.selection.below(n);
        for (left, kind) in [
            (&mut self.invalid_left, SlotKind::Invalid),
            (&mut self.duplicate_left, SlotKind::Duplicate),
            (&mut self.late_left, SlotKind::Late),
            (&mut self.oversized_left, SlotKind::Oversized),
        ] {
            if x < *left {
                *left -= 1;
                return kind;
            }
            x -= *left;
        }
        self.normal_slot()
    }

    fn normal_slot(&mut self) -> SlotKind {
        let displace = self.selection.below(self.normal_left.max(1)) < self.displace_left;
        self.normal_left = self.normal_left.saturating_sub(1);
        if displace {
            self.displace_left -= 1;
        }
        SlotKind::Normal { displace }
    }

    fn produce_slot(&mut self, slot: Slot) -> Item {
        match slot.kind {
            SlotKind::Normal { displace } => {
                let rec = match self.pending_assets.pop_front() {
                    Some(asset) => asset,
                    None => self.normal_record(slot.ts),
                };
                self.note_newest(rec.ts);
                let mut item = self.item(rec, LineKind::Normal);
                item.displace = displace;
                item
            }
            SlotKind::Duplicate => {
                Item { bytes: self.spare.pop().unwrap_or_default(), kind: LineKind::Duplicate, ts: None, rec: None, displace: false }
            }
            SlotKind::Late => {
                let newest = self.newest.unwrap_or(self.cfg.start);
                let ts = (newest - self.cfg.late_by_secs as i64).max(self.cfg.start);
                let rec = self.standalone(ts);
                self.item(rec, LineKind::Late)
            }
            SlotKind::Invalid => {
                let rec = self.standalone(slot.ts);
                let kind = invalid::draw_kind(&mut self.injection);
                let mut bytes = self.spare.pop().unwrap_or_default();
                let layout = self.format(&rec, &mut bytes);
                invalid::spoil(kind, &mut bytes, &layout, slot.ts, self.cfg.offset, &mut self.injection);
                Item { bytes, kind: LineKind::Invalid(kind), ts: None, rec: None, displace: false }
            }
            SlotKind::Oversized => {
                let mut rec = self.standalone(slot.ts);
                if let Some(req) = rec.req.as_mut() {
                    req.target = invalid::oversized_target(&mut self.injection);
                }
                let mut bytes = Vec::new();
                self.format(&rec, &mut bytes);
                let kind = LineKind::Invalid(InvalidKind::Oversized);
                Item { bytes, kind, ts: None, rec: None, displace: false }
            }
        }
    }

    fn produce_scheduled(&mut self, i: usize) -> Item {
        let (rec, kind) = match &mut self.scheduled[i] {
            Scheduled::Ddos { at, left, attacker, report } => {
                *left -= 1;
                self.summary.ddos_bursts[*report].count += 1;
                (self.shop.ddos(*attacker, *at, &mut self.injection), LineKind::Ddos)
            }
            st @ Scheduled::Storm { .. } => {
                let Scheduled::Storm { next, report, .. } = *st else { unreachable!() };
                storm_advance(st, &mut self.injection, true);
                self.summary.storms[report].count += 1;
                let v = self.injection.below(self.pop.len() as u64) as u32;
                (self.shop.storm(v, self.pop.get(v), next, &mut self.injection), LineKind::ErrorStorm)
            }
        };
        self.note_newest(rec.ts);
        self.item(rec, kind)
    }

    fn note_newest(&mut self, ts: UnixSeconds) {
        self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
    }

    fn item(&mut self, rec: Record, kind: LineKind) -> Item {
        let mut bytes = self.spare.pop().unwrap_or_default();
        self.format(&rec, &mut bytes);
        Item { bytes, kind, ts: Some(rec.ts), rec: Some(rec), displace: false }
    }

    fn format(&mut self, rec: &Record, out: &mut Vec<u8>) -> crate::record::Layout {
        let addr = match rec.client {
            Client::Visitor(i) => self.pop.get(i).addr.as_str(),
            Client::Extra(i) => self.attackers[i as usize].as_str(),
        };
        write_record(out, rec, addr, self.cfg.offset, self.cfg.format, &mut self.times)
    }

    /// A page view outside the sessions, from the injection stream.
    fn standalone(&mut self, ts: UnixSeconds) -> Record {
        let v = self.injection.below(self.pop.len() as u64) as u32;
        self.shop.standalone(v, self.pop.get(v), ts, &mut self.injection)
    }

    // ---- normal traffic ----------------------------------------------------

    fn quiet(&self, ts: UnixSeconds) -> bool {
        self.quiet_zones.iter().any(|&(lo, hi)| lo <= ts && ts < hi)
    }

    fn normal_record(&mut self, ts: UnixSeconds) -> Record {
        if ts != self.second {
            for v in self.touched.drain(..) {
                self.per_second[v as usize] = 0;
            }
            self.second = ts;
        }
        let quiet = self.quiet(ts);
        if !quiet && self.cfg.no_request_fraction > 0.0 && self.traffic.chance(self.cfg.no_request_fraction) {
            let v = self.uncapped_visitor();
            self.count(v, 1);
            return self.shop.request_less(v, ts);
        }
        let idx = self.choose_session(ts);
        let v = self.sessions[idx].visitor;
        let used = self.per_second[v as usize] as u32;
        let ctx = Context { quiet, non_200: self.cfg.non_200_fraction, asset_budget: NORMAL_MAX_PER_SECOND.saturating_sub(used + 1) };
        self.asset_scratch.clear();
        let rec = self.shop.next_page(&mut self.sessions[idx], self.pop.get(v), ts, &ctx, &mut self.traffic, &mut self.asset_scratch);
        self.count(v, 1 + self.asset_scratch.len() as u32);
        self.pending_assets.extend(self.asset_scratch.drain(..));
        if self.sessions[idx].finished() {
            self.sessions.swap_remove(idx);
        }
        rec
    }

    fn choose_session(&mut self, ts: UnixSeconds) -> usize {
        let target = ((self.clock.rate_per_sec() * THINK_SECS) as usize).max(MIN_OPEN_SESSIONS);
        for _ in 0..8 {
            if self.sessions.len() < target {
                break;
            }
            let i = self.traffic.index(self.sessions.len());
            let s = &self.sessions[i];
            if ts - s.last_ts > SESSION_IDLE_SECS {
                self.sessions.swap_remove(i);
                break;
            }
            if (self.per_second[s.visitor as usize] as u32) < NORMAL_MAX_PER_SECOND {
                return i;
            }
        }
        let v = self.uncapped_visitor();
        let s = self.shop.start(v, self.pop.get(v), ts, &mut self.traffic);
        self.sessions.push(s);
        self.sessions.len() - 1
    }

    /// A random visitor still under the per-second cap.
    fn uncapped_visitor(&mut self) -> u32 {
        let n = self.pop.len() as u64;
        for _ in 0..16 {
            let v = self.traffic.below(n) as u32;
            if (self.per_second[v as usize] as u32) < NORMAL_MAX_PER_SECOND {
                return v;
            }
        }
        let start = self.traffic.below(n) as usize;
        (start..self.pop.len()).chain(0..start).find(|&v| (self.per_second[v] as u32) < NORMAL_MAX_PER_SECOND).unwrap_or(start) as u32
    }

    fn count(&mut self, v: u32, k: u32) {
        let c = &mut self.per_second[v as usize];
        if *c == 0 {
            self.touched.push(v);
        }
        *c = (*c as u32 + k).min(u8::MAX as u32) as u8;
    }

    // ---- ground truth --------------------------------------------------------

    fn event_of(&self, rec: &Record) -> Event {
        let combined = self.cfg.format == Format::Combined;
        Event {
            ts: rec.ts,
            client: match rec.client {
                Client::Visitor(i) => self.pop.get(i).addr.clone(),
                Client::Extra(i) => self.attackers[i as usize].clone(),
            },
            user: rec.user.map(str::to_string),
            request: rec.req.as_ref().map(|r| Request { method: r.method.as_str(), target: r.target.clone(), protocol: r.proto.as_str() }),
            status: rec.status,
            bytes: rec.bytes.filter(|&b| b > 0).map(u64::from),
            referrer: match (&rec.referrer, combined) {
                (_, false) | (Referrer::None, _) => None,
                (Referrer::Shop(path), true) => Some(format!("{SHOP_ORIGIN}{path}")),
                (Referrer::External(url), true) => Some(url.to_string()),
            },
            user_agent: (combined && rec.ua != "-").then(|| rec.ua.to_string()),
        }
    }
}

/// Move a storm to its next line time: failures are spread over the window by
/// stratified sampling, so times are sorted and inside `[at, at + window)`.
fn storm_advance(st: &mut Scheduled, rng: &mut Rng, step: bool) {
    if let Scheduled::Storm { at, window, count, k, next, .. } = st {
        if step {
            *k += 1;
        }
        if *k < *count {
            let pos = (*k as f64 + rng.unit()) / *count as f64 * *window as f64;
            let off = (pos as u64).min(*window - 1);
            *next = *at + off as i64;
        }
    }
}

impl Iterator for Generator {
    type Item = GeneratedLine;

    fn next(&mut self) -> Option<GeneratedLine> {
        let item = self.next_item()?;
        let event = item.rec.as_ref().map(|r| self.event_of(r));
        if self.keep_last && matches!(item.kind, LineKind::Normal | LineKind::OutOfOrder) {
            self.last_normal = Some(item.clone());
        }
        Some(GeneratedLine { bytes: item.bytes, kind: item.kind, event })
    }
}

/// Generate every line of `cfg` in memory, with ground truth (for tests).
pub fn generate(cfg: Config) -> Result<Vec<GeneratedLine>, ConfigError> {
    Ok(Generator::new(cfg)?.collect())
}
