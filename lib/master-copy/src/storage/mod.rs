//! Where the master copy lives: a small file-system interface with the
//! operations the HDFS sink (writing, recovery) and the batch job (listing,
//! reading) need, implemented for HDFS ([`hdfs::HdfsStorage`], `hdfs-native`)
//! and the local disk ([`local::LocalStorage`], `file://`), plus
//! [`AnyStorage`], chosen by URL.
//!
//! Paths are absolute, `/`-separated paths inside the file system. For
//! `file:///dir` they are resolved below `dir`, so both back ends hold the
//! same layout.
//!
//! Contract every implementation keeps:
//! - [`Storage::create`] fails with [`ErrorKind::AlreadyExists`] rather than
//!   overwrite, and creates missing parent directories;
//! - [`StorageWriter::sync`] returns only when every byte appended so far
//!   survives a crash of this process and of the machine (HDFS `hsync`:
//!   on the DataNodes' disks, length known to the NameNode; local: `fsync`);
//! - [`Storage::rename`] never overwrites;
//! - after a writer failed, the sink never appends to that file again (it
//!   may hold a torn block); the file is finalised by crash recovery.

pub mod hdfs;
pub mod local;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;

use bytes::Bytes;

/// What kind of failure a storage call had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The path does not exist.
    NotFound,
    /// The path exists (create, rename target).
    AlreadyExists,
    /// The service did not answer (NameNode or DataNode down, connection
    /// refused): worth retrying later, not a problem with the path.
    Unavailable,
    /// Anything else: I/O error, timeout, refused request.
    Other,
}

/// A failed storage call, with the operation and path in its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// The kind.
    pub kind: ErrorKind,
    /// `<op> <path>: <cause>`.
    pub message: String,
}

impl StorageError {
    /// A new error for `op` on `path`.
    pub fn new(kind: ErrorKind, op: &str, path: &str, cause: impl fmt::Display) -> StorageError {
        StorageError { kind, message: format!("{op} {path}: {cause}") }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StorageError {}

/// Result of a storage call.
pub type StorageResult<T> = Result<T, StorageError>;

/// A file found by [`Storage::list_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Absolute path.
    pub path: String,
    /// Length in bytes (for a file still open on HDFS: what the NameNode knows).
    pub len: u64,
}

/// An entry found by [`Storage::list_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name inside its directory.
    pub name: String,
    /// Absolute path.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Length in bytes (0 for directories).
    pub len: u64,
}

/// A file system holding the master copy.
pub trait Storage: Send + Sync + 'static {
    /// An open file being written.
    type Writer: StorageWriter;

    /// `path` as a URL, for logs.
    fn url_of(&self, path: &str) -> String;

    /// Creates a new file for writing (parents created as needed); fails with
    /// `AlreadyExists` if it exists.
    fn create(&self, path: &str) -> impl Future<Output = StorageResult<Self::Writer>> + Send;

    /// Whether `path` exists.
    fn exists(&self, path: &str) -> impl Future<Output = StorageResult<bool>> + Send;

    /// The length of a file.
    fn len(&self, path: &str) -> impl Future<Output = StorageResult<u64>> + Send;

    /// Up to `len` bytes at `offset` (fewer only at the end of the file).
    fn read_range(&self, path: &str, offset: u64, len: usize) -> impl Future<Output = StorageResult<Bytes>> + Send;

    /// Renames a file; fails with `AlreadyExists` if `to` exists.
    fn rename(&self, from: &str, to: &str) -> impl Future<Output = StorageResult<()>> + Send;

    /// Deletes a file; a missing file is not an error.
    fn delete(&self, path: &str) -> impl Future<Output = StorageResult<()>> + Send;

    /// A whole file, in one buffer.
    fn read_file(&self, path: &str) -> impl Future<Output = StorageResult<Vec<u8>>> + Send;

    /// Every file below `dir`, recursively; a missing `dir` gives none.
    fn list_files(&self, dir: &str) -> impl Future<Output = StorageResult<Vec<FileEntry>>> + Send;

    /// The entries directly in `dir`; `None` when `dir` does not exist.
    fn list_dir(&self, dir: &str) -> impl Future<Output = StorageResult<Option<Vec<DirEntry>>>> + Send;

    /// Makes sure no dead writer still holds `path` open: `true` once the
    /// file is closed and its length final (HDFS lease recovery; the call
    /// starts recovery and is repeated until it answers `true`). Local files
    /// have no leases: always `true`.
    fn recover_lease(&self, path: &str) -> impl Future<Output = StorageResult<bool>> + Send;
}

/// A file open for writing.
pub trait StorageWriter: Send + 'static {
    /// Appends bytes (not yet durable).
    fn append(&mut self, data: Bytes) -> impl Future<Output = StorageResult<()>> + Send;
    /// Makes everything appended so far durable (`hsync` / `fsync`).
    fn sync(&mut self) -> impl Future<Output = StorageResult<()>> + Send;
    /// Completes the file. It is then closed even if this fails later on.
    fn close(&mut self) -> impl Future<Output = StorageResult<()>> + Send;
}

/// A parsed master-copy URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `hdfs://authority[/base]`
    Hdfs {
        /// `hdfs://host:port` (or a name service).
        authority: String,
        /// The URL's path, prefixed to the template (`""` for none).
        base: String,
    },
    /// `file:///dir`
    Local {
        /// The directory that plays the file system's root.
        root: PathBuf,
    },
}

