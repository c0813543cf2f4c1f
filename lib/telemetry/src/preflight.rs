//! Checks of the machine a binary's `validate` runs (without side effects
//! beyond a probe file it removes): that a directory it will write exists or
//! can be created and can be written, and that an address it will listen on
//! is free. Shared so that every binary words the same problem the same way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A directory that exists and can be written, or can be created (its
/// nearest existing ancestor is a writable directory).
pub fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut existing: PathBuf = dir.to_path_buf();
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p.to_path_buf(),
            _ => return Err("no existing parent directory".into()),
        }
    }
    let creating = existing != dir;
    if !existing.is_dir() {
        return Err(if creating { format!("cannot be created: {} is not a directory", existing.display()) } else { "is not a directory".into() });
    }
    probe_write(&existing).map_err(|e| {
        if creating {
            format!("cannot be created: {} cannot be written ({e}); create the directory for the service's user", existing.display())
        } else {
            format!("cannot be written ({e}): give the service's user write permission")
        }
    })
}

/// Creates and removes a hidden file in `dir` (scanners ignore hidden
/// names, so a running service never reads it). Permission bits alone would
/// not tell: root ignores them, and a read-only mount has them all.
pub fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".clickstream-validate.{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe)?;
    std::fs::remove_file(&probe)
}

/// The address can be listened on now: binds it and lets it go at once.
pub fn listen_free(addr: SocketAddr) -> Result<(), String> {
    std::net::TcpListener::bind(addr).map(drop).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "is in use: another process listens there (if it is this service already running, stop it first or pick another address)".to_string()
        }
        std::io::ErrorKind::AddrNotAvailable => "is not an address of this machine".to_string(),
        _ => format!("cannot be listened on ({e})"),
    })
}

/// Exit code of `validate --connect` when a service the binary needs does
/// not answer (sysexits EX_UNAVAILABLE), distinct from a bad file (78).
pub const EX_UNAVAILABLE: u8 = 69;

/// Runs a binary's `--connect` checks (each a destination it will use,
/// asked something harmless) on a runtime of their own, and returns the
/// problems. A runtime that cannot start is a problem like any other.
pub fn connect_checks<F: std::future::Future<Output = Vec<String>>>(checks: F) -> Vec<String> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(checks),
        Err(e) => vec![format!("cannot start an async runtime for the connection checks: {e}")],
    }
}

/// `probe` within `timeout`, its error or the timeout worded as "what: …".
pub async fn answers<T, E: std::fmt::Display>(
    what: &str,
    timeout: std::time::Duration,
    probe: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_and_addresses() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(writable_dir(&root.path().join("a/b/c")), Ok(()), "created by the service");
        assert!(writable_dir(&file.join("state")).unwrap_err().contains("cannot be created"));
        assert!(writable_dir(&file).unwrap_err().contains("not a directory"));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "the probe leaves nothing behind");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        assert!(listen_free(addr).unwrap_err().contains("in use"));
        drop(taken);
        assert_eq!(listen_free(addr), Ok(()));
        assert!(listen_free("192.0.2.1:1".parse().unwrap()).unwrap_err().contains("not an address"));
    }
}
