//! The API against the real MariaDB and CQL endpoint of `scripts/stack`:
//! known rows written into both with the batch job's and the speed job's
//! own schemas, the real `serve` binary reading them through a SELECT-only
//! MySQL user, exact answers checked.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const D1: &str = "2026-11-20"; // computed by the batch layer
const D2: &str = "2026-11-21"; // speed layer only
const D3: &str = "2026-11-22"; // nothing at all

fn batch_hours() -> [(u64, u64); 24] {
    std::array::from_fn(|h| (100 + h as u64, 10 + (h as u64 % 7)))
}

/// Client addresses of hour 0 of D2 in the window of `host` starting `k`
/// minutes in: 40 per window, shifting by 10 a minute, and the two servers
/// sharing half of theirs, so visitors repeat across windows and servers.
fn hour0_clients(host: &str, k: i64) -> Vec<String> {
    let base = if host == "weblog1" { 0 } else { 20 };
    (0..40).map(|i| format!("198.51.{}.{}", (base + 10 * k + i) / 250, (base + 10 * k + i) % 250)).collect()
}

fn hour0_visitors(host: &str, k: i64) -> clickstream_sketch::Hll {
    let mut h = clickstream_sketch::Hll::new();
    for c in hour0_clients(host, k) {
        h.insert(c.as_bytes());
    }
    h
}

/// The fixture every data test shares (each test writes its own copy).
struct Fixture {
    db: TestDb,
    ks: TestKeyspace,
    run_id: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let db = TestDb::create();
        let run_id = db.batch_day(D1, &batch_hours(), 55);
        let ks = rt().block_on(async {
            let ks = TestKeyspace::create().await;
            let d1 = midnight(D1);
            let d2 = midnight(D2);
            // Speed rows of a batch day: must never be used.
            ks.health_hour("weblog1", d1 + 5 * HOUR, |_| 999_999).await;
            // The speed day: weblog1 and weblog2 in hour 0 (with visitor
            // sketches), weblog1 in hour 23 (rows without sketches).
            for k in 0..60 {
                let start = d2 + k * MIN;
                ks.health_with("weblog1", start, 5 * MIN, 1000 + k, 0, Some(&hour0_visitors("weblog1", k))).await;
                ks.health_with("weblog2", start, 5 * MIN, 10 * k, 0, Some(&hour0_visitors("weblog2", k))).await;
            }
            for k in 0..12 {
                ks.health("weblog1", d2 + 23 * HOUR + 5 * k * MIN, 5 * MIN, 7, 0).await;
            }
            // A sliding window across midnight, newest of weblog1, unhealthy: not a tile.
            ks.health("weblog1", d2 + 23 * HOUR + 57 * MIN, 5 * MIN, 20, 12).await;
            // Alerts.
            ks.ddos(d2 + 10 * HOUR + 1000, "198.51.100.77", &["weblog1"], 150).await;
            ks.ddos(d2 + 12 * HOUR, "203.0.113.9", &["weblog1", "weblog2"], 120).await;
            ks.health_alert(d2 + 11 * HOUR, "weblog2", 40, 12).await;
            ks.health_alert(d1 + 9 * HOUR, "weblog1", 50, 15).await;
            // Popularity windows near the end of D2.
            let at = |m: i64| d2 + 23 * HOUR + m * MIN;
            ks.popularity(at(40), &[("hats", 99)], true).await;
            ks.popularity(at(45), &[("shoes", 50), ("bags", 30)], true).await;
            ks.popularity(at(46), &[("bags", 41), ("shoes", 40), ("hats", 2)], false).await;
            // The speed job's watermark: D2 23:50 (event "now" = 23:50:10).
            ks.checkpoint(at(50)).await;
            ks
        });
        Fixture { db, ks, run_id }
    }

    fn serve(&self) -> Serve {
        Serve::start(&self.db, &self.ks, "")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        rt().block_on(self.ks.drop_keyspace());
    }
}

fn row(start: String, d: &str, hour: u64, requests: u64, visitors: Option<u64>, source: &str) -> Value {
    json!({"start": start, "day": d, "hour": hour, "requests": requests, "visitors": visitors,
           "visitors_exact": source == "batch", "source": source})
}

