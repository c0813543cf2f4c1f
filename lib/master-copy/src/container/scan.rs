//! Scanning a container file pushed in chunks, for the HDFS sink's crash
//! recovery: how long is the prefix of complete, valid blocks?
//!
//! Push-based in the style of a frame codec: feed it bytes in any chunks; an
//! incomplete block means "more bytes needed", not an error. It stops at the
//! first block that is incomplete at the end of the file, or corrupt (wrong
//! sync marker, bad lengths, undecompressable data, records that do not
//! decode with the file's schema), and reports the length of the valid
//! prefix: the header and every complete block before it. (The batch job's
//! reader, [`super::blocks`], instead skips a damaged block and goes on.)

use apache_avro::Schema;
use clickstream_contract::varint::{read_long, VarintError};

use super::header::{parse_header, HeaderError};
use crate::codec::{BlockDecompressor, Codec, MAX_BLOCK_BYTES};

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
    match read_long(buf, pos) {
        Ok(v) => Step::Done(v, *pos),
        Err(VarintError::Truncated) => Step::NeedMore,
        Err(VarintError::Overlong) => Step::Corrupt("varint longer than 64 bits".into()),
    }
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

/// The header the blocks are checked against.
#[derive(Debug, Clone)]
pub struct Header {
    /// Block codec.
    pub codec: Codec,
    /// The writer's schema.
    pub schema: Schema,
    /// The sync marker ending every block.
    pub sync: [u8; 16],
}

fn header_at(buf: &[u8]) -> Step<Header> {
    let h = match parse_header(buf) {
        Ok(h) => h,
        Err(HeaderError::Incomplete) => return Step::NeedMore,
        Err(HeaderError::Invalid { what, .. }) => return Step::Corrupt(what),
    };
    let schema = match std::str::from_utf8(&h.schema_json).ok().map(Schema::parse_str) {
        Some(Ok(s)) => s,
        _ => return Step::Corrupt("avro.schema does not parse".into()),
    };
    Step::Done(Header { codec: h.codec, schema, sync: h.sync }, h.data_start)
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
                None => match header_at(rest) {
                    Step::Done(h, n) => {
                        self.header = Some(h);
                        self.report.header_ok = true;
                        Step::Done((), n)
                    }
                    Step::NeedMore => Step::NeedMore,
                    Step::Corrupt(w) => Step::Corrupt(format!("header: {w}")),
                },
                Some(h) => match next_block(rest, h, &mut self.decompressor) {
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
fn next_block(buf: &[u8], h: &Header, dec: &mut BlockDecompressor) -> Step<u64> {
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
    let plain = match dec.decompress(h.codec, data) {
        Ok(plain) => plain,
        Err(e) => return Step::Corrupt(format!("block: {e}")),
    };
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
    use crate::container::{write_header, BlockEncoder};
    use clickstream_contract::schema::CLICK_EVENT_SCHEMA_JSON;

    fn datum(i: i64) -> Vec<u8> {
        crate::testdata::event(i).to_datum()
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
}
