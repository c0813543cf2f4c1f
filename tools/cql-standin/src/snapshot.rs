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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql::parse;
    use crate::engine::Ctx;
    use crate::result::Outcome;

    fn run(db: &mut Database, q: &str) -> Outcome {
        let ctx = Ctx { keyspace: None, values: &[], local_ip: [127, 0, 0, 1].into(), now_ms: 1_000, default_ts: None };
        db.execute(&parse(q).unwrap(), &ctx).unwrap()
    }

    #[test]
    fn a_snapshot_round_trips_schema_and_rows() {
        let mut db = Database::default();
        run(&mut db, "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
        run(&mut db, "CREATE TABLE k.t (a text, b bigint, c set<text>, PRIMARY KEY (a, b)) WITH CLUSTERING ORDER BY (b DESC)");
        run(&mut db, "INSERT INTO k.t (a, b, c) VALUES ('x', 1, {'p', 'q'})");
        run(&mut db, "INSERT INTO k.t (a, b, c) VALUES ('x', 2, {'r'}) USING TTL 1000");
        let dir = std::env::temp_dir().join(format!("cql-standin-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.json");
        save(&db, &path).unwrap();
        let mut loaded = load(&path).unwrap().expect("snapshot exists");
        let Outcome::Rows(before) = run(&mut db, "SELECT a, b, c, ttl(c) FROM k.t WHERE a = 'x'") else { panic!() };
        let Outcome::Rows(after) = run(&mut loaded, "SELECT a, b, c, ttl(c) FROM k.t WHERE a = 'x'") else { panic!() };
        assert_eq!(before.rows.len(), 2);
        assert_eq!(before.rows, after.rows);
        assert!(load(&dir.join("missing.json")).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
