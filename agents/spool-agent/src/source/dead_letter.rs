//! Rejected lines, kept aside with their reason: one JSON-lines file per
//! input file, `<dead_letter_dir>/<file name>.<stream>.rejected.jsonl` (the
//! first 16 hex digits of the log stream's fingerprint); offsets are in the
//! decompressed stream.
//!
//! Each line: `{"offset":…,"reason":"bad_status","message":"…","line":"…"}`;
//! a line that is not UTF-8 is written as `"line_base64"` instead, so nothing
//! is lost or mangled. The file is synced before the channel put that moves
//! the source position past the lines it holds.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

/// Writes the rejected lines of one input file.
pub struct DeadLetters {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    dirty: bool,
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl DeadLetters {
    /// Rejected lines of the input `name` with `fingerprint` go to a file in `dir` (created on first use).
    pub fn new(dir: &Path, name: &str, fingerprint: &str) -> DeadLetters {
        DeadLetters { path: dir.join(format!("{name}.{}.rejected.jsonl", &fingerprint[..16.min(fingerprint.len())])), out: None, dirty: false }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one rejected line.
    pub fn write(&mut self, offset: u64, reason: &str, message: &str, line: &[u8]) -> std::io::Result<()> {
        if self.out.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new().create(true).append(true).open(&self.path)?;
            self.out = Some(BufWriter::new(f));
        }
        let record = match std::str::from_utf8(line) {
            Ok(text) => json!({"offset": offset, "reason": reason, "message": message, "line": text}),
            Err(_) => json!({"offset": offset, "reason": reason, "message": message, "line_base64": base64(line)}),
        };
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
        self.dirty = true;
        Ok(())
    }

    /// Makes what was written durable (before the source position moves past it).
    pub fn sync(&mut self) -> std::io::Result<()> {
        if let (true, Some(out)) = (self.dirty, self.out.as_mut()) {
            out.flush()?;
            out.get_ref().sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64(&[0xff, 0xfe]), "//4=");
    }
}
