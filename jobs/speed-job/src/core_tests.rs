//! Unit tests of the windowing core: scenarios of the issue with exact rows,
//! and the restart property behind the exactly-once claim.

use std::collections::BTreeMap;

use crate::core::*;
use crate::merge;
use crate::rows::*;

const T0: i64 = 1_795_132_800_000; // 2026-11-20T00:00:00Z, minute-aligned

#[derive(Clone)]
struct Ev {
    id: u128,
    t: i64,
    client: &'static str,
    host: &'static str,
    category: &'static str,
    status: i32,
}

fn ev(id: u128, t: i64, client: &'static str, host: &'static str, category: &'static str, status: i32) -> Ev {
    Ev { id, t, client, host, category, status }
}

fn feed(core: &mut Core, partition: i32, offset: i64, e: &Ev) -> Verdict {
    let id = format!("{:032x}", e.id);
    let c = Click { id: e.id, event_id: &id, time_ms: e.t, client: e.client, host: e.host, category: e.category, status: e.status };
    core.process(partition, offset, &c)
}

/// The tables as a reader would see them after applying every flush in
/// order: the partitions' shares, and the merged rows recomputed from them
/// for every window a flush touched (as the sink does; a merged window is
/// final once all its shares are, as with one instance owning them all).
/// Rows of one partition's owner (shares, DDoS) are upserted as the sink's
/// write timestamps order them: by progress, final above open.
#[derive(Debug, Default)]
struct Tables {
    ddos: BTreeMap<(i64, String), DdosRow>,
    health_parts: BTreeMap<(i64, String, i32), HealthPart>,
    popularity_parts: BTreeMap<(i64, String, i32), PopularityPart>,
    health: BTreeMap<(String, i64), HealthRow>,
    popularity: BTreeMap<(i64, String), PopularityRow>,
    top: BTreeMap<(i64, u32), TopRow>,
    late: BTreeMap<(i64, String), LateRow>,
    /// The merge's top-N (`None`: the defaults').
    top_n: Option<usize>,
}

/// Upserts `row` unless the stored one has a later write stamp.
fn upsert<K: Ord, R>(map: &mut BTreeMap<K, R>, key: K, row: R, stamp: impl Fn(&R) -> (bool, i64)) {
    if map.get(&key).is_none_or(|old| stamp(old) <= stamp(&row)) {
        map.insert(key, row);
    }
}

/// Equal rows, whatever progress they were written at (a replay writes
/// the same rows at other offsets).
impl PartialEq for Tables {
    fn eq(&self, other: &Tables) -> bool {
        fn rows<K: Clone + Ord, R: Clone>(m: &BTreeMap<K, R>, clear: impl Fn(&mut R)) -> BTreeMap<K, R> {
            m.iter()
                .map(|(k, r)| {
                    let mut r = r.clone();
                    clear(&mut r);
                    (k.clone(), r)
                })
                .collect()
        }
        rows(&self.ddos, |r| r.progress = 0) == rows(&other.ddos, |r| r.progress = 0)
            && rows(&self.health_parts, |r| r.progress = 0) == rows(&other.health_parts, |r| r.progress = 0)
            && rows(&self.popularity_parts, |r| r.progress = 0) == rows(&other.popularity_parts, |r| r.progress = 0)
            && (&self.health, &self.popularity, &self.top, &self.late) == (&other.health, &other.popularity, &other.top, &other.late)
    }
}

impl Tables {
    fn apply(&mut self, u: Updates) {
        let cfg = CoreConfig::issue_defaults();
        let touched = Core::touched(&u);
        for r in u.ddos {
            upsert(&mut self.ddos, (r.window_start, r.client_addr.clone()), r, |r| (r.is_final, r.progress));
        }
        for r in u.health {
            upsert(&mut self.health_parts, (r.window_start, r.source_host.clone(), r.partition), r, |r| (r.is_final, r.progress));
        }
        for r in u.popularity {
            upsert(&mut self.popularity_parts, (r.window_start, r.category.clone(), r.partition), r, |r| (r.is_final, r.progress));
        }
        for r in u.late {
            self.late.insert((r.event_time, r.event_id.clone()), r);
        }
        for (kind, start) in touched {
            let window = (start, String::new(), i32::MIN)..(start + 1, String::new(), i32::MIN);
            match kind {
                merge::WindowKind::Health => {
                    let parts: Vec<HealthPart> = self.health_parts.range(window).map(|(_, r)| r.clone()).collect();
                    let end = parts[0].window_end;
                    let (rows, unreadable) = merge::health(start, end, &parts, cfg.health_threshold, parts.iter().all(|p| p.is_final));
                    assert!(unreadable.is_empty());
                    for r in rows {
                        self.health.insert((r.source_host.clone(), start), r);
                    }
                }
                merge::WindowKind::Popularity => {
                    let parts: Vec<PopularityPart> = self.popularity_parts.range(window).map(|(_, r)| r.clone()).collect();
                    let end = parts[0].window_end;
                    let (rows, top) = merge::popularity(start, end, &parts, self.top_n.unwrap_or(cfg.top_n), parts.iter().all(|p| p.is_final));
                    for r in rows {
                        self.popularity.insert((start, r.category.clone()), r);
                    }
                    for r in top {
                        self.top.insert((start, r.rank), r);
                    }
                }
            }
        }
    }
}

