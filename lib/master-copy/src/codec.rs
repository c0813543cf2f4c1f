//! Block compression as the Avro specification defines it for container
//! files: `deflate` is raw RFC 1951 (no zlib header or checksum), `snappy`
//! is a raw snappy block followed by the big-endian CRC-32 of the
//! uncompressed data, `null` is the data itself.
//!
//! Deflate goes through libdeflate (`libdeflater`), several times faster than
//! zlib at the same level; compressor and decompressor are kept so their
//! tables and buffers are reused.
//!
//! Reading is the untrusted side (a damaged or hostile file): the decompressor
//! never believes a block's own size claims past what the codec can expand
//! (deflate 1032:1, snappy about 21:1) nor past [`MAX_BLOCK_BYTES`], the most
//! the writer ever puts in one block.

use libdeflater::{CompressionLvl, Compressor, DecompressionError, Decompressor};
use serde::Deserialize;

/// The largest block, compressed or not, written or read: the HDFS sink
/// writes one block per batch and file, far below this.
pub const MAX_BLOCK_BYTES: usize = 256 << 20;

/// Deflate's densest encoding: a 258-byte match per bit pair, 1032:1.
const DEFLATE_MAX_RATIO: usize = 1032;

/// Snappy's densest element: a 3-byte copy of 64 bytes (21.3:1), rounded up.
const SNAPPY_MAX_RATIO: usize = 22;

/// Block compression of the container files (`avro.codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Raw deflate (RFC 1951), the Avro default and what Flume users know.
    #[default]
    Deflate,
    /// Snappy, each block followed by the big-endian CRC-32 of its
    /// uncompressed bytes (Avro spec). Faster, larger files.
    Snappy,
    /// No compression.
    Null,
}

impl Codec {
    /// The `avro.codec` metadata value.
    pub fn avro_name(self) -> &'static str {
        match self {
            Codec::Deflate => "deflate",
            Codec::Snappy => "snappy",
            Codec::Null => "null",
        }
    }

    /// Parses an `avro.codec` metadata value.
    pub fn from_avro_name(name: &[u8]) -> Option<Codec> {
        match name {
            b"deflate" => Some(Codec::Deflate),
            b"snappy" => Some(Codec::Snappy),
            b"null" => Some(Codec::Null),
            _ => None,
        }
    }
}

/// Compresses block payloads, reusing its buffers.
pub struct BlockCompressor {
    codec: Codec,
    deflate: Option<Compressor>,
    snappy: snap::raw::Encoder,
}

