//! Block compression as the Avro specification defines it for container
//! files: `deflate` is raw RFC 1951 (no zlib header or checksum), `snappy`
//! is a raw snappy block followed by the big-endian CRC-32 of the
//! uncompressed data, `null` is the data itself.
//!
//! Deflate goes through libdeflate (`libdeflater`), several times faster than
//! zlib at the same level; the compressor is kept so its tables are reused.

use libdeflater::{CompressionLvl, Compressor, DecompressionError, Decompressor};

use super::config::Codec;

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

/// Decompresses block payloads when files are read back (crash recovery).
pub struct BlockDecompressor {
    deflate: Decompressor,
    snappy: snap::raw::Decoder,
}

impl Default for BlockDecompressor {
    fn default() -> Self {
        BlockDecompressor { deflate: Decompressor::new(), snappy: snap::raw::Decoder::new() }
    }
}

impl BlockDecompressor {
    /// Replaces `out` with the decompressed `data`, refusing to grow past
    /// `limit` bytes (a corrupt block must not allocate without bound).
    pub fn decompress(&mut self, codec: Codec, data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        match codec {
            Codec::Null => out.extend_from_slice(data),
            Codec::Deflate => {
                let mut cap = (data.len() * 4).clamp(4096, limit.max(4096));
                loop {
                    out.resize(cap, 0);
                    match self.deflate.deflate_decompress(data, out) {
                        Ok(n) => {
                            out.truncate(n);
                            break;
                        }
                        Err(DecompressionError::InsufficientSpace) if cap < limit => cap = (cap * 2).min(limit),
                        Err(e) => return Err(format!("deflate: {e:?}")),
                    }
                }
            }
            Codec::Snappy => {
                let Some(split) = data.len().checked_sub(4) else {
                    return Err("snappy block shorter than its CRC".into());
                };
                let (compressed, crc) = data.split_at(split);
                let len = snap::raw::decompress_len(compressed).map_err(|e| format!("snappy: {e}"))?;
                if len > limit {
                    return Err(format!("snappy block claims {len} bytes, over the {limit} limit"));
                }
                out.resize(len, 0);
                let n = self.snappy.decompress(compressed, out).map_err(|e| format!("snappy: {e}"))?;
                out.truncate(n);
                if libdeflater::crc32(out).to_be_bytes() != crc {
                    return Err("snappy block CRC-32 mismatch".into());
                }
            }
        }
        Ok(())
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
                let mut back = Vec::new();
                BlockDecompressor::default().decompress(codec, &buf[..n], 1 << 30, &mut back).unwrap();
                assert_eq!(back, raw, "{codec:?}");
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
        let err = BlockDecompressor::default().decompress(Codec::Snappy, &out, 1 << 20, &mut Vec::new()).unwrap_err();
        assert!(err.contains("CRC"), "{err}");
    }

    #[test]
    fn limits_hold_on_corrupt_input() {
        let mut d = BlockDecompressor::default();
        let mut out = Vec::new();
        assert!(d.decompress(Codec::Deflate, &[0xff; 64], 1 << 20, &mut out).is_err());
        assert!(d.decompress(Codec::Snappy, &[1, 2], 1 << 20, &mut out).is_err());
        let raw = vec![0u8; 1 << 20];
        let mut packed = Vec::new();
        let n = BlockCompressor::new(Codec::Deflate, 6).compress_into(&raw, &mut packed);
        assert!(d.decompress(Codec::Deflate, &packed[..n], 1 << 16, &mut out).is_err());
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
