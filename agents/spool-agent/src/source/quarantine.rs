//! Files that cannot be read whole leave the spool directory for the
//! quarantine directory, with a `.reason` file next to them saying why and
//! how far delivery got, so an operator can decide what to do. The agent
//! itself goes on with the other files.
//!
//! The reasons ([`QuarantineReason`]) are defined in `crate::metrics`: each
//! is also a label value of `files_quarantined`, created at 0 when the
//! metrics are registered.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::json;

use crate::metrics::QuarantineReason;

/// Moves `path` into `dir` (if it still exists) and writes `<name>.reason`
/// (with the file's stream fingerprint and the offset of the decompressed
/// stream up to which its lines were delivered).
/// Returns where the file went.
pub fn quarantine(
    dir: &Path,
    path: &Path,
    reason: QuarantineReason,
    detail: &str,
    stream: Option<&str>,
    delivered_up_to: u64,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "unnamed".into());
    let stamp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let target = dir.join(format!("{name}.{stamp}"));
    let moved = match std::fs::rename(path, &target) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            // Another file system: copy, then remove.
            std::fs::copy(path, &target).map_err(|_| e)?;
            std::fs::remove_file(path)?;
            true
        }
    };
    let info = json!({
        "file": path.display().to_string(),
        "quarantined_as": if moved { Some(target.display().to_string()) } else { None },
        "reason": reason.as_str(),
        "detail": detail,
        "stream": stream,
        "delivered_up_to_offset": delivered_up_to,
        "at_unix_ms": stamp,
    });
    let reason_path = dir.join(format!("{name}.{stamp}.reason"));
    std::fs::write(&reason_path, serde_json::to_string_pretty(&info)? + "\n")?;
    Ok(target)
}