fn flush(core: &mut Core, tables: &mut Tables) {
    core.advance(0);
    tables.apply(core.drain());
}

/// The end of the input: every partition read to its end and then quiet for
/// the idle timeout, so every window closes up to the newest event.
fn end_of_input(core: &mut Core, partitions: &[i32], tables: &mut Tables) {
    for &p in partitions {
        core.caught_up(p, 0);
    }
    core.advance(CoreConfig::issue_defaults().idle_after);
    tables.apply(core.drain());
}

/// The defaults with `far_ahead_quorum = 1`: every event moves its lane's
/// watermark (the plain maximum, the rule before issue 21). The scenarios
/// using it are about windows, thresholds and idleness and feed a server
/// only one or two events, or events minutes apart, which under the default
/// quorum would wait for corroboration; their expectations were written for
/// the plain maximum and still hold for it. The far-ahead rule has its own
/// tests, and the crash and interleaving properties run with the defaults.
fn plain_max() -> CoreConfig {
    let mut cfg = CoreConfig::issue_defaults();
    cfg.clock.quorum = 1;
    cfg
}

/// A quiet background of one request per second per partition, far from the scenario's addresses.
fn background(from: i64, to: i64) -> Vec<Ev> {
    (0..)
        .map(|i| from + i * 1000)
        .take_while(|t| *t < to)
        .enumerate()
        .map(|(i, t)| ev(1_000_000 + i as u128, t, "10.0.0.1", "web1", "home", 200))
        .collect()
}

#[test]
fn a_burst_of_150_alerts_once_and_exactly_100_does_not() {
    let mut core = Core::new(CoreConfig::issue_defaults());
    core.assign(&[0]);
    let mut tables = Tables::default();
    let mut events = background(T0, T0 + 60_000);
    for i in 0..150 {
        events.push(ev(i, T0 + 10_000 + i as i64 * 6, "203.0.113.9", if i % 2 == 0 { "web1" } else { "web2" }, "shop", 200));
    }
    for i in 0..100 {
        events.push(ev(500 + i, T0 + 20_000 + i as i64 * 9, "198.51.100.7", "web1", "shop", 200));
    }
    events.sort_by_key(|e| e.t);
    for (o, e) in events.iter().enumerate() {
        assert_eq!(feed(&mut core, 0, o as i64, e), Verdict::Counted);
    }
    end_of_input(&mut core, &[0], &mut tables);
    let alerts: Vec<&DdosRow> = tables.ddos.values().collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = alerts[0];
    assert_eq!(
        (a.window_start, a.client_addr.as_str(), a.requests, a.first_seen, a.last_seen, a.is_final),
        (T0 + 10_000, "203.0.113.9", 150, T0 + 10_000, T0 + 10_000 + 149 * 6, true)
    );
    assert_eq!(a.source_hosts, vec!["web1", "web2"]);
    assert_eq!(core.stats().ddos_alerts, 1);
}

