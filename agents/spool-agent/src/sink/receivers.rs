//! Receiver selection: failover by priority, round robin or random, skipping
//! receivers that are backing off after a failure.

use std::time::{Duration, Instant};

use clickstream_avro_ipc::client::FlumeClient;
use rand::Rng;

use crate::config::{Receiver, Selector};

/// One receiver's connection and health.
pub struct ReceiverState {
    /// Its configuration.
    pub cfg: Receiver,
    /// The open connection, if any.
    pub client: Option<FlumeClient>,
    failures: u32,
    retry_at: Option<Instant>,
    /// The last request sent, answered or not.
    contacted_at: Option<Instant>,
    /// The last request answered OK.
    answered_at: Option<Instant>,
    /// Since when, and why, every request has failed.
    failing: Option<(Instant, String)>,
}

/// What `/health` says about one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverHealth {
    /// `host:port` as configured.
    pub address: String,
    /// Its last request did not fail (or none was sent yet).
    pub up: bool,
    /// Why, in words: when it last answered, or since when it fails and why.
    pub detail: String,
}

/// All receivers and the selection policy.
pub struct Receivers {
    states: Vec<ReceiverState>,
    selector: Selector,
    next: usize,
    backoff_initial: Duration,
    backoff_max: Duration,
}

impl Receivers {
    /// Receivers sorted by priority (highest first).
    pub fn new(mut cfgs: Vec<Receiver>, selector: Selector, backoff_initial: Duration, backoff_max: Duration) -> Receivers {
        cfgs.sort_by_key(|c| std::cmp::Reverse(c.priority));
        let states = cfgs
            .into_iter()
            .map(|cfg| ReceiverState { cfg, client: None, failures: 0, retry_at: None, contacted_at: None, answered_at: None, failing: None })
            .collect();
        Receivers { states, selector, next: 0, backoff_initial, backoff_max }
    }

    fn usable(&self, i: usize, now: Instant) -> bool {
        self.states[i].retry_at.is_none_or(|t| t <= now)
    }

    /// The receiver to try next, or how long until one is usable.
    pub fn pick(&mut self) -> Result<usize, Duration> {
        let now = Instant::now();
        let usable: Vec<usize> = (0..self.states.len()).filter(|&i| self.usable(i, now)).collect();
        if usable.is_empty() {
            let soonest = self.states.iter().filter_map(|s| s.retry_at).min().unwrap_or(now);
            return Err(soonest.saturating_duration_since(now));
        }
        Ok(match self.selector {
            Selector::Failover => usable[0],
            Selector::RoundRobin => {
                let pick = usable.iter().copied().find(|&i| i >= self.next).unwrap_or(usable[0]);
                self.next = pick + 1;
                pick
            }
            Selector::Random => usable[rand::rng().random_range(0..usable.len())],
        })
    }

    /// Mutable access to one receiver.
    pub fn get(&mut self, i: usize) -> &mut ReceiverState {
        &mut self.states[i]
    }

    /// The receiver answered OK.
    pub fn succeeded(&mut self, i: usize) {
        let s = &mut self.states[i];
        s.failures = 0;
        s.retry_at = None;
        s.answered_at = Some(Instant::now());
        s.contacted_at = s.answered_at;
        s.failing = None;
    }

    /// The receiver failed with `error`: drop its connection and back off
    /// exponentially.
    pub fn failed(&mut self, i: usize, error: &str) -> Duration {
        let s = &mut self.states[i];
        let now = Instant::now();
        s.failing = Some((s.failing.as_ref().map_or(now, |(since, _)| *since), error.to_string()));
        s.contacted_at = Some(now);
        s.client = None;
        s.failures = s.failures.saturating_add(1);
        let factor = 1u32 << (s.failures - 1).min(16);
        let wait = self.backoff_initial.saturating_mul(factor).min(self.backoff_max);
        s.retry_at = Some(Instant::now() + wait);
        wait
    }

