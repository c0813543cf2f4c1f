//! The handful of Avro binary encodings Avro IPC needs, written out by hand.
//!
//! Why not a general Avro library: the IPC envelope (handshake records, call
//! metadata, message names) and Flume's two record types use only longs,
//! booleans, strings, bytes, fixed, maps, arrays, unions and enums, and the hot
//! path (an `appendBatch` of thousands of events) must decode straight out of the
//! received frame without building a generic value tree.
//!
//! Encoding appends to a `Vec<u8>`. Decoding goes through [`Reader`], which
//! checks every length against the bytes that are actually left before it
//! slices or allocates, so arbitrary input yields a [`DecodeError`], never a
//! panic and never an allocation larger than the input.
//!
//! Wire rules (Avro specification, "Binary Encoding"): `int`/`long` are zig-zag
//! varints; `string`/`bytes` are a long length then the bytes; maps and arrays
//! are a series of blocks, each a long item count (negative: absolute count
//! followed by the block's byte size) and the items, ended by a zero count;
//! unions and enums are a long index; `fixed` is its bytes with no length.

use thiserror::Error;

/// Why some bytes are not the Avro value that was expected.
///
/// Offsets are relative to the start of the decoded buffer (the frame payload),
/// so a log line can point at the exact byte.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The data ends inside a value.
    #[error("data ends inside {what} at byte {offset} (needs {needed} more bytes)")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where the value started.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A varint longer than 10 bytes or overflowing 64 bits.
    #[error("malformed variable-length integer at byte {offset}")]
    BadVarint {
        /// Where the varint started.
        offset: usize,
    },
    /// A length, count or size that cannot be right.
    #[error("invalid {what} {value} at byte {offset}")]
    BadLength {
        /// Which length.
        what: &'static str,
        /// The value read.
        value: i64,
        /// Where it was read.
        offset: usize,
    },
    /// A string that is not UTF-8.
    #[error("string at byte {offset} is not valid UTF-8")]
    BadUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {byte:#04x} at byte {offset}")]
    BadBool {
        /// The byte read.
        byte: u8,
        /// Where it was read.
        offset: usize,
    },
    /// A union branch or enum symbol index outside the schema.
    #[error("{what} index {index} out of range (0..{count}) at byte {offset}")]
    BadIndex {
        /// Union or enum name.
        what: &'static str,
        /// The index read.
        index: i64,
        /// How many branches/symbols the schema has.
        count: usize,
        /// Where it was read.
        offset: usize,
    },
    /// More items than the caller allows (for example a batch over the limit).
    #[error("{what} has more than {limit} items (at byte {offset})")]
    TooMany {
        /// What was being counted.
        what: &'static str,
        /// The caller's limit.
        limit: usize,
        /// Where the offending block count was read.
        offset: usize,
    },
}

// ----------------------------------------------------------------- encoding

pub use clickstream_contract::varint::put_long;
use clickstream_contract::varint::{self, VarintError};

/// Appends a `boolean`.
pub fn put_bool(out: &mut Vec<u8>, value: bool) {
    out.push(value as u8);
}

/// Appends `bytes`: length then the bytes.
pub fn put_bytes(out: &mut Vec<u8>, value: &[u8]) {
    put_long(out, value.len() as i64);
    out.extend_from_slice(value);
}

/// Appends a `string`: length then the UTF-8 bytes.
pub fn put_str(out: &mut Vec<u8>, value: &str) {
    put_bytes(out, value.as_bytes());
}

/// Appends a `fixed`: just the bytes.
pub fn put_fixed(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(value);
}

/// Appends a union branch index (or an enum symbol index: same encoding).
pub fn put_index(out: &mut Vec<u8>, index: usize) {
    put_long(out, index as i64);
}

/// Appends a `map<string>` as one block (what Java's writers produce too).
pub fn put_map_str(out: &mut Vec<u8>, entries: &[(&str, &str)]) {
    if !entries.is_empty() {
        put_long(out, entries.len() as i64);
        for (key, value) in entries {
            put_str(out, key);
            put_str(out, value);
        }
    }
    put_long(out, 0);
}

/// Appends a `map<bytes>` as one block.
pub fn put_map_bytes(out: &mut Vec<u8>, entries: &[(String, Vec<u8>)]) {
    if !entries.is_empty() {
        put_long(out, entries.len() as i64);
        for (key, value) in entries {
            put_str(out, key);
            put_bytes(out, value);
        }
    }
    put_long(out, 0);
}

// ----------------------------------------------------------------- decoding

