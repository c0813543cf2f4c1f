//! What each sink tells `/health`: its state, set by its driver, and a
//! verdict against `agent.health_sink_failing_after`.
//!
//! States and their `/health` detail (`"sink kafka": ...`):
//! - starting: [`super::BatchSink::start`] has not succeeded yet (broker or
//!   NameNode unreachable at start-up); unhealthy at once, as the sink
//!   writes nothing.
//! - failing: batches fail since a time, with the last error; unhealthy once
//!   that lasts the bound.
//! - stalled: events wait in the channel but no batch was written for the
//!   bound (a destination that hangs without failing); unhealthy.
//! - ok: nothing waiting, or batches being written.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One sink's state, shared by its driver (writer) and `/health` (reader).
pub struct SinkHealth {
    name: &'static str,
    state: Mutex<State>,
}

struct State {
    /// When the sink was wired (its start-up began).
    created: Instant,
    /// Set once [`super::BatchSink::start`] succeeded.
    started: Option<Instant>,
    /// Failed start-up attempts and the last error.
    start_attempts: u32,
    start_error: Option<String>,
    /// Where the sink writes (known once built).
    target: String,
    /// Batches fail since then; the last error. Cleared by a written batch.
    failing: Option<(Instant, String)>,
    /// Last time the sink was not behind: a batch written, or nothing waiting.
    progress: Instant,
}

/// A sink's line in `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether this sink lets `/health` say ok.
    pub ok: bool,
    /// State and reason, for the details.
    pub detail: String,
}

impl SinkHealth {
    /// A sink about to start.
    pub fn new(name: &'static str) -> SinkHealth {
        let now = Instant::now();
        SinkHealth {
            name,
            state: Mutex::new(State {
                created: now,
                started: None,
                start_attempts: 0,
                start_error: None,
                target: String::new(),
                failing: None,
                progress: now,
            }),
        }
    }

    /// The sink's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Names the destination (for the details).
    pub fn set_target(&self, target: String) {
        self.lock().target = target;
    }

    /// A start-up attempt failed with `error`.
    pub fn start_failed(&self, error: &str) {
        let mut s = self.lock();
        s.start_attempts += 1;
        s.start_error = Some(error.to_string());
    }

    /// Start-up succeeded: the sink drains its channel from now on.
    pub fn started(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        s.started = Some(now);
        s.progress = now;
    }

    /// A batch failed with `error`.
    pub fn batch_failed(&self, error: &str) {
        let mut s = self.lock();
        let since = s.failing.as_ref().map_or_else(Instant::now, |f| f.0);
        s.failing = Some((since, error.to_string()));
    }

    /// A batch was written durably.
    pub fn batch_written(&self) {
        let mut s = self.lock();
        s.failing = None;
        s.progress = Instant::now();
    }

    /// Nothing waits in the channel.
    pub fn idle(&self) {
        self.lock().progress = Instant::now();
    }

    /// The verdict now, with `waiting` events in the sink's channel.
    pub fn verdict(&self, waiting: u64, bound: Duration) -> Verdict {
        self.verdict_at(Instant::now(), waiting, bound)
    }

    fn verdict_at(&self, now: Instant, waiting: u64, bound: Duration) -> Verdict {
        let s = self.lock();
        let secs = |since: Instant| now.saturating_duration_since(since).as_secs();
        let bound_s = bound.as_secs();
        let Some(_) = s.started else {
            let detail = match &s.start_error {
                None => format!("starting for {} s, {waiting} events waiting", secs(s.created)),
                Some(e) => format!("starting for {} s, {waiting} events waiting; {} failed attempts, last: {e}", secs(s.created), s.start_attempts),
            };
            return Verdict { ok: false, detail };
        };
        if let Some((since, error)) = &s.failing {
            let failing = now.saturating_duration_since(*since);
            return if failing >= bound {
                Verdict { ok: false, detail: format!("failing for {} s, {waiting} events waiting: {error}", failing.as_secs()) }
            } else {
                Verdict {
                    ok: true,
                    detail: format!("failing for {} s (unhealthy after {bound_s} s), {waiting} events waiting: {error}", failing.as_secs()),
                }
            };
        }
        let behind = now.saturating_duration_since(s.progress);
        if waiting > 0 && behind >= bound {
            return Verdict { ok: false, detail: format!("stalled: {waiting} events waiting, no batch written for {} s", behind.as_secs()) };
        }
        let target = if s.target.is_empty() { String::new() } else { format!(" to {}", s.target) };
        Verdict { ok: true, detail: format!("ok: writing{target}, {waiting} events waiting") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(60);

    #[test]
    fn each_state_and_its_verdict() {
        let h = SinkHealth::new("kafka");
        let t0 = Instant::now();
        let v = h.verdict_at(t0, 5, BOUND);
        assert!(!v.ok && v.detail.starts_with("starting for 0 s, 5 events waiting"), "{v:?}");
        h.start_failed("no broker at 127.0.0.1:1");
        h.start_failed("no broker at 127.0.0.1:2");
        let v = h.verdict_at(t0 + Duration::from_secs(12), 5, BOUND);
        assert!(!v.ok, "{v:?}");
        assert!(v.detail.ends_with("2 failed attempts, last: no broker at 127.0.0.1:2"), "{v:?}");

        h.set_target("Kafka at b:9092".into());
        h.started();
        let t1 = Instant::now();
        assert_eq!(h.verdict_at(t1, 0, BOUND), Verdict { ok: true, detail: "ok: writing to Kafka at b:9092, 0 events waiting".into() });

        h.batch_failed("delivery timed out");
        h.batch_failed("broker transport failure");
        let v = h.verdict_at(t1 + Duration::from_secs(30), 7, BOUND);
        assert!(v.ok && v.detail.contains("(unhealthy after 60 s)"), "failing within the bound is still ok: {v:?}");
        let v = h.verdict_at(t1 + Duration::from_secs(75), 7, BOUND);
        assert!(!v.ok, "{v:?}");
        assert!(
            v.detail.starts_with("failing for 7") && v.detail.ends_with(": broker transport failure"),
            "since the first failure, last error: {v:?}"
        );

        h.batch_written();
        let t2 = Instant::now();
        assert!(h.verdict_at(t2 + Duration::from_secs(59), 7, BOUND).ok, "a written batch clears failing");
        let v = h.verdict_at(t2 + Duration::from_secs(61), 7, BOUND);
        assert_eq!(v, Verdict { ok: false, detail: "stalled: 7 events waiting, no batch written for 61 s".into() });
        assert!(h.verdict_at(t2 + Duration::from_secs(61), 0, BOUND).ok, "nothing waiting is not stalled");
    }
}
