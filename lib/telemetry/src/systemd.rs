//! The systemd service protocol (`Type=notify`, `WatchdogSec=`), shared by
//! every long-running binary so the units can rely on the same behaviour:
//!
//! - [`Service::ready`] sends `READY=1` once the binary serves (its listeners
//!   are bound and its loops started), so `systemctl start` and units ordered
//!   `After=` it wait for a process that works, not one that merely exists;
//! - the watchdog sends `WATCHDOG=1` only while the binary's main loop calls
//!   [`Progress::beat`]: a loop stuck on a lock or in a blocking call stops
//!   the pings and systemd restarts the service after `WatchdogSec=`, which
//!   a timer that pings unconditionally would never let happen;
//! - [`Service::stopping`] sends `STOPPING=1` when the drain begins, so
//!   `systemctl status` shows "deactivating" instead of a running service.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Handed to a main loop, which calls [`Progress::beat`] once per iteration.
#[derive(Clone, Debug)]
pub struct Progress {
    start: Instant,
    /// Milliseconds after `start` of the last beat.
    last_ms: Arc<AtomicU64>,
}

impl Progress {
    fn new() -> Progress {
        Progress { start: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }

    /// Records that the main loop went round once. Cheap (one atomic store):
    /// call it every iteration, including idle ones (a poll that timed out).
    pub fn beat(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn since_last_beat(&self) -> Duration {
        self.start.elapsed().saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// The binary's side of the systemd service protocol.
#[derive(Debug)]
pub struct Service {
    progress: Progress,
    /// `WatchdogSec=` as systemd passed it (`WATCHDOG_USEC`), if enabled for this process.
    watchdog: Option<Duration>,
}

impl Service {
    /// Reads what systemd passed (`NOTIFY_SOCKET`, `WATCHDOG_USEC`,
    /// `WATCHDOG_PID`). The environment is left as it is: child processes
    /// are not expected, and tests read it back.
    pub fn from_env() -> Service {
        let mut usec = 0;
        let watchdog = sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec));
        Service { progress: Progress::new(), watchdog }
    }

    /// The handle the main loop beats with.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Sends `READY=1` with `status` (shown by `systemctl status`) and, when
    /// the unit has `WatchdogSec=`, starts the watchdog task. Call it once the
    /// binary serves. The task ends with the runtime.
    pub fn ready(&self, status: &str) {
        // The first beat: the loop has not gone round yet, but it was just started.
        self.progress.beat();
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
        if let Some(timeout) = self.watchdog {
            tracing::info!(?timeout, "systemd watchdog enabled: pinged while the main loop makes progress");
            tokio::spawn(watchdog(self.progress.clone(), timeout));
        }
    }

    /// Sends `STOPPING=1` with `status`: the drain began.
    pub fn stopping(&self, status: &str) {
        send(&[NotifyState::Stopping, NotifyState::Status(status)]);
    }
}

/// Pings four times per `timeout` while the last beat is at most half of
/// `timeout` old: a main loop may be idle for up to `timeout / 2` between
/// beats, and systemd still gets at least one ping per `timeout` from a
/// loop that goes round.
async fn watchdog(progress: Progress, timeout: Duration) {
    let stalled_after = timeout / 2;
    let mut tick = tokio::time::interval(timeout / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tick.tick().await;
        let idle = progress.since_last_beat();
        if idle <= stalled_after {
            send(&[NotifyState::Watchdog]);
            warned = false;
        } else if !warned {
            tracing::error!(
                ?idle,
                ?timeout,
                "main loop made no progress: withholding watchdog pings, systemd restarts the service after WatchdogSec"
            );
            warned = true;
        }
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        // Not fatal: the service works; systemd then times the start out,
        // which says more than a process exiting here would.
        tracing::warn!(error = %e, socket = ?std::env::var_os("NOTIFY_SOCKET"), "sending a notification to systemd failed");
    }
}
