//! What `/health` says about the job: is Cassandra taking its writes, and
//! is the job keeping up with the topic?
//!
//! The run loop reports what happens (a write or ping that worked, one that
//! failed, the records still unread); [`JobHealth::report`] turns that into
//! the answer. A store that fails only briefly (a Cassandra node restarting)
//! does not flip health: it must fail for `job.health_failing_after` first,
//! the same rule the fan-out agent applies to its sinks.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use clickstream_telemetry::Health;

/// Shared between the run loop and the metrics endpoint.
pub struct JobHealth {
    state: Mutex<State>,
    failing_after: Duration,
    max_unread: u64,
}

#[derive(Default)]
struct State {
    /// The last write or ping Cassandra answered.
    answered_at: Option<Instant>,
    /// The last write or ping, answered or not.
    contacted_at: Option<Instant>,
    /// Since when, and why, every write or ping has failed.
    failing: Option<(Instant, String)>,
    /// Records of the topic the job has not been handed yet (all partitions).
    unread: Option<u64>,
}

impl JobHealth {
    /// Unhealthy when Cassandra has failed for `failing_after`, or when more
    /// than `max_unread` records wait to be read.
    pub fn new(failing_after: Duration, max_unread: u64) -> JobHealth {
        JobHealth { state: Mutex::new(State::default()), failing_after, max_unread }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cassandra answered a write or a ping.
    pub fn store_answered(&self) {
        let mut s = self.state();
        s.answered_at = Some(Instant::now());
        s.contacted_at = s.answered_at;
        s.failing = None;
    }

    /// A write or ping failed with `error`.
    pub fn store_failed(&self, error: &str) {
        let mut s = self.state();
        let since = s.failing.as_ref().map_or_else(Instant::now, |(t, _)| *t);
        s.failing = Some((since, error.to_string()));
        s.contacted_at = Some(Instant::now());
    }

    /// How long ago Cassandra was last written to or pinged (`None`: never).
    pub fn store_quiet_for(&self) -> Option<Duration> {
        self.state().contacted_at.map(|t| t.elapsed())
    }

    /// Records not yet handed to the job, summed over its partitions.
    pub fn set_unread(&self, unread: u64) {
        self.state().unread = Some(unread);
    }

    /// The answer of `/health` now.
    pub fn report(&self) -> Health {
        let s = self.state();
        let mut ok = true;
        let store = match (&s.failing, s.answered_at) {
            (Some((since, error)), _) => {
                let t = since.elapsed().as_secs();
                if since.elapsed() >= self.failing_after {
                    ok = false;
                    format!("failing for {t} s: {error}")
                } else {
                    format!("failing for {t} s (unhealthy after {} s): {error}", self.failing_after.as_secs())
                }
            }
            (None, Some(at)) => format!("ok: answered {} s ago", at.elapsed().as_secs()),
            (None, None) => {
                ok = false;
                "starting: no write or ping answered yet".to_string()
            }
        };
        let unread = match s.unread {
            Some(n) if n > self.max_unread => {
                ok = false;
                format!("{n} records not yet read, over the bound of {}", self.max_unread)
            }
            Some(n) => format!("{n} records not yet read (bound {})", self.max_unread),
            None => "not known yet (librdkafka statistics come every few seconds)".to_string(),
        };
        Health { ok, details: vec![("cassandra".into(), store), ("unread".into(), unread)] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(h: &Health, key: &str) -> String {
        h.details.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap()
    }

    #[test]
    fn starting_is_unhealthy_until_cassandra_answers() {
        let h = JobHealth::new(Duration::from_secs(60), 10);
        assert!(!h.report().ok);
        assert!(detail(&h.report(), "cassandra").starts_with("starting"));
        h.store_answered();
        h.set_unread(10);
        let r = h.report();
        assert!(r.ok, "{:?}", r.details);
        assert!(detail(&r, "cassandra").starts_with("ok: answered"));
    }

    #[test]
    fn a_failing_store_turns_unhealthy_only_after_the_grace_period() {
        let h = JobHealth::new(Duration::from_millis(50), 10);
        h.store_answered();
        h.store_failed("no host answered");
        let r = h.report();
        assert!(r.ok, "a short failure is tolerated: {:?}", r.details);
        assert!(detail(&r, "cassandra").contains("unhealthy after"));
        std::thread::sleep(Duration::from_millis(60));
        h.store_failed("still no host");
        let r = h.report();
        assert!(!r.ok);
        assert!(detail(&r, "cassandra").starts_with("failing for 0 s: still no host"), "{:?}", r.details);
        h.store_answered();
        assert!(h.report().ok, "back as soon as it answers");
    }

    #[test]
    fn unread_records_over_the_bound_are_unhealthy() {
        let h = JobHealth::new(Duration::from_secs(60), 100);
        h.store_answered();
        h.set_unread(101);
        let r = h.report();
        assert!(!r.ok);
        assert_eq!(detail(&r, "unread"), "101 records not yet read, over the bound of 100");
    }
}