#[test]
fn traffic_takes_batch_days_from_mysql_and_the_rest_from_the_speed_windows() {
    let f = Fixture::new();
    let s = f.serve();
    let t = s.json(&format!("/api/traffic?from={D1}&to={D3}&granularity=hour"));
    let mut want: Vec<Value> =
        batch_hours().iter().enumerate().map(|(h, (n, v))| row(format!("{D1}T{h:02}:00:00.000Z"), D1, h as u64, *n, Some(*v), "batch")).collect();
    // Hour 0 of D2: the tiles :00, :05, ..., :55 of both hosts; the 48 overlapping windows ignored.
    let tiles: u64 = (0..60).step_by(5).map(|k| (1000 + k) + 10 * k).sum();
    assert_eq!(tiles, 15_630);
    // Its visitors: the union of the tiles' addresses over both servers,
    // 0..=609 (weblog1's tiles hold 50j..50j+39, weblog2's 50j+20..50j+59).
    let mut truth = std::collections::BTreeSet::new();
    let mut union = clickstream_sketch::Hll::new();
    for k in (0..60).step_by(5) {
        for host in ["weblog1", "weblog2"] {
            truth.extend(hour0_clients(host, k));
            union.merge(&hour0_visitors(host, k));
        }
    }
    assert_eq!(truth.len(), 610);
    let estimate = union.estimate();
    assert!(estimate.abs_diff(610) <= 30, "within 3 standard errors (5 %): {estimate}");
    want.push(row(format!("{D2}T00:00:00.000Z"), D2, 0, tiles, Some(estimate), "speed"));
    // Hour 23 of D2: 12 tiles of 7; the sliding window 23:57..00:02 is no
    // tile. Its rows have no sketch (an older speed job): visitors unknown.
    want.push(row(format!("{D2}T23:00:00.000Z"), D2, 23, 84, None, "speed"));
    assert_eq!(t["rows"], Value::Array(want), "{t:#}");
    assert_eq!(t["granularity"], "hour");
    assert_eq!((t["from"].as_str(), t["to"].as_str()), (Some(D1), Some(D3)));
    assert_eq!(t["sources"]["batch"], json!([{"day": D1, "run_id": f.run_id, "computed_at": "2026-11-22T01:00:05.000Z"}]));
    assert_eq!(t["sources"]["speed"], json!([D2, D3]));

    // Per day: the batch day's own distinct visitors (55), not a sum of hours.
    let t = s.json(&format!("/api/traffic?from={D1}&to={D2}&granularity=day"));
    assert_eq!(
        t["rows"],
        json!([
            {"start": format!("{D1}T00:00:00.000Z"), "day": D1, "requests": 2676, "visitors": 55, "visitors_exact": true, "source": "batch"},
            {"start": format!("{D2}T00:00:00.000Z"), "day": D2, "requests": 15_714, "visitors": null, "visitors_exact": false, "source": "speed"},
        ])
    );

    // Without a range: the newest event day (the checkpoint's, D2).
    let t = s.json("/api/traffic");
    assert_eq!((t["from"].as_str(), t["to"].as_str()), (Some(D2), Some(D2)));
    assert_eq!(t["rows"].as_array().unwrap().len(), 2);

    // Once the batch job covers D2, its rows replace the speed rows.
    f.db.batch_day(D2, &[(1, 1); 24], 3);
    let t = s.json(&format!("/api/traffic?day={D2}"));
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r["source"] == "batch" && r["requests"] == 1 && r["visitors"] == 1), "{t:#}");
}

/// Thousands of visitors per hour, repeating across windows, servers and
/// hours: the speed rows' `visitors` estimate the true distinct count within
/// the sketch's error (3 standard errors of 1.6 %), per hour and per day,
/// next to an exact batch day.
#[test]
fn speed_hours_estimate_distinct_visitors_across_windows_and_servers() {
    let db = TestDb::create();
    db.batch_day(D1, &batch_hours(), 55);
    let d2 = midnight(D2);
    // Window k (minutes into the day) of server s: 600 addresses from
    // number 100·k + 400·s on. Consecutive tiles share 100, the servers
    // most of theirs, consecutive hours 100.
    let clients = |s: i64, k: i64| {
        (0..600).map(move |i| {
            let n = 100 * k + 400 * s + i;
            format!("10.0.{}.{}", n / 256, n % 256)
        })
    };
    let ks = rt().block_on(async {
        let ks = TestKeyspace::create().await;
        for (s, host) in ["weblog1", "weblog2"].iter().enumerate() {
            for k in (0..120).step_by(5) {
                let mut h = clickstream_sketch::Hll::new();
                for c in clients(s as i64, k) {
                    h.insert(c.as_bytes());
                }
                ks.health_with(host, d2 + k * MIN, 5 * MIN, 900, 0, Some(&h)).await;
            }
        }
        ks
    });
    let s = Serve::start(&db, &ks, "");
    let truth = |minutes: std::ops::Range<i64>| {
        let mut set = std::collections::BTreeSet::new();
        for s in 0..2 {
            for k in minutes.clone().step_by(5) {
                set.extend(clients(s, k));
            }
        }
        set.len() as u64
    };
    let close = |got: &Value, want: u64| {
        let got = got.as_u64().unwrap_or_else(|| panic!("visitors is a number: {got}"));
        assert!((got as f64 - want as f64).abs() / (want as f64) < 3.0 * 0.0163, "estimated {got}, true {want}");
    };
    let t = s.json(&format!("/api/traffic?from={D1}&to={D2}"));
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 26, "{t:#}");
    // The boundary: D1 23:00 from the batch layer, exact; D2 00:00 from the speed layer, estimated.
    assert_eq!(
        (&rows[23]["source"], &rows[23]["visitors"], &rows[23]["visitors_exact"]),
        (&json!("batch"), &json!(batch_hours()[23].1), &json!(true))
    );
    for (h, row) in rows[24..].iter().enumerate() {
        assert_eq!((&row["source"], &row["visitors_exact"], &row["requests"]), (&json!("speed"), &json!(false), &json!(2 * 12 * 900)));
        let want = truth(60 * h as i64..60 * (h as i64 + 1));
        assert_eq!(want, 6500, "hour {h}: 5,500 + 600 per server, the second 400 further");
        close(&row["visitors"], want);
    }
    // The day: the union of its hours, not their sum.
    let t = s.json(&format!("/api/traffic?day={D2}&granularity=day"));
    let day = &t["rows"][0];
    assert_eq!(day["visitors_exact"], false);
    let want = truth(0..120);
    assert_eq!(want, 12_500, "the hours share 500 visitors");
    close(&day["visitors"], want);
    drop(s);
    rt().block_on(ks.drop_keyspace());
}

