//! The source position saved with each channel put: how far a stream (by
//! its fingerprint) has been read in the file being read, with the hash of
//! the stream up to there (so a restart resumes only in a file that really
//! holds those bytes), and, with the last put, the whole file.

use clickstream_channel::Position;

use super::lines::Boundary;

/// A stream's saved position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePosition {
    /// The line boundary after the last line in the channel.
    pub at: Boundary,
    /// Every line is in the channel; only completion remains. The whole
    /// file's size and hash (its version).
    pub complete: Option<Boundary>,
}

fn put(out: &mut Vec<u8>, b: Boundary) {
    out.extend_from_slice(&b.offset.to_le_bytes());
    out.extend_from_slice(&b.hash.to_le_bytes());
}

fn get(bytes: &[u8]) -> Option<Boundary> {
    let (offset, hash) = bytes.split_first_chunk::<8>()?;
    Some(Boundary { offset: u64::from_le_bytes(*offset), hash: u128::from_le_bytes(hash.try_into().ok()?) })
}

impl FilePosition {
    /// The channel position for `stream`.
    pub fn to_position(self, stream: &str) -> Position {
        let mut value = Vec::with_capacity(49);
        put(&mut value, self.at);
        value.push(u8::from(self.complete.is_some()));
        if let Some(end) = self.complete {
            put(&mut value, end);
        }
        Position { key: stream.to_string(), value }
    }

    /// Forgets the stream's position.
    pub fn forget(stream: &str) -> Position {
        Position { key: stream.to_string(), value: Vec::new() }
    }

    /// Reads a saved value; `None` if it is not one of ours (an earlier
    /// version's position, keyed by a whole-file fingerprint).
    pub fn decode(value: &[u8]) -> Option<FilePosition> {
        match value.len() {
            25 if value[24] == 0 => Some(FilePosition { at: get(&value[..24])?, complete: None }),
            49 if value[24] == 1 => Some(FilePosition { at: get(&value[..24])?, complete: Some(get(&value[25..])?) }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_old_values_are_not_ours() {
        let at = Boundary { offset: 1234, hash: u128::MAX - 5 };
        for p in [FilePosition { at, complete: None }, FilePosition { at, complete: Some(Boundary { offset: 1300, hash: 9 }) }] {
            assert_eq!(FilePosition::decode(&p.to_position("s").value), Some(p));
        }
        let mut v1 = 1234u64.to_le_bytes().to_vec();
        v1.push(1);
        assert_eq!(FilePosition::decode(&v1), None);
    }
}
