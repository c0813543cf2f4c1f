//! Splits a byte stream into lines with their offsets, in bounded memory.
//!
//! A line longer than the limit is reported whole as [`Line::TooLong`] (with
//! a prefix for the dead-letter file) and never split into two events, which
//! is what Flume's LINE deserializer did. The last line of a file may lack its
//! newline: files are complete when read.
//!
//! The reader also hashes every byte it consumes, so the source can tell,
//! at any line boundary, the fingerprint of the stream's prefix up to there
//! ([`LineReader::boundary`]): what recognises a copy of an already
//! delivered prefix.

use std::io::Read;

use memchr::memchr;
use xxhash_rust::xxh3::Xxh3;

/// A line boundary of a stream: the bytes before `offset` end with a `\n`
/// (or `offset` is 0), and `hash` is XXH3-128 of exactly those bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Boundary {
    /// Stream offset.
    pub offset: u64,
    /// XXH3-128 of the stream's bytes before it.
    pub hash: u128,
}

impl Boundary {
    /// The start of every stream.
    pub const START: Boundary = Boundary { offset: 0, hash: EMPTY_XXH3_128 };
}

/// XXH3-128 of no bytes (checked in the tests).
const EMPTY_XXH3_128: u128 = 0x99aa06d3014798d86001c324468d497f;

/// One line read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line within the limit, without its `\n`.
    Ok {
        /// Offset of its first byte.
        offset: u64,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// A line over the limit.
    TooLong {
        /// Offset of its first byte.
        offset: u64,
        /// Its full length in bytes.
        len: u64,
        /// Its first bytes, for the dead-letter file.
        prefix: &'a [u8],
    },
}

/// Reads lines from `R`.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    max_line: usize,
    /// Offset of `buf[start]` in the stream.
    offset: u64,
    /// Hash of every byte before `offset`.
    hasher: Xxh3,
    /// The last line boundary consumed.
    boundary: Boundary,
    /// Keep a final line without `\n` until [`Self::tail`] asks for it.
    hold_tail: bool,
}

