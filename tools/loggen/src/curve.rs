//! When normal traffic arrives: a day/night curve and the slot clock.
//!
//! The base traffic is a fixed number of *slots* (one output line each) laid
//! over the span so that their density follows the curve. Slot `i` is placed
//! at the inverse of the cumulative curve at `(i + u) / slots` with `u`
//! uniform in `[0, 1)` (stratified sampling): this gives exactly the requested
//! number of lines, keeps times non-decreasing by construction, stays inside
//! the span, and needs O(1) memory, walking the span minute by minute.

use crate::time::UnixSeconds;

/// Relative traffic per local hour (value at the middle of the hour): a web
/// shop is quiet at night, busy at lunch and busiest in the evening.
pub const HOURLY: [f64; 24] = [
    0.45, 0.30, 0.20, 0.15, 0.12, 0.15, 0.25, 0.45, 0.70, 0.85, 0.95, 1.00, //
    1.05, 1.00, 0.95, 0.95, 1.00, 1.10, 1.25, 1.45, 1.55, 1.40, 1.05, 0.70,
];

/// Traffic multiplier on Saturdays and Sundays (local time).
pub const WEEKEND: f64 = 1.15;

/// Upper bound of the busiest minute's rate over the mean rate (curve peak
/// over curve mean, weekend factor, hourly noise), used to size checks.
pub const PEAK_TO_MEAN: f64 = 2.6;

/// Length of one cell of the walk, in seconds.
const CELL: i64 = 60;

/// Deterministic noise in `[0.9, 1.1)` for a local hour, so consecutive days
/// are not carbon copies of each other (splitmix64 of seed and hour).
fn hour_noise(seed: u64, hour: i64) -> f64 {
    let mut z = seed ^ (hour as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    0.9 + 0.2 * ((z >> 11) as f64 / (1u64 << 53) as f64)
}

/// Traffic density (relative requests per second) at UTC instant `t`.
pub fn density(t: UnixSeconds, offset_secs: i64, seed: u64) -> f64 {
    let local = t + offset_secs;
    let day = local.div_euclid(86_400);
    let sec = local.rem_euclid(86_400);
    // Anchors sit at the middle of each hour; interpolate linearly between them.
    let x = sec as f64 / 3600.0 - 0.5;
    let lo = x.floor();
    let frac = x - lo;
    let i = (lo as i64).rem_euclid(24) as usize;
    let j = (i + 1) % 24;
    let base = HOURLY[i] * (1.0 - frac) + HOURLY[j] * frac;
    // 1970-01-01 was a Thursday: Monday = 0 .. Sunday = 6.
    let weekday = (day + 3).rem_euclid(7);
    let weekend = if weekday >= 5 { WEEKEND } else { 1.0 };
    base * weekend * hour_noise(seed, local.div_euclid(3600))
}

/// Hands out the times of the base-traffic slots, in order.
#[derive(Clone, Debug)]
pub struct SlotClock {
    end: UnixSeconds,
    offset_secs: i64,
    seed: u64,
    slots: u64,
    next_slot: u64,
    total_weight: f64,
    cell_start: UnixSeconds,
    cell_len: i64,
    cell_weight: f64,
    cum_before: f64,
}

impl SlotClock {
    /// A clock for `slots` slots over `[start, end)`.
    pub fn new(start: UnixSeconds, end: UnixSeconds, offset_secs: i64, seed: u64, slots: u64) -> Self {
        let mut clock = SlotClock {
            end,
            offset_secs,
            seed,
            slots,
            next_slot: 0,
            total_weight: 0.0,
            cell_start: start,
            cell_len: 0,
            cell_weight: 0.0,
            cum_before: 0.0,
        };
        let mut t = start;
        let mut total = 0.0;
        while t < end {
            total += clock.weight_of_cell(t);
            t += CELL;
        }
        clock.total_weight = total;
        clock.load_cell(start);
        clock
    }

    fn weight_of_cell(&self, t: UnixSeconds) -> f64 {
        let len = CELL.min(self.end - t);
        density(t + len / 2, self.offset_secs, self.seed) * len as f64
    }

    fn load_cell(&mut self, t: UnixSeconds) {
        self.cell_start = t;
        self.cell_len = CELL.min(self.end - t).max(1);
        self.cell_weight = self.weight_of_cell(t).max(f64::MIN_POSITIVE);
    }

    /// Slots not handed out yet.
    pub fn remaining(&self) -> u64 {
        self.slots - self.next_slot
    }

    /// Time of the next slot, given its jitter `u` in `[0, 1)`; `None` when all
    /// slots are used.
    pub fn next(&mut self, u: f64) -> Option<UnixSeconds> {
        if self.next_slot >= self.slots {
            return None;
        }
        let c = (self.next_slot as f64 + u) / self.slots as f64 * self.total_weight;
        self.next_slot += 1;
        while self.cum_before + self.cell_weight <= c && self.cell_start + CELL < self.end {
            self.cum_before += self.cell_weight;
            self.load_cell(self.cell_start + CELL);
        }
        let frac = ((c - self.cum_before) / self.cell_weight).clamp(0.0, 1.0);
        let within = ((frac * self.cell_len as f64) as i64).min(self.cell_len - 1);
        Some(self.cell_start + within)
    }

    /// Expected base-traffic lines per second around the current slot.
    pub fn rate_per_sec(&self) -> f64 {
        if self.total_weight <= 0.0 {
            return 0.0;
        }
        self.slots as f64 * (self.cell_weight / self.cell_len as f64) / self.total_weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_exact_ordered_and_in_range() {
        let start = 1_795_132_800;
        let end = start + 2 * 86_400;
        let mut c = SlotClock::new(start, end, 0, 1, 10_000);
        let mut prev = start;
        let mut n = 0;
        let mut per_hour = [0u32; 24];
        let mut k = 0u64;
        while let Some(t) = c.next((k % 97) as f64 / 97.0) {
            k += 1;
            assert!(t >= prev && t < end);
            prev = t;
            n += 1;
            per_hour[((t - start) / 3600 % 24) as usize] += 1;
        }
        assert_eq!(n, 10_000);
        // Evening peak clearly above the night trough.
        assert!(per_hour[20] > 5 * per_hour[4], "{per_hour:?}");
    }

    #[test]
    fn peak_bound_holds() {
        let mean = HOURLY.iter().sum::<f64>() / 24.0;
        let peak = HOURLY.iter().cloned().fold(0.0, f64::max);
        assert!(peak / mean * WEEKEND * 1.1 <= PEAK_TO_MEAN);
    }
}
