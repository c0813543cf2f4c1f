//! The master copy: listing a day's partitions and reading files, on HDFS
//! (`hdfs://namenode:port/root`, through `hdfs-native`) or on a local file
//! system (`file:///root`, same layout; tests and single-machine setups).
//!
//! Only this module knows where bytes come from; everything after it works
//! on whole files in memory (a master-copy file is at most one HDFS block
//! group of a few hundred MB, and the run keeps only a few in flight).

pub mod layout;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

use crate::error::BatchError;
use layout::{classify, day_dir, parse_hour_dir, EntryKind};

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
    backend: Backend,
    timeout: Duration,
}

/// Where the bytes come from.
#[derive(Clone)]
enum Backend {
    /// A real HDFS.
    Hdfs {
        /// The client.
        client: hdfs_native::Client,
        /// `hdfs://host:port`, for URLs in messages.
        authority: String,
        /// Root path inside HDFS, e.g. `/clickstream/master`.
        root: String,
    },
    /// A local directory with the same layout.
    Local {
        /// The root directory.
        root: PathBuf,
    },
}

impl std::fmt::Debug for MasterCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

struct Entry {
    name: String,
    path: String,
    is_dir: bool,
    len: u64,
}

impl MasterCopy {
    /// Opens `hdfs://host:port/root` or `file:///root`, each later call
    /// bounded by `timeout`. Connecting is lazy: an unreachable NameNode is
    /// reported by the first call ([`MasterCopy::check_root`]).
    pub fn open(url: &str, timeout: Duration) -> Result<MasterCopy, BatchError> {
        Ok(MasterCopy { backend: Backend::open(url)?, timeout })
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
    async fn bounded<T>(&self, limit: Duration, what: &str, path: &str, fut: impl Future<Output = Result<T, BatchError>>) -> Result<T, BatchError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
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

    fn service(&self) -> &'static str {
        match self.backend {
            Backend::Hdfs { .. } => "HDFS",
            Backend::Local { .. } => "the local master copy",
        }
    }

    /// The root as a URL.
    pub fn url(&self) -> String {
        self.backend.url()
    }

    fn url_of(&self, path: &str) -> String {
        self.backend.url_of(path)
    }

    fn root_path(&self) -> String {
        self.backend.root_path()
    }
}

impl Backend {
    fn open(url: &str) -> Result<Backend, BatchError> {
        if let Some(rest) = url.strip_prefix("hdfs://") {
            let (host, root) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if host.is_empty() {
                return Err(BatchError::source(url, "no NameNode in the URL (expected hdfs://host:port/path)"));
            }
            let authority = format!("hdfs://{host}");
            let client = hdfs_native::ClientBuilder::new()
                .with_url(authority.clone())
                .build()
                .map_err(|e| BatchError::source(url, format!("cannot create an HDFS client: {e}")))?;
            Ok(Backend::Hdfs { client, authority, root: root.trim_end_matches('/').to_string() })
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(BatchError::source(url, "file URLs need an absolute path (file:///dir)"));
            }
            Ok(Backend::Local { root: PathBuf::from(path) })
        } else {
            Err(BatchError::source(url, "unsupported URL scheme (use hdfs://host:port/path or file:///path)"))
        }
    }

    fn url(&self) -> String {
        match self {
            Backend::Hdfs { authority, root, .. } => format!("{authority}{root}"),
            Backend::Local { root } => format!("file://{}", root.display()),
        }
    }

    fn url_of(&self, path: &str) -> String {
        match self {
            Backend::Hdfs { authority, .. } => format!("{authority}{path}"),
            Backend::Local { .. } => format!("file://{path}"),
        }
    }

    fn root_path(&self) -> String {
        match self {
            Backend::Hdfs { root, .. } => root.clone(),
            Backend::Local { root } => root.display().to_string().trim_end_matches('/').to_string(),
        }
    }
}

impl MasterCopy {
    /// Entries of a directory; `None` when it does not exist.
    async fn list(&self, dir: &str) -> Result<Option<Vec<Entry>>, BatchError> {
        self.bounded(self.timeout, "listing", dir, self.list_unbounded(dir)).await
    }

    async fn list_unbounded(&self, dir: &str) -> Result<Option<Vec<Entry>>, BatchError> {
        match &self.backend {
            Backend::Hdfs { client, .. } => match client.list_status(dir, false).await {
                Ok(statuses) => Ok(Some(
                    statuses
                        .into_iter()
                        .map(|s| Entry {
                            name: s.path.rsplit('/').next().unwrap_or_default().to_string(),
                            path: s.path,
                            is_dir: s.isdir,
                            len: s.length as u64,
                        })
                        .collect(),
                )),
                Err(hdfs_native::HdfsError::FileNotFound(_)) => Ok(None),
                Err(hdfs_native::HdfsError::IOError(e)) => Err(BatchError::Unavailable {
                    service: "HDFS",
                    url: self.url_of(dir),
                    message: format!("{e} (is the NameNode up? `scripts/stack status`)"),
                }),
                Err(e) => Err(BatchError::source(self.url_of(dir), format!("listing failed: {e} (is the NameNode up? `scripts/stack status`)"))),
            },
            Backend::Local { .. } => {
                let mut rd = match tokio::fs::read_dir(dir).await {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(BatchError::source(self.url_of(dir), format!("listing failed: {e}"))),
                };
                let mut out = Vec::new();
                while let Some(e) = rd.next_entry().await.map_err(|e| BatchError::source(self.url_of(dir), e))? {
                    let meta = e.metadata().await.map_err(|err| BatchError::source(self.url_of(dir), err))?;
                    out.push(Entry {
                        name: e.file_name().to_string_lossy().into_owned(),
                        path: e.path().display().to_string(),
                        is_dir: meta.is_dir(),
                        len: meta.len(),
                    });
                }
                Ok(Some(out))
            }
        }
    }

    /// Lists the partitions of `day`.
    pub async fn list_day(&self, day: NaiveDate) -> Result<DayListing, BatchError> {
        let dir = format!("{}/{}", self.root_path(), day_dir(day));
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
        self.bounded(limit, "reading a file", &file.path, self.read_unbounded(file)).await
    }

    async fn read_unbounded(&self, file: &DataFile) -> Result<Vec<u8>, BatchError> {
        match &self.backend {
            Backend::Hdfs { client, .. } => {
                let reader = client.read(&file.path).await.map_err(|e| BatchError::source(&file.url, format!("open failed: {e}")))?;
                let len = reader.file_length();
                let mut buf = vec![0u8; len];
                reader
                    .read_range_buf(&mut buf, 0)
                    .await
                    .map_err(|e| BatchError::source(&file.url, format!("read failed: {e} (is the DataNode up?)")))?;
                Ok(buf)
            }
            Backend::Local { .. } => tokio::fs::read(&file.path).await.map_err(|e| BatchError::source(&file.url, format!("read failed: {e}"))),
        }
    }
}
