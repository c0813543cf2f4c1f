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

use std::path::Path;

use clickstream_telemetry::preflight::{probe_write, writable_dir as state_dir};

use clickstream_channel::ChannelKind;

use crate::config::{Completion, Validated};
use crate::sink::client_options;

/// Every problem found, each naming the key, the path and what to do.
pub fn check_paths(v: &Validated) -> Vec<String> {
    let mut problems = Vec::new();
    let s = &v.config.source;
    for (i, dir) in s.spool_dirs.iter().enumerate() {
        if let Err(e) = spool_dir(dir) {
            problems.push(format!("source.spool_dirs[{i}] {}: {e}", dir.display()));
        }
    }
    let mut writable: Vec<(&str, &Path)> = vec![("agent.state_dir", &v.config.agent.state_dir)];
    if v.channel.kind == ChannelKind::Durable {
        if let Some(dir) = &v.channel.dir {
            writable.push(("channel.dir", dir));
        }
    }
    writable.push(("source.quarantine_dir", &v.quarantine_dir));
    writable.push(("source.dead_letter_dir", &v.dead_letter_dir));
    if let (Completion::Move, Some(dir)) = (s.completion, &s.done_dir) {
        writable.push(("source.done_dir", dir));
    }
    for (key, dir) in writable {
        if let Err(e) = state_dir(dir) {
            problems.push(format!("{key} {}: {e}", dir.display()));
        }
    }
    problems
}

fn spool_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist: create it (web servers or logrotate drop their files there)".to_string(),
        _ => format!("cannot be read ({e})"),
    })?;
    if !meta.is_dir() {
        return Err("is not a directory".into());
    }
    std::fs::read_dir(dir).map_err(|e| format!("cannot be listed ({e}): give the agent's user read and execute permission"))?;
    probe_write(dir)
        .map_err(|e| format!("cannot be written ({e}): the agent renames, deletes or moves completed files there; give its user write permission"))
}

/// Every receiver that does not answer an empty batch, each naming its
/// address and the error (refused, timed out, TLS, an answer other than OK).
/// The receivers are asked at once.
pub async fn reachable(v: &Validated) -> Vec<String> {
    use clickstream_avro_ipc::client::FlumeClient;
    use clickstream_avro_ipc::flume::Status;
    let sink = &v.config.sink;
    let asks = sink.receivers.iter().enumerate().map(|(i, r)| async move {
        let options = clickstream_avro_ipc::client::ClientOptions { tls: r.tls.clone(), ..client_options(sink) };
        let answer = async {
            let mut client = FlumeClient::connect(r.address.as_str(), options).await.map_err(|e| e.to_string())?;
            client.append_batch_encoded::<&[u8]>(&[]).await.map_err(|e| e.to_string())
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
        assert!(spool_dir(&root.path().join("nope")).unwrap_err().contains("does not exist"));
        assert!(spool_dir(&file).unwrap_err().contains("not a directory"));
        assert_eq!(spool_dir(root.path()), Ok(()));
        assert_eq!(state_dir(&root.path().join("a/b/c")), Ok(()), "created by the agent");
        assert!(state_dir(&file.join("state")).unwrap_err().contains("cannot be created"));
        assert!(state_dir(&file).unwrap_err().contains("not a directory"));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "the probe leaves nothing behind");
    }
}