#[test]
fn twelve_failures_in_five_minutes_make_a_host_unhealthy_and_ten_do_not() {
    let mut core = Core::new(plain_max());
    core.assign(&[0]);
    let mut tables = Tables::default();
    let mut events = Vec::new();
    let storm = T0 + 600_000; // minute-aligned
    for i in 0..12 {
        events.push(ev(i, storm + i as i64 * 25_000, "c1", "web1", "shop", 503));
    }
    for i in 0..10 {
        events.push(ev(100 + i, storm + i as i64 * 25_000, "c2", "web2", "shop", 500));
    }
    events.push(ev(999, storm + 3_600_000, "c3", "web3", "shop", 200)); // the newest event, far past
    events.sort_by_key(|e| e.t);
    for (o, e) in events.iter().enumerate() {
        feed(&mut core, 0, o as i64, e);
    }
    end_of_input(&mut core, &[0], &mut tables);
    let unhealthy: Vec<&HealthRow> = tables.health.values().filter(|r| r.unhealthy).collect();
    // The 12 failures span [storm, storm + 275 s]: only the window starting at `storm` holds all 12.
    assert_eq!(unhealthy.len(), 1, "{unhealthy:#?}");
    let h = unhealthy[0];
    assert_eq!((h.source_host.as_str(), h.window_start, h.non_200, h.classes, h.is_final), ("web1", storm, 12, [0, 0, 0, 0, 12], true));
    assert!(tables.health.values().filter(|r| r.source_host == "web2").all(|r| !r.unhealthy && r.non_200 <= 10));
    assert_eq!(tables.health.values().filter(|r| r.source_host == "web2").map(|r| r.non_200).max(), Some(10));
    assert_eq!(tables.health.values().filter(|r| r.unhealthy && r.is_final).count(), 1);
}

#[test]
fn health_rows_carry_the_sketch_of_their_visitors() {
    let mut core = Core::new(CoreConfig::issue_defaults());
    core.assign(&[0]);
    let mut tables = Tables::default();
    let at = T0 + 600_000; // minute-aligned
    let clients = ["198.51.100.1", "198.51.100.2", "2001:db8::7", "198.51.100.1"];
    let mut events: Vec<Ev> = clients.iter().enumerate().map(|(i, c)| ev(i as u128, at + i as i64 * 1000, c, "web1", "shop", 200)).collect();
    events.push(events[2].clone()); // a re-sent copy: counted once, changes no sketch
    events.push(ev(99, at + 3_600_000, "10.9.9.9", "web1", "shop", 200)); // the newest, far past
    for (o, e) in events.iter().enumerate() {
        feed(&mut core, 0, o as i64, e);
    }
    end_of_input(&mut core, &[0], &mut tables);
    let row = &tables.health[&("web1".to_string(), at)];
    let mut want = clickstream_sketch::Hll::new();
    for c in &clients[..3] {
        want.insert(c.as_bytes());
    }
    assert_eq!((row.requests, row.visitors_estimate), (4, 3));
    assert_eq!(row.visitors_hll, want.to_bytes(), "the shared format, from the client addresses");
    // Every window of the four events holds the same three visitors.
    let windows: Vec<_> = tables.health.values().filter(|r| r.window_start <= at && r.window_end > at).collect();
    assert_eq!(windows.len(), 5);
    assert!(windows.iter().all(|r| r.visitors_hll == row.visitors_hll));
}

#[test]
fn popularity_rows_and_top_n_per_window() {
    let mut cfg = plain_max();
    cfg.top_n = 3;
    let mut core = Core::new(cfg);
    core.assign(&[0]);
    let mut tables = Tables { top_n: Some(3), ..Tables::default() };
    let mix = [("books", 7), ("garden", 5), ("toys", 5), ("food", 2)];
    let mut events = Vec::new();
    let mut id = 0;
    for (cat, n) in mix {
        for _ in 0..n {
            id += 1;
            events.push(ev(id, T0 + 60_000 + id as i64 * 100, "c", "web1", cat, 200));
        }
    }
    events.push(ev(9999, T0 + 3_600_000, "c", "web1", "home", 200));
    for (o, e) in events.iter().enumerate() {
        feed(&mut core, 0, o as i64, e);
    }
    flush(&mut core, &mut tables);
    // All 19 mix events are in [T0+60s, T0+62s): windows starting T0-180s .. T0+60s contain them.
    for k in -3..=1i64 {
        let ws = T0 + k * 60_000;
        let top: Vec<(u32, &str, u64)> = tables.top.range((ws, 0)..(ws + 1, 0)).map(|(_, r)| (r.rank, r.category.as_str(), r.requests)).collect();
        assert_eq!(top, vec![(1, "books", 7), (2, "garden", 5), (3, "toys", 5)], "window {k}");
        assert_eq!(tables.popularity[&(ws, "food".to_string())].requests, 2);
        assert!(tables.popularity[&(ws, "food".to_string())].is_final);
    }
    assert!(!tables.top.contains_key(&(T0 + 120_000, 1)), "no mix event in the window starting T0+2m");
}

