//! `speed-job show`: the speed views as readable tables, for operators and
//! the demo. Read-only: it issues only SELECTs, so it is safe against a
//! production keyspace (use a read-only role in `[cassandra]`).

use std::collections::BTreeMap;
use std::fmt::Write;

use scylla::client::session::Session;
use scylla::value::CqlTimestamp;

use crate::config::Config;
use crate::time::utc_day;

/// `HH:MM:SS` of the day, UTC.
fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn stamp(ms: i64) -> String {
    format!("{} {}", utc_day(ms), clock(ms))
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn rows<T>(s: &Session, cql: String) -> Result<Vec<T>, Error>
where
    T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    let r = s.query_unpaged(cql, &[]).await?.into_rows_result()?;
    Ok(r.rows::<T>()?.collect::<Result<Vec<T>, _>>()?)
}

/// Renders the DDoS alerts, the health alerts, the categories' totals and
/// the late events of the configured keyspace.
pub async fn render(cfg: &Config, top: usize) -> Result<String, Error> {
    let c = &cfg.cassandra;
    let s = clickstream_cql::connect(c.connect(c.request_timeout)).await?;
    let ks = &c.keyspace;
    let mut out = String::new();

    let mut ddos: Vec<(CqlTimestamp, String, i64, Vec<String>, bool)> =
        rows(&s, format!("SELECT window_start, client_addr, requests, source_hosts, is_final FROM {ks}.ddos_alerts")).await?;
    ddos.sort_by_key(|r| std::cmp::Reverse(r.0 .0));
    writeln!(out, "DDoS alerts (more than {} requests from one address in {:?}), newest first", cfg.ddos.threshold, cfg.ddos.window)?;
    writeln!(out, "  {:<20} {:<40} {:>8}  {:<20} final", "second (UTC)", "client", "requests", "web servers")?;
    for (t, client, n, hosts, fin) in &ddos {
        writeln!(out, "  {:<20} {:<40} {:>8}  {:<20} {}", stamp(t.0), client, n, hosts.join(","), fin)?;
    }
    writeln!(out, "  ({} alerts)\n", ddos.len())?;

    let mut health: Vec<(String, CqlTimestamp, i64, i64, bool)> =
        rows(&s, format!("SELECT source_host, window_start, non_200, requests, is_final FROM {ks}.health_alerts")).await?;
    health.sort_by_key(|r| std::cmp::Reverse(r.1 .0));
    writeln!(out, "Server health alerts (more than {} responses not 200 in {:?}), newest first", cfg.health.threshold, cfg.health.window)?;
    writeln!(out, "  {:<20} {:<16} {:>8} {:>9}  final", "window start (UTC)", "web server", "non-200", "requests")?;
    for (host, t, bad, n, fin) in &health {
        writeln!(out, "  {:<20} {:<16} {:>8} {:>9}  {}", stamp(t.0), host, bad, n, fin)?;
    }
    writeln!(out, "  ({} alerts)\n", health.len())?;

    // Windows that tile time (start a multiple of their size) add up to exact totals.
    let size = cfg.popularity.window.as_millis() as i64;
    let pop: Vec<(CqlTimestamp, String, i64)> = rows(&s, format!("SELECT window_start, category, requests FROM {ks}.category_popularity")).await?;
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    let mut busiest: BTreeMap<i64, i64> = BTreeMap::new();
    for (t, cat, n) in &pop {
        if t.0.rem_euclid(size) == 0 {
            *totals.entry(cat.clone()).or_default() += n;
        }
        *busiest.entry(t.0).or_default() += n;
    }
    let mut ranked: Vec<(String, i64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    writeln!(out, "Categories by requests (all windows), top {top}")?;
    for (cat, n) in ranked.iter().take(top) {
        writeln!(out, "  {cat:<24} {n:>8}")?;
    }
    if let Some((&t, &n)) = busiest.iter().max_by_key(|(t, n)| (**n, std::cmp::Reverse(**t))) {
        let top_rows: Vec<(i32, String, i64)> =
            rows(&s, format!("SELECT rank, category, requests FROM {ks}.category_top WHERE window_start = {t}")).await?;
        writeln!(out, "\nBusiest {:?} window: {} ({} requests)", cfg.popularity.window, stamp(t), n)?;
        let mut top_rows = top_rows;
        top_rows.sort();
        for (rank, cat, n) in top_rows.iter().take(top) {
            writeln!(out, "  {rank:>2}. {cat:<24} {n:>6}")?;
        }
    }
    type LateRow = (CqlTimestamp, String, String, CqlTimestamp, i32, i64);
    let mut late: Vec<LateRow> =
        rows(&s, format!("SELECT event_time, source_host, reason, watermark, kafka_partition, kafka_offset FROM {ks}.late_events")).await?;
    writeln!(out, "\nLate events (not counted, kept in late_events): {}", late.len())?;
    let mut by_cause: BTreeMap<(&str, &str), usize> = Default::default();
    for (_, host, reason, ..) in &late {
        *by_cause.entry((reason.as_str(), host.as_str())).or_default() += 1;
    }
    for ((reason, host), n) in &by_cause {
        writeln!(out, "  {reason:<18} {host:<16} {n:>6}")?;
    }
    // The first ones in stream order: where lateness started.
    late.sort_by_key(|r| (r.4, r.5));
    if !late.is_empty() {
        writeln!(out, "  event time (UTC)     web server        reason             behind watermark     partition  offset")?;
    }
    for (t, host, reason, wm, partition, offset) in late.iter().take(top) {
        writeln!(out, "  {}  {host:<16}  {reason:<18} {}  {partition:>9}  {offset:>6}", stamp(t.0), stamp(wm.0))?;
    }
    Ok(out)
}