impl<R: Read> LineReader<R> {
    /// A reader whose lines may be at most `max_line` bytes (terminator excluded).
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: vec![0; (max_line + 1).max(64 * 1024) + 64 * 1024],
            start: 0,
            end: 0,
            eof: false,
            max_line,
            offset: 0,
            hasher: Xxh3::new(),
            boundary: Boundary::START,
            hold_tail: false,
        }
    }

    /// Makes [`Self::next_line`] end before a final line without `\n`,
    /// which then comes from [`Self::tail`]: the caller decides whether it
    /// is a whole last line or half of one still being appended.
    pub fn hold_tail(mut self) -> Self {
        self.hold_tail = true;
        self
    }

    /// The final line without `\n` that [`Self::next_line`] held back, if
    /// any (call after it returned `None`).
    pub fn tail(&mut self) -> Option<Line<'_>> {
        if self.start == self.end || !self.eof {
            return None;
        }
        let (s, offset, pending) = (self.start, self.offset, self.end - self.start);
        self.start = self.end;
        self.consume(s, s + pending, false);
        Some(Line::Ok { offset, bytes: &self.buf[s..s + pending] })
    }

    /// Stream offset of the next line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The last line boundary consumed: the end of the last `\n`-terminated
    /// line (a final line without `\n` is after it).
    pub fn boundary(&self) -> Boundary {
        self.boundary
    }

    /// XXH3-128 of every byte consumed so far (up to [`Self::offset`]).
    pub fn hash(&self) -> u128 {
        self.hasher.digest128()
    }

    /// Marks `buf[from..to]` consumed; `to` is a line boundary when `boundary`.
    fn consume(&mut self, from: usize, to: usize, boundary: bool) {
        self.hasher.update(&self.buf[from..to]);
        self.offset += (to - from) as u64;
        if boundary {
            self.boundary = Boundary { offset: self.offset, hash: self.hasher.digest128() };
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < self.buf.len() && !self.eof {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Skips to stream offset `to`, reading and hashing what it skips.
    /// Returns `false` when the stream ends before `to` (everything is then
    /// consumed). `to` must be a line boundary (a saved position or
    /// checkpoint); it becomes [`Self::boundary`].
    pub fn skip_to(&mut self, to: u64) -> std::io::Result<bool> {
        while self.offset < to {
            if self.start == self.end {
                if self.eof {
                    return Ok(false);
                }
                self.fill()?;
                continue;
            }
            let n = ((to - self.offset) as usize).min(self.end - self.start);
            let from = self.start;
            self.start += n;
            self.consume(from, self.start, self.offset + n as u64 == to);
        }
        Ok(true)
    }

    /// Consumes the rest of the stream (hashing it); returns its end offset.
    pub fn skip_to_end(&mut self) -> std::io::Result<u64> {
        while self.skip_to(u64::MAX)? {}
        Ok(self.offset)
    }

    /// The next line, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        loop {
            if let Some(i) = memchr(b'\n', &self.buf[self.start..self.end]) {
                let (s, offset) = (self.start, self.offset);
                self.start += i + 1;
                self.consume(s, s + i + 1, true);
                let bytes = &self.buf[s..s + i];
                return Ok(Some(if bytes.len() > self.max_line {
                    Line::TooLong { offset, len: bytes.len() as u64, prefix: &bytes[..self.max_line.min(1024)] }
                } else {
                    Line::Ok { offset, bytes }
                }));
            }
            let pending = self.end - self.start;
            if pending > self.max_line {
                return self.skip_long_line().map(Some);
            }
            if self.eof {
                if pending == 0 || self.hold_tail {
                    return Ok(None);
                }
                let (s, offset) = (self.start, self.offset);
                self.start = self.end;
                self.consume(s, s + pending, false);
                return Ok(Some(Line::Ok { offset, bytes: &self.buf[s..s + pending] }));
            }
            self.fill()?;
        }
    }

    /// Consumes a line longer than the limit up to its newline (or the end),
    /// keeping only its prefix.
    fn skip_long_line(&mut self) -> std::io::Result<Line<'_>> {
        let offset = self.offset;
        let keep = self.max_line.min(1024);
        let prefix_start = self.start;
        // Everything pending is part of the line: hash it before the prefix
        // is moved and the rest of the buffer reused.
        self.hasher.update(&self.buf[prefix_start..self.end]);
        // Keep the prefix at the front of the buffer while the rest streams past.
        self.buf.copy_within(prefix_start..prefix_start + keep, 0);
        let mut len = (self.end - self.start) as u64;
        self.start = keep;
        self.end = keep;
        loop {
            // Read into the space after the prefix.
            if self.eof {
                break;
            }
            let n = match self.inner.read(&mut self.buf[keep..]) {
                Ok(0) => {
                    self.eof = true;
                    0
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Some(i) = memchr(b'\n', &self.buf[keep..keep + n]) {
                len += i as u64;
                self.hasher.update(&self.buf[keep..keep + i + 1]);
                // What follows the newline is the next line's start.
                self.start = keep + i + 1;
                self.end = keep + n;
                self.offset = offset + len + 1;
                self.boundary = Boundary { offset: self.offset, hash: self.hasher.digest128() };
                return Ok(Line::TooLong { offset, len, prefix: &self.buf[..keep] });
            }
            self.hasher.update(&self.buf[keep..keep + n]);
            len += n as u64;
        }
        self.start = keep;
        self.end = keep;
        self.offset = offset + len;
        Ok(Line::TooLong { offset, len, prefix: &self.buf[..keep] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], max: usize) -> Vec<(u64, Result<Vec<u8>, u64>)> {
        let mut r = LineReader::new(data, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(match l {
                Line::Ok { offset, bytes } => (offset, Ok(bytes.to_vec())),
                Line::TooLong { offset, len, .. } => (offset, Err(len)),
            });
        }
        assert_eq!(r.offset(), data.len() as u64);
        out
    }

    #[test]
    fn offsets_and_last_line_without_newline() {
        assert_eq!(collect(b"ab\n\ncd", 100), vec![(0, Ok(b"ab".to_vec())), (3, Ok(vec![])), (4, Ok(b"cd".to_vec()))]);
        assert_eq!(collect(b"", 100), vec![]);
    }

    #[test]
    fn long_lines_are_reported_whole_never_split() {
        let long = vec![b'x'; 300_000];
        let mut data = b"a\n".to_vec();
        data.extend_from_slice(&long);
        data.extend_from_slice(b"\nb\n");
        data.extend_from_slice(&long);
        let got = collect(&data, 1000);
        assert_eq!(got, vec![(0, Ok(b"a".to_vec())), (2, Err(300_000)), (300_003, Ok(b"b".to_vec())), (300_005, Err(300_000))]);
    }

    #[test]
    fn the_hash_covers_every_consumed_byte_and_boundaries_end_lines() {
        let long = vec![b'x'; 300_000];
        let mut data = b"a\n".to_vec();
        data.extend_from_slice(&long);
        data.extend_from_slice(b"\nb\ntail");
        for max in [1000, 1 << 20] {
            let mut r = LineReader::new(&data[..], max);
            let mut seen = Vec::new();
            while r.next_line().unwrap().is_some() {
                seen.push(r.boundary());
            }
            let at = |o: usize| Boundary { offset: o as u64, hash: xxhash_rust::xxh3::xxh3_128(&data[..o]) };
            assert_eq!(seen, vec![at(2), at(300_003), at(300_005), at(300_005)], "max {max}: the unterminated last line is after the last boundary");
            assert_eq!(r.hash(), xxhash_rust::xxh3::xxh3_128(&data));
        }
        let mut r = LineReader::new(&data[..], 1000);
        assert!(r.skip_to(300_003).unwrap());
        assert_eq!(r.boundary().hash, xxhash_rust::xxh3::xxh3_128(&data[..300_003]));
        assert_eq!(r.skip_to_end().unwrap(), data.len() as u64);
        assert!(!LineReader::new(&b"short\n"[..], 100).skip_to(100).unwrap(), "the stream ends before");
    }

    #[test]
    fn the_start_boundary_is_the_hash_of_nothing() {
        assert_eq!(Boundary::START.hash, xxhash_rust::xxh3::xxh3_128(b""));
        assert_eq!(LineReader::new(&b""[..], 10).boundary(), Boundary::START);
    }

    #[test]
    fn a_held_tail_comes_only_when_asked() {
        let mut r = LineReader::new(&b"a\nhalf"[..], 100).hold_tail();
        assert_eq!(r.next_line().unwrap(), Some(Line::Ok { offset: 0, bytes: b"a" }));
        assert_eq!(r.next_line().unwrap(), None);
        assert_eq!((r.offset(), r.boundary().offset), (2, 2));
        assert_eq!(r.tail(), Some(Line::Ok { offset: 2, bytes: b"half" }));
        assert_eq!((r.offset(), r.hash()), (6, xxhash_rust::xxh3::xxh3_128(b"a\nhalf")));
        assert_eq!(r.tail(), None);
        let mut whole = LineReader::new(&b"a\n"[..], 100).hold_tail();
        whole.next_line().unwrap();
        assert_eq!(whole.next_line().unwrap(), None);
        assert_eq!(whole.tail(), None);
    }

    #[test]
    fn skip_to_resumes() {
        let data = b"l1\nl2\nl3\n";
        let mut r = LineReader::new(&data[..], 100);
        assert!(r.skip_to(3).unwrap());
        assert_eq!(r.next_line().unwrap(), Some(Line::Ok { offset: 3, bytes: b"l2" }));
        assert_eq!(r.next_line().unwrap(), Some(Line::Ok { offset: 6, bytes: b"l3" }));
        assert_eq!(r.next_line().unwrap(), None);
    }
}
