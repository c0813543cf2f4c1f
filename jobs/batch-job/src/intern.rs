//! Byte strings stored once and named by a small number.
//!
//! Visitor keys, web servers, categories and paths repeat millions of times
//! in a day and take a few thousand (or a few hundred thousand) distinct
//! values. An [`Interner`] keeps each distinct value once, back to back in one
//! buffer (no allocation per value), finds it again by its XXH3-64 hash
//! compared byte for byte (so counts stay exact), and hands out dense ids
//! that index plain vectors of counters.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// Distinct byte strings, each with a dense id (0, 1, 2… in order of first sight).
#[derive(Default)]
pub struct Interner {
    table: HashTable<u32>,
    spans: Vec<(usize, u32)>,
    bytes: Vec<u8>,
}

impl Interner {
    /// The id of `value`, and whether it was seen for the first time.
    #[inline]
    pub fn intern(&mut self, value: &[u8]) -> (u32, bool) {
        let hash = xxh3_64(value);
        let Interner { table, spans, bytes } = self;
        if let Some(&i) = table.find(hash, |&i| bytes[range(spans, i)] == *value) {
            return (i, false);
        }
        let i = spans.len() as u32;
        spans.push((bytes.len(), value.len() as u32));
        bytes.extend_from_slice(value);
        let (spans, bytes) = (&*spans, &*bytes);
        table.insert_unique(hash, i, |&j| xxh3_64(&bytes[range(spans, j)]));
        (i, true)
    }

    /// The value of `id`.
    pub fn get(&self, id: u32) -> &[u8] {
        &self.bytes[range(&self.spans, id)]
    }

    /// Distinct values so far.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Every value, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.spans.len() as u32).map(|i| self.get(i))
    }
}

/// Where value `id` lies in the buffer.
#[inline]
fn range(spans: &[(usize, u32)], id: u32) -> std::ops::Range<usize> {
    let (start, len) = spans[id as usize];
    start..start + len as usize
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner").field("values", &self.len()).field("bytes", &self.bytes.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_values_exact() {
        let mut i = Interner::default();
        assert_eq!(i.intern(b"web1"), (0, true));
        assert_eq!(i.intern(b"web2"), (1, true));
        assert_eq!(i.intern(b"web1"), (0, false));
        assert_eq!(i.intern(b""), (2, true));
        for n in 0..10_000u32 {
            i.intern(n.to_string().as_bytes());
        }
        assert_eq!(i.intern(b"9999"), (3 + 9_999, false));
        assert_eq!(i.len(), 3 + 10_000);
        assert_eq!(i.get(1), b"web2");
        assert_eq!(i.iter().nth(2), Some(&b""[..]));
    }
}
