//! Avro object container files, written without re-encoding records and read
//! back block by block for crash recovery.
//!
//! ```text
//! file   = header block*
//! header = "Obj" 0x01, metadata map<bytes> {avro.schema, avro.codec}, sync[16]
//! block  = long count, long size, data[size], sync[16]
//! data   = codec(datum datum … datum)        one ClickEvent datum per event
//! ```
//!
//! The records are the channel's records, the Flume event bodies as
//! received: each already is the Avro binary datum of a `ClickEvent`, so a
//! block is their concatenation, compressed. Nothing is decoded or encoded
//! again on the write path.
//!
//! Reading ([`Scanner`]) is push-based in the style of a frame codec: feed it
//! bytes in any chunks; an incomplete block means "more bytes needed", not an
//! error. It stops at the first block that is incomplete at the end of the
//! file, or corrupt (wrong sync marker, bad lengths, undecompressable data,
//! records that do not decode with the file's schema), and reports the
//! length of the valid prefix: the header and every complete block before it.

use apache_avro::Schema;

use super::codec::{BlockCompressor, BlockDecompressor};
use super::config::Codec;

/// The four bytes every container file starts with.
pub const MAGIC: &[u8; 4] = b"Obj\x01";

/// Largest block (compressed or not) the scanner accepts. The sink writes
/// one block per batch and file, far below this.
pub const MAX_BLOCK_BYTES: usize = 256 << 20;

/// Appends an Avro `long` (zig-zag varint).
pub fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Appends a container header: magic, metadata (`avro.schema`,
/// `avro.codec`) and the file's sync marker.
pub fn write_header(out: &mut Vec<u8>, schema_json: &str, codec: Codec, sync: &[u8; 16]) {
    out.extend_from_slice(MAGIC);
    put_long(out, 2);
    put_bytes(out, b"avro.schema");
    put_bytes(out, schema_json.as_bytes());
    put_bytes(out, b"avro.codec");
    put_bytes(out, codec.avro_name().as_bytes());
    put_long(out, 0);
    out.extend_from_slice(sync);
}

/// Builds blocks from already-encoded records, in two steps so that the
/// CPU-heavy one can run off the async runtime: [`BlockEncoder::stage`]
/// copies the records (borrowed from the batch) into the encoder, then
/// [`BlockEncoder::finish`] compresses and frames them.
pub struct BlockEncoder {
    compressor: BlockCompressor,
    count: usize,
    raw: Vec<u8>,
    packed: Vec<u8>,
}

impl BlockEncoder {
    /// An encoder for `codec` (`level`: deflate level).
    pub fn new(codec: Codec, level: u8) -> BlockEncoder {
        BlockEncoder { compressor: BlockCompressor::new(codec, level), count: 0, raw: Vec::new(), packed: Vec::new() }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.compressor.codec()
    }

    /// Takes the records (each one encoded datum) of the next block.
    pub fn stage(&mut self, records: &[&[u8]]) {
        let total: usize = records.iter().map(|r| r.len()).sum();
        self.count = records.len();
        self.raw.clear();
        self.raw.reserve(total);
        for r in records {
            self.raw.extend_from_slice(r);
        }
    }

    /// Bytes staged.
    pub fn staged_len(&self) -> usize {
        self.raw.len()
    }

    /// Appends the staged block to `out`, without its trailing sync marker
    /// (it differs per file): the caller appends the target file's marker.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        put_long(out, self.count as i64);
        if self.codec() == Codec::Null {
            put_long(out, self.raw.len() as i64);
            out.extend_from_slice(&self.raw);
        } else {
            let n = self.compressor.compress_into(&self.raw, &mut self.packed);
            put_long(out, n as i64);
            out.extend_from_slice(&self.packed[..n]);
        }
        // Keep big buffers from one huge batch from pinning memory forever.
        if self.raw.capacity() > 64 << 20 {
            self.raw = Vec::new();
            self.packed = Vec::new();
        }
    }

    /// [`stage`](Self::stage) then [`finish`](Self::finish).
    pub fn encode(&mut self, records: &[&[u8]], out: &mut Vec<u8>) {
        self.stage(records);
        self.finish(out);
    }
}

