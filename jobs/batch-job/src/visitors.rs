//! Exact visitor counting: every distinct visitor key gets a small number.
//!
//! Keys are interned (stored once, looked up by an XXH3-64 hash and compared
//! byte for byte), so unique-visitor counts are exact rather than estimated;
//! memory grows with distinct visitors, not with requests. Each visitor also
//! carries a 24-bit mask of the hours it was seen in, which makes the hourly
//! unique-visitor count one bit test per request.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// The visitors of one day.
#[derive(Default)]
pub struct Visitors {
    table: HashTable<u32>,
    spans: Vec<(usize, u32)>,
    keys: Vec<u8>,
    hour_masks: Vec<u32>,
}

impl Visitors {
    fn key(&self, idx: u32) -> &[u8] {
        let (start, len) = self.spans[idx as usize];
        &self.keys[start..start + len as usize]
    }

    /// Records a request of `key` in `hour`; returns `true` when this is the
    /// visitor's first request in that hour.
    #[inline]
    pub fn visit(&mut self, key: &[u8], hour: u8) -> bool {
        let hash = xxh3_64(key);
        let Visitors { table, spans, keys, hour_masks } = self;
        let found = table.find(hash, |&i| {
            let (start, len) = spans[i as usize];
            &keys[start..start + len as usize] == key
        });
        let idx = match found {
            Some(&i) => i,
            None => {
                let i = spans.len() as u32;
                spans.push((keys.len(), key.len() as u32));
                keys.extend_from_slice(key);
                hour_masks.push(0);
                let (spans, keys) = (&*spans, &*keys);
                table.insert_unique(hash, i, |&j| {
                    let (start, len) = spans[j as usize];
                    xxh3_64(&keys[start..start + len as usize])
                });
                i
            }
        };
        let bit = 1u32 << hour;
        let mask = &mut hour_masks[idx as usize];
        let first = *mask & bit == 0;
        *mask |= bit;
        first
    }

    /// Distinct visitors so far.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// All keys (tests and diagnostics).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.spans.len() as u32).map(|i| self.key(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_counts_per_day_and_hour() {
        let mut v = Visitors::default();
        assert!(v.visit(b"1.2.3.4", 0));
        assert!(!v.visit(b"1.2.3.4", 0));
        assert!(v.visit(b"1.2.3.4", 5));
        assert!(v.visit(b"1.2.3.5", 5));
        for i in 0..10_000u32 {
            v.visit(format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255).as_bytes(), 23);
        }
        assert_eq!(v.len(), 10_002);
        assert_eq!(v.keys().next(), Some(&b"1.2.3.4"[..]));
    }
}
