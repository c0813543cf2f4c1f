//! Telling a log from a binary file (a core dump, an image, random bytes)
//! by its head, so a binary file is quarantined whole instead of yielding
//! thousands of `not_utf8` dead letters.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Share of the first 64 KiB that cannot be text (NUL and other control
/// bytes, invalid UTF-8) above which a file is binary, not a log.
pub const BINARY_SHARE: f64 = 0.10;

/// Whether the file's head says "binary" (a core dump, an image, random
/// bytes). A log with a few corrupted lines is text: those lines are
/// rejected one by one (`not_utf8`) and everything else is delivered.
pub fn looks_binary(path: &Path) -> std::io::Result<bool> {
    let mut head = vec![0u8; 64 * 1024];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(not_text_share(&head[..n]) > BINARY_SHARE)
}

/// Fraction of `bytes` that are NUL or other control bytes, or not valid UTF-8.
fn not_text_share(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut bad = 0usize;
    for chunk in bytes.utf8_chunks() {
        bad += chunk.invalid().len();
        bad += chunk.valid().bytes().filter(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)).count();
    }
    bad as f64 / bytes.len() as f64
}

#[cfg(test)]
mod tests {
    use super::not_text_share;

    #[test]
    fn a_log_with_a_few_corrupt_lines_is_text_and_a_dump_is_not() {
        let mut log = b"1.2.3.4 - - [20/Nov/2026:01:00:07 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\n".repeat(300);
        log.extend_from_slice(b"\x00\x01\xff\xfe binary noise \x00\x00\n");
        assert!(not_text_share(&log) < super::BINARY_SHARE);
        let mut dump = vec![0u8; 4096];
        dump[100] = 7;
        assert!(not_text_share(&dump) > super::BINARY_SHARE);
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert!(not_text_share(&noise) > super::BINARY_SHARE, "{}", not_text_share(&noise));
    }
}