/// A parsed header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Block codec.
    pub codec: Codec,
    /// The writer's schema.
    pub schema: Schema,
    /// The sync marker ending every block.
    pub sync: [u8; 16],
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Whether a complete, valid header was read.
    pub header_ok: bool,
    /// Length of the valid prefix: the header and every complete block
    /// before the first incomplete or corrupt one (0 without a header).
    pub valid_len: u64,
    /// Complete blocks in the valid prefix.
    pub blocks: u64,
    /// Records in those blocks.
    pub records: u64,
    /// Bytes seen in total.
    pub total_len: u64,
    /// Why the scan stopped before the end, if it did: a corrupt header or
    /// block (`corrupt = true`) or an incomplete one at the end.
    pub stopped: Option<String>,
    /// True when the scan stopped at corrupt data rather than a torn end.
    pub corrupt: bool,
}

enum Step<T> {
    Done(T, usize),
    NeedMore,
    Corrupt(String),
}

fn long_at(buf: &[u8], pos: &mut usize) -> Step<i64> {
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else { return Step::NeedMore };
        *pos += 1;
        if shift == 63 && b > 1 {
            return Step::Corrupt("varint longer than 64 bits".into());
        }
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Step::Done(((z >> 1) as i64) ^ -((z & 1) as i64), *pos);
        }
    }
    Step::Corrupt("varint longer than 10 bytes".into())
}

macro_rules! take {
    ($e:expr) => {
        match $e {
            Step::Done(v, _) => v,
            Step::NeedMore => return Step::NeedMore,
            Step::Corrupt(w) => return Step::Corrupt(w),
        }
    };
}

fn bytes_at<'a>(buf: &'a [u8], pos: &mut usize, max: usize) -> Step<&'a [u8]> {
    let len = take!(long_at(buf, pos));
    if len < 0 || len as u64 > max as u64 {
        return Step::Corrupt(format!("length {len} out of range"));
    }
    let end = *pos + len as usize;
    if end > buf.len() {
        return Step::NeedMore;
    }
    let s = &buf[*pos..end];
    *pos = end;
    Step::Done(s, end)
}

fn parse_header(buf: &[u8]) -> Step<Header> {
    if buf.len() < 4 {
        return if MAGIC.starts_with(buf) { Step::NeedMore } else { Step::Corrupt("not an Avro container (bad magic)".into()) };
    }
    if &buf[..4] != MAGIC {
        return Step::Corrupt("not an Avro container (bad magic)".into());
    }
    let mut pos = 4;
    let (mut schema, mut codec) = (None, None);
    loop {
        let mut count = take!(long_at(buf, &mut pos));
        if count == 0 {
            break;
        }
        if count < 0 {
            count = -count;
            take!(long_at(buf, &mut pos));
        }
        if count > 1024 {
            return Step::Corrupt(format!("metadata map block of {count} entries"));
        }
        for _ in 0..count {
            let key = take!(bytes_at(buf, &mut pos, 1024));
            let value = take!(bytes_at(buf, &mut pos, 16 << 20));
            match key {
                b"avro.schema" => schema = Some(value),
                b"avro.codec" => codec = Some(value),
                _ => {}
            }
        }
    }
    if buf.len() < pos + 16 {
        return Step::NeedMore;
    }
    let sync: [u8; 16] = buf[pos..pos + 16].try_into().expect("16 bytes");
    pos += 16;
    let codec = match codec {
        None => Codec::Null,
        Some(c) => match Codec::from_avro_name(c) {
            Some(c) => c,
            None => return Step::Corrupt(format!("unsupported codec {:?}", String::from_utf8_lossy(c))),
        },
    };
    let Some(schema) = schema else { return Step::Corrupt("no avro.schema in the header".into()) };
    let schema = match std::str::from_utf8(schema).ok().map(Schema::parse_str) {
        Some(Ok(s)) => s,
        _ => return Step::Corrupt("avro.schema does not parse".into()),
    };
    Step::Done(Header { codec, schema, sync }, pos)
}

/// Reads a container file pushed to it in chunks; see the module docs.
#[derive(Default)]
pub struct Scanner {
    /// Unconsumed bytes; `buf[0]` is at file offset `report.valid_len`.
    buf: Vec<u8>,
    header: Option<Header>,
    report: ScanReport,
    done: bool,
    decompressor: BlockDecompressor,
    plain: Vec<u8>,
}

impl Scanner {
    /// A scanner at the start of a file.
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// True once the scan hit corrupt data; later input is ignored.
    pub fn stopped(&self) -> bool {
        self.done
    }