impl BlockCompressor {
    /// A compressor for `codec`; `level` applies to deflate (1..=12).
    pub fn new(codec: Codec, level: u8) -> BlockCompressor {
        let deflate = (codec == Codec::Deflate).then(|| {
            let lvl = CompressionLvl::new(i32::from(level)).unwrap_or_default();
            Compressor::new(lvl)
        });
        BlockCompressor { codec, deflate, snappy: snap::raw::Encoder::new() }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Compresses `raw` into the front of `buf` and returns the compressed
    /// length: the result is `buf[..n]`. `buf` is grown to the codec's bound
    /// but never shrunk, so a buffer reused for every block is zeroed once,
    /// not once per block (that memset was 1 % of the agent's CPU).
    pub fn compress_into(&mut self, raw: &[u8], buf: &mut Vec<u8>) -> usize {
        let grow = |buf: &mut Vec<u8>, len: usize| {
            if buf.len() < len {
                buf.resize(len, 0);
            }
        };
        match self.codec {
            Codec::Null => {
                grow(buf, raw.len());
                buf[..raw.len()].copy_from_slice(raw);
                raw.len()
            }
            Codec::Deflate => {
                let c = self.deflate.as_mut().expect("deflate compressor exists for the deflate codec");
                grow(buf, c.deflate_compress_bound(raw.len()));
                c.deflate_compress(raw, buf).expect("output sized by deflate_compress_bound")
            }
            Codec::Snappy => {
                grow(buf, snap::raw::max_compress_len(raw.len()) + 4);
                let n = self.snappy.compress(raw, buf).expect("snappy accepts any input below 4 GiB");
                buf[n..n + 4].copy_from_slice(&libdeflater::crc32(raw).to_be_bytes());
                n + 4
            }
        }
    }
}

/// Decompresses block payloads, reusing one output buffer: the batch job
/// reads every block, the HDFS sink's recovery the blocks of files it did
/// not close.
pub struct BlockDecompressor {
    inflater: Decompressor,
    snappy: snap::raw::Decoder,
    out: Vec<u8>,
}

impl Default for BlockDecompressor {
    fn default() -> Self {
        BlockDecompressor { inflater: Decompressor::new(), snappy: snap::raw::Decoder::new(), out: Vec::new() }
    }
}

impl BlockDecompressor {
    /// The uncompressed bytes of the block payload `data`; the error says
    /// what is damaged (the caller adds where).
    pub fn decompress<'s>(&'s mut self, codec: Codec, data: &'s [u8]) -> Result<&'s [u8], String> {
        match codec {
            Codec::Null => Ok(data),
            Codec::Deflate => {
                // The size is not stored: start at 8x (or the largest block so
                // far) and double until it fits. Log text deflates about 6:1.
                // Deflate cannot expand more than 1032:1, so a block that
                // still does not fit there is damaged, not large.
                let limit = data.len().saturating_mul(DEFLATE_MAX_RATIO).clamp(4096, MAX_BLOCK_BYTES);
                let mut cap = data.len().saturating_mul(8).max(self.out.len()).clamp(4096, limit);
                loop {
                    self.out.resize(cap, 0);
                    match self.inflater.deflate_decompress(data, &mut self.out) {
                        Ok(n) => return Ok(&self.out[..n]),
                        Err(DecompressionError::InsufficientSpace) if cap < limit => cap = (cap * 2).min(limit),
                        Err(e) => return Err(format!("deflate data damaged: {e}")),
                    }
                }
            }
            Codec::Snappy => {
                let Some(split) = data.len().checked_sub(4) else {
                    return Err("snappy block shorter than its 4-byte CRC".into());
                };
                let (packed, crc) = data.split_at(split);
                let len = snap::raw::decompress_len(packed).map_err(|e| format!("snappy data damaged: {e}"))?;
                // The length is the block's own claim: believe it only as far
                // as snappy can expand (a 3-byte copy of 64 bytes, about 21:1).
                let limit = packed.len().saturating_mul(SNAPPY_MAX_RATIO).min(MAX_BLOCK_BYTES);
                if len > limit {
                    return Err(format!(
                        "snappy block claims {len} bytes from {} compressed, more than snappy can expand (bytes damaged)",
                        packed.len()
                    ));
                }
                self.out.resize(len, 0);
                let n = self.snappy.decompress(packed, &mut self.out).map_err(|e| format!("snappy data damaged: {e}"))?;
                if libdeflater::crc32(&self.out[..n]).to_be_bytes() != crc {
                    return Err("snappy block fails its CRC-32 check (bytes damaged)".into());
                }
                Ok(&self.out[..n])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let raw: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for codec in [Codec::Null, Codec::Deflate, Codec::Snappy] {
            let mut c = BlockCompressor::new(codec, 6);
            // A reused buffer, longer than the result: only its front is the block.
            let mut buf = vec![9; 1 << 20];
            for _ in 0..2 {
                let n = c.compress_into(&raw, &mut buf);
                let mut d = BlockDecompressor::default();
                assert_eq!(d.decompress(codec, &buf[..n]).unwrap(), &raw[..], "{codec:?}");
            }
        }
    }

    #[test]
    fn snappy_carries_a_checked_crc() {
        // (The integration tests read whole files with apache-avro, whose
        // inflater is miniz_oxide: an independent check of "raw deflate".)
        let raw = b"hello hello hello hello".repeat(10);
        let mut out = Vec::new();
        let n = BlockCompressor::new(Codec::Snappy, 6).compress_into(&raw, &mut out);
        out.truncate(n);
        let crc = u32::from_be_bytes(out[out.len() - 4..].try_into().unwrap());
        assert_eq!(crc, crc32fast_like(&raw));
        let last = out.len() - 1;
        out[last] ^= 1;
        let err = BlockDecompressor::default().decompress(Codec::Snappy, &out).unwrap_err();
        assert!(err.contains("CRC"), "{err}");
    }

    #[test]
    fn limits_hold_on_corrupt_input() {
        let mut d = BlockDecompressor::default();
        assert!(d.decompress(Codec::Deflate, &[0xff; 64]).is_err());
        assert!(d.decompress(Codec::Snappy, &[1, 2]).is_err());
    }

    #[test]
    fn a_snappy_block_claiming_more_than_snappy_can_expand_is_damaged() {
        // Preamble varint 0x80 0x80 0x80 0x80 0x04: "1 GiB follows", then a
        // literal and the 4-byte CRC. Believed, this would allocate 1 GiB.
        let data = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00, b'x', 0, 0, 0, 0];
        let err = BlockDecompressor::default().decompress(Codec::Snappy, &data).unwrap_err();
        assert!(err.contains("more than snappy can expand"), "{err}");
    }

    #[test]
    fn real_deflate_blocks_fit_and_damaged_ones_are_refused() {
        let text: Vec<u8> = b"127.0.0.1 - - [20/Nov/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n".repeat(20_000);
        let mut packed = Vec::new();
        let n = BlockCompressor::new(Codec::Deflate, 6).compress_into(&text, &mut packed);
        let mut d = BlockDecompressor::default();
        assert_eq!(d.decompress(Codec::Deflate, &packed[..n]).unwrap(), &text[..]);
        // Cut to a tenth, the stream no longer holds its end: refused as
        // damaged (the output buffer grows to at most 1032 times the input).
        let err = d.decompress(Codec::Deflate, &packed[..n / 10]).unwrap_err();
        assert!(err.contains("deflate data damaged"), "{err}");
    }

    /// Bitwise CRC-32 (IEEE), to check libdeflate's without trusting it.
    fn crc32fast_like(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