#[test]
fn out_of_order_within_lateness_counts_and_beyond_is_late() {
    let mut core = Core::new(plain_max());
    core.assign(&[0]);
    let mut tables = Tables::default();
    assert_eq!(feed(&mut core, 0, 0, &ev(1, T0 + 100_000, "a", "web1", "x", 200)), Verdict::Counted);
    // 9 s older: within the 10 s lateness.
    assert_eq!(feed(&mut core, 0, 1, &ev(2, T0 + 91_000, "a", "web1", "x", 200)), Verdict::Counted);
    // Exactly at the watermark: not late.
    assert_eq!(feed(&mut core, 0, 2, &ev(3, T0 + 90_000, "a", "web1", "x", 200)), Verdict::Counted);
    // 10.001 s older than the newest event of the same server: late.
    assert_eq!(feed(&mut core, 0, 3, &ev(4, T0 + 89_999, "b", "web1", "y", 404)), Verdict::Late(LateReason::BehindWatermark));
    flush(&mut core, &mut tables);
    let late: Vec<&LateRow> = tables.late.values().collect();
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].event_time, late[0].watermark, late[0].offset, late[0].reason), (T0 + 89_999, T0 + 90_000, 3, LateReason::BehindWatermark));
    let web1: u64 = tables.health.values().filter(|r| r.source_host == "web1" && r.window_start == T0).map(|r| r.requests).sum();
    assert_eq!(web1, 3);
    assert!(tables.health.values().all(|r| r.non_200 == 0), "the late event counts nowhere");
    assert!(tables.popularity.keys().all(|(_, category)| category != "y"), "the late event counts nowhere");
    assert_eq!(core.stats().late, 1);
}

#[test]
fn duplicates_count_once() {
    let mut core = Core::new(CoreConfig::issue_defaults());
    core.assign(&[0, 1]);
    let e = ev(42, T0 + 5_000, "a", "web1", "x", 500);
    assert_eq!(feed(&mut core, 0, 0, &e), Verdict::Counted);
    assert_eq!(feed(&mut core, 0, 1, &e), Verdict::Duplicate);
    assert_eq!(feed(&mut core, 0, 2, &e), Verdict::Duplicate);
    // The duplicate memory is the partition's: a copy in another partition
    // is counted there, as an instance owning only that partition would.
    // Copies share the original's key (the client address), so the
    // fan-out agent never puts one in another partition.
    assert_eq!(feed(&mut core, 1, 0, &e), Verdict::Counted);
    let mut tables = Tables::default();
    flush(&mut core, &mut tables);
    assert!(tables.health.values().all(|r| r.requests == 2 && r.non_200 == 2));
    assert!(tables.health_parts.values().all(|r| r.requests == 1), "one per partition's share");
    assert_eq!(core.stats().duplicates, 2);
}

#[test]
fn the_slowest_active_partition_holds_windows_open_until_idle() {
    let mut core = Core::new(plain_max());
    core.assign(&[0, 1]);
    feed(&mut core, 0, 0, &ev(1, T0 + 1_000_000, "a", "web1", "x", 200));
    assert!(!core.advance(0), "partition 1 has no events yet");
    feed(&mut core, 1, 0, &ev(2, T0 + 100_000, "b", "web1", "x", 200));
    assert!(core.advance(0));
    assert_eq!(core.closed_through(), T0 + 90_000);
    core.caught_up(1, 0);
    assert!(!core.advance(29_999), "quiet, but not for the idle timeout yet");
    assert!(core.advance(30_000));
    assert_eq!(core.closed_through(), T0 + 990_000);
    // An event of the woken partition for a closed window is late, not lost.
    assert_eq!(feed(&mut core, 1, 1, &ev(3, T0 + 200_000, "b", "web1", "x", 200)), Verdict::Late(LateReason::WindowFinal));
}