    /// The header, once read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Consumes the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.report.total_len += chunk.len() as u64;
        if self.done {
            return;
        }
        self.buf.extend_from_slice(chunk);
        let mut consumed = 0;
        loop {
            let rest = &self.buf[consumed..];
            let step = match &self.header {
                None => match parse_header(rest) {
                    Step::Done(h, n) => {
                        self.header = Some(h);
                        self.report.header_ok = true;
                        Step::Done((), n)
                    }
                    Step::NeedMore => Step::NeedMore,
                    Step::Corrupt(w) => Step::Corrupt(format!("header: {w}")),
                },
                Some(h) => match next_block(rest, h, &mut self.decompressor, &mut self.plain) {
                    Step::Done(records, n) => {
                        self.report.blocks += 1;
                        self.report.records += records;
                        Step::Done((), n)
                    }
                    other => other.map_unit(),
                },
            };
            match step {
                Step::Done((), n) => {
                    consumed += n;
                    self.report.valid_len += n as u64;
                }
                Step::NeedMore => break,
                Step::Corrupt(why) => {
                    self.report.stopped = Some(format!("{why} at offset {}", self.report.valid_len));
                    self.report.corrupt = true;
                    self.done = true;
                    self.buf = Vec::new();
                    return;
                }
            }
        }
        self.buf.drain(..consumed);
    }

    /// Ends the scan at the end of the file.
    pub fn finish(mut self) -> ScanReport {
        if !self.done && !self.buf.is_empty() {
            let what = if self.header.is_some() { "incomplete block" } else { "incomplete header" };
            self.report.stopped = Some(format!("{what}: {} bytes at offset {}", self.buf.len(), self.report.valid_len));
        }
        if !self.report.header_ok {
            self.report.valid_len = 0;
        }
        self.report
    }
}

impl<T> Step<T> {
    fn map_unit(self) -> Step<()> {
        match self {
            Step::Done(_, n) => Step::Done((), n),
            Step::NeedMore => Step::NeedMore,
            Step::Corrupt(w) => Step::Corrupt(w),
        }
    }
}

/// Parses and checks one block at the start of `buf`; returns its record count.
fn next_block(buf: &[u8], h: &Header, dec: &mut BlockDecompressor, plain: &mut Vec<u8>) -> Step<u64> {
    let mut pos = 0;
    let count = take!(long_at(buf, &mut pos));
    if count < 0 {
        return Step::Corrupt(format!("block: record count {count}"));
    }
    let data = take!(bytes_at(buf, &mut pos, MAX_BLOCK_BYTES));
    if buf.len() < pos + 16 {
        return Step::NeedMore;
    }
    if buf[pos..pos + 16] != h.sync {
        return Step::Corrupt("block: sync marker mismatch".into());
    }
    pos += 16;
    if let Err(e) = dec.decompress(h.codec, data, MAX_BLOCK_BYTES, plain) {
        return Step::Corrupt(format!("block: {e}"));
    }
    let reader = match apache_avro::reader::datum::GenericDatumReader::builder(&h.schema).build() {
        Ok(r) => r,
        Err(e) => return Step::Corrupt(format!("header: schema does not resolve: {e}")),
    };
    let mut rest: &[u8] = plain;
    for i in 0..count {
        if let Err(e) = reader.read_value(&mut rest) {
            return Step::Corrupt(format!("block: record {i} of {count} does not decode: {e}"));
        }
    }
    if !rest.is_empty() {
        return Step::Corrupt(format!("block: {} bytes after its {count} records", rest.len()));
    }
    Step::Done(count as u64, pos)
}

