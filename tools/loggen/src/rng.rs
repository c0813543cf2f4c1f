//! Portable random numbers.
//!
//! Why not `rand`'s distributions: their algorithms may change between
//! versions, and some (`usize` ranges, `ln`/`powf` based samplers) can differ
//! between platforms. Here every draw is built only from
//! [`ChaCha8Rng::next_u64`] with integer arithmetic (plus exact IEEE-754
//! operations), so a seed gives the same bytes on every machine for as long as
//! the ChaCha8 stream itself is stable, which its specification guarantees.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Independent random streams, one per concern.
///
/// Separate streams keep concerns from perturbing each other: the visitor
/// population of seed 42 is the same whatever the line count or the injected
/// scenarios, which makes output easier to reason about when options change.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// Visitor addresses, user agents, user names.
    Population = 1,
    /// Browsing behaviour: sessions, pages, statuses, sizes.
    Traffic = 2,
    /// Arrival-time jitter of the base traffic.
    Timing = 3,
    /// Which slots become invalid / duplicate / late / displaced lines.
    Selection = 4,
    /// Content of injected lines (DDoS, storms, invalid lines).
    Injection = 5,
}

/// A seeded random source with the handful of draws the generator needs.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    /// The stream `stream` of seed `seed`.
    pub(crate) fn new(seed: u64, stream: Stream) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream as u64);
        Rng { inner }
    }

    /// 64 uniformly random bits.
    #[inline]
    pub(crate) fn bits(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias
    /// (Lemire's widening-multiply method with rejection).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.bits() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform index into a slice of length `len` (`len > 0`).
    #[inline]
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform integer in the inclusive range `lo..=hi`.
    #[inline]
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// Uniform `f64` in `[0, 1)` with 53 random bits (exact, portable).
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.bits() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// `true` with probability `num / den`, in integers.
    #[inline]
    pub(crate) fn ratio(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A uniformly chosen element.
    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Index drawn with the given integer weights (at least one non-zero).
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w as u64 {
                return i;
            }
            x -= w as u64;
        }
        unreachable!("x < total")
    }

    /// A value from a `(value, weight)` table (at least one non-zero weight).
    pub(crate) fn choose<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u64 = table.iter().map(|t| t.1 as u64).sum();
        let mut x = self.below(total);
        for &(v, w) in table {
            if x < w as u64 {
                return v;
            }
            x -= w as u64;
        }
        unreachable!("x < total")
    }
}

/// Cumulative integer weights for repeated weighted draws over a fixed table
/// (binary search instead of a linear scan).
#[derive(Clone, Debug)]
pub(crate) struct Cumulative {
    ends: Vec<u64>,
}

impl Cumulative {
    /// Table from integer weights (at least one non-zero).
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut acc = 0u64;
        let ends = weights
            .into_iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect::<Vec<_>>();
        assert!(acc > 0, "weights must not all be zero");
        Cumulative { ends }
    }

    /// A Zipf(s = 1) table over `n` ranks: rank `k` (0-based) has weight
    /// proportional to `1 / (k + 1)`, computed in integers so it is exact.
    pub(crate) fn zipf(n: usize) -> Self {
        const SCALE: u64 = 1 << 32;
        Cumulative::new((0..n as u64).map(|k| SCALE / (k + 1)))
    }

    /// Draw an index.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let x = rng.below(*self.ends.last().expect("non-empty"));
        self.ends.partition_point(|&end| end <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, Stream::Traffic).bits()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut t = Rng::new(7, Stream::Traffic);
        let mut p = Rng::new(7, Stream::Population);
        assert_ne!(t.bits(), p.bits());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(1, Stream::Traffic);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = r.below(7);
            assert!(x < 7);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn zipf_is_skewed() {
        let z = Cumulative::zipf(10);
        let mut r = Rng::new(3, Stream::Traffic);
        let mut counts = [0u32; 10];
        for _ in 0..20_000 {
            counts[z.sample(&mut r)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[4] && counts[4] > counts[9]);
        // Rank 1 has weight 1, rank 10 has weight 1/10.
        let ratio = counts[0] as f64 / counts[9] as f64;
        assert!((7.0..14.0).contains(&ratio), "ratio {ratio}");
    }
}