/// After a pause long enough for everything to go idle, the partition the
/// consumer fetches first must not close windows ahead of the others'
/// unread records: they get the idle timeout again.
#[test]
fn traffic_resuming_after_a_pause_gives_idle_partitions_the_timeout_again() {
    let idle = CoreConfig::issue_defaults().idle_after;
    let mut core = Core::new(plain_max());
    core.assign(&[0, 1]);
    feed(&mut core, 0, 0, &ev(1, T0 + 100_000, "a", "web1", "x", 200));
    feed(&mut core, 1, 0, &ev(2, T0 + 100_000, "b", "web1", "x", 200));
    core.caught_up(0, 0);
    core.caught_up(1, 0);
    assert!(core.advance(idle), "all idle: windows close up to the newest event");
    assert_eq!(core.closed_through(), T0 + 90_000);
    // Partition 0 is read first after the pause; partition 1's new records are not read yet.
    feed(&mut core, 0, 1, &ev(3, T0 + 1_000_000, "a", "web1", "x", 200));
    assert!(!core.advance(idle + 100), "partition 1 holds again");
    assert_eq!(feed(&mut core, 1, 1, &ev(4, T0 + 900_000, "b", "web1", "x", 200)), Verdict::Counted);
    core.caught_up(1, idle + 200);
    assert!(core.advance(idle + 300));
    assert_eq!(core.closed_through(), T0 + 890_000);
}

#[test]
fn state_is_released_when_windows_close() {
    let mut core = Core::new(plain_max());
    core.assign(&[0]);
    for i in 0..1000 {
        feed(&mut core, 0, i, &ev(i as u128, T0 + i * 10, "a", "web1", "x", 200));
    }
    assert!(core.state_size().dedup_ids == 1000 && core.state_size().open_keys > 0);
    feed(&mut core, 0, 1000, &ev(5000, T0 + 10_000_000, "a", "web1", "x", 200));
    core.advance(0);
    let s = core.state_size();
    assert_eq!(s.dedup_ids, 1, "{s:?}");
    assert_eq!(s.open_windows, 1 + 5 + 5, "only the last event's windows stay open: {s:?}");
}

/// A deterministic pseudo-random stream of events over two partitions with
/// disorder, lateness, duplicates and bursts.
fn messy_stream(seed: u64) -> Vec<(i32, Ev)> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let clients = ["a", "b", "c", "d"];
    let hosts = ["web1", "web2"];
    let cats = ["books", "toys", "food"];
    let mut out = Vec::new();
    let mut t = T0;
    let mut id = 0u128;
    for _ in 0..3000 {
        let r = next();
        t += (r % 400) as i64; // ~5 events/s, 20 min in all
        id += 1;
        let jitter = match r % 50 {
            // a single line 5 minutes ahead (a clock step): held aside
            _ if r % 397 == 5 => 300_000,
            0 => -30_000,                          // late
            1..=5 => -(((r >> 8) % 9_000) as i64), // out of order within lateness
            _ => 0,
        };
        let burst = r % 97 == 0;
        let n = if burst { 120 } else { 1 };
        for k in 0..n {
            let client = clients[((r >> 16) % 4) as usize];
            let e = ev(
                if burst { id * 1000 + k } else { id },
                t + jitter + if burst { k as i64 } else { 0 },
                client,
                hosts[((r >> 20) % 2) as usize],
                cats[((r >> 24) % 3) as usize],
                if (r >> 28) % 7 == 0 { 500 } else { 200 },
            );
            let partition = if client < "c" { 0 } else { 1 };
            out.push((partition, e));
        }
        if r % 31 == 0 {
            // an agent replay: the same event again
            let (p, last) = out.last().map(|(p, e)| (*p, ev(e.id, e.t, e.client, e.host, e.category, e.status))).unwrap();
            out.push((p, last));
        }
    }
    out
}

