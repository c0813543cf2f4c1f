//! Combines the partitions' shares of a window into the rows readers see.
//!
//! Several instances may share a topic's partitions (`kafka.assignment`),
//! and a web server's or a category's events are spread over all of them:
//! each instance writes only its partitions' shares (`server_health_parts`,
//! `category_popularity_parts`), and after every checkpoint it recomputes
//! the merged rows (`server_health`, `health_alerts`, `category_popularity`,
//! `category_top`) of the windows it touched, from every partition's share.
//! Alerts are decided here, on the combined numbers: a server's eleven
//! errors may come from eleven partitions.
//!
//! These functions are pure: the sink reads the shares and writes the
//! result, and the core's tests apply the same functions to their tables.

use std::collections::BTreeMap;

use clickstream_sketch::Hll;

use crate::rows::{HealthPart, HealthRow, PopularityPart, PopularityRow, TopRow};

/// The two kinds of windows merged across partitions. DDoS windows are
/// not merged: a client address is the Kafka key, so one partition holds
/// all of an address's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WindowKind {
    /// `server_health` (and `health_alerts`).
    Health,
    /// `category_popularity` and `category_top`.
    Popularity,
}

impl WindowKind {
    /// The `kind` column of `speed_pending_windows`.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Health => "health",
            WindowKind::Popularity => "popularity",
        }
    }

    /// The kind named `s` (as written by [`WindowKind::as_str`]).
    pub fn parse(s: &str) -> Option<WindowKind> {
        match s {
            "health" => Some(WindowKind::Health),
            "popularity" => Some(WindowKind::Popularity),
            _ => None,
        }
    }
}

/// The merged rows of one window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    /// `server_health` rows (those with `unhealthy` also go to `health_alerts`).
    pub health: Vec<HealthRow>,
    /// `category_popularity` rows.
    pub popularity: Vec<PopularityRow>,
    /// `category_top` rows.
    pub top: Vec<TopRow>,
}

/// One row per web server: the sums of its shares, the union of their
/// visitor sketches, and the alert decided on the sums. A share whose sketch
/// cannot be read (not written by this job) is left out of the union and
/// reported in the second value; its counts still add up.
pub fn health(window_start: i64, window_end: i64, parts: &[HealthPart], threshold: u64, is_final: bool) -> (Vec<HealthRow>, Vec<String>) {
    struct Sum {
        requests: u64,
        non_200: u64,
        classes: [u64; 5],
        visitors: Hll,
    }
    let mut by_host: BTreeMap<&str, Sum> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for p in parts {
        let sum = by_host.entry(p.source_host.as_str()).or_insert_with(|| Sum { requests: 0, non_200: 0, classes: [0; 5], visitors: Hll::new() });
        sum.requests += p.requests;
        sum.non_200 += p.non_200;
        for (total, n) in sum.classes.iter_mut().zip(p.classes) {
            *total += n;
        }
        match Hll::from_bytes(&p.visitors_hll) {
            Ok(h) => sum.visitors.merge(&h),
            Err(e) => unreadable.push(format!("partition {} of {} at {window_start}: {e}", p.partition, p.source_host)),
        }
    }
    let rows = by_host
        .into_iter()
        .map(|(host, s)| HealthRow {
            source_host: host.to_string(),
            window_start,
            window_end,
            requests: s.requests,
            non_200: s.non_200,
            classes: s.classes,
            visitors_hll: s.visitors.to_bytes(),
            visitors_estimate: s.visitors.estimate(),
            unhealthy: s.non_200 > threshold,
            is_final,
        })
        .collect();
    (rows, unreadable)
}

/// One row per category (the sums of its shares), and the window's top
/// `top_n` of them.
pub fn popularity(window_start: i64, window_end: i64, parts: &[PopularityPart], top_n: usize, is_final: bool) -> (Vec<PopularityRow>, Vec<TopRow>) {
    let mut by_category: BTreeMap<&str, u64> = BTreeMap::new();
    for p in parts {
        *by_category.entry(p.category.as_str()).or_default() += p.requests;
    }
    let counts: Vec<(&str, u64)> = by_category.iter().map(|(c, n)| (*c, *n)).collect();
    let top = top_rows(window_start, window_end, &counts, top_n, is_final);
    let rows = counts
        .into_iter()
        .map(|(category, requests)| PopularityRow { window_start, window_end, category: category.to_string(), requests, is_final })
        .collect();
    (rows, top)
}

/// The top `n` categories by requests, ties by name.
pub fn top_rows(start: i64, end: i64, counts: &[(&str, u64)], n: usize, is_final: bool) -> Vec<TopRow> {
    let mut sorted: Vec<(&str, u64)> = counts.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    sorted
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, (category, requests))| TopRow {
            window_start: start,
            window_end: end,
            rank: i as u32 + 1,
            category: category.to_string(),
            requests,
            is_final,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(partition: i32, host: &str, non_200: u64, clients: &[&str]) -> HealthPart {
        let mut h = Hll::new();
        for c in clients {
            h.insert(c.as_bytes());
        }
        HealthPart {
            partition,
            source_host: host.into(),
            window_start: 0,
            window_end: 300_000,
            requests: non_200 + 1,
            non_200,
            classes: [0, 1, 0, non_200, 0],
            visitors_hll: h.to_bytes(),
            is_final: true,
            progress: 0,
        }
    }

    #[test]
    fn an_alert_is_decided_on_the_sum_of_the_shares() {
        // 11 non-200s spread over three partitions: no share alone is over 10.
        let parts = [part(0, "web1", 4, &["a", "b"]), part(1, "web1", 4, &["b", "c"]), part(2, "web1", 3, &["d"]), part(0, "web2", 10, &["a"])];
        let (rows, unreadable) = health(0, 300_000, &parts, 10, true);
        assert!(unreadable.is_empty());
        assert_eq!(rows.len(), 2);
        let web1 = &rows[0];
        assert_eq!((web1.source_host.as_str(), web1.requests, web1.non_200, web1.unhealthy), ("web1", 14, 11, true));
        assert_eq!(web1.classes, [0, 3, 0, 11, 0]);
        assert_eq!(web1.visitors_estimate, 4, "the union of a,b / b,c / d");
        assert!(!rows[1].unhealthy, "exactly 10 is not over the threshold");
    }

    #[test]
    fn an_unreadable_sketch_is_reported_and_the_counts_still_add_up() {
        let mut bad = part(1, "web1", 2, &[]);
        bad.visitors_hll = vec![0xff, 1, 2];
        let (rows, unreadable) = health(0, 300_000, &[part(0, "web1", 1, &["a"]), bad], 10, false);
        assert_eq!((rows[0].requests, rows[0].visitors_estimate), (5, 1));
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    }

    #[test]
    fn popularity_sums_categories_and_ranks_ties_by_name() {
        let p = |partition, category: &str, requests| PopularityPart {
            partition,
            window_start: 0,
            window_end: 300_000,
            category: category.into(),
            requests,
            is_final: false,
            progress: 0,
        };
        let (rows, top) = popularity(0, 300_000, &[p(0, "toys", 2), p(1, "toys", 1), p(1, "books", 3), p(2, "food", 1)], 2, false);
        assert_eq!(rows.iter().map(|r| (r.category.as_str(), r.requests)).collect::<Vec<_>>(), [("books", 3), ("food", 1), ("toys", 3)]);
        assert_eq!(top.iter().map(|r| (r.rank, r.category.as_str(), r.requests)).collect::<Vec<_>>(), [(1, "books", 3), (2, "toys", 3)]);
    }
}
