//! Optional persistence: the whole database as one JSON file.
//!
//! The stand-in is in-memory by design; `--snapshot FILE` only lets a local
//! stack keep its tables across a restart of the stand-in. The file is
//! written to a temporary name, fsynced and renamed, so a crash mid-write
//! leaves the previous snapshot intact. Values are stored as the hex of
//! their wire bytes, exactly as clients sent them.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::engine::Database;

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// File system error.
    #[error("snapshot {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a snapshot of this version.
    #[error("snapshot {path} is not readable: {source}")]
    Format {
        /// The file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Loads `path`, or `None` if it does not exist.
pub fn load(path: &Path) -> Result<Option<Database>, SnapshotError> {
    let p = path.display().to_string();
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| SnapshotError::Format { path: p, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SnapshotError::Io { path: p, source }),
    }
}

/// Writes `db` to `path` atomically.
pub fn save(db: &Database, path: &Path) -> Result<(), SnapshotError> {
    let p = path.display().to_string();
    let io = |source| SnapshotError::Io { path: p.clone(), source };
    let json = serde_json::to_vec(db).map_err(|source| SnapshotError::Format { path: p.clone(), source })?;
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(&json).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}