/// Scans a whole in-memory file (tests and small files).
pub fn scan(bytes: &[u8]) -> ScanReport {
    let mut s = Scanner::new();
    s.feed(bytes);
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickstream_contract::schema::CLICK_EVENT_SCHEMA_JSON;

    fn datum(i: i64) -> Vec<u8> {
        let e = clickstream_contract::ClickEvent {
            event_id: format!("{i:032x}").into(),
            source_host: "web1".into(),
            client_addr: "10.0.0.1".into(),
            remote_user: None,
            event_time_ms: 1_795_132_800_000 + i,
            method: "GET".into(),
            path: "/".into(),
            query: None,
            protocol: "HTTP/1.1".into(),
            status: 200,
            response_bytes: Some(i),
            referrer: None,
            user_agent: None,
            category: "home".into(),
            ingest: clickstream_contract::IngestMeta { source_file: "f".into(), file_fingerprint: "ff".into(), byte_offset: i },
            raw_line: "line".into(),
        };
        let mut out = Vec::new();
        e.encode_datum(&mut out);
        out
    }

    fn file(codec: Codec, blocks: &[usize]) -> (Vec<u8>, Vec<usize>) {
        let sync = [7u8; 16];
        let mut out = Vec::new();
        write_header(&mut out, CLICK_EVENT_SCHEMA_JSON, codec, &sync);
        let mut ends = vec![out.len()];
        let mut enc = BlockEncoder::new(codec, 6);
        let mut n = 0;
        for &count in blocks {
            let records: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    n += 1;
                    datum(n)
                })
                .collect();
            let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
            enc.encode(&refs, &mut out);
            out.extend_from_slice(&sync);
            ends.push(out.len());
        }
        (out, ends)
    }

    #[test]
    fn apache_avro_reads_what_we_write() {
        for codec in [Codec::Null, Codec::Deflate, Codec::Snappy] {
            let (bytes, _) = file(codec, &[3, 1, 5]);
            let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
            let mut n = 0;
            for record in reader {
                record.unwrap();
                n += 1;
            }
            assert_eq!(n, 9, "{codec:?}");
            let rep = scan(&bytes);
            assert_eq!((rep.blocks, rep.records, rep.valid_len, rep.stopped), (3, 9, bytes.len() as u64, None));
        }
    }

    #[test]
    fn every_truncation_keeps_exactly_the_complete_blocks() {
        for codec in [Codec::Null, Codec::Deflate, Codec::Snappy] {
            let (bytes, ends) = file(codec, &[2, 3, 1]);
            for cut in 0..=bytes.len() {
                // Feed in awkward chunks to exercise "need more".
                let mut s = Scanner::new();
                for chunk in bytes[..cut].chunks(7) {
                    s.feed(chunk);
                }
                let rep = s.finish();
                let complete = ends.iter().filter(|&&e| e <= cut).count();
                let expect_len = if complete == 0 { 0 } else { ends[complete - 1] as u64 };
                assert_eq!(rep.valid_len, expect_len, "{codec:?} cut {cut}");
                assert_eq!(rep.blocks as usize, complete.saturating_sub(1), "{codec:?} cut {cut}");
                assert!(!rep.corrupt, "{codec:?} cut {cut}: {:?}", rep.stopped);
                assert_eq!(rep.stopped.is_none(), cut == expect_len as usize, "cut {cut}");
            }
        }
    }

    #[test]
    fn corruption_stops_at_the_block_before() {
        let (bytes, ends) = file(Codec::Deflate, &[2, 2, 2]);
        // A wrong sync marker in the second block.
        let mut b = bytes.clone();
        b[ends[2] - 1] ^= 0xff;
        let rep = scan(&b);
        assert_eq!((rep.valid_len, rep.blocks, rep.corrupt), (ends[1] as u64, 1, true));
        // Garbage inside the compressed data of the third block.
        let mut b = bytes.clone();
        for x in &mut b[ends[2] + 4..ends[3] - 20] {
            *x = 0xAA;
        }
        let rep = scan(&b);
        assert_eq!((rep.valid_len, rep.blocks, rep.corrupt), (ends[2] as u64, 2, true));
        // Zeros where a block should be (a hole after a power cut).
        let mut b = bytes[..ends[1]].to_vec();
        b.extend_from_slice(&[0u8; 100]);
        let rep = scan(&b);
        assert_eq!(rep.valid_len, ends[1] as u64);
        // Not a container at all.
        let rep = scan(b"PAR1....");
        assert!(rep.corrupt && !rep.header_ok && rep.valid_len == 0);
    }

    #[test]
    fn a_block_whose_records_do_not_decode_is_corrupt() {
        let sync = [1u8; 16];
        let mut out = Vec::new();
        write_header(&mut out, CLICK_EVENT_SCHEMA_JSON, Codec::Null, &sync);
        let good = out.len();
        let mut enc = BlockEncoder::new(Codec::Null, 6);
        enc.encode(&[b"\x02x"], &mut out);
        out.extend_from_slice(&sync);
        let rep = scan(&out);
        assert_eq!((rep.valid_len, rep.blocks, rep.corrupt), (good as u64, 0, true));
    }

    #[test]
    fn longs_are_zigzag_varints() {
        for (v, enc) in [(0i64, vec![0u8]), (-1, vec![1]), (1, vec![2]), (64, vec![0x80, 1]), (-65, vec![0x81, 1])] {
            let mut out = Vec::new();
            put_long(&mut out, v);
            assert_eq!(out, enc);
            let mut pos = 0;
            assert!(matches!(long_at(&out, &mut pos), Step::Done(x, _) if x == v));
        }
        let mut out = Vec::new();
        put_long(&mut out, i64::MIN);
        let mut pos = 0;
        assert!(matches!(long_at(&out, &mut pos), Step::Done(i64::MIN, _)));
    }
}
