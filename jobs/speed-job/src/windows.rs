//! Event-time window arithmetic: which windows an instant falls in.
//!
//! Windows are aligned to the epoch: a window of `size` sliding by `slide`
//! starts at every multiple of `slide` and covers `[start, start + size)`.
//! Tumbling windows are the case `slide == size`. Alignment to the epoch
//! (not to the first event) is what makes results independent of where a
//! replay starts, and lets a reader compute every `window_start` itself.

/// A window shape, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Length of a window.
    pub size: i64,
    /// Distance between consecutive window starts (divides `size`).
    pub slide: i64,
}

impl WindowSpec {
    /// A tumbling window of `size` ms.
    pub fn tumbling(size: i64) -> WindowSpec {
        WindowSpec { size, slide: size }
    }

    /// A window of `size` ms sliding by `slide` ms.
    pub fn sliding(size: i64, slide: i64) -> WindowSpec {
        debug_assert!(size > 0 && slide > 0 && size % slide == 0);
        WindowSpec { size, slide }
    }

    /// Start of the newest window containing `t`.
    pub fn last_start(&self, t: i64) -> i64 {
        t.div_euclid(self.slide) * self.slide
    }

    /// End of the newest window containing `t`: when `t` stops counting anywhere.
    pub fn last_end(&self, t: i64) -> i64 {
        self.last_start(t) + self.size
    }

    /// Starts of every window containing `t`, oldest first.
    pub fn starts(&self, t: i64) -> impl Iterator<Item = i64> {
        let last = self.last_start(t);
        let n = self.size / self.slide;
        let slide = self.slide;
        (0..n).rev().map(move |k| last - k * slide)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_windows_cover_an_instant_size_over_slide_times() {
        let w = WindowSpec::sliding(300_000, 60_000);
        let starts: Vec<i64> = w.starts(330_500).collect();
        assert_eq!(starts, vec![60_000, 120_000, 180_000, 240_000, 300_000]);
        assert!(starts.iter().all(|s| *s <= 330_500 && 330_500 < s + 300_000));
        assert_eq!(w.last_end(330_500), 600_000);
    }

    #[test]
    fn tumbling_windows_and_negative_times() {
        let w = WindowSpec::tumbling(1000);
        assert_eq!(w.starts(2_999).collect::<Vec<_>>(), vec![2_000]);
        assert_eq!(w.starts(3_000).collect::<Vec<_>>(), vec![3_000]);
        assert_eq!(w.starts(-1).collect::<Vec<_>>(), vec![-1000]);
    }
}