/// Runs `stream` (per-partition order kept) interleaved by `order_seed`;
/// if `crash_at` is set, drops the core after that many events (after a
/// flush, i.e. at a checkpoint) and resumes from the checkpoint.
fn run(stream: &[(i32, Ev)], order_seed: u64, crash_at: Option<usize>, flush_every: usize) -> Tables {
    let per_partition: Vec<Vec<&Ev>> = (0..2).map(|p| stream.iter().filter(|(q, _)| *q == p).map(|(_, e)| e).collect()).collect();
    let mut tables = Tables::default();
    let mut core = Core::new(CoreConfig::issue_defaults());
    core.assign(&[0, 1]);
    let mut pos = [0usize, 0];
    let mut x = order_seed | 1;
    let mut processed = 0;
    let mut crashed = false;
    let mut checkpoint = core.checkpoint();
    loop {
        let live: Vec<usize> = (0..2).filter(|&p| pos[p] < per_partition[p].len()).collect();
        if live.is_empty() {
            break;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = live[(x % live.len() as u64) as usize];
        let burst = 1 + (x >> 32) as usize % 50;
        for _ in 0..burst {
            if pos[p] >= per_partition[p].len() {
                break;
            }
            feed(&mut core, p as i32, pos[p] as i64, per_partition[p][pos[p]]);
            pos[p] += 1;
            processed += 1;
            if processed % flush_every == 0 {
                flush(&mut core, &mut tables);
                checkpoint = core.checkpoint();
            }
            if !crashed && Some(processed) == crash_at {
                // kill -9: everything since the last checkpoint is lost; rows written stay.
                crashed = true;
                core = Core::new(CoreConfig::issue_defaults());
                core.assign(&[0, 1]);
                core.restore(&checkpoint);
                for cp in &checkpoint {
                    pos[cp.partition as usize] = cp.resume_offset as usize;
                }
            }
        }
    }
    end_of_input(&mut core, &[0, 1], &mut tables);
    tables
}

/// Two servers' logs, each in time order, but one replayed hours ahead of
/// the other through the same partition (a backlog, or hourly files dropped
/// at different times): every event counts, as if they had arrived merged.
#[test]
fn a_server_far_behind_another_in_the_same_partition_is_not_late() {
    let per_host = |host: &'static str, id0: u128| -> Vec<Ev> {
        (0..600).map(|i| ev(id0 + i, T0 + i as i64 * 6_000, "c", host, if i % 3 == 0 { "books" } else { "toys" }, 200)).collect()
    };
    let (web1, web2) = (per_host("web1", 0), per_host("web2", 10_000));
    let feed_all = |order: Vec<&Ev>| -> (Tables, CoreStats) {
        let mut core = Core::new(CoreConfig::issue_defaults());
        core.expect_sources(&["web1".into(), "web2".into()]);
        core.assign(&[0]);
        let mut tables = Tables::default();
        for (o, e) in order.into_iter().enumerate() {
            feed(&mut core, 0, o as i64, e);
            if o % 50 == 49 {
                flush(&mut core, &mut tables);
            }
        }
        end_of_input(&mut core, &[0], &mut tables);
        (tables, core.stats())
    };
    // web1's first 100 events (10 minutes) come in before web2's first one
    // (two flushes: web2, expected, holds the windows open), then both go on
    // in step with web1 ten minutes ahead.
    let mut skewed: Vec<&Ev> = web1[..100].iter().collect();
    skewed.extend(web1[100..].iter().zip(&web2[..500]).flat_map(|(a, b)| [a, b]));
    skewed.extend(&web2[500..]);
    let mut merged: Vec<&Ev> = web1.iter().chain(&web2).collect();
    merged.sort_by_key(|e| (e.t, e.host));
    let (skewed_tables, skewed_stats) = feed_all(skewed);
    let (merged_tables, merged_stats) = feed_all(merged);
    assert_eq!(skewed_stats.late, 0, "{:?}", skewed_tables.late);
    assert_eq!(skewed_stats.counted, 1200);
    assert_eq!(skewed_tables, merged_tables);
    assert_eq!(skewed_stats, merged_stats);
}

#[test]
fn a_crash_and_restart_from_the_checkpoint_gives_the_same_tables() {
    let stream = messy_stream(7);
    let reference = run(&stream, 1, None, 250);
    assert!(reference.ddos.len() >= 3 && !reference.late.is_empty() && reference.health.values().any(|r| r.unhealthy));
    // Rows are compared whole, visitor sketches included: they must hold
    // several visitors for the comparison to mean something.
    assert!(
        reference.health.values().any(|r| r.visitors_estimate >= 3 && r.visitors_hll.len() > 3),
        "{:?}",
        reference.health.values().map(|r| r.visitors_estimate).collect::<Vec<_>>()
    );
    for (order, crash) in [(1, 1000), (2, 1), (3, 2999), (4, 4567), (5, 250), (6, 6000)] {
        let got = run(&stream, order, Some(crash), 250);
        assert_eq!(got, reference, "interleaving {order}, crash after {crash} events");
    }
}

#[test]
fn interleaving_does_not_change_the_tables() {
    let stream = messy_stream(11);
    let reference = run(&stream, 1, None, 100);
    for order in 2..6 {
        assert_eq!(run(&stream, order, None, 77 * order as usize), reference, "interleaving {order}");
    }
}

