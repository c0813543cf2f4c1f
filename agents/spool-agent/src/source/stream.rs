//! Log streams: what identifies a file's lines, and how a file relates to
//! what was delivered before.
//!
//! A file is a copy of (part of) a log *stream*, identified by the
//! fingerprint of its first line after decompression. A shorter, grown,
//! repaired, compressed or renamed copy of a log has the same first line, so
//! its lines get the ids they had ([`clickstream_contract::event_id`]). What
//! was delivered of a stream is remembered as checkpoints (line boundaries
//! with the hash of the stream up to there, see [`Boundary`]); a new file of
//! the stream is read from its last checkpoint that matches, so a grown copy
//! delivers only its new lines, and a file equal to a delivered version is a
//! duplicate.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;

pub use super::lines::Boundary;
use super::lines::LineReader;

/// Bytes of the first line that identify a stream (a longer first line is
/// identified by this many bytes).
pub const FIRST_LINE_MAX: usize = 64 * 1024;

/// Whether the file is gzip-compressed (by name, as logrotate names them).
pub fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// The file's decompressed stream, reading at most `raw_limit` bytes of the
/// file: bytes appended after the file was picked up are left for later.
pub fn open(path: &Path, raw_limit: u64) -> std::io::Result<Box<dyn Read>> {
    let file = File::open(path)?.take(raw_limit);
    Ok(if is_gzip(path) { Box::new(MultiGzDecoder::new(file)) } else { Box::new(file) })
}

/// A file as picked up: its stream and the size it is read up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHead {
    /// The stream fingerprint (32 hex digits); `None` for an empty file.
    pub stream: Option<String>,
    /// File size when picked up: reading stops there.
    pub size: u64,
    /// Modification time when picked up.
    pub mtime: SystemTime,
}

/// The stream fingerprint of a stream starting with `head` (at most
/// [`FIRST_LINE_MAX`] bytes, up to and including the first `\n`).
pub fn fingerprint(head: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(head))
}

/// Reads the file's size and first line.
pub fn head(path: &Path) -> std::io::Result<FileHead> {
    let meta = File::open(path)?.metadata()?;
    let (size, mtime) = (meta.len(), meta.modified()?);
    let mut stream = open(path, size)?;
    let mut first = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    while first.len() < FIRST_LINE_MAX {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        first.extend_from_slice(&buf[..n]);
        if let Some(i) = memchr::memchr(b'\n', &first) {
            first.truncate(i + 1);
            break;
        }
    }
    first.truncate(FIRST_LINE_MAX);
    Ok(FileHead { stream: (!first.is_empty()).then(|| fingerprint(&first)), size, mtime })
}

/// How a file relates to what was delivered of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recognition {
    /// The last known checkpoint the file matches (offset 0 when none):
    /// everything before it was delivered, reading starts there.
    pub from: Boundary,
    /// The whole file, when it could be read to its end.
    pub end: Option<Boundary>,
    /// The file holds nothing new: it equals a delivered version, or ends
    /// at its last matching checkpoint.
    pub duplicate: bool,
}

/// Compares the file (read up to `size`) with the stream's known
/// `checkpoints` (ascending) and delivered `versions` (size, hash). A read
/// error ends the comparison where it happened: the reading pass meets the
/// same error and reports it.
pub fn recognise(path: &Path, size: u64, max_line: usize, checkpoints: &[Boundary], versions: &HashSet<Boundary>) -> Recognition {
    let mut from = Boundary::START;
    let Ok(stream) = open(path, size) else { return Recognition { from, end: None, duplicate: false } };
    let mut reader = LineReader::new(stream, max_line);
    for cp in checkpoints.iter().filter(|c| c.offset > 0) {
        match reader.skip_to(cp.offset) {
            Ok(true) if reader.hash() == cp.hash => from = *cp,
            _ => break,
        }
    }
    let end = reader.skip_to_end().ok().map(|offset| Boundary { offset, hash: reader.hash() });
    let duplicate = end.is_some_and(|e| versions.contains(&e) || (e.offset > 0 && e == from));
    Recognition { from, end, duplicate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn at(data: &[u8], offset: usize) -> Boundary {
        Boundary { offset: offset as u64, hash: xxhash_rust::xxh3::xxh3_128(&data[..offset]) }
    }

    #[test]
    fn copies_of_one_log_share_the_stream_and_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let log: Vec<u8> = (0..100).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let half = log.iter().take(log.len() / 2).rposition(|b| *b == b'\n').unwrap() + 1;
        let write = |name: &str, data: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, data).unwrap();
            p
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&log).unwrap();
        let gz = gz.finish().unwrap();
        let plain = head(&write("access.log", &log)).unwrap();
        let short = head(&write("access.log.1", &log[..half])).unwrap();
        let compressed = head(&write("access.log.2.gz", &gz)).unwrap();
        assert_eq!(plain.stream.as_deref(), Some(fingerprint(b"line 0\n").as_str()));
        assert_eq!(short.stream, plain.stream);
        assert_eq!(compressed.stream, plain.stream, "compressed or not, one stream");
        assert_eq!(compressed.size, gz.len() as u64);
        assert_eq!(head(&write("empty.log", b"")).unwrap().stream, None);

        // The half was delivered: the whole log (plain or gzip) extends it.
        let delivered = [at(&log, 10), at(&log, half)];
        let versions: HashSet<Boundary> = [at(&log[..half], half)].into();
        let r = recognise(&dir.path().join("access.log.2.gz"), gz.len() as u64, 1000, &delivered, &versions);
        assert_eq!(r, Recognition { from: at(&log, half), end: Some(at(&log, log.len())), duplicate: false });
        let r = recognise(&dir.path().join("access.log.1"), half as u64, 1000, &delivered, &versions);
        assert!(r.duplicate, "the delivered half again");
        // Different after line 3: read from the last checkpoint that matches.
        let mut changed = log.clone();
        changed[40] = b'X';
        let p = write("changed.log", &changed);
        let r = recognise(&p, changed.len() as u64, 1000, &delivered, &versions);
        assert_eq!((r.from, r.duplicate), (at(&log, 10), false));
        // Reading stops at the size picked up, whatever was appended since.
        let p = write("growing.log", &log);
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"appended\n").unwrap();
        let r = recognise(&p, log.len() as u64, 1000, &delivered, &versions);
        assert_eq!(r.end, Some(at(&log, log.len())));
    }
}