impl StorageUrl {
    /// Parses `hdfs://host[:port][/base]` or `file:///dir`.
    pub fn parse(url: &str) -> Result<StorageUrl, String> {
        if let Some(rest) = url.strip_prefix("hdfs://") {
            let (host, base) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if host.is_empty() {
                return Err("no NameNode or name service (expected hdfs://host:port[/path])".into());
            }
            Ok(StorageUrl::Hdfs { authority: format!("hdfs://{host}"), base: base.trim_end_matches('/').to_string() })
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err("file URLs need an absolute path (file:///dir)".into());
            }
            Ok(StorageUrl::Local { root: PathBuf::from(path) })
        } else {
            Err("unsupported scheme (use hdfs://host:port[/path] or file:///dir)".into())
        }
    }
}

/// HDFS or the local disk, picked by URL.
pub enum AnyStorage {
    /// `hdfs://`
    Hdfs(hdfs::HdfsStorage),
    /// `file://`
    Local(local::LocalStorage),
}

/// The writer of [`AnyStorage`].
pub enum AnyWriter {
    /// HDFS (boxed: `hdfs-native`'s writer is a few KB).
    Hdfs(Box<hdfs::HdfsWriter>),
    /// Local disk.
    Local(local::LocalWriter),
}

/// HDFS client settings, for [`AnyStorage::open`].
#[derive(Debug, Clone, Default)]
pub struct HdfsOptions {
    /// Overrides of what `HADOOP_CONF_DIR` provides (`dfs.*` keys).
    pub config: BTreeMap<String, String>,
    /// Block size of new files; `None`: the cluster's default.
    pub block_size: Option<u64>,
}

impl AnyStorage {
    /// Opens the storage for `url`; returns it and the base path to put in
    /// front of paths (the HDFS URL's path; nothing for `file://`, whose
    /// directory plays the root). Connecting is lazy: an unreachable
    /// NameNode shows up at the first call.
    pub fn open(url: &StorageUrl, hdfs: &HdfsOptions) -> Result<(AnyStorage, String), String> {
        match url {
            StorageUrl::Hdfs { authority, base } => {
                let storage = hdfs::HdfsStorage::connect(authority, &hdfs.config, hdfs.block_size)?;
                Ok((AnyStorage::Hdfs(storage), base.clone()))
            }
            StorageUrl::Local { root } => Ok((AnyStorage::Local(local::LocalStorage::new(root.clone())), String::new())),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStorage::Hdfs($s) => $e,
            AnyStorage::Local($s) => $e,
        }
    };
}

impl Storage for AnyStorage {
    type Writer = AnyWriter;

    fn url_of(&self, path: &str) -> String {
        dispatch!(self, s => s.url_of(path))
    }
    async fn create(&self, path: &str) -> StorageResult<AnyWriter> {
        match self {
            AnyStorage::Hdfs(s) => s.create(path).await.map(|w| AnyWriter::Hdfs(Box::new(w))),
            AnyStorage::Local(s) => s.create(path).await.map(AnyWriter::Local),
        }
    }
    async fn exists(&self, path: &str) -> StorageResult<bool> {
        dispatch!(self, s => s.exists(path).await)
    }
    async fn len(&self, path: &str) -> StorageResult<u64> {
        dispatch!(self, s => s.len(path).await)
    }
    async fn read_range(&self, path: &str, offset: u64, len: usize) -> StorageResult<Bytes> {
        dispatch!(self, s => s.read_range(path, offset, len).await)
    }
    async fn rename(&self, from: &str, to: &str) -> StorageResult<()> {
        dispatch!(self, s => s.rename(from, to).await)
    }
    async fn delete(&self, path: &str) -> StorageResult<()> {
        dispatch!(self, s => s.delete(path).await)
    }
    async fn read_file(&self, path: &str) -> StorageResult<Vec<u8>> {
        dispatch!(self, s => s.read_file(path).await)
    }
    async fn list_files(&self, dir: &str) -> StorageResult<Vec<FileEntry>> {
        dispatch!(self, s => s.list_files(dir).await)
    }
    async fn list_dir(&self, dir: &str) -> StorageResult<Option<Vec<DirEntry>>> {
        dispatch!(self, s => s.list_dir(dir).await)
    }
    async fn recover_lease(&self, path: &str) -> StorageResult<bool> {
        dispatch!(self, s => s.recover_lease(path).await)
    }
}

impl StorageWriter for AnyWriter {
    async fn append(&mut self, data: Bytes) -> StorageResult<()> {
        match self {
            AnyWriter::Hdfs(w) => w.append(data).await,
            AnyWriter::Local(w) => w.append(data).await,
        }
    }
    async fn sync(&mut self) -> StorageResult<()> {
        match self {
            AnyWriter::Hdfs(w) => w.sync().await,
            AnyWriter::Local(w) => w.sync().await,
        }
    }
    async fn close(&mut self) -> StorageResult<()> {
        match self {
            AnyWriter::Hdfs(w) => w.close().await,
            AnyWriter::Local(w) => w.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            StorageUrl::parse("hdfs://127.0.0.1:8020").unwrap(),
            StorageUrl::Hdfs { authority: "hdfs://127.0.0.1:8020".into(), base: "".into() }
        );
        assert_eq!(StorageUrl::parse("hdfs://ns1/user/x/").unwrap(), StorageUrl::Hdfs { authority: "hdfs://ns1".into(), base: "/user/x".into() });
        assert_eq!(StorageUrl::parse("file:///var/lib").unwrap(), StorageUrl::Local { root: "/var/lib".into() });
        assert!(StorageUrl::parse("hdfs:///x").is_err());
        assert!(StorageUrl::parse("file://x").is_err());
        assert!(StorageUrl::parse("/x").is_err());
    }
}