/// A batch re-sent after a crash, when one batch spans more event time than
/// the windows (sparse logs): by the time the copies arrive the first
/// events' windows are final. The copies are duplicates, not late events,
/// also when the job itself restarts in between.
#[test]
fn a_batch_resent_after_its_windows_closed_is_duplicate_not_late() {
    let batch: Vec<Ev> = (0..300).map(|i| ev(i, T0 + i as i64 * 60_000, "c", if i % 2 == 0 { "web1" } else { "web2" }, "books", 200)).collect();
    let run = |cfg: CoreConfig, crash: bool| -> (Vec<Verdict>, Tables) {
        let mut core = Core::new(cfg);
        core.assign(&[0]);
        let mut tables = Tables::default();
        for (o, e) in batch.iter().enumerate() {
            feed(&mut core, 0, o as i64, e);
        }
        flush(&mut core, &mut tables);
        assert!(core.closed_through() > T0 + 3_600_000, "the first hours are final");
        let mut offset = batch.len() as i64;
        if crash {
            let cps = core.checkpoint();
            core = Core::new(cfg);
            core.restore(&cps);
            core.assign(&[0]);
            for o in cps[0].resume_offset..offset {
                feed(&mut core, 0, o, &batch[o as usize]); // rebuilds the open windows
            }
        }
        let verdicts = batch[..100]
            .iter()
            .map(|e| {
                offset += 1;
                feed(&mut core, 0, offset - 1, e)
            })
            .collect();
        end_of_input(&mut core, &[0], &mut tables);
        (verdicts, tables)
    };
    let (verdicts, tables) = run(CoreConfig::issue_defaults(), false);
    assert!(verdicts.iter().all(|v| *v == Verdict::Duplicate), "{verdicts:?}");
    assert!(tables.late.is_empty());
    let (after_restart, restarted_tables) = run(CoreConfig::issue_defaults(), true);
    assert_eq!(after_restart, verdicts);
    assert_eq!(restarted_tables, tables);
    // Without the memory of recent ids the copies are behind the watermark.
    let forgetful = CoreConfig { recent_ids: 0, ..CoreConfig::issue_defaults() };
    let (verdicts, tables) = run(forgetful, false);
    assert!(verdicts.iter().all(|v| *v == Verdict::Late(LateReason::BehindWatermark)));
    assert_eq!(tables.late.len(), 100);
}

/// Issue 21, point 2: one web server's line stamped five minutes ahead of
/// its neighbours (the first line of a file) used to move that server's
/// watermark, and the following five minutes of its lines were late. Now it
/// is counted but held aside; only a quorum of far-ahead lines moves the
/// watermark.
#[test]
fn a_single_far_ahead_line_makes_nothing_late() {
    let mut events: Vec<Ev> = Vec::new();
    for i in 0..600u128 {
        let t = T0 + i as i64 * 1_000;
        events.push(ev(i, t, "c1", "web1", if i % 2 == 0 { "books" } else { "toys" }, 200));
        events.push(ev(10_000 + i, t, "c2", "web2", "toys", 200));
        if i == 30 {
            events.push(ev(99_999, t + 300_000, "c3", "web1", "books", 200));
        }
    }
    let feed_all = |cfg: CoreConfig| -> (Tables, CoreStats) {
        let mut core = Core::new(cfg);
        core.assign(&[0]);
        let mut tables = Tables::default();
        for (o, e) in events.iter().enumerate() {
            feed(&mut core, 0, o as i64, e);
            if o % 50 == 49 {
                flush(&mut core, &mut tables);
            }
        }
        end_of_input(&mut core, &[0], &mut tables);
        (tables, core.stats())
    };
    let (tables, stats) = feed_all(CoreConfig::issue_defaults());
    assert_eq!(stats.late, 0, "{:?}", tables.late.values().take(3).collect::<Vec<_>>());
    assert_eq!((stats.counted, stats.held_ahead), (1201, 1));
    // The stray line is in its windows like any other.
    let ahead = (T0 + 330_000).div_euclid(60_000) * 60_000;
    // (window [T0 + 300 s, T0 + 600 s): lines 300..600 and the stray one)
    assert_eq!(tables.health[&("web1".to_string(), ahead)].requests, 300 + 1);
    // Under the plain maximum (the old rule) its server's next lines, 31 to
    // 319 (behind 330 s - 10 s), were late.
    let (_, old) = feed_all(plain_max());
    assert_eq!(old.late, 289, "the scenario reproduces the issue under the old rule");
}

