//! Reader of Avro object container files, block by block.
//!
//! Written by hand instead of going through `apache_avro::Reader` for two
//! reasons. First, errors: the job must name the byte offset of the header or
//! block that is broken, which the generic reader does not expose. Second,
//! speed: the generic reader builds a `Value` tree per record, while the batch
//! job needs six of the event's eighteen fields; handing whole decompressed
//! blocks to [`crate::decode`] lets it skip the rest in place.
//!
//! Layout (Avro 1.x specification, "Object Container Files"):
//! `Obj\x01`, a `map<bytes>` of metadata (`avro.schema`, `avro.codec`), a
//! 16-byte sync marker; then blocks of `long count, long size, bytes[size],
//! sync[16]` until the end of the file. Codecs: `null`, `deflate` (raw RFC
//! 1951, no zlib header) and `snappy` (raw snappy followed by the big-endian
//! CRC-32 of the uncompressed block).

use std::collections::HashMap;

use clickstream_contract::schema::{parsing_canonical_form, CLICK_EVENT_SCHEMA_JSON};

/// Avro's container magic.
const MAGIC: &[u8; 4] = b"Obj\x01";

/// Why a container file could not be read, with the offset it happened at.
/// The caller adds the file name (see [`crate::error::CorruptFile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerError {
    /// Offset of the header or of the block that failed.
    pub offset: u64,
    /// What went wrong.
    pub what: String,
}

fn err<T>(offset: usize, what: impl Into<String>) -> Result<T, ContainerError> {
    Err(ContainerError { offset: offset as u64, what: what.into() })
}

/// Compression of the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Uncompressed.
    Null,
    /// Raw deflate (RFC 1951).
    Deflate,
    /// Snappy plus CRC-32.
    Snappy,
}

/// A parsed header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Block codec.
    pub codec: Codec,
    /// Sync marker that ends every block.
    pub sync: [u8; 16],
    /// Offset of the first block.
    pub data_start: usize,
}

/// Reads a zig-zag varint long at `*pos`.
#[inline]
pub(crate) fn read_long(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(read_long(buf, pos)?).ok()?;
    let end = pos.checked_add(len)?;
    let b = buf.get(*pos..end)?;
    *pos = end;
    Some(b)
}

/// The canonical form of the one schema this job reads, computed once.
fn expected_canonical_form() -> &'static str {
    static PCF: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PCF.get_or_init(|| {
        let json: serde_json::Value = serde_json::from_str(CLICK_EVENT_SCHEMA_JSON).expect("embedded schema is JSON");
        parsing_canonical_form(&json)
    })
}

/// Parses and checks the header: magic, codec, and a writer schema equal to
/// `io.clickstream.v1.ClickEvent` (compared in Parsing Canonical Form, so
/// `doc` strings and whitespace do not matter but every field does).
pub fn parse_header(buf: &[u8]) -> Result<Header, ContainerError> {
    if buf.len() < 4 || &buf[..4] != MAGIC {
        return err(0, "not an Avro object container file (missing the `Obj\\x01` magic)");
    }
    let mut pos = 4;
    let mut meta: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        let at = pos;
        let Some(count) = read_long(buf, &mut pos) else { return err(at, "header metadata truncated") };
        if count == 0 {
            break;
        }
        // A negative count is followed by the block's byte size (Avro's map
        // encoding). `unsigned_abs`, not negation: i64::MIN has no positive.
        if count < 0 && read_long(buf, &mut pos).is_none() {
            return err(at, "header metadata truncated");
        }
        let count = count.unsigned_abs();
        for _ in 0..count {
            let at = pos;
            let (Some(k), Some(v)) = (read_bytes(buf, &mut pos), read_bytes(buf, &mut pos)) else {
                return err(at, "header metadata entry truncated");
            };
            meta.insert(String::from_utf8_lossy(k).into_owned(), v.to_vec());
        }
    }
    let Some(sync) = buf.get(pos..pos + 16) else { return err(pos, "header ends before its sync marker") };
    let sync: [u8; 16] = sync.try_into().expect("16 bytes");
    let codec = match meta.get("avro.codec").map(|v| v.as_slice()) {
        None | Some(b"null") => Codec::Null,
        Some(b"deflate") => Codec::Deflate,
        Some(b"snappy") => Codec::Snappy,
        Some(other) => {
            return err(0, format!("unsupported codec `{}` (the master copy uses null, deflate or snappy)", String::from_utf8_lossy(other)))
        }
    };
    let Some(schema) = meta.get("avro.schema") else { return err(0, "header has no avro.schema") };
    let schema: serde_json::Value =
        serde_json::from_slice(schema).map_err(|e| ContainerError { offset: 0, what: format!("writer schema is not JSON: {e}") })?;
    if parsing_canonical_form(&schema) != expected_canonical_form() {
        return err(0, "writer schema is not io.clickstream.v1.ClickEvent (schemas/avro/click_event.avsc); this batch job reads only that schema");
    }
    Ok(Header { codec, sync, data_start: pos + 16 })
}

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
        let fail = |what: &str| ContainerError { offset: at as u64, what: what.to_string() };
        let result = (|| {
            let count = read_long(self.buf, &mut pos).ok_or_else(|| fail("block header truncated (file cut short?)"))?;
            let size = read_long(self.buf, &mut pos).ok_or_else(|| fail("block header truncated (file cut short?)"))?;
            let count = usize::try_from(count).map_err(|_| fail(&format!("negative record count {count}")))?;
            let size = usize::try_from(size).map_err(|_| fail(&format!("negative block size {size}")))?;
            let end = pos
                .checked_add(size)
                .filter(|e| *e <= self.buf.len())
                .ok_or_else(|| fail(&format!("block of {size} bytes runs past the end of the file ({} bytes; file cut short?)", self.buf.len())))?;
            let data = &self.buf[pos..end];
            match self.buf.get(end..end + 16) {
                Some(s) if s == self.sync => {}
                Some(_) => return Err(fail("sync marker mismatch after the block (bytes damaged)")),
                None => return Err(fail("file ends before the block's sync marker (file cut short?)")),
            }
            self.pos = end + 16;
            Ok(RawBlock { offset: at, end: end + 16, count, data })
        })();
        Some(result.map_err(|e| self.skip_damaged(at, e.what)))
    }
}

