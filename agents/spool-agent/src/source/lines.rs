//! Splits a byte stream into lines with their offsets, in bounded memory.
//!
//! A line longer than the limit is reported whole as [`Line::TooLong`] (with
//! a prefix for the dead-letter file) and never split into two events, which
//! is what Flume's LINE deserializer did. The last line of a file may lack its
//! newline: files are complete when read.

use std::io::Read;

use memchr::memchr;

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
        }
    }

    /// Stream offset of the next line.
    pub fn offset(&self) -> u64 {
        self.offset
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

    /// Skips to stream offset `to` (resuming after a restart), reading and hashing what it skips.
    pub fn skip_to(&mut self, to: u64) -> std::io::Result<()> {
        while self.offset < to {
            if self.start == self.end {
                if self.eof {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shorter than its saved position"));
                }
                self.fill()?;
                continue;
            }
            let n = ((to - self.offset) as usize).min(self.end - self.start);
            self.start += n;
            self.offset += n as u64;
        }
        Ok(())
    }

    /// The next line, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        loop {
            if let Some(i) = memchr(b'\n', &self.buf[self.start..self.end]) {
                let (s, offset) = (self.start, self.offset);
                self.start += i + 1;
                self.offset += i as u64 + 1;
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
                if pending == 0 {
                    return Ok(None);
                }
                let (s, offset) = (self.start, self.offset);
                self.start = self.end;
                self.offset += pending as u64;
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
                // What follows the newline is the next line's start.
                self.start = keep + i + 1;
                self.end = keep + n;
                self.offset = offset + len + 1;
                return Ok(Line::TooLong { offset, len, prefix: &self.buf[..keep] });
            }
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
    fn skip_to_resumes() {
        let data = b"l1\nl2\nl3\n";
        let mut r = LineReader::new(&data[..], 100);
        r.skip_to(3).unwrap();
        assert_eq!(r.next_line().unwrap(), Some(Line::Ok { offset: 3, bytes: b"l2" }));
        assert_eq!(r.next_line().unwrap(), Some(Line::Ok { offset: 6, bytes: b"l3" }));
        assert_eq!(r.next_line().unwrap(), None);
    }
}
