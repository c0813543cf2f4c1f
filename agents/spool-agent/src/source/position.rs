//! The source position saved with each channel put: how far a file (by
//! fingerprint) has been read, and whether it is complete.

use clickstream_channel::Position;

/// A file's saved position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePosition {
    /// Offset after the last line in the channel.
    pub offset: u64,
    /// Every line is in the channel; only completion remains.
    pub complete: bool,
}

impl FilePosition {
    /// The channel position for file `fingerprint`.
    pub fn to_position(self, fingerprint: &str) -> Position {
        let mut value = self.offset.to_le_bytes().to_vec();
        value.push(u8::from(self.complete));
        Position { key: fingerprint.to_string(), value }
    }

    /// Forgets the file's position.
    pub fn forget(fingerprint: &str) -> Position {
        Position { key: fingerprint.to_string(), value: Vec::new() }
    }

    /// Reads a saved value; `None` if it is not one of ours.
    pub fn decode(value: &[u8]) -> Option<FilePosition> {
        let (offset, flag) = value.split_first_chunk::<8>()?;
        Some(FilePosition { offset: u64::from_le_bytes(*offset), complete: flag == [1] })
    }
}