/// The largest decompressed block read: the fan-out agent's writer never
/// writes more than this in one block.
pub const MAX_BLOCK_BYTES: usize = 256 << 20;

/// Deflate's densest encoding: a 258-byte match per bit pair, 1032:1.
const DEFLATE_MAX_RATIO: usize = 1032;

/// Snappy's densest element: a 3-byte copy of 64 bytes (21.3:1), rounded up.
const SNAPPY_MAX_RATIO: usize = 22;

/// Decompresses blocks, reusing one output buffer.
pub struct Decompressor {
    inflater: libdeflater::Decompressor,
    snappy: snap::raw::Decoder,
    out: Vec<u8>,
}

impl Default for Decompressor {
    fn default() -> Self {
        Decompressor { inflater: libdeflater::Decompressor::new(), snappy: snap::raw::Decoder::new(), out: Vec::new() }
    }
}

impl Decompressor {
    /// The uncompressed payload of `block`.
    pub fn decompress<'s>(&'s mut self, codec: Codec, block: &RawBlock<'s>) -> Result<&'s [u8], ContainerError> {
        let fail = |what: String| ContainerError { offset: block.offset as u64, what };
        match codec {
            Codec::Null => Ok(block.data),
            Codec::Deflate => {
                // The size is not stored: start at 8x (or the largest block so
                // far) and double until it fits. Log text deflates about 6:1.
                // Deflate cannot expand more than 1032:1, so a block that
                // still does not fit there is damaged, not large.
                let limit = block.data.len().saturating_mul(DEFLATE_MAX_RATIO).clamp(4096, MAX_BLOCK_BYTES);
                let mut cap = (block.data.len() * 8).max(self.out.len()).clamp(4096, limit);
                loop {
                    self.out.resize(cap, 0);
                    match self.inflater.deflate_decompress(block.data, &mut self.out) {
                        Ok(n) => return Ok(&self.out[..n]),
                        Err(libdeflater::DecompressionError::InsufficientSpace) if cap < limit => cap = (cap * 2).min(limit),
                        Err(e) => return Err(fail(format!("deflate data damaged: {e}"))),
                    }
                }
            }
            Codec::Snappy => {
                let Some(split) = block.data.len().checked_sub(4) else {
                    return Err(fail("snappy block shorter than its 4-byte CRC".into()));
                };
                let (data, crc) = block.data.split_at(split);
                let len = snap::raw::decompress_len(data).map_err(|e| fail(format!("snappy data damaged: {e}")))?;
                // The length is the block's own claim: believe it only as far
                // as snappy can expand (a 3-byte copy of 64 bytes, about 21:1).
                let limit = data.len().saturating_mul(SNAPPY_MAX_RATIO).min(MAX_BLOCK_BYTES);
                if len > limit {
                    return Err(fail(format!(
                        "snappy block claims {len} bytes from {} compressed, more than snappy can expand (bytes damaged)",
                        data.len()
                    )));
                }
                self.out.resize(len, 0);
                let n = self.snappy.decompress(data, &mut self.out).map_err(|e| fail(format!("snappy data damaged: {e}")))?;
                let expected = u32::from_be_bytes(crc.try_into().expect("4 bytes"));
                if crc32fast::hash(&self.out[..n]) != expected {
                    return Err(fail("snappy block fails its CRC-32 check (bytes damaged)".into()));
                }
                Ok(&self.out[..n])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(data: &[u8]) -> RawBlock<'_> {
        RawBlock { offset: 100, end: 100 + data.len(), count: 1, data }
    }

    #[test]
    fn a_snappy_block_claiming_more_than_snappy_can_expand_is_damaged() {
        // Preamble varint 0x80 0x80 0x80 0x80 0x04: "1 GiB follows", then a
        // literal and the 4-byte CRC. Believed, this would allocate 1 GiB.
        let data = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00, b'x', 0, 0, 0, 0];
        let err = Decompressor::default().decompress(Codec::Snappy, &block(&data)).unwrap_err();
        assert_eq!(err.offset, 100);
        assert!(err.what.contains("more than snappy can expand"), "{}", err.what);
    }

    #[test]
    fn real_deflate_blocks_fit_and_damaged_ones_are_refused() {
        let text: Vec<u8> = b"127.0.0.1 - - [20/Nov/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n".repeat(20_000);
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut packed = vec![0; c.deflate_compress_bound(text.len())];
        let n = c.deflate_compress(&text, &mut packed).unwrap();
        let mut d = Decompressor::default();
        assert_eq!(d.decompress(Codec::Deflate, &block(&packed[..n])).unwrap(), &text[..]);
        // Cut to a tenth, the stream no longer holds its end: refused as
        // damaged (the output buffer grows to at most 1032 times the input).
        let err = d.decompress(Codec::Deflate, &block(&packed[..n / 10])).unwrap_err();
        assert!(err.what.contains("deflate data damaged"), "{}", err.what);
    }
}
