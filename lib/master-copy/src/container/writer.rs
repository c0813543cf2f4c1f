//! Writing blocks from records that are already Avro datums: the channel's
//! records are the Flume event bodies as received, each the binary datum of
//! a `ClickEvent`, so a block is their concatenation, compressed. Nothing is
//! decoded or encoded again on the write path.

use clickstream_contract::varint::put_long;

use crate::codec::{BlockCompressor, Codec};

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

    /// Adds one record to the staged block, for writers that build blocks
    /// record by record (the batch benchmark's generator).
    pub fn push(&mut self, record: &[u8]) {
        self.raw.extend_from_slice(record);
        self.count += 1;
    }

    /// Bytes staged.
    pub fn staged_len(&self) -> usize {
        self.raw.len()
    }

    /// Records staged.
    pub fn staged_records(&self) -> usize {
        self.count
    }

    /// Appends the staged block to `out`, without its trailing sync marker
    /// (it differs per file): the caller appends the target file's marker.
    /// Nothing is staged afterwards.
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
        self.count = 0;
        self.raw.clear();
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
