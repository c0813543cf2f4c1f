//! The local disk, for `file:///dir` URLs: the same layout as on HDFS, below
//! `dir`. Blocking calls run on tokio's blocking pool.
//!
//! Durability: `sync` is `fdatasync`; creating a file (and any directory on
//! the way) and renaming or deleting one also `fsync` the parent directory,
//! so names survive a power cut as well as contents.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{DirEntry, ErrorKind, FileEntry, Storage, StorageError, StorageResult, StorageWriter};

/// A directory playing the root of a file system.
pub struct LocalStorage {
    root: PathBuf,
}

fn err(op: &str, path: &str, e: io::Error) -> StorageError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        _ => ErrorKind::Other,
    };
    StorageError::new(kind, op, path, e)
}

async fn blocking<T: Send + 'static>(op: &str, path: &str, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> StorageResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| err(op, path, e)),
        Err(e) => Err(StorageError::new(ErrorKind::Other, op, path, e)),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and missing ancestors, syncing each new entry's parent.
fn create_dirs_synced(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs_synced(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

impl LocalStorage {
    /// A file system rooted at `root`.
    pub fn new(root: PathBuf) -> LocalStorage {
        LocalStorage { root }
    }

    /// The local path of `path`.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn logical(&self, local: &Path) -> Option<String> {
        let rel = local.strip_prefix(&self.root).ok()?;
        Some(format!("/{}", rel.to_str()?))
    }
}

impl Storage for LocalStorage {
    type Writer = LocalWriter;

    fn url_of(&self, path: &str) -> String {
        format!("file://{}", self.resolve(path).display())
    }

    async fn create(&self, path: &str) -> StorageResult<LocalWriter> {
        let local = self.resolve(path);
        let file = blocking("create", path, move || {
            let parent = local.parent().unwrap_or(Path::new("/")).to_path_buf();
            create_dirs_synced(&parent)?;
            let file = OpenOptions::new().write(true).create_new(true).open(&local)?;
            sync_dir(&parent)?;
            Ok(file)
        })
        .await?;
        Ok(LocalWriter { file: Some(Arc::new(file)), path: path.to_string() })
    }

    async fn exists(&self, path: &str) -> StorageResult<bool> {
        let local = self.resolve(path);
        blocking("stat", path, move || local.try_exists()).await
    }

    async fn len(&self, path: &str) -> StorageResult<u64> {
        let local = self.resolve(path);
        blocking("stat", path, move || Ok(fs::metadata(local)?.len())).await
    }

    async fn read_range(&self, path: &str, offset: u64, len: usize) -> StorageResult<Bytes> {
        let local = self.resolve(path);
        blocking("read", path, move || {
            let file = File::open(local)?;
            let mut buf = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                match file.read_at(&mut buf[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(filled);
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn rename(&self, from: &str, to: &str) -> StorageResult<()> {
        let (src, dst) = (self.resolve(from), self.resolve(to));
        blocking("rename", &format!("{from} -> {to}"), move || {
            // No renameat2(RENAME_NOREPLACE) in std: a hard link fails if
            // the target exists, then the old name goes.
            fs::hard_link(&src, &dst)?;
            fs::remove_file(&src)?;
            if let Some(parent) = dst.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, path: &str) -> StorageResult<()> {
        let local = self.resolve(path);
        blocking("delete", path, move || {
            match fs::remove_file(&local) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            if let Some(parent) = local.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await
    }

    async fn read_file(&self, path: &str) -> StorageResult<Vec<u8>> {
        let local = self.resolve(path);
        blocking("read", path, move || fs::read(local)).await
    }

    async fn list_dir(&self, dir: &str) -> StorageResult<Option<Vec<DirEntry>>> {
        let local = self.resolve(dir);
        let found = blocking("list", dir, move || {
            let entries = match fs::read_dir(&local) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            for entry in entries {
                let entry = entry?;
                let meta = entry.metadata()?;
                out.push((entry.file_name().to_string_lossy().into_owned(), entry.path(), meta.is_dir(), if meta.is_dir() { 0 } else { meta.len() }));
            }
            Ok(Some(out))
        })
        .await?;
        Ok(found.map(|entries| {
            entries.into_iter().filter_map(|(name, p, is_dir, len)| Some(DirEntry { name, path: self.logical(&p)?, is_dir, len })).collect()
        }))
    }

    async fn list_files(&self, dir: &str) -> StorageResult<Vec<FileEntry>> {
        let local = self.resolve(dir);
        let found = blocking("list", dir, move || {
            let mut out = Vec::new();
            let mut stack = vec![local];
            while let Some(d) = stack.pop() {
                let entries = match fs::read_dir(&d) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let entry = entry?;
                    let meta = entry.metadata()?;
                    if meta.is_dir() {
                        stack.push(entry.path());
                    } else if meta.is_file() {
                        out.push((entry.path(), meta.len()));
                    }
                }
            }
            Ok(out)
        })
        .await?;
        Ok(found.into_iter().filter_map(|(p, len)| Some(FileEntry { path: self.logical(&p)?, len })).collect())
    }

    async fn recover_lease(&self, _path: &str) -> StorageResult<bool> {
        Ok(true)
    }
}

/// A local file open for writing.
pub struct LocalWriter {
    /// `None` once closed.
    file: Option<Arc<File>>,
    path: String,
}

impl LocalWriter {
    fn file(&self, op: &str) -> StorageResult<Arc<File>> {
        self.file.clone().ok_or_else(|| StorageError::new(ErrorKind::Other, op, &self.path, "file already closed"))
    }
}

impl StorageWriter for LocalWriter {
    async fn append(&mut self, data: Bytes) -> StorageResult<()> {
        let file = self.file("write")?;
        blocking("write", &self.path, move || (&*file).write_all(&data)).await
    }

    async fn sync(&mut self) -> StorageResult<()> {
        let file = self.file("fsync")?;
        blocking("fsync", &self.path, move || file.sync_data()).await
    }

    async fn close(&mut self) -> StorageResult<()> {
        let file = self.file("close")?;
        self.file = None;
        blocking("close", &self.path, move || file.sync_all()).await
    }
}
