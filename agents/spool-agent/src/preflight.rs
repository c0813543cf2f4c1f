//! What `spool-agent validate` checks on the machine, beyond the values in
//! the file: that every spool directory exists and can be listed and written
//! (completed files are renamed, deleted or moved out of it), and that every
//! directory the agent writes its state to can be written or created. A
//! systemd unit runs `validate` before `run` (`ExecStartPre`), so a typo in
//! a path stops the start with the path named, instead of an agent that
//! runs and reads nothing.
//!
//! [`reachable`] is `validate --connect`: every receiver gets the Avro
//! handshake and an empty batch, which Flume's Avro source and the fan-out
//! agent answer OK and store nothing.

use std::path::{Path, PathBuf};

use clickstream_telemetry::preflight::{probe_write, writable_dir as state_dir};

use clickstream_channel::ChannelKind;

use crate::config::{Completion, Validated};

/// Every problem found, each naming the key, the path and what to do.
pub fn check_paths(v: &Validated) -> Vec<String> {
    let mut problems = Vec::new();
    let s = &v.source;
    for (i, dir) in s.spool_dirs.iter().enumerate() {
        if let Err(e) = spool_dir(dir) {
            problems.push(format!("source.spool_dirs[{i}] {e}"));
        }
    }
    let mut writable: Vec<(&str, &Path)> = vec![("agent.state_dir", &v.agent.state_dir)];
    if v.channel.kind == ChannelKind::Durable {
        if let Some(dir) = &v.channel.dir {
            writable.push(("channel.dir", dir));
        }
    }
    writable.push(("source.quarantine_dir", &v.quarantine_dir));
    writable.push(("source.dead_letter_dir", &v.dead_letter_dir));
    if let Completion::Move { dir } = &s.completion {
        writable.push(("source.done_dir", dir));
    }
    for (key, dir) in writable {
        if let Err(e) = state_dir(dir) {
            problems.push(format!("{key} {}: {e}", dir.display()));
        }
    }
    problems
}

/// Why a spool directory cannot be used, naming it and what to do: the
/// agent lists it, reads its files and renames, deletes or moves them.
#[derive(Debug, thiserror::Error)]
enum SpoolDirError {
    /// Nothing at that path.
    #[error("{}: does not exist: create it (web servers or logrotate drop their files there)", .dir.display())]
    Missing {
        /// The directory.
        dir: PathBuf,
    },
    /// Its metadata cannot be read (a permission on a parent, say).
    #[error("{}: cannot be read ({cause})", .dir.display())]
    Unreadable {
        /// The directory.
        dir: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
    /// Something other than a directory is there.
    #[error("{}: is not a directory", .dir.display())]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// It cannot be listed.
    #[error("{}: cannot be listed ({cause}): give the agent's user read and execute permission", .dir.display())]
    Unlistable {
        /// The directory.
        dir: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
    /// A file cannot be created in it (so completed files could not be renamed away).
    #[error(
        "{}: cannot be written ({cause}): the agent renames, deletes or moves completed files there; give its user write permission",
        .dir.display()
    )]
    Unwritable {
        /// The directory.
        dir: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
}

fn spool_dir(dir: &Path) -> Result<(), SpoolDirError> {
    let at = || dir.to_path_buf();
    let meta = std::fs::metadata(dir).map_err(|cause| match cause.kind() {
        std::io::ErrorKind::NotFound => SpoolDirError::Missing { dir: at() },
        _ => SpoolDirError::Unreadable { dir: at(), cause },
    })?;
    if !meta.is_dir() {
        return Err(SpoolDirError::NotADirectory { dir: at() });
    }
    std::fs::read_dir(dir).map_err(|cause| SpoolDirError::Unlistable { dir: at(), cause })?;
    probe_write(dir).map_err(|cause| SpoolDirError::Unwritable { dir: at(), cause })
}

/// Every receiver that does not answer an empty batch, each naming its
/// address and the error (refused, timed out, TLS, an answer other than OK).
/// The receivers are asked at once.
pub async fn reachable(v: &Validated) -> Vec<String> {
    use clickstream_avro_ipc::client::FlumeClient;
    use clickstream_avro_ipc::flume::Status;
    let sink = &v.sink;
    let asks = sink.receivers.iter().enumerate().map(|(i, r)| async move {
        let options = clickstream_avro_ipc::client::ClientOptions { tls: r.tls.clone(), ..sink.client.clone() };
        let answer = async {
            let mut client = FlumeClient::connect(r.address.as_str(), options).await?;
            client.append_batch_encoded::<&[u8]>(&[]).await
        };
        match answer.await {
            Ok(Status::Ok) => None,
            Ok(status) => Some(format!("sink.receivers[{i}] {}: answered {status:?} to an empty batch", r.address)),
            Err(e) => Some(format!("sink.receivers[{i}] {}: {e}", r.address)),
        }
    });
    futures_util::future::join_all(asks).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_and_creatable_directories() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let missing = spool_dir(&root.path().join("nope")).unwrap_err();
        assert!(matches!(missing, SpoolDirError::Missing { .. }), "{missing:?}");
        assert!(missing.to_string().contains("nope: does not exist"), "names the directory: {missing}");
        let not_dir = spool_dir(&file).unwrap_err();
        assert!(matches!(not_dir, SpoolDirError::NotADirectory { .. }) && not_dir.to_string().ends_with("file: is not a directory"), "{not_dir}");
        assert!(spool_dir(root.path()).is_ok());
        assert_eq!(state_dir(&root.path().join("a/b/c")), Ok(()), "created by the agent");
        assert!(state_dir(&file.join("state")).unwrap_err().contains("cannot be created"));
        assert!(state_dir(&file).unwrap_err().contains("not a directory"));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "the probe leaves nothing behind");
    }
}
