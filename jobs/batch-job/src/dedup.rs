//! Deduplication by event id.
//!
//! Transport is at-least-once, so the master copy may hold an event several
//! times, always with the same 128-bit id. Because the same line always has
//! the same event time, all copies of an event sit in the same hour
//! partition: one set per hour is enough, and it is dropped as soon as the
//! hour's last file is counted, so memory follows the busiest hour, not the
//! day (about 17 MB per million events in that hour).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Event ids are XXH3-128 hashes already: folding the two halves is a
/// perfectly good table hash, and much cheaper than SipHash.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for u128 keys; kept correct for any other use.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }
}

/// The ids seen in one hour.
#[derive(Default)]
pub struct IdSet(HashSet<u128, BuildHasherDefault<IdHasher>>);

impl IdSet {
    /// `true` the first time `id` is seen.
    #[inline]
    pub fn first_sighting(&mut self, id: u128) -> bool {
        self.0.insert(id)
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no id was seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_id_once() {
        let mut s = IdSet::default();
        assert!(s.first_sighting(7));
        assert!(!s.first_sighting(7));
        assert!(s.first_sighting(7 << 64));
        assert_eq!(s.len(), 2);
    }
}
