//! Stream compression compatible with Flume's `compression-type = deflate`.
//!
//! Flume's Avro source and sink put Netty 3's `ZlibDecoder`/`ZlibEncoder`
//! (zlib wrapper, level 6 by default) in front of the Avro frame codec, on both
//! sides. The whole TCP stream, in each direction, is then one zlib stream:
//! a 2-byte zlib header once, then deflate data. The encoder compresses each
//! outgoing message (one frame) and ends it with a *sync flush*, so the peer
//! can inflate the complete frame without waiting for more data. [`Deflater`]
//! does the same; [`Inflater`] inflates whatever arrives, in bounded steps.

use std::io;

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compression level Flume uses unless configured otherwise.
pub const DEFAULT_LEVEL: u32 = 6;

/// The sending half: one zlib stream for the connection's lifetime.
pub(crate) struct Deflater {
    stream: Compress,
}

impl Deflater {
    pub(crate) fn new(level: u32) -> Self {
        Deflater { stream: Compress::new(Compression::new(level), true) }
    }

    /// Appends `input` compressed and sync-flushed to `out`.
    pub(crate) fn compress_message(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve((input.len() - pos) / 2 + 1024);
            }
            let before = self.stream.total_in();
            self.stream.compress_vec(&input[pos..], out, FlushCompress::Sync).map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
            pos += (self.stream.total_in() - before) as usize;
            // The flush is complete once all input is taken and the output
            // buffer was not filled up (zlib's rule for Z_SYNC_FLUSH).
            if pos == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

/// The receiving half.
pub(crate) struct Inflater {
    stream: Decompress,
    ended: bool,
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Inflater { stream: Decompress::new(true), ended: false }
    }

    /// Inflates from `input` into `out`, producing at most `max_out` bytes, so
    /// a tiny compressed message cannot expand into unbounded memory at once.
    /// Returns (bytes of input consumed, bytes produced).
    pub(crate) fn inflate(&mut self, input: &[u8], out: &mut BytesMut, max_out: usize) -> io::Result<(usize, usize)> {
        if self.ended {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "data after the end of the compressed stream"));
        }
        let start = out.len();
        out.resize(start + max_out, 0);
        let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
        let status = self.stream.decompress(input, &mut out[start..], FlushDecompress::None);
        let produced = (self.stream.total_out() - out_before) as usize;
        out.truncate(start + produced);
        let status = status.map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("corrupt deflate stream ({e}): check that both sides agree on compression-type = deflate"),
            )
        })?;
        if status == Status::StreamEnd {
            self.ended = true;
        }
        Ok(((self.stream.total_in() - in_before) as usize, produced))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn each_message_is_inflatable_on_its_own_and_the_stream_is_plain_zlib() {
        let mut d = Deflater::new(DEFAULT_LEVEL);
        let mut wire = Vec::new();
        let messages: Vec<Vec<u8>> = (0..20).map(|i| format!("message {i} ").repeat(i * 50 + 1).into_bytes()).collect();
        let mut inflater = Inflater::new();
        let mut plain = BytesMut::new();
        for m in &messages {
            let from = wire.len();
            d.compress_message(m, &mut wire).unwrap();
            // Everything sent so far inflates to everything written so far.
            let mut input = &wire[from..];
            while !input.is_empty() {
                let (used, _) = inflater.inflate(input, &mut plain, 4096).unwrap();
                input = &input[used..];
            }
            while inflater.inflate(&[], &mut plain, 4096).unwrap().1 > 0 {}
        }
        assert_eq!(&plain[..], &messages.concat()[..]);
        assert_eq!(wire[0], 0x78, "zlib header");
        // A standard zlib reader agrees (it stops at the missing end, fine).
        let mut out = Vec::new();
        let _ = flate2::read::ZlibDecoder::new(&wire[..]).read_to_end(&mut out);
        assert_eq!(out, messages.concat());
    }

    #[test]
    fn output_is_bounded_per_step_and_garbage_is_an_error() {
        let mut d = Deflater::new(9);
        let mut wire = Vec::new();
        d.compress_message(&vec![0u8; 1 << 20], &mut wire).unwrap();
        assert!(wire.len() < 4096, "a megabyte of zeros compresses well");
        let mut inflater = Inflater::new();
        let mut plain = BytesMut::new();
        let (_, produced) = inflater.inflate(&wire, &mut plain, 1000).unwrap();
        assert_eq!(produced, 1000);
        assert!(Inflater::new().inflate(b"\x00\x00\x00\x01garbage", &mut BytesMut::new(), 100).is_err());
    }
}