#[test]
fn alerts_are_newest_first_and_filter_by_kind_day_host_and_limit() {
    let f = Fixture::new();
    let s = f.serve();
    let keys = |v: &Value| -> Vec<String> {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {} {}",
                    a["kind"].as_str().unwrap(),
                    &a["window_start"].as_str().unwrap()[..19],
                    a["client"].as_str().or(a["host"].as_str()).unwrap()
                )
            })
            .collect()
    };
    // Default: the newest event day (D2).
    let a = s.json("/api/alerts");
    assert_eq!(keys(&a), ["ddos 2026-11-21T12:00:00 203.0.113.9", "health 2026-11-21T11:00:00 weblog2", "ddos 2026-11-21T10:00:01 198.51.100.77",]);
    assert_eq!(a["truncated"], false);
    assert_eq!(
        a["alerts"][2],
        json!({
            "kind": "ddos", "window_start": "2026-11-21T10:00:01.000Z", "window_end": "2026-11-21T10:00:02.000Z",
            "client": "198.51.100.77", "hosts": ["weblog1"], "requests": 150,
            "first_seen": "2026-11-21T10:00:01.010Z", "last_seen": "2026-11-21T10:00:01.990Z", "final": true
        })
    );
    assert_eq!(
        a["alerts"][1],
        json!({
            "kind": "health", "window_start": "2026-11-21T11:00:00.000Z", "window_end": "2026-11-21T11:05:00.000Z",
            "host": "weblog2", "requests": 40, "non_200": 12, "final": true
        })
    );
    let a = s.json("/api/alerts?kind=ddos&host=weblog2");
    assert_eq!(keys(&a), ["ddos 2026-11-21T12:00:00 203.0.113.9"]);
    let a = s.json(&format!("/api/alerts?kind=health&day={D1}"));
    assert_eq!(keys(&a), ["health 2026-11-20T09:00:00 weblog1"]);
    let a = s.json(&format!("/api/alerts?from={D1}&to={D2}&limit=3"));
    assert_eq!(keys(&a).len(), 3);
    assert_eq!(a["truncated"], true);
    let a = s.json(&format!("/api/alerts?from={D1}&to={D3}&limit=4"));
    assert_eq!(keys(&a).last().unwrap(), "health 2026-11-20T09:00:00 weblog1");
    assert_eq!(a["truncated"], false);
    let a = s.json(&format!("/api/alerts?day={D3}"));
    assert_eq!(a["alerts"], json!([]));
}

#[test]
fn popularity_is_the_newest_top_window_and_a_tiling_history() {
    let f = Fixture::new();
    let s = f.serve();
    let p = s.json("/api/popularity?window=5m&points=3");
    assert_eq!(p["window"], "5m");
    assert_eq!(
        p["current"],
        json!({
            "window_start": "2026-11-21T23:46:00.000Z", "window_end": "2026-11-21T23:51:00.000Z", "final": false, "total": 83,
            "categories": [
                {"rank": 1, "category": "bags", "requests": 41},
                {"rank": 2, "category": "shoes", "requests": 40},
                {"rank": 3, "category": "hats", "requests": 2},
            ]
        })
    );
    let starts: Vec<&str> = p["history"].as_array().unwrap().iter().map(|w| w["window_start"].as_str().unwrap()).collect();
    assert_eq!(starts, ["2026-11-21T23:35:00.000Z", "2026-11-21T23:40:00.000Z", "2026-11-21T23:45:00.000Z"]);
    assert_eq!(p["history"][0]["categories"], json!([]));
    assert_eq!(p["history"][1]["categories"], json!([{"rank": 1, "category": "hats", "requests": 99}]));
    assert_eq!(
        p["history"][2]["categories"],
        json!([{"rank": 1, "category": "shoes", "requests": 50}, {"rank": 2, "category": "bags", "requests": 30}])
    );
    assert_eq!((p["history"][2]["total"].as_i64(), p["history"][2]["final"].as_bool()), (Some(80), Some(true)));
    // Default points: 12.
    assert_eq!(s.json("/api/popularity")["history"].as_array().unwrap().len(), 12);
}

