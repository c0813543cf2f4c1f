//! Content fingerprints: files are identified by what they contain, not by
//! name or inode, so a reused name with new content is a new file and the
//! same content dropped twice is recognised.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use xxhash_rust::xxh3::Xxh3;

/// A file's identity and the size/mtime it had when fingerprinted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileId {
    /// XXH3-128 of the whole content, 32 hex digits.
    pub fingerprint: String,
    /// Size when fingerprinted.
    pub size: u64,
    /// Modification time when fingerprinted.
    pub mtime: SystemTime,
}

/// Streaming fingerprint, so the reading pass can check the content did not
/// change between fingerprinting and reading.
#[derive(Default)]
pub struct Hasher(Xxh3);

impl Hasher {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// The fingerprint of everything added.
    pub fn finish(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}

/// Fingerprints `path` by reading it whole (it is quiet, so it should not change).
pub fn fingerprint(path: &Path) -> std::io::Result<FileId> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileId { fingerprint: hasher.finish(), size, mtime: meta.modified()? })
}
