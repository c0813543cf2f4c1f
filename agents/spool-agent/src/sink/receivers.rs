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
        let states = cfgs.into_iter().map(|cfg| ReceiverState { cfg, client: None, failures: 0, retry_at: None }).collect();
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
    }

    /// The receiver failed: drop its connection and back off exponentially.
    pub fn failed(&mut self, i: usize) -> Duration {
        let s = &mut self.states[i];
        s.client = None;
        s.failures = s.failures.saturating_add(1);
        let factor = 1u32 << (s.failures - 1).min(16);
        let wait = self.backoff_initial.saturating_mul(factor).min(self.backoff_max);
        s.retry_at = Some(Instant::now() + wait);
        wait
    }

    /// `(address, usable now)` for every receiver, for metrics and health.
    pub fn health(&self) -> Vec<(String, bool)> {
        let now = Instant::now();
        (0..self.states.len()).map(|i| (self.states[i].cfg.address.clone(), self.usable(i, now))).collect()
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
        assert_eq!(rs.failed(0), ms(50));
        assert_eq!(addr(&mut rs), "low");
        assert_eq!(rs.failed(1), ms(50));
        assert!(rs.pick().is_err(), "all backing off");
        assert_eq!(rs.failed(0), ms(100), "doubles");
        assert_eq!(rs.failed(0), ms(200));
        assert_eq!(rs.failed(0), ms(200), "capped");
        std::thread::sleep(ms(60));
        assert_eq!(addr(&mut rs), "low");
        rs.succeeded(1);
        assert_eq!(rs.health()[1], ("low".to_string(), true));
    }

    #[test]
    fn round_robin_rotates() {
        let mut rs = Receivers::new(vec![r("a", 0), r("b", 0), r("c", 0)], Selector::RoundRobin, Duration::from_secs(1), Duration::from_secs(1));
        let picks: Vec<usize> = (0..6).map(|_| rs.pick().unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        rs.failed(1);
        let picks: Vec<usize> = (0..4).map(|_| rs.pick().unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 0, 2]);
    }
}
