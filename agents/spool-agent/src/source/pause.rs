//! How the source waits while the channel refuses its puts: one pause is
//! one log line and one `source_paused` increment, however many attempts it
//! takes, and the attempts are spaced out (a disk below its floor answers at
//! once, so retrying without a wait would spin a core).

use std::time::{Duration, Instant};

use clickstream_channel::ChannelError;

use crate::metrics::pause_reason;

/// First wait between attempts refused by the disk floor or an error.
const FIRST_WAIT: Duration = Duration::from_millis(50);
/// Longest wait: how late the source notices that space came back.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// The state of one put that the channel keeps refusing.
#[derive(Debug, Default)]
pub struct Pause {
    current: Option<(&'static str, Instant)>,
    wait: Duration,
}

/// What to do after a refused attempt.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// A new pause began (or its reason changed): log it and count it.
    pub started: Option<&'static str>,
    /// Sleep this long before the next attempt (zero: the put itself waited).
    pub wait: Duration,
}

impl Pause {
    /// Records a refused put.
    pub fn refused(&mut self, e: &ChannelError) -> Refusal {
        let reason = pause_reason(e);
        let started = match self.current {
            Some((r, _)) if r == reason => None,
            _ => {
                self.current = Some((reason, Instant::now()));
                self.wait = FIRST_WAIT;
                Some(reason)
            }
        };
        // A full channel already waited inside `put` (on a condition variable
        // woken by the sink's commits); anything else answers at once.
        let wait = if matches!(e, ChannelError::Full { .. }) {
            Duration::ZERO
        } else {
            let w = self.wait;
            self.wait = (self.wait * 2).min(MAX_WAIT);
            w
        };
        Refusal { started, wait }
    }

    /// The put went through: the reason and length of the pause that ended, if any.
    pub fn ended(&mut self) -> Option<(&'static str, Duration)> {
        self.current.take().map(|(reason, since)| (reason, since.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor() -> ChannelError {
        ChannelError::DiskFloor { dir: "/x".into(), available: 1, floor: 2 }
    }

    #[test]
    fn one_pause_is_counted_once_and_backs_off_to_a_second() {
        let mut p = Pause::default();
        assert_eq!(p.ended(), None, "no pause, nothing ended");
        let first = p.refused(&floor());
        assert_eq!(first, Refusal { started: Some("disk_floor"), wait: FIRST_WAIT });
        let waits: Vec<Duration> = (0..10).map(|_| p.refused(&floor())).inspect(|r| assert_eq!(r.started, None)).map(|r| r.wait).collect();
        assert_eq!(waits[0], FIRST_WAIT * 2);
        assert_eq!(*waits.last().unwrap(), MAX_WAIT);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        // The reason changes: a new pause.
        let full = ChannelError::Full { events: 1, bytes: 1 };
        assert_eq!(p.refused(&full), Refusal { started: Some("channel_full"), wait: Duration::ZERO });
        assert_eq!(p.ended().map(|(r, _)| r), Some("channel_full"));
        // After a success, the next refusal is a new pause starting short again.
        assert_eq!(p.refused(&floor()), Refusal { started: Some("disk_floor"), wait: FIRST_WAIT });
    }
}
