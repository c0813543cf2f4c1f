//! Exact visitor counting: every distinct visitor key gets a small number.
//!
//! Keys are interned ([`crate::intern`]), so unique-visitor counts are exact
//! rather than estimated; memory grows with distinct visitors, not with
//! requests. Each visitor also carries a 24-bit mask of the hours it was seen
//! in, which makes the hourly unique-visitor count one bit test per request.
//! The visitor's number is what the per-server and per-category counts key
//! on, and the day's keys become its visitor set (`daily_visitors`) as
//! 128-bit hashes.

use xxhash_rust::xxh3::xxh3_128;

use crate::intern::Interner;

/// The visitors of one day.
#[derive(Default)]
pub struct Visitors {
    keys: Interner,
    hour_masks: Vec<u32>,
}

/// What one request told about its visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    /// The visitor's number within the day.
    pub visitor: u32,
    /// Whether this is the visitor's first request in that hour.
    pub first_in_hour: bool,
}

impl Visitors {
    /// Records a request of `key` in `hour`.
    #[inline]
    pub fn visit(&mut self, key: &[u8], hour: u8) -> Visit {
        let (visitor, new) = self.keys.intern(key);
        if new {
            self.hour_masks.push(0);
        }
        let bit = 1u32 << hour;
        let mask = &mut self.hour_masks[visitor as usize];
        let first_in_hour = *mask & bit == 0;
        *mask |= bit;
        Visit { visitor, first_in_hour }
    }

    /// Distinct visitors so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// All keys (tests and diagnostics).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter()
    }

    /// The day's visitor set: XXH3-128 of every key, sorted. Sets of days
    /// union into the exact unique visitors of any range of days, which
    /// daily counts cannot give (a visitor of Monday and Tuesday is one).
    pub fn hashes(&self) -> Vec<[u8; 16]> {
        let mut out: Vec<[u8; 16]> = self.keys.iter().map(|k| xxh3_128(k).to_be_bytes()).collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_counts_per_day_and_hour() {
        let mut v = Visitors::default();
        assert_eq!(v.visit(b"1.2.3.4", 0), Visit { visitor: 0, first_in_hour: true });
        assert!(!v.visit(b"1.2.3.4", 0).first_in_hour);
        assert!(v.visit(b"1.2.3.4", 5).first_in_hour);
        assert_eq!(v.visit(b"1.2.3.5", 5), Visit { visitor: 1, first_in_hour: true });
        for i in 0..10_000u32 {
            v.visit(format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255).as_bytes(), 23);
        }
        assert_eq!(v.len(), 10_002);
        assert_eq!(v.keys().next(), Some(&b"1.2.3.4"[..]));
        let hashes = v.hashes();
        assert_eq!(hashes.len(), 10_002);
        assert!(hashes.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(hashes.contains(&xxh3_128(b"1.2.3.5").to_be_bytes()));
    }
}