#[test]
fn servers_show_the_newest_windows_of_every_host() {
    let f = Fixture::new();
    let s = f.serve();
    let v = s.json("/api/servers?points=2");
    assert_eq!(v["day"], D2);
    let servers = v["servers"].as_array().unwrap();
    let hosts: Vec<&str> = servers.iter().map(|s| s["host"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["weblog1", "weblog2"]);
    assert_eq!(
        servers[0]["windows"][0],
        json!({
            "window_start": "2026-11-21T23:57:00.000Z", "window_end": "2026-11-22T00:02:00.000Z", "requests": 20, "non_200": 12,
            "status": {"1xx": 0, "2xx": 8, "3xx": 0, "4xx": 12, "5xx": 0}, "unhealthy": true, "final": true
        })
    );
    assert_eq!(servers[0]["windows"][1]["window_start"], "2026-11-21T23:55:00.000Z");
    assert_eq!(servers[1]["windows"].as_array().unwrap().len(), 2);
    assert_eq!(servers[1]["windows"][0]["window_start"], "2026-11-21T00:59:00.000Z");
    assert_eq!(servers[1]["windows"][0]["requests"], 590);
    assert_eq!(servers[1]["windows"][0]["unhealthy"], false);
}

#[test]
fn bad_parameters_are_400s_that_name_the_parameter() {
    let f = Fixture::new();
    let s = f.serve();
    let cases: &[(&str, &str, &str)] = &[
        ("/api/traffic?from=2026-13-01", "from", "2026-13-01"),
        ("/api/traffic?from=2026-11-21&to=2026-11-20", "to", "before"),
        ("/api/traffic?from=2026-01-01&to=2026-11-20", "to", "at most 31"),
        ("/api/traffic?granularity=minute", "granularity", "hour, day"),
        ("/api/traffic?form=2026-11-20", "form", "unknown parameter"),
        ("/api/traffic?from=2026-11-20&from=2026-11-21", "from", "more than once"),
        ("/api/alerts?kind=dos", "kind", "all, ddos, health"),
        ("/api/alerts?limit=0", "limit", "from 1 to 1000"),
        ("/api/alerts?limit=many", "limit", "many"),
        ("/api/alerts?day=2026-11-20&from=2026-11-20", "day", "not both"),
        ("/api/alerts?host=", "host", "printable"),
        ("/api/popularity?window=10m", "window", "5m windows only"),
        ("/api/popularity?window=soon", "window", "not a duration"),
        ("/api/servers?points=0", "points", "from 1 to 288"),
        ("/api/health?verbose=1", "verbose", "takes no parameters"),
    ];
    for (path, parameter, says) in cases {
        let r = s.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.header("content-type").as_deref(), Some("application/json"), "{path}");
        let e = &r.json()["error"];
        assert_eq!(e["status"], 400, "{path}");
        assert_eq!(e["parameter"], *parameter, "{path}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{path}: {e}");
    }
    let r = s.get("/api/nothing");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
}

