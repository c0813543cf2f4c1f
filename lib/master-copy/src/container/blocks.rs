//! Reading a whole container file block by block, for the batch job.
//!
//! Every block is `long count, long size, bytes[size], sync[16]`. A block
//! that cannot be read costs that block only: reading resumes after the next
//! sync marker (see [`Blocks`]). The blocks' payloads are handed out still
//! compressed; [`crate::codec::BlockDecompressor`] and [`crate::schema`] make
//! them records of the current schema.

use clickstream_contract::varint::read_long;

use super::header::Header;

/// One block as stored: where it starts, how many records it claims, and
/// its (still compressed) payload.
#[derive(Debug, Clone, Copy)]
pub struct RawBlock<'a> {
    /// Offset of the block's count field in the file.
    pub offset: usize,
    /// Offset just after the block's sync marker.
    pub end: usize,
    /// Number of records in the block.
    pub count: usize,
    /// Compressed payload.
    pub data: &'a [u8],
}

/// A record of a (decompressed) block that could not be read: by the schema
/// rewrite ([`crate::schema::Resolver`]) or by a reader's own decoder (the
/// batch job's). Its text places it in the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record} (byte {offset} of the uncompressed block): {what}")]
pub struct RecordError {
    /// Index of the record in its block.
    pub record: usize,
    /// Offset of the record in the decompressed block.
    pub offset: usize,
    /// What was wrong.
    pub what: String,
}

/// Bytes of a container file that could not be read as a block, skipped
/// up to the next sync marker (or the end of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRange {
    /// Where the unreadable block began.
    pub offset: u64,
    /// Where reading resumes: just after the next sync marker, or the file's end.
    pub end: u64,
    /// What was wrong.
    pub what: String,
}

/// Iterates over the blocks after the header, checking every sync marker.
///
/// A block that cannot be read (a damaged count or size, a sync marker that
/// does not follow it) yields a [`DamagedRange`], and the iteration goes on
/// after the next sync marker in the file: the 16 random bytes that end every
/// block are what Avro container files have them for, so that one damaged
/// block costs that block only.
pub struct Blocks<'a> {
    buf: &'a [u8],
    pos: usize,
    sync: [u8; 16],
}

impl<'a> Blocks<'a> {
    /// Blocks of `buf`, whose header is `header`.
    pub fn new(buf: &'a [u8], header: &Header) -> Self {
        Blocks { buf, pos: header.data_start, sync: header.sync }
    }

    /// The range from `at` to just after the next sync marker (searched from
    /// `at + 1`), or to the end of the file; reading resumes there.
    fn skip_damaged(&mut self, at: usize, what: String) -> DamagedRange {
        let end = memchr::memmem::find(&self.buf[at + 1..], &self.sync).map_or(self.buf.len(), |i| at + 1 + i + 16);
        self.pos = end;
        DamagedRange { offset: at as u64, end: end as u64, what }
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Result<RawBlock<'a>, DamagedRange>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let mut pos = self.pos;
        let result = (|| {
            let truncated = |_| String::from("block header truncated (file cut short?)");
            let count = read_long(self.buf, &mut pos).map_err(truncated)?;
            let size = read_long(self.buf, &mut pos).map_err(truncated)?;
            let count = usize::try_from(count).map_err(|_| format!("negative record count {count}"))?;
            let size = usize::try_from(size).map_err(|_| format!("negative block size {size}"))?;
            let end = pos
                .checked_add(size)
                .filter(|e| *e <= self.buf.len())
                .ok_or_else(|| format!("block of {size} bytes runs past the end of the file ({} bytes; file cut short?)", self.buf.len()))?;
            let data = &self.buf[pos..end];
            match self.buf.get(end..end + 16) {
                Some(s) if s == self.sync => {}
                Some(_) => return Err(String::from("sync marker mismatch after the block (bytes damaged)")),
                None => return Err(String::from("file ends before the block's sync marker (file cut short?)")),
            }
            self.pos = end + 16;
            Ok(RawBlock { offset: at, end: end + 16, count, data })
        })();
        Some(result.map_err(|what| self.skip_damaged(at, what)))
    }
}