/// A bounds-checked cursor over Avro binary data.
///
/// Every method either consumes exactly one value or returns an error; after
/// an error the position is unspecified and the reader should be dropped.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not yet read (the reader does not move).
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Reads a zig-zag varint `long`.
    pub fn long(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        varint::read_long(self.buf, &mut self.pos).map_err(|e| match e {
            VarintError::Truncated => DecodeError::Truncated { what: "varint", offset: start, needed: 1 },
            VarintError::Overlong => DecodeError::BadVarint { offset: start },
        })
    }

    /// Reads an `int` (a `long` that must fit 32 bits).
    pub fn int(&mut self) -> Result<i32, DecodeError> {
        let start = self.pos;
        let value = self.long()?;
        i32::try_from(value).map_err(|_| DecodeError::BadLength { what: "int", value, offset: start })
    }

    /// Reads a `boolean`.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.take(1, "boolean")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(DecodeError::BadBool { byte, offset }),
        }
    }

    /// Reads `bytes`, borrowing them from the input.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.length("bytes length")?;
        self.take(len, "bytes")
    }

    /// Reads a `string`, borrowing it from the input.
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.length("string length")?;
        let offset = self.pos;
        let raw = self.take(len, "string")?;
        std::str::from_utf8(raw).map_err(|_| DecodeError::BadUtf8 { offset })
    }

    /// Reads a `fixed` of `N` bytes.
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let raw = self.take(N, "fixed")?;
        let mut out = [0u8; N];
        out.copy_from_slice(raw);
        Ok(out)
    }

    /// Reads a union branch or enum symbol index, which must be below `count`.
    pub fn index(&mut self, what: &'static str, count: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let index = self.long()?;
        if index < 0 || index as u64 >= count as u64 {
            return Err(DecodeError::BadIndex { what, index, count, offset });
        }
        Ok(index as usize)
    }

    /// Reads the item count that opens an array or map block: 0 ends the
    /// value; a negative count is followed by the block's byte size, which is
    /// read and ignored (it only lets readers skip blocks).
    ///
    /// Every item takes at least `min_item_bytes` bytes, so a count larger than
    /// the remaining input allows is rejected here, before anything is sized
    /// from it.
    pub fn block_count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let count = self.long()?;
        let count = if count < 0 {
            let size_offset = self.pos;
            let size = self.long()?;
            if size < 0 {
                return Err(DecodeError::BadLength { what: "block byte size", value: size, offset: size_offset });
            }
            count.checked_neg().ok_or(DecodeError::BadLength { what: "block count", value: count, offset })?
        } else {
            count
        };
        let max = self.remaining() / min_item_bytes.max(1);
        if count as u64 > max as u64 {
            return Err(DecodeError::BadLength { what: "block count", value: count, offset });
        }
        Ok(count as usize)
    }

    /// Reads a `map<string>`, borrowing keys and values, in wire order.
    pub fn map_str(&mut self) -> Result<Vec<(&'a str, &'a str)>, DecodeError> {
        let mut entries = Vec::new();
        loop {
            // An entry is at least two empty strings: 2 bytes.
            let count = self.block_count(2)?;
            if count == 0 {
                return Ok(entries);
            }
            entries.reserve(count);
            for _ in 0..count {
                let key = self.str()?;
                let value = self.str()?;
                entries.push((key, value));
            }
        }
    }

    /// Reads past a `map<string>`, checking it as [`Reader::map_str`] does,
    /// without collecting the entries.
    pub fn skip_map_str(&mut self) -> Result<(), DecodeError> {
        self.skip_map_of(|r| r.str().map(drop))
    }

    /// Reads past a map of strings or bytes without checking that the
    /// strings are UTF-8: for data checked when it was first received.
    pub fn skip_map(&mut self) -> Result<(), DecodeError> {
        self.skip_map_of(|r| r.bytes().map(drop))
    }

    /// Reads past a map whose keys and values are each read by `item`.
    fn skip_map_of(&mut self, item: impl Fn(&mut Self) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
        loop {
            // An entry is at least two empty strings: 2 bytes.
            let count = self.block_count(2)?;
            if count == 0 {
                return Ok(());
            }
            for _ in 0..count {
                item(self)?;
                item(self)?;
            }
        }
    }

    /// Reads a `map<bytes>` (IPC metadata), borrowing keys and values.
    pub fn map_bytes(&mut self) -> Result<Vec<(&'a str, &'a [u8])>, DecodeError> {
        let mut entries = Vec::new();
        loop {
            let count = self.block_count(2)?;
            if count == 0 {
                return Ok(entries);
            }
            entries.reserve(count);
            for _ in 0..count {
                let key = self.str()?;
                let value = self.bytes()?;
                entries.push((key, value));
            }
        }
    }

    /// Reads a non-negative length that the remaining input can satisfy.
    fn length(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let len = self.long()?;
        if len < 0 {
            return Err(DecodeError::BadLength { what, value: len, offset });
        }
        if len as u64 > self.remaining() as u64 {
            return Err(DecodeError::Truncated { what, offset, needed: (len as u64 - self.remaining() as u64).min(usize::MAX as u64) as usize });
        }
        Ok(len as usize)
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if len > self.remaining() {
            return Err(DecodeError::Truncated { what, offset: self.pos, needed: len - self.remaining() });
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn longs_match_the_spec_examples() {
        // From the Avro specification's zig-zag table.
        for (value, wire) in
            [(0i64, vec![0x00]), (-1, vec![0x01]), (1, vec![0x02]), (-2, vec![0x03]), (2, vec![0x04]), (-64, vec![0x7f]), (64, vec![0x80, 0x01])]
        {
            let mut out = Vec::new();
            put_long(&mut out, value);
            assert_eq!(out, wire, "encoding {value}");
            assert_eq!(Reader::new(&wire).long().unwrap(), value);
        }
    }

    #[test]
    fn extreme_longs_round_trip_and_overlong_varints_fail() {
        for value in [i64::MIN, i64::MAX, i64::MIN + 1, 0] {
            let mut out = Vec::new();
            put_long(&mut out, value);
            assert!(out.len() <= 10);
            assert_eq!(Reader::new(&out).long().unwrap(), value);
        }
        let overlong = [0xffu8; 11];
        assert!(matches!(Reader::new(&overlong).long(), Err(DecodeError::BadVarint { .. })));
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(Reader::new(&overflow).long(), Err(DecodeError::BadVarint { .. })));
    }

    #[test]
    fn a_huge_declared_length_is_rejected_without_allocating() {
        let mut out = Vec::new();
        put_long(&mut out, i64::MAX);
        assert!(matches!(Reader::new(&out).bytes(), Err(DecodeError::Truncated { .. })));
        let mut out = Vec::new();
        put_long(&mut out, i64::MAX); // map block count
        assert!(matches!(Reader::new(&out).map_str(), Err(DecodeError::BadLength { .. })));
        let mut out = Vec::new();
        put_long(&mut out, i64::MIN); // negative count that cannot be negated
        put_long(&mut out, 1);
        assert!(Reader::new(&out).map_bytes().is_err());
    }

    #[test]
    fn negative_block_counts_with_sizes_are_read() {
        let mut out = Vec::new();
        put_long(&mut out, -1);
        put_long(&mut out, 4);
        put_str(&mut out, "k");
        put_str(&mut out, "v");
        put_long(&mut out, 0);
        assert_eq!(Reader::new(&out).map_str().unwrap(), vec![("k", "v")]);
    }

    #[test]
    fn bad_utf8_bools_and_indexes_are_errors() {
        assert!(matches!(Reader::new(&[0x02, 0xff]).str(), Err(DecodeError::BadUtf8 { .. })));
        assert!(matches!(Reader::new(&[0x02]).bool(), Err(DecodeError::BadBool { .. })));
        assert!(matches!(Reader::new(&[0x06]).index("Status", 3), Err(DecodeError::BadIndex { .. })));
        assert!(matches!(Reader::new(&[0x01]).index("Status", 3), Err(DecodeError::BadIndex { .. })));
    }

    proptest! {
        #[test]
        fn primitives_round_trip(l in any::<i64>(), b in any::<bool>(), s in ".*", raw in proptest::collection::vec(any::<u8>(), 0..64),
                                 fixed in any::<[u8; 16]>(), map in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..8)) {
            let mut out = Vec::new();
            put_long(&mut out, l);
            put_bool(&mut out, b);
            put_str(&mut out, &s);
            put_bytes(&mut out, &raw);
            put_fixed(&mut out, &fixed);
            let pairs: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            put_map_str(&mut out, &pairs);
            let meta: Vec<(String, Vec<u8>)> = map.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
            put_map_bytes(&mut out, &meta);
            put_index(&mut out, 2);

            let mut r = Reader::new(&out);
            prop_assert_eq!(r.long().unwrap(), l);
            prop_assert_eq!(r.bool().unwrap(), b);
            prop_assert_eq!(r.str().unwrap(), s.as_str());
            prop_assert_eq!(r.bytes().unwrap(), raw.as_slice());
            prop_assert_eq!(r.fixed::<16>().unwrap(), fixed);
            prop_assert_eq!(r.map_str().unwrap(), pairs);
            let decoded: Vec<(String, Vec<u8>)> = r.map_bytes().unwrap().into_iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
            prop_assert_eq!(decoded, meta);
            prop_assert_eq!(r.index("union", 3).unwrap(), 2);
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut r = Reader::new(&data);
            let _ = r.map_str();
            let mut r = Reader::new(&data);
            let _ = r.map_bytes();
            let mut r = Reader::new(&data);
            let _ = r.str().and_then(|_| r.bytes()).and_then(|_| r.fixed::<16>());
            let mut r = Reader::new(&data);
            let _ = r.int().and_then(|_| r.bool()).and_then(|_| r.index("u", 2));
        }
    }
}