/// The batch-only routes (`/api/breakdown`, `/api/top-paths`,
/// `/api/visitors`) over two batch days with two web servers and three
/// categories, through the SELECT-only user. They read MySQL alone, so
/// this test needs no CQL endpoint.
#[test]
fn breakdowns_top_paths_and_visitor_ranges_come_from_the_batch_tables() {
    let db = TestDb::create();
    let run1 = db.batch_day(D1, &batch_hours(), 55);
    let run2 = db.batch_day(D2, &[(30, 3); 24], 70);
    // (value, requests, unique visitors, failures, bytes)
    db.batch_dimension(D1, "server", &[("weblog2", 400, 40, 100, 30_000), ("weblog1", 600, 50, 30, 60_000)]);
    db.batch_dimension(D2, "server", &[("weblog1", 300, 35, 3, 20_000), ("weblog2", 500, 45, 50, 50_000)]);
    db.batch_dimension(D1, "category", &[("bags", 300, 25, 60, 20_000), ("shoes", 700, 60, 70, 70_000)]);
    db.batch_dimension(D2, "category", &[("hats", 350, 20, 8, 5_000), ("bags", 450, 30, 45, 65_000)]);
    db.batch_top_paths(D1, &[("/products/shoes/42", 300, 3, 90_000), ("/cart", 200, 20, 5_000), ("/products/bags/7", 100, 0, 1_000)]);
    db.exec(
        "INSERT INTO weekly_visitors (week_start, iso_year, iso_week, days_reported, requests, unique_visitors, computed_at) VALUES \
         ('2026-11-09', 2026, 46, 7, 9000, 400, '2026-11-16 01:00:00.250'), ('2026-11-16', 2026, 47, 2, 3396, 98, '2026-11-22 01:00:05.000')",
    );
    db.exec(
        "INSERT INTO monthly_visitors (month_start, days_reported, requests, unique_visitors, computed_at) VALUES \
         ('2026-10-01', 31, 40000, 1500, '2026-11-01 01:00:00.000'), ('2026-11-01', 20, 25000, 900, '2026-11-22 01:00:05.000')",
    );
    let s = Serve::start_batch_only(&db);
    let batch = |d: &str, run: u64| json!({"day": d, "run_id": run, "computed_at": "2026-11-22T01:00:05.000Z"});
    let row = |d: &str, v: &str, n: u64, u: u64, f: u64, b: u64| {
        json!({"start": format!("{d}T00:00:00.000Z"), "day": d, "value": v, "requests": n, "unique_visitors": u,
               "success_requests": n - f, "failure_requests": f, "failure_share": f as f64 / n as f64, "bytes_sent": b, "source": "batch"})
    };
    let total = |v: &str, days: u64, n: u64, f: u64, b: u64| {
        json!({"value": v, "days": days, "requests": n, "success_requests": n - f, "failure_requests": f,
               "failure_share": f as f64 / n as f64, "bytes_sent": b})
    };

    // Per server and day, most requests first; totals over the range add
    // requests, failures and bytes (a tie at 900 broken by name), and have
    // no visitors; D3 is not covered: no rows, listed.
    let b = s.json(&format!("/api/breakdown?dimension=server&from={D1}&to={D3}"));
    assert_eq!(
        b,
        json!({
            "dimension": "server", "from": D1, "to": D3, "granularity": "day",
            "rows": [
                row(D1, "weblog1", 600, 50, 30, 60_000), row(D1, "weblog2", 400, 40, 100, 30_000),
                row(D2, "weblog2", 500, 45, 50, 50_000), row(D2, "weblog1", 300, 35, 3, 20_000),
            ],
            "totals": [total("weblog1", 2, 900, 33, 80_000), total("weblog2", 2, 900, 150, 80_000)],
            "sources": {"batch": [batch(D1, run1), batch(D2, run2)]},
            "uncovered": [D3],
        })
    );
    assert_eq!(b["rows"][1]["failure_share"], 0.25);
    let b = s.json(&format!("/api/breakdown?dimension=category&from={D1}&to={D2}"));
    assert_eq!(b["totals"], json!([total("bags", 2, 750, 105, 85_000), total("shoes", 1, 700, 70, 70_000), total("hats", 1, 350, 8, 5_000)]));
    let values: Vec<(&str, &str)> =
        b["rows"].as_array().unwrap().iter().map(|r| (r["day"].as_str().unwrap(), r["value"].as_str().unwrap())).collect();
    assert_eq!(values, [(D1, "shoes"), (D1, "bags"), (D2, "bags"), (D2, "hats")]);

    // Per hour: 24 rows per value and day, by hour then requests; zero
    // hours have no failure share; the totals are the day's.
    let h = s.json(&format!("/api/breakdown?dimension=category&day={D1}&granularity=hour"));
    let rows = h["rows"].as_array().unwrap();
    assert_eq!((h["granularity"].as_str(), rows.len()), (Some("hour"), 48));
    assert_eq!(
        rows[0],
        json!({"start": format!("{D1}T00:00:00.000Z"), "day": D1, "hour": 0, "value": "bags", "requests": 0, "unique_visitors": 0,
               "success_requests": 0, "failure_requests": 0, "failure_share": null, "bytes_sent": 0, "source": "batch"})
    );
    assert_eq!(
        rows[18],
        json!({"start": format!("{D1}T09:00:00.000Z"), "day": D1, "hour": 9, "value": "shoes", "requests": 350, "unique_visitors": 60,
               "success_requests": 315, "failure_requests": 35, "failure_share": 0.1, "bytes_sent": 35_000, "source": "batch"})
    );
    assert_eq!((rows[19]["value"].as_str(), rows[19]["requests"].as_u64()), (Some("bags"), Some(150)));
    assert_eq!(h["totals"], json!([total("shoes", 1, 700, 70, 70_000), total("bags", 1, 300, 60, 20_000)]));

    // Without a day: the newest batch day (D2), not the clock's.
    let b = s.json("/api/breakdown?dimension=server");
    assert_eq!((b["from"].as_str(), b["to"].as_str(), b["rows"].as_array().unwrap().len()), (Some(D2), Some(D2), 2));
    // A day the batch layer has not covered: empty, and said so.
    let b = s.json(&format!("/api/breakdown?dimension=category&day={D3}"));
    assert_eq!((&b["rows"], &b["totals"], &b["sources"]["batch"], &b["uncovered"]), (&json!([]), &json!([]), &json!([]), &json!([D3])));

    // Top paths of D1 by rank; `limit` cuts and says so.
    let t = s.json(&format!("/api/top-paths?day={D1}&limit=2"));
    assert_eq!(
        t,
        json!({
            "day": D1,
            "paths": [
                {"rank": 1, "path": "/products/shoes/42", "requests": 300, "success_requests": 297, "failure_requests": 3,
                 "failure_share": 0.01, "bytes_sent": 90_000, "source": "batch"},
                {"rank": 2, "path": "/cart", "requests": 200, "success_requests": 180, "failure_requests": 20,
                 "failure_share": 0.1, "bytes_sent": 5_000, "source": "batch"},
            ],
            "truncated": true,
            "sources": {"batch": [batch(D1, run1)]},
            "uncovered": [],
        })
    );
    let t = s.json(&format!("/api/top-paths?day={D1}"));
    assert_eq!((t["paths"].as_array().unwrap().len(), &t["truncated"]), (3, &json!(false)));
    // D2 is covered but has no paths written; D3 is not covered; the default is D2.
    let t = s.json(&format!("/api/top-paths?day={D2}"));
    assert_eq!((&t["paths"], &t["uncovered"]), (&json!([]), &json!([])));
    let t = s.json(&format!("/api/top-paths?day={D3}"));
    assert_eq!((&t["paths"], &t["sources"]["batch"], &t["uncovered"]), (&json!([]), &json!([]), &json!([D3])));
    assert_eq!(s.json("/api/top-paths")["day"], D2);

    // Weeks and months overlapping the range, oldest first, exact visitors.
    let v = s.json("/api/visitors?period=week&from=2026-11-10&to=2026-11-21");
    assert_eq!(
        v,
        json!({
            "period": "week", "from": "2026-11-10", "to": "2026-11-21",
            "rows": [
                {"start": "2026-11-09", "end": "2026-11-15", "iso_year": 2026, "iso_week": 46, "days": 7, "days_reported": 7,
                 "complete": true, "requests": 9000, "unique_visitors": 400, "computed_at": "2026-11-16T01:00:00.250Z", "source": "batch"},
                {"start": "2026-11-16", "end": "2026-11-22", "iso_year": 2026, "iso_week": 47, "days": 7, "days_reported": 2,
                 "complete": false, "requests": 3396, "unique_visitors": 98, "computed_at": "2026-11-22T01:00:05.000Z", "source": "batch"},
            ]
        })
    );
    let v = s.json("/api/visitors?period=month&from=2026-10-15&to=2026-11-21");
    assert_eq!(
        v["rows"],
        json!([
            {"start": "2026-10-01", "end": "2026-10-31", "days": 31, "days_reported": 31, "complete": true, "requests": 40000,
             "unique_visitors": 1500, "computed_at": "2026-11-01T01:00:00.000Z", "source": "batch"},
            {"start": "2026-11-01", "end": "2026-11-30", "days": 30, "days_reported": 20, "complete": false, "requests": 25000,
             "unique_visitors": 900, "computed_at": "2026-11-22T01:00:05.000Z", "source": "batch"},
        ])
    );
    // The default: the week of the newest batch day; nothing reported in December.
    let starts = |v: &Value| -> Vec<String> { v["rows"].as_array().unwrap().iter().map(|r| r["start"].as_str().unwrap().to_string()).collect() };
    assert_eq!(starts(&s.json("/api/visitors")), ["2026-11-16"]);
    assert_eq!(starts(&s.json("/api/visitors?period=month&from=2026-12-01&to=2026-12-31")), Vec::<String>::new());

    // Mistakes are 400s naming the parameter.
    let cases: &[(&str, &str, &str)] = &[
        ("/api/breakdown?dimension=host", "dimension", "server, category"),
        ("/api/breakdown?day=2026-11-20", "dimension", "missing"),
        ("/api/breakdown?dimension=server&granularity=week", "granularity", "day, hour"),
        ("/api/breakdown?dimension=server&from=2026-01-01&to=2026-11-20", "to", "at most 31"),
        ("/api/breakdown?dimension=server&dim=server", "dim", "unknown parameter"),
        ("/api/top-paths?limit=0", "limit", "from 1 to 1000"),
        ("/api/top-paths?from=2026-11-20", "from", "known parameters: day, limit"),
        ("/api/visitors?period=year", "period", "week, month"),
        ("/api/visitors?from=2025-01-01&to=2026-11-20", "to", "at most 366"),
    ];
    for (path, parameter, says) in cases {
        let r = s.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        let e = &r.json()["error"];
        assert_eq!(e["parameter"], *parameter, "{path}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{path}: {e}");
    }
    // Counted by route pattern like the others.
    assert_eq!(s.service.metric("serve_http_requests_total", r#"route="/api/breakdown",method="GET",status="400""#), 5.0);
}

/// The query string built from a documented operation's examples.
fn example_query(doc: &Value, op: &Value) -> String {
    let mut q = Vec::new();
    for p in op["parameters"].as_array().cloned().unwrap_or_default() {
        let p = match p["$ref"].as_str() {
            Some(r) => r.trim_start_matches("#/").split('/').fold(doc, |n, seg| &n[seg]).clone(),
            None => p,
        };
        if let Some(ex) = p.get("example") {
            let v = ex.as_str().map_or_else(|| ex.to_string(), str::to_string);
            q.push(format!("{}={}", p["name"].as_str().unwrap(), v));
        }
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

#[test]
fn every_documented_path_answers_as_documented() {
    let f = Fixture::new();
    let s = f.serve();
    let doc = s.json("/api/openapi.json");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 10, "{:?}", paths.keys());
    for (path, item) in paths {
        let op = &item["get"];
        let url = format!("{path}{}", example_query(&doc, op));
        if path == "/api/stream" {
            let events = sse_events(&s, 6, Duration::from_secs(10));
            let names: std::collections::BTreeSet<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["alerts", "batch", "popularity", "servers", "status", "traffic"].into(), "{events:?}");
            continue;
        }
        let r = s.get(&url);
        assert_eq!(r.status, 200, "GET {url}: {}", r.body);
        assert!(op["responses"]["200"].is_object(), "{path} documents no 200");
        let v = r.json();
        // Every property the schema marks required is there.
        if let Some(schema) = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].as_str() {
            let schema = schema.trim_start_matches("#/").split('/').fold(&doc, |n, seg| &n[seg]);
            for key in schema["properties"].as_object().unwrap().keys() {
                assert!(v.get(key).is_some(), "{url}: `{key}` documented but missing in {v}");
            }
        }
    }
}

/// Opens `/api/stream` and reads `n` events (name, JSON).
fn sse_events(s: &Serve, n: usize, timeout: Duration) -> Vec<(String, Value)> {
    let mut stream = TcpStream::connect(s.api).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    write!(stream, "GET /api/stream HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut r = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    let deadline = Instant::now() + timeout;
    let (mut out, mut name) = (Vec::new(), String::new());
    while out.len() < n && Instant::now() < deadline {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        // Chunked framing: size lines and blank lines carry no field.
        let line = line.trim_end();
        if let Some(v) = line.strip_prefix("event: ") {
            name = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            out.push((name.clone(), serde_json::from_str(v).unwrap()));
        }
    }
    out
}

#[test]
fn the_stream_pushes_a_view_again_when_its_rows_change() {
    let f = Fixture::new();
    let s = f.serve();
    let mut stream = TcpStream::connect(s.api).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(stream, "GET /api/stream HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut r = BufReader::new(stream);
    let mut next_event = |want: &str| -> Value {
        let mut name = String::new();
        loop {
            let mut line = String::new();
            assert!(r.read_line(&mut line).unwrap() > 0, "stream ended");
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                if name == want {
                    return serde_json::from_str(v).unwrap();
                }
            }
        }
    };
    let first = next_event("alerts");
    assert_eq!(first["alerts"].as_array().unwrap().len(), 4, "{first}");
    // A new DDoS alert lands in Cassandra: the stream pushes the new list.
    rt().block_on(f.ks.ddos(midnight(D2) + 22 * HOUR, "192.0.2.1", &["weblog2"], 300));
    let second = next_event("alerts");
    assert_eq!(second["alerts"][0]["client"], "192.0.2.1", "{second}");
    assert_eq!(second["alerts"].as_array().unwrap().len(), 5);
}

#[test]
fn health_names_the_store_that_does_not_answer() {
    let f = Fixture::new();
    let s = f.serve();
    let h = s.json("/api/health");
    assert_eq!(h["status"], "ok");
    assert_eq!((h["checks"]["mysql"]["ok"].as_bool(), h["checks"]["cassandra"]["ok"].as_bool()), (Some(true), Some(true)));

    let wrong = f.db.ro_url.replace("serve-ro-pw", "wrong-password");
    let s = Serve::start_with(&wrong, &f.ks, "");
    let r = s.get("/api/health");
    assert_eq!(r.status, 503, "{}", r.body);
    let h = r.json();
    assert_eq!(h["status"], "unavailable");
    assert_eq!(h["checks"]["mysql"]["ok"], false);
    assert!(h["checks"]["mysql"]["error"].as_str().unwrap().contains("Access denied"), "{h}");
    assert!(!h["checks"]["mysql"]["error"].as_str().unwrap().contains("wrong-password"), "{h}");
    assert_eq!(h["checks"]["cassandra"]["ok"], true);
    let r = s.get(&format!("/api/traffic?day={D1}"));
    assert_eq!(r.status, 503);
    assert!(r.json()["error"]["message"].as_str().unwrap().starts_with("mysql"), "{}", r.body);
    // Speed-only routes still answer.
    assert_eq!(s.get("/api/alerts").status, 200);
    // The metrics endpoint's /health follows (background probe).
    clickstream_testkit::wait_until(Duration::from_secs(15), "/health to report mysql", || {
        s.service.health().is_some_and(|h| h.starts_with("HTTP/1.1 503") && h.contains("mysql"))
    });
}

#[test]
fn the_serving_user_can_read_but_not_write() {
    use diesel::{Connection, RunQueryDsl};
    let f = Fixture::new();
    let mut c = diesel::mysql::MysqlConnection::establish(&f.db.ro_url).unwrap();
    let e = diesel::sql_query(format!("DELETE FROM daily_traffic WHERE day = '{D1}'")).execute(&mut c).unwrap_err();
    assert!(e.to_string().contains("command denied"), "{e}");
    let e = diesel::sql_query("CREATE TABLE x (i INT)").execute(&mut c).unwrap_err();
    assert!(e.to_string().contains("denied"), "{e}");
    // And serve works with it (every other test uses it too).
    let s = f.serve();
    assert_eq!(s.json(&format!("/api/traffic?day={D1}"))["rows"].as_array().unwrap().len(), 24);
}

#[test]
fn metrics_count_requests_by_route_and_status() {
    let f = Fixture::new();
    let s = f.serve();
    for _ in 0..3 {
        s.json(&format!("/api/traffic?day={D1}"));
    }
    assert_eq!(s.get("/api/traffic?day=yesterday").status, 400);
    assert_eq!(s.get("/no/such/page").status, 404);
    let m = &s.service;
    assert_eq!(m.metric("serve_http_requests_total", r#"route="/api/traffic",method="GET",status="200""#), 3.0);
    assert_eq!(m.metric("serve_http_requests_total", r#"route="/api/traffic",method="GET",status="400""#), 1.0);
    assert_eq!(m.metric("serve_http_requests_total", r#"route="unmatched""#), 1.0);
    assert_eq!(m.metric("serve_http_request_duration_seconds_count", r#"route="/api/traffic""#), 4.0);
}

#[test]
fn the_dashboard_is_served_from_the_binary_with_nothing_external() {
    let f = Fixture::new();
    let s = f.serve();
    let page = s.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    for (path, kind) in [("/assets/app.js", "text/javascript"), ("/assets/style.css", "text/css")] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with(kind), "{path}");
        assert!(page.body.contains(path), "the page does not load {path}");
        // No CDN, no external font or script: the only absolute URL is the SVG namespace.
        let external: Vec<&str> = r.body.match_indices("http").map(|(i, _)| &r.body[i..(i + 30).min(r.body.len())]).collect();
        assert!(external.iter().all(|u| u.starts_with("http://www.w3.org/2000/svg")), "{path}: {external:?}");
        // Data from the logs is never parsed as HTML.
        assert!(!r.body.contains("innerHTML"), "{path} uses innerHTML");
    }
    assert!(!page.body.contains("http"), "the page links outside: {}", page.body);
}

/// `serve validate --connect` pings both stores as `/api/health` does: the
/// fixture's MySQL and CQL endpoint answer; a wrong password is named with
/// MySQL's own words (exit 69), the password is not printed; an API address
/// already taken is a configuration error (78) naming `http.listen`.
#[test]
fn validate_connect_pings_both_stores_and_checks_the_addresses() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    let validate = |mysql_url: &str, extra: &[&str], patch: &dyn Fn(String) -> String| {
        let (text, _, _) = config(mysql_url, &f.ks.contact_point, &f.ks.name, "");
        std::fs::write(&path, patch(text)).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_serve")).arg("validate").args(extra).arg(&path).output().unwrap()
    };
    let same = |t: String| t;
    let ok = validate(&f.db.ro_url, &["--connect"], &same);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let wrong = f.db.ro_url.replace("serve-ro-pw", "wrong-password");
    let out = validate(&wrong, &["--connect"], &same);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains("mysql.url") && err.contains("Access denied"), "{err}");
    assert!(!err.contains("wrong-password"), "{err}");
    assert!(!err.contains("cassandra"), "the CQL endpoint answered: {err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let busy = |t: String| {
        let at = t.find("listen = \"").unwrap();
        let end = at + t[at..].find('\n').unwrap();
        format!("{}listen = \"{addr}\"{}", &t[..at], &t[end..])
    };
    let out = validate(&f.db.ro_url, &[], &busy);
    assert_eq!(out.status.code(), Some(78), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("http.listen {addr}")), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(validate(&f.db.ro_url, &["--config-only"], &busy).status.success());
}
