//! The master copy: listing a day's partitions and reading files, on HDFS
//! (`hdfs://namenode:port/root`, through `hdfs-native`) or on a local file
//! system (`file:///root`, same layout; tests and single-machine setups).
//!
//! Only this module knows where bytes come from; everything after it works
//! on whole files in memory (a master-copy file is at most one HDFS block
//! group of a few hundred MB, and the run keeps only a few in flight). The
//! storage back ends and the layout are `lib/master-copy`'s; this module adds
//! the job's view: a day's listing, time limits, and its errors.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use clickstream_master_copy::layout::{day_dir, parse_hour_dir};
use clickstream_master_copy::names::{classify, EntryKind};
use clickstream_master_copy::storage::{local::LocalStorage, AnyStorage, ErrorKind, HdfsOptions, Storage, StorageError, StorageUrl};

use crate::error::BatchError;

/// A closed data file of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Full URL, for messages and the audit table.
    pub url: String,
    /// Path inside the store.
    pub path: String,
    /// Hour partition the file is in.
    pub hour: u8,
    /// Size in bytes.
    pub len: u64,
}

/// What a day's partitions hold.
#[derive(Debug, Clone, Default)]
pub struct DayListing {
    /// Whether `date=…` exists at all.
    pub exists: bool,
    /// Closed files, sorted by hour then name.
    pub files: Vec<DataFile>,
    /// Files still being written (`.avro.tmp`): skipped and reported.
    pub in_progress: Vec<String>,
    /// Other entries (markers, unknown directories and files): ignored.
    pub ignored: Vec<String>,
}

impl DayListing {
    /// Total size of the data files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }

    /// What the closed data files are, in a form that is cheap to store and
    /// compare: a late drop adds files, a recovered `.avro.tmp` becomes a
    /// file, an operator moves one away, and each changes the digest.
    pub fn fingerprint(&self) -> ListingFingerprint {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        // `files` is sorted by hour then path, so equal listings hash alike.
        for f in &self.files {
            h.update(f.path.as_bytes());
            h.update(&[0]);
            h.update(&f.len.to_le_bytes());
        }
        ListingFingerprint { files: self.files.len() as u32, bytes: self.bytes(), digest: format!("{:016x}", h.digest()) }
    }
}

/// The identity of a day's listing of data files (paths and sizes), as
/// recorded with each reported day in MySQL's `reported_inputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingFingerprint {
    /// Closed data files.
    pub files: u32,
    /// Their total size.
    pub bytes: u64,
    /// xxh3-64, hex, of the sorted (path, size) list.
    pub digest: String,
}

/// The master copy: where it lives, and how long one call may take.
///
/// Every call to the store is bounded by `timeout`: hdfs-native retries an
/// unreachable NameNode without end, and a job that hangs looks to Airflow
/// like a slow day instead of an outage.
#[derive(Clone)]
pub struct MasterCopy {
    storage: Arc<AnyStorage>,
    /// The root's path inside the storage, without a trailing `/`. Local
    /// stores are opened at `/`, so paths are the files' own (the audit
    /// table's fingerprints hash them).
    root: String,
    timeout: Duration,
}

impl std::fmt::Debug for MasterCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

impl MasterCopy {
    /// Opens `hdfs://host:port/root` or `file:///root`, each later call
    /// bounded by `timeout`. Connecting is lazy: an unreachable NameNode is
    /// reported by the first call ([`MasterCopy::check_root`]).
    pub fn open(url: &str, timeout: Duration) -> Result<MasterCopy, BatchError> {
        let parsed = StorageUrl::parse(url).map_err(|e| BatchError::source(url, e))?;
        let (storage, root) = match parsed {
            StorageUrl::Hdfs { .. } => AnyStorage::open(&parsed, &HdfsOptions::default()).map_err(|e| BatchError::source(url, e))?,
            StorageUrl::Local { root } => {
                (AnyStorage::Local(LocalStorage::new(PathBuf::from("/"))), root.display().to_string().trim_end_matches('/').to_string())
            }
        };
        Ok(MasterCopy { storage: Arc::new(storage), root, timeout })
    }

