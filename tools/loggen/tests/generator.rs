//! Behaviour of the generator, checked against an independent strict reader.

mod common;

use std::collections::{BTreeMap, HashMap};

use clickstream_loggen::{
    category_of, generate, Config, Ddos, ErrorStorm, Format, GeneratedLine, Generator, InvalidKind, LineKind, NORMAL_MAX_PER_SECOND, OVERSIZED_MIN,
};
use common::{first_word, parse};

const START: i64 = 1_795_132_800; // 2026-11-20T00:00:00Z
const HOUR: i64 = 3600;

fn bytes_of(cfg: &Config) -> Vec<u8> {
    let mut out = Vec::new();
    Generator::new(cfg.clone()).unwrap().write_all(&mut out).unwrap();
    out
}

/// A configuration exercising every injection at once.
fn busy(seed: u64) -> Config {
    Config {
        seed,
        lines: 20_000,
        visitors: 800,
        offset: "+0200".parse().unwrap(),
        ddos: vec![
            Ddos { at: START + 14 * HOUR + 187, count: 150, addr: None },
            Ddos { at: START + 40 * HOUR, count: 100, addr: Some("2001:db8::dead:beef".into()) },
        ],
        error_storms: vec![
            ErrorStorm { at: START + 30 * HOUR, count: 12, window_secs: 300 },
            ErrorStorm { at: START + 9 * HOUR, count: 10, window_secs: 300 },
        ],
        invalid_fraction: 0.01,
        duplicate_fraction: 0.002,
        out_of_order_fraction: 0.01,
        out_of_order_max_secs: 60,
        late: 5,
        late_by_secs: 120,
        huge_lines: 2,
        ..Config::default()
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = bytes_of(&busy(1));
    let b = bytes_of(&busy(1));
    let c = bytes_of(&busy(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn iterator_and_fast_path_agree() {
    let cfg = busy(3);
    let fast = bytes_of(&cfg);
    let mut slow = Vec::new();
    for line in generate(cfg).unwrap() {
        slow.extend_from_slice(&line.bytes);
        slow.push(b'\n');
    }
    assert_eq!(fast, slow);
}

#[test]
fn output_is_pinned_across_machines_and_versions() {
    // FNV-1a of a fixed configuration's output. If this changes, the output
    // of every seed changed: only acceptable for an intentional model change,
    // in which case update the value here and regenerate sample-logs/.
    let cfg = Config { seed: 42, lines: 3_000, invalid_fraction: 0.01, ..Config::default() };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes_of(&cfg) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    assert_eq!(h, GOLDEN_FNV, "output of seed 42 changed: got {h:#018x}");
}
const GOLDEN_FNV: u64 = 0xde26_2595_e49c_6a20;

#[test]
fn line_count_is_exact_and_kinds_match_summary() {
    let cfg = busy(4);
    let mut g = Generator::new(cfg.clone()).unwrap();
    let lines: Vec<GeneratedLine> = g.by_ref().collect();
    assert_eq!(lines.len() as u64, cfg.lines);
    let s = g.summary();
    let mut counts: BTreeMap<LineKind, u64> = BTreeMap::new();
    for l in &lines {
        *counts.entry(l.kind).or_default() += 1;
    }
    for (kind, n) in &counts {
        assert_eq!(s.count(*kind), *n, "{kind}");
    }
    assert_eq!(s.lines, cfg.lines);
    assert_eq!(s.ddos, 250);
    assert_eq!(s.error_storm, 22);
    assert_eq!(s.late, 5);
    assert_eq!(s.duplicate, 40);
    assert_eq!(s.invalid_total(), 200 + 2);
    assert_eq!(s.invalid_of(InvalidKind::Oversized), 2);
    // Out-of-order is best effort but, at this rate and gap, fully realised.
    assert_eq!(s.out_of_order, 200);
}

#[test]
fn every_valid_line_is_strict_combined_and_matches_its_event() {
    let lines = generate(busy(5)).unwrap();
    let mut request_less = 0;
    for l in &lines {
        let parsed = parse(&l.bytes, false);
        match (&l.event, parsed) {
            (Some(e), Some(p)) => {
                assert_eq!(p.ts, e.ts, "{:?}", l.text());
                assert_eq!(p.offset, "+0200");
                assert_eq!(p.client, e.client);
                assert_eq!(p.user, e.user);
                assert_eq!(p.status, e.status);
                assert_eq!(p.bytes, e.bytes);
                assert_eq!(p.referrer, e.referrer);
                assert_eq!(p.user_agent, e.user_agent);
                assert_eq!(p.target, e.request.as_ref().map(|r| r.target.clone()));
                assert_eq!(p.method.as_deref(), e.request.as_ref().map(|r| r.method));
                assert_eq!(p.protocol.as_deref(), e.request.as_ref().map(|r| r.protocol));
                if e.request.is_none() {
                    request_less += 1;
                    assert_eq!(e.status, 408);
                    assert_eq!(e.category(), None);
                }
            }
            (None, None) => assert!(!l.kind.is_valid()),
            (e, p) => panic!("kind {} event {e:?} parsed {p:?}: {:?}", l.kind, String::from_utf8_lossy(&l.bytes)),
        }
    }
    assert!(request_less > 0, "the valid request-less 408 oddity appears");
}

#[test]
fn invalid_lines_have_every_kind_and_are_rejected() {
    let cfg = Config { lines: 30_000, invalid_fraction: 0.02, huge_lines: 3, ..Config::default() };
    let lines = generate(cfg).unwrap();
    let mut per_kind: BTreeMap<InvalidKind, usize> = BTreeMap::new();
    for l in lines.iter().filter(|l| !l.kind.is_valid()) {
        let LineKind::Invalid(k) = l.kind else { unreachable!() };
        *per_kind.entry(k).or_default() += 1;
        assert!(parse(&l.bytes, false).is_none(), "{k:?} accepted: {:?}", String::from_utf8_lossy(&l.bytes));
        assert!(parse(&l.bytes, true).is_none(), "{k:?} accepted as common");
        assert!(!l.bytes.contains(&b'\n'));
        match k {
            InvalidKind::InvalidUtf8 => assert!(std::str::from_utf8(&l.bytes).is_err()),
            InvalidKind::Oversized => assert!(l.bytes.len() > OVERSIZED_MIN),
            _ => assert!(l.bytes.len() < OVERSIZED_MIN),
        }
    }
    assert_eq!(per_kind.values().sum::<usize>(), 603);
    assert_eq!(per_kind[&InvalidKind::Oversized], 3);
    for k in InvalidKind::ALL {
        assert!(per_kind.get(&k).copied().unwrap_or(0) > 0, "no {k:?}");
    }
}

#[test]
fn invalid_fraction_is_exact_for_several_sizes() {
    for (lines, f) in [(1_000u64, 0.005), (7_777, 0.01), (3_000, 0.0)] {
        let cfg = Config { lines, invalid_fraction: f, ..Config::default() };
        let n = generate(cfg).unwrap().iter().filter(|l| !l.kind.is_valid()).count() as u64;
        assert_eq!(n, (lines as f64 * f).round() as u64);
    }
}

/// Lines per (address, second) of the given kinds.
fn per_second(lines: &[GeneratedLine], keep: impl Fn(LineKind) -> bool) -> HashMap<(String, i64), u32> {
    let mut m = HashMap::new();
    for l in lines.iter().filter(|l| keep(l.kind)) {
        if let Some(e) = &l.event {
            *m.entry((e.client.clone(), e.ts)).or_default() += 1;
        }
    }
    m
}

#[test]
fn ddos_bursts_are_exact_and_normal_traffic_stays_far_below() {
    let cfg = busy(6);
    let mut g = Generator::new(cfg.clone()).unwrap();
    let addrs: Vec<String> = g.ddos_addrs().iter().map(|s| s.to_string()).collect();
    assert_eq!(addrs[1], "2001:db8::dead:beef");
    assert!(!g.visitor_addrs().contains(&addrs[0].as_str()));
    let lines: Vec<GeneratedLine> = g.by_ref().collect();
    for (d, addr) in cfg.ddos.iter().zip(&addrs) {
        // Every line starting with the address, whatever its kind, in that second.
        let from_addr: Vec<&GeneratedLine> = lines.iter().filter(|l| first_word(&l.bytes) == addr.as_bytes()).collect();
        assert_eq!(from_addr.len() as u32, d.count);
        assert!(from_addr.iter().all(|l| l.kind == LineKind::Ddos && l.event.as_ref().unwrap().ts == d.at));
        // ...and they are all 200s, so a burst never doubles as an error storm.
        assert!(from_addr.iter().all(|l| l.event.as_ref().unwrap().status == 200));
    }
    let normal = per_second(&lines, |k| k != LineKind::Ddos);
    let max = normal.values().copied().max().unwrap();
    assert!(max < 100, "normal traffic reached {max}/s");
    let strictly_normal = per_second(&lines, |k| k == LineKind::Normal);
    assert!(strictly_normal.values().all(|&n| n <= NORMAL_MAX_PER_SECOND));
}

#[test]
fn error_storms_are_exact_in_every_sliding_window() {
    let cfg = busy(7);
    let lines = generate(cfg.clone()).unwrap();
    let mut failures: Vec<i64> = lines.iter().filter_map(|l| l.event.as_ref()).filter(|e| e.status != 200).map(|e| e.ts).collect();
    failures.sort();
    for s in &cfg.error_storms {
        let storm: Vec<i64> = lines
            .iter()
            .filter(|l| l.kind == LineKind::ErrorStorm)
            .map(|l| l.event.as_ref().unwrap())
            .filter(|e| e.ts >= s.at && e.ts < s.at + s.window_secs as i64)
            .map(|e| {
                assert!((500..600).contains(&e.status));
                e.ts
            })
            .collect();
        assert_eq!(storm.len() as u32, s.count);
        // The busiest window of that length around the storm has exactly `count` non-200s.
        let w = s.window_secs as i64;
        let busiest = (s.at - w..s.at + w).map(|t0| failures.iter().filter(|&&t| t >= t0 && t < t0 + w).count()).max().unwrap();
        assert_eq!(busiest as u32, s.count);
    }
}

#[test]
fn timestamps_in_range_ordered_and_disorder_is_as_labelled() {
    let cfg = busy(8);
    let lines = generate(cfg.clone()).unwrap();
    let mut newest_in_order = i64::MIN;
    let mut newest_any = i64::MIN;
    let mut last_normal: Option<&GeneratedLine> = None;
    for l in &lines {
        let Some(e) = &l.event else { continue };
        assert!(e.ts >= cfg.start && e.ts < cfg.end(), "ts {} out of range", e.ts);
        match l.kind {
            LineKind::Normal | LineKind::Ddos | LineKind::ErrorStorm => {
                assert!(e.ts >= newest_in_order, "in-order line went back in time");
                newest_in_order = e.ts;
            }
            LineKind::OutOfOrder => {
                assert!(e.ts < newest_any, "out-of-order line is not behind");
                assert!(newest_any - e.ts <= cfg.out_of_order_max_secs as i64);
            }
            LineKind::Late => {
                assert_eq!(e.ts, (newest_any - cfg.late_by_secs as i64).max(cfg.start));
                assert_eq!(e.status, 200);
            }
            LineKind::Duplicate => {
                assert_eq!(l.bytes, last_normal.unwrap().bytes, "duplicate is verbatim");
            }
            LineKind::Invalid(_) => unreachable!(),
        }
        if matches!(l.kind, LineKind::Normal | LineKind::OutOfOrder) {
            last_normal = Some(l);
        }
        newest_any = newest_any.max(e.ts);
    }
}

#[test]
fn traffic_follows_a_day_night_curve_and_categories_are_skewed() {
    let cfg = Config { lines: 50_000, ..Config::default() };
    let lines = generate(cfg).unwrap();
    let mut per_hour = [0u32; 24];
    let mut cats: HashMap<String, u32> = HashMap::new();
    for e in lines.iter().filter_map(|l| l.event.as_ref()) {
        per_hour[((e.ts - START).rem_euclid(86_400) / 3600) as usize] += 1;
        if let Some(r) = &e.request {
            if r.target.starts_with("/category/") {
                *cats.entry(category_of(&r.target).to_string()).or_default() += 1;
            }
        }
    }
    assert!(per_hour[20] > 4 * per_hour[4], "{per_hour:?}");
    assert!(per_hour[12] > 2 * per_hour[3], "{per_hour:?}");
    let mut ranked: Vec<(u32, String)> = cats.into_iter().map(|(c, n)| (n, c)).collect();
    ranked.sort_by(|a, b| b.cmp(a));
    assert_eq!(ranked[0].1, "electronics");
    assert!(ranked[0].0 > 3 * ranked[8].0, "{ranked:?}");
}

#[test]
fn sessions_come_from_the_configured_population() {
    let cfg = Config { lines: 20_000, visitors: 300, ..Config::default() };
    let g = Generator::new(cfg.clone()).unwrap();
    let population: Vec<String> = g.visitor_addrs().iter().map(|s| s.to_string()).collect();
    let lines: Vec<GeneratedLine> = g.collect();
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for e in lines.iter().filter_map(|l| l.event.as_ref()) {
        assert!(population.contains(&e.client));
        *seen.entry(e.client.as_str()).or_default() += 1;
    }
    assert!(seen.len() > 250 && seen.len() <= 300, "{} distinct", seen.len());
    assert!(seen.keys().any(|a| a.contains(':')), "IPv6 clients");
    assert!(seen.keys().any(|a| a.chars().any(|c| c.is_ascii_alphabetic()) && !a.contains(':')), "host names");
    // Visitors make several requests close in time: most requests follow
    // another one of the same client within five minutes.
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut close = 0;
    let mut total = 0;
    for e in lines.iter().filter(|l| l.kind == LineKind::Normal).filter_map(|l| l.event.as_ref()) {
        if let Some(prev) = last.insert(e.client.as_str(), e.ts) {
            total += 1;
            if e.ts - prev <= 300 {
                close += 1;
            }
        }
    }
    assert!(close * 10 > total * 7, "{close} of {total} within 5 minutes");
}

#[test]
fn realistic_mix_of_methods_statuses_and_agents() {
    let lines = generate(Config { lines: 30_000, ..Config::default() }).unwrap();
    let events: Vec<_> = lines.iter().filter_map(|l| l.event.as_ref()).collect();
    let share = |f: &dyn Fn(&&clickstream_loggen::Event) -> bool| events.iter().filter(|e| f(e)).count() as f64 / events.len() as f64;
    let get = share(&|e| e.request.as_ref().is_some_and(|r| r.method == "GET"));
    let post = share(&|e| e.request.as_ref().is_some_and(|r| r.method == "POST"));
    let head = share(&|e| e.request.as_ref().is_some_and(|r| r.method == "HEAD"));
    assert!(get > 0.85 && post > 0.005 && head > 0.002, "{get} {post} {head}");
    let ok = share(&|e| e.status == 200);
    assert!(ok > 0.8 && ok < 0.97, "{ok}");
    for status in [304, 301, 404, 500, 503] {
        assert!(events.iter().any(|e| e.status == status), "no {status}");
    }
    assert!(events.iter().all(|e| e.status != 304 || e.bytes.is_none()));
    assert!(events.iter().any(|e| e.user_agent.as_deref().is_some_and(|u| u.contains('"'))));
    assert!(lines.iter().any(|l| l.bytes.windows(2).any(|w| w == b"\\\"")));
    assert!(events.iter().any(|e| e.user.is_some()));
    assert!(share(&|e| e.user.is_none()) > 0.99);
    assert!(events.iter().any(|e| e.referrer.as_deref().is_some_and(|r| r.starts_with("https://shop.example.com/"))));
    assert!(share(&|e| e.referrer.is_none()) > 0.1);
    for prefix in ["/category/", "/product/", "/cart", "/checkout", "/search?q=", "/static/"] {
        assert!(events.iter().any(|e| e.request.as_ref().is_some_and(|r| r.target.starts_with(prefix))), "{prefix}");
    }
    assert!(events.iter().any(|e| e.request.as_ref().is_some_and(|r| r.target == "/")));
}

#[test]
fn common_format_drops_referrer_and_agent() {
    let cfg = Config { lines: 2_000, format: Format::Common, invalid_fraction: 0.01, ..Config::default() };
    for l in generate(cfg).unwrap() {
        match &l.event {
            Some(e) => {
                let p = parse(&l.bytes, true).expect("strict common line");
                assert_eq!(p.ts, e.ts);
                assert!(e.referrer.is_none() && e.user_agent.is_none());
            }
            None => assert!(parse(&l.bytes, true).is_none()),
        }
    }
}

#[test]
fn offsets_change_text_not_event_times() {
    let utc = generate(Config { lines: 500, ..Config::default() }).unwrap();
    let cfg = Config { lines: 500, offset: "-0530".parse().unwrap(), ..Config::default() };
    let india = generate(cfg).unwrap();
    let p = parse(&india[0].bytes, false).unwrap();
    assert_eq!(p.offset, "-0530");
    assert_eq!(p.ts, india[0].event.as_ref().unwrap().ts);
    // The curve follows local time, so the traffic differs; both stay valid.
    assert!(utc.iter().chain(&india).all(|l| parse(&l.bytes, false).is_some()));
}

#[test]
fn config_errors_are_reported_not_panicked() {
    let bad = [
        Config { lines: 100, late: 100, ..Config::default() },
        Config { ddos: vec![Ddos { at: START - 1, count: 1, addr: None }], ..Config::default() },
        Config { error_storms: vec![ErrorStorm { at: START + 2 * 86_400 - 10, count: 3, window_secs: 300 }], ..Config::default() },
        Config { duplicate_fraction: -0.1, ..Config::default() },
        Config { visitors: 0, ..Config::default() },
        Config { duration_secs: 0, ..Config::default() },
    ];
    for cfg in bad {
        assert!(Generator::new(cfg).is_err());
    }
    assert!(generate(Config { lines: 0, ..Config::default() }).unwrap().is_empty());
    assert_eq!(generate(Config { lines: 1, ..Config::default() }).unwrap().len(), 1);
}
