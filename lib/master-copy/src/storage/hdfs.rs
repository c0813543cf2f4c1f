//! HDFS through `hdfs-native` (the NameNode's RPC protocol and the DataNode
//! transfer protocol, no JVM). Files are created with the cluster's default
//! block size and replication, permission 0644.
//!
//! Durability: `sync` is `hsync`, which waits until every DataNode of the
//! pipeline has the packet on disk and then tells the NameNode the new length
//! (`fsync` RPC). A file left open by a dead writer keeps its lease until
//! [`Storage::recover_lease`] makes the NameNode close it at the length the
//! DataNodes hold.

use std::collections::BTreeMap;

use bytes::Bytes;
use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};

use super::{DirEntry, ErrorKind, FileEntry, Storage, StorageError, StorageResult, StorageWriter};

/// An HDFS file system.
pub struct HdfsStorage {
    client: Client,
    authority: String,
    block_size: Option<u64>,
}

fn err(op: &str, path: &str, e: HdfsError) -> StorageError {
    let kind = match &e {
        HdfsError::FileNotFound(_) => ErrorKind::NotFound,
        HdfsError::AlreadyExists(_) => ErrorKind::AlreadyExists,
        HdfsError::RPCError(class, _) if class.ends_with("FileNotFoundException") => ErrorKind::NotFound,
        HdfsError::RPCError(class, _) if class.ends_with("FileAlreadyExistsException") => ErrorKind::AlreadyExists,
        HdfsError::IOError(_) => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    };
    StorageError::new(kind, op, path, e)
}

impl HdfsStorage {
    /// A client for `authority` (`hdfs://host:port` or a name service);
    /// `config` overrides what `HADOOP_CONF_DIR` provides; new files get
    /// `block_size`, or else the cluster's default.
    pub fn connect(authority: &str, config: &BTreeMap<String, String>, block_size: Option<u64>) -> Result<HdfsStorage, String> {
        let mut builder = ClientBuilder::new().with_url(authority);
        if !config.is_empty() {
            builder = builder.with_config(config.clone());
        }
        let client = builder.build().map_err(|e| format!("cannot create an HDFS client for {authority}: {e}"))?;
        Ok(HdfsStorage { client, authority: authority.to_string(), block_size })
    }

    /// The underlying client (tests use it to inspect files).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Storage for HdfsStorage {
    type Writer = HdfsWriter;

    fn url_of(&self, path: &str) -> String {
        format!("{}{path}", self.authority)
    }

    async fn create(&self, path: &str) -> StorageResult<HdfsWriter> {
        let mut opts = WriteOptions::default().overwrite(false).create_parent(true).permission(0o644);
        if let Some(b) = self.block_size {
            opts = opts.block_size(b);
        }
        let writer = self.client.create(path, opts).await.map_err(|e| err("create", path, e))?;
        Ok(HdfsWriter { writer, path: path.to_string() })
    }

    async fn exists(&self, path: &str) -> StorageResult<bool> {
        match self.client.get_file_info(path).await {
            Ok(_) => Ok(true),
            Err(e) => match err("stat", path, e) {
                e if e.kind == ErrorKind::NotFound => Ok(false),
                e => Err(e),
            },
        }
    }

    async fn len(&self, path: &str) -> StorageResult<u64> {
        let status = self.client.get_file_info(path).await.map_err(|e| err("stat", path, e))?;
        Ok(status.length as u64)
    }

    async fn read_range(&self, path: &str, offset: u64, len: usize) -> StorageResult<Bytes> {
        let reader = self.client.read(path).await.map_err(|e| err("open", path, e))?;
        let file_len = reader.file_length() as u64;
        let offset = offset.min(file_len);
        let len = (len as u64).min(file_len - offset) as usize;
        if len == 0 {
            return Ok(Bytes::new());
        }
        reader.read_range(offset as usize, len).await.map_err(|e| err("read", path, e))
    }

    async fn rename(&self, from: &str, to: &str) -> StorageResult<()> {
        self.client.rename(from, to, false).await.map_err(|e| err("rename", &format!("{from} -> {to}"), e))
    }

    async fn delete(&self, path: &str) -> StorageResult<()> {
        match self.client.delete(path, false).await {
            Ok(_) => Ok(()),
            Err(e) => match err("delete", path, e) {
                e if e.kind == ErrorKind::NotFound => Ok(()),
                e => Err(e),
            },
        }
    }

    async fn read_file(&self, path: &str) -> StorageResult<Vec<u8>> {
        let reader = self.client.read(path).await.map_err(|e| err("open", path, e))?;
        let mut buf = vec![0u8; reader.file_length()];
        reader.read_range_buf(&mut buf, 0).await.map_err(|e| err("read", path, e))?;
        Ok(buf)
    }

    async fn list_dir(&self, dir: &str) -> StorageResult<Option<Vec<DirEntry>>> {
        match self.client.list_status(dir, false).await {
            Ok(statuses) => Ok(Some(
                statuses
                    .into_iter()
                    .map(|s| DirEntry {
                        name: s.path.rsplit('/').next().unwrap_or_default().to_string(),
                        path: s.path,
                        is_dir: s.isdir,
                        len: s.length as u64,
                    })
                    .collect(),
            )),
            Err(e) => match err("list", dir, e) {
                e if e.kind == ErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn list_files(&self, dir: &str) -> StorageResult<Vec<FileEntry>> {
        match self.client.list_status(dir, true).await {
            Ok(statuses) => Ok(statuses.into_iter().filter(|s| !s.isdir).map(|s| FileEntry { path: s.path, len: s.length as u64 }).collect()),
            Err(e) => match err("list", dir, e) {
                e if e.kind == ErrorKind::NotFound => Ok(Vec::new()),
                e => Err(e),
            },
        }
    }

    async fn recover_lease(&self, path: &str) -> StorageResult<bool> {
        self.client.recover_lease(path).await.map_err(|e| err("recover lease", path, e))
    }
}

/// A file open for writing on HDFS.
pub struct HdfsWriter {
    writer: hdfs_native::file::FileWriter,
    path: String,
}

impl StorageWriter for HdfsWriter {
    async fn append(&mut self, data: Bytes) -> StorageResult<()> {
        self.writer.write_bytes(data).await.map(|_| ()).map_err(|e| err("write", &self.path, e))
    }

    async fn sync(&mut self) -> StorageResult<()> {
        self.writer.hsync().await.map_err(|e| err("hsync", &self.path, e))
    }

    async fn close(&mut self) -> StorageResult<()> {
        self.writer.close().await.map_err(|e| err("close", &self.path, e))
    }
}