    /// Fails unless the root exists: a missing root is a configuration
    /// error (a typo in `source.url`), not a day that is "not ready yet",
    /// which would keep a sensor waiting for hours. Also the first contact
    /// with the NameNode, so an unreachable one is reported here, in time.
    pub async fn check_root(&self) -> Result<(), BatchError> {
        let root = self.root_path();
        match self.list(&root).await? {
            Some(_) => Ok(()),
            None => Err(BatchError::Config {
                path: "source.url".into(),
                message: format!(
                    "the master copy's root {} does not exist. Check source.url (or --source): it must be the \
                     fan-out agent's HDFS sink root, which holds the date=YYYY-MM-DD directories",
                    self.url()
                ),
            }),
        }
    }

    /// `fut`, or [`BatchError::Unavailable`] when it takes longer than `limit`.
    async fn bounded<T>(&self, limit: Duration, what: &str, path: &str, fut: impl Future<Output = Result<T, StorageError>>) -> Result<T, BatchError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(path, e)),
            Err(_) => Err(BatchError::Unavailable {
                service: self.service(),
                url: self.url_of(path),
                message: format!(
                    "no answer within {} s while {what} (is the NameNode up? `scripts/stack status`; \
                     source.timeout_seconds sets the limit)",
                    limit.as_secs()
                ),
            }),
        }
    }

    /// A storage error as the job's: an unreachable service is retryable.
    fn error(&self, path: &str, e: StorageError) -> BatchError {
        let hint = match *self.storage {
            AnyStorage::Hdfs(_) => " (is the NameNode up? `scripts/stack status`)",
            AnyStorage::Local(_) => "",
        };
        match e.kind {
            ErrorKind::Unavailable => BatchError::Unavailable { service: self.service(), url: self.url_of(path), message: format!("{e}{hint}") },
            _ => BatchError::source(self.url_of(path), format!("{e}{hint}")),
        }
    }

    fn service(&self) -> &'static str {
        match *self.storage {
            AnyStorage::Hdfs(_) => "HDFS",
            AnyStorage::Local(_) => "the local master copy",
        }
    }

    /// The root as a URL.
    pub fn url(&self) -> String {
        self.url_of(&self.root_path())
    }

    fn url_of(&self, path: &str) -> String {
        self.storage.url_of(path)
    }

    fn root_path(&self) -> String {
        if self.root.is_empty() {
            "/".to_string()
        } else {
            self.root.clone()
        }
    }

    /// Entries of a directory; `None` when it does not exist.
    async fn list(&self, dir: &str) -> Result<Option<Vec<clickstream_master_copy::storage::DirEntry>>, BatchError> {
        self.bounded(self.timeout, "listing", dir, self.storage.list_dir(dir)).await
    }

    /// Lists the partitions of `day`.
    pub async fn list_day(&self, day: NaiveDate) -> Result<DayListing, BatchError> {
        let dir = format!("{}/{}", self.root, day_dir(day));
        let mut listing = DayListing::default();
        let Some(hours) = self.list(&dir).await? else { return Ok(listing) };
        listing.exists = true;
        for h in hours {
            let hour = match (h.is_dir, parse_hour_dir(&h.name)) {
                (true, Some(hour)) => hour,
                _ => {
                    listing.ignored.push(self.url_of(&h.path));
                    continue;
                }
            };
            for f in self.list(&h.path).await?.unwrap_or_default() {
                match (f.is_dir, classify(&f.name)) {
                    (false, EntryKind::Data) => listing.files.push(DataFile { url: self.url_of(&f.path), path: f.path, hour, len: f.len }),
                    (false, EntryKind::InProgress) => listing.in_progress.push(self.url_of(&f.path)),
                    _ => listing.ignored.push(self.url_of(&f.path)),
                }
            }
        }
        listing.files.sort_by(|a, b| (a.hour, &a.path).cmp(&(b.hour, &b.path)));
        listing.in_progress.sort();
        listing.ignored.sort();
        Ok(listing)
    }

    /// Reads a whole file, within the timeout plus a second per MiB.
    pub async fn read(&self, file: &DataFile) -> Result<Vec<u8>, BatchError> {
        let limit = self.timeout + Duration::from_secs(file.len >> 20);
        self.bounded(limit, "reading a file", &file.path, self.storage.read_file(&file.path)).await
    }
}
