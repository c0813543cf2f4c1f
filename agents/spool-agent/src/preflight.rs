//! What `spool-agent validate` checks on the machine, beyond the values in
//! the file: that every spool directory exists and can be listed and written
//! (completed files are renamed, deleted or moved out of it), and that every
//! directory the agent writes its state to can be written or created. A
//! systemd unit runs `validate` before `run` (`ExecStartPre`), so a typo in
//! a path stops the start with the path named, instead of an agent that
//! runs and reads nothing.

use std::path::{Path, PathBuf};

use clickstream_channel::ChannelKind;

use crate::config::{Completion, Validated};

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
    probe_write(dir).map_err(|e| format!("cannot be written ({e}): the agent renames, deletes or moves completed files there; give its user write permission"))
}

/// A directory that exists and can be written, or can be created (its
/// nearest existing ancestor is a writable directory).
fn state_dir(dir: &Path) -> Result<(), String> {
    let mut existing: PathBuf = dir.to_path_buf();
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p.to_path_buf(),
            _ => return Err("no existing parent directory".into()),
        }
    }
    let creating = existing != dir;
    if !existing.is_dir() {
        return Err(if creating {
            format!("cannot be created: {} is not a directory", existing.display())
        } else {
            "is not a directory".into()
        });
    }
    probe_write(&existing).map_err(|e| {
        if creating {
            format!("cannot be created: {} cannot be written ({e}); create the directory for the agent's user", existing.display())
        } else {
            format!("cannot be written ({e}): give the agent's user write permission")
        }
    })
}

/// Creates and removes a hidden file in `dir` (the scanner ignores hidden
/// names, so a running agent never reads it). Permission bits alone would
/// not tell: root ignores them, and a read-only mount has them all.
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".spool-agent-validate.{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe)?;
    std::fs::remove_file(&probe)
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