/// A real clock jump (every line from some point on an hour ahead) still
/// moves the watermark, once `far_ahead_quorum` lines corroborate it: a
/// straggler from before the jump is then late.
#[test]
fn a_real_clock_jump_moves_the_watermark_after_a_quorum_of_lines() {
    let mut core = Core::new(CoreConfig::issue_defaults());
    core.assign(&[0]);
    let mut o = 0i64;
    let mut next = |core: &mut Core, id: u128, t: i64| {
        o += 1;
        feed(core, 0, o, &ev(id, t, "c1", "web1", "books", 200))
    };
    for i in 0..300 {
        assert_eq!(next(&mut core, i, T0 + i as i64 * 1_000), Verdict::Counted);
    }
    let jump = T0 + 3_600_000 + 300_000;
    // Two lines an hour ahead: not corroborated yet, a straggler within the
    // lateness of the old stream still counts.
    assert_eq!(next(&mut core, 1_000, jump), Verdict::Counted);
    assert_eq!(next(&mut core, 1_001, jump + 1_000), Verdict::Counted);
    assert_eq!(next(&mut core, 1_002, T0 + 295_000), Verdict::Counted);
    assert_eq!(core.stats().held_ahead, 2);
    // The third corroborates the jump: the watermark follows it.
    assert_eq!(next(&mut core, 1_003, jump + 2_000), Verdict::Counted);
    assert_eq!(
        next(&mut core, 1_004, T0 + 296_000),
        Verdict::Late(LateReason::BehindWatermark),
        "after a real jump, the old stream's stragglers are late"
    );
    let late = core.drain().late;
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].watermark, jump - 10_000, "the quorum-th newest far-ahead time, minus the lateness");
    assert_eq!(next(&mut core, 1_005, jump + 3_000), Verdict::Counted);
}

/// Issue 21: two instances, each owning one partition, write shares whose
/// merge equals the tables of one instance owning both — also when one of
/// them crashes and a third takes its partition over from the checkpoint.
#[test]
fn instances_splitting_the_partitions_give_the_tables_of_one() {
    let stream = messy_stream(5);
    let reference = run(&stream, 1, None, 200);
    let mut tables = Tables::default();
    let mut cores = Vec::new();
    for p in [0, 1] {
        let events: Vec<&Ev> = stream.iter().filter(|(q, _)| *q == p).map(|(_, e)| e).collect();
        let mut core = Core::new(CoreConfig::issue_defaults());
        core.assign(&[p]);
        let mut checkpoint = core.checkpoint();
        let mut o = 0;
        let mut crashed = false;
        while o < events.len() {
            feed(&mut core, p, o as i64, events[o]);
            o += 1;
            if o % 200 == 0 {
                flush(&mut core, &mut tables);
                checkpoint = core.checkpoint();
            }
            if p == 1 && !crashed && o == events.len() / 2 {
                // kill -9; another instance restores the partition from its checkpoint row.
                crashed = true;
                core = Core::new(CoreConfig::issue_defaults());
                core.restore(&checkpoint);
                core.assign(&[p]);
                o = checkpoint[0].resume_offset as usize;
            }
        }
        cores.push((p, core));
    }
    // The end of the input: each instance idle, then each learns from the
    // checkpoints that the whole topic is, and how far it went.
    for (p, core) in &mut cores {
        core.caught_up(*p, 0);
        core.advance(CoreConfig::issue_defaults().idle_after);
        tables.apply(core.drain());
    }
    let newest = cores.iter().flat_map(|(_, c)| c.checkpoint()).map(|cp| cp.max_watermark).max().unwrap();
    assert!(cores.iter().any(|(_, c)| c.closed_through() < newest), "the instances alone would leave windows open");
    for (_, core) in &mut cores {
        core.topic_progress(newest, true);
        core.advance(CoreConfig::issue_defaults().idle_after);
        tables.apply(core.drain());
    }
    assert!(reference.health.values().any(|r| r.unhealthy) && reference.ddos.len() >= 3);
    assert!(tables.health == reference.health, "the merged health rows differ");
    assert_eq!(tables.top, reference.top);
    assert_eq!(tables, reference, "shares, DDoS rows, popularity and late events too");
}