    /// Receivers not asked anything for `interval` and not backing off: the
    /// ones an idle forwarder should probe, so that `/health` stays true
    /// while there is nothing to send.
    pub fn due_for_probe(&self, interval: Duration) -> Vec<usize> {
        let now = Instant::now();
        (0..self.states.len())
            .filter(|&i| self.usable(i, now))
            .filter(|&i| self.states[i].contacted_at.is_none_or(|t| now.duration_since(t) >= interval))
            .collect()
    }

    /// Every receiver's state, for metrics and `/health`.
    pub fn health(&self) -> Vec<ReceiverHealth> {
        let now = Instant::now();
        let ago = |t: Instant| now.duration_since(t).as_secs();
        self.states
            .iter()
            .map(|s| {
                let detail = match (&s.failing, s.answered_at) {
                    (Some((since, error)), _) => {
                        let retry = s.retry_at.map_or(0, |t| t.saturating_duration_since(now).as_secs());
                        format!("unreachable for {} s (next try in {retry} s): {error}", ago(*since))
                    }
                    (None, Some(at)) => format!("up: answered {} s ago", ago(at)),
                    (None, None) => "not contacted yet".to_string(),
                };
                ReceiverHealth { address: s.cfg.address.clone(), up: s.failing.is_none(), detail }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(addr: &str, priority: i32) -> Receiver {
        Receiver { address: addr.into(), priority, tls: None }
    }

    fn addr(rs: &mut Receivers) -> String {
        let i = rs.pick().unwrap();
        rs.get(i).cfg.address.clone()
    }

    #[test]
    fn failover_prefers_priority_and_backs_off() {
        let ms = Duration::from_millis;
        let mut rs = Receivers::new(vec![r("low", 1), r("high", 5)], Selector::Failover, ms(50), ms(200));
        assert_eq!(addr(&mut rs), "high");
        assert_eq!(rs.failed(0, "refused"), ms(50));
        assert_eq!(addr(&mut rs), "low");
        assert_eq!(rs.failed(1, "refused"), ms(50));
        assert!(rs.pick().is_err(), "all backing off");
        assert_eq!(rs.failed(0, "refused"), ms(100), "doubles");
        assert_eq!(rs.failed(0, "refused"), ms(200));
        assert_eq!(rs.failed(0, "refused"), ms(200), "capped");
        std::thread::sleep(ms(60));
        assert_eq!(addr(&mut rs), "low");
        rs.succeeded(1);
        let h = rs.health();
        assert!(h[1].up && h[1].detail.starts_with("up: answered 0 s ago"), "{h:?}");
        assert!(!h[0].up && h[0].detail.starts_with("unreachable for 0 s") && h[0].detail.ends_with(": refused"), "{h:?}");
    }

    #[test]
    fn round_robin_rotates() {
        let mut rs = Receivers::new(vec![r("a", 0), r("b", 0), r("c", 0)], Selector::RoundRobin, Duration::from_secs(1), Duration::from_secs(1));
        let picks: Vec<usize> = (0..6).map(|_| rs.pick().unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        rs.failed(1, "refused");
        let picks: Vec<usize> = (0..4).map(|_| rs.pick().unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 0, 2]);
    }

    #[test]
    fn idle_receivers_are_due_for_a_probe_unless_backing_off() {
        let ms = Duration::from_millis;
        let mut rs = Receivers::new(vec![r("a", 0), r("b", 0)], Selector::Failover, ms(50), ms(50));
        assert_eq!(rs.due_for_probe(ms(100)), vec![0, 1], "never contacted");
        assert_eq!(rs.health()[0].detail, "not contacted yet");
        assert!(rs.health()[0].up);
        rs.succeeded(0);
        rs.failed(1, "connection refused");
        assert!(rs.due_for_probe(ms(100)).is_empty(), "a answered just now, b backs off");
        std::thread::sleep(ms(110));
        assert_eq!(rs.due_for_probe(ms(100)), vec![0, 1], "quiet for the interval, b's backoff over");
        assert!(!rs.health()[1].up, "b stays down until it answers");
    }
}
