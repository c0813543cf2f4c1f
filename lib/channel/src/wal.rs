//! The durable channel's on-disk format.
//!
//! A channel directory holds:
//!
//! ```text
//! LOCK                        advisory lock: one process per directory
//! ACK                         16 bytes: last acknowledged put sequence
//! 00000000000000000001.wal    segment files, numbered, appended in order
//! 00000000000000000002.wal
//! ```
//!
//! A segment starts with the 8-byte magic `CLKWAL01`, then records:
//!
//! ```text
//! record  := len:u32le  crc:u32le  kind:u8  body        (len and crc cover kind+body;
//!                                                        crc is CRC-32 (IEEE))
//! Put       (kind 1) := seq:u64le  n:u32le  n × (len:u32le bytes)  has_pos:u8  [position]
//! Positions (kind 2) := n:u32le  n × position
//! position  := keylen:u16le key  vallen:u32le value
//! ```
//!
//! Invariants: put sequence numbers increase by one across segments; a put
//! is acknowledged to its caller only after its record is written (and, with
//! `fsync`, synced); a segment is deleted only once every put in it is
//! acknowledged by the sink. Each new segment opens with a Positions record
//! holding every live source position, so positions survive the deletion of
//! the segments they were first written in.
//!
//! Reclaiming: once every put of the *active* segment is acknowledged, the
//! channel rolls to a new segment and deletes the old one (on a commit when
//! the segment holds at least a quarter of `segment_bytes`, and on any put
//! refused by the disk floor), so a drained channel gives its disk back.
//! The new segment is synced before the old one is unlinked; a newest
//! segment torn before its Positions snapshot was complete (a crash while
//! it was created) is written again at open from the positions read in the
//! older segments, before anything is appended to it.
//!
//! `ACK` := seq:u64le  crc:u32le (of seq)  magic `ACK1`. It is rewritten in
//! place after each commit; a torn write fails its CRC and reads as "nothing
//! acknowledged beyond what the segments say", which can only resend.
//!
//! Recovery scans every segment: a record that is cut short or fails its CRC
//! at the end of the newest segment is a torn write from a crash and is
//! truncated away (its put never returned); anywhere else it is corruption,
//! reported with file and offset, and the rest of that segment is skipped.

use std::collections::HashMap;

use crate::Position;

/// Opens every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"CLKWAL01";
/// Bytes before a record's body: length and CRC.
pub const RECORD_HEADER: usize = 8;
const KIND_PUT: u8 = 1;
const KIND_POSITIONS: u8 = 2;
const ACK_MAGIC: &[u8; 4] = b"ACK1";

/// A decoded record.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A put transaction.
    Put {
        /// Sequence number.
        seq: u64,
        /// The events.
        events: Vec<&'a [u8]>,
        /// The source position committed with it.
        position: Option<Position>,
    },
    /// A snapshot of all live positions.
    Positions(HashMap<String, Vec<u8>>),
}

/// Why bytes are not a valid record.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than the record claims: a torn write at the end of a file.
    Incomplete,
    /// The CRC or the structure is wrong.
    Corrupt(&'static str),
}

fn put_position(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let key = &key.as_bytes()[..key.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

fn finish(out: &mut [u8], start: usize) {
    let body = &out[start + RECORD_HEADER..];
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a Put record to `out`.
pub fn encode_put(out: &mut Vec<u8>, seq: u64, events: &[&[u8]], position: Option<&Position>) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    out.push(KIND_PUT);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    for e in events {
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(e);
    }
    match position {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            put_position(out, &p.key, &p.value);
        }
    }
    finish(out, start);
}

/// Appends a Positions record to `out` (sorted by key, so equal maps give equal bytes).
pub fn encode_positions(out: &mut Vec<u8>, positions: &HashMap<String, Vec<u8>>) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    out.push(KIND_POSITIONS);
    out.extend_from_slice(&(positions.len() as u32).to_le_bytes());
    let mut keys: Vec<&String> = positions.keys().collect();
    keys.sort();
    for k in keys {
        put_position(out, k, &positions[k]);
    }
    finish(out, start);
}

struct Body<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or(RecordError::Corrupt("field overruns record"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn position(&mut self) -> Result<Position, RecordError> {
        let klen = self.u16()? as usize;
        let key = std::str::from_utf8(self.take(klen)?).map_err(|_| RecordError::Corrupt("position key not UTF-8"))?;
        let vlen = self.u32()? as usize;
        Ok(Position { key: key.to_string(), value: self.take(vlen)?.to_vec() })
    }
}

/// Decodes the record at the start of `buf`; returns it and its total length.
pub fn decode(buf: &[u8]) -> Result<(Record<'_>, usize), RecordError> {
    if buf.len() < RECORD_HEADER {
        return Err(RecordError::Incomplete);
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    let total = RECORD_HEADER.checked_add(len).ok_or(RecordError::Corrupt("length overflow"))?;
    if buf.len() < total {
        return Err(RecordError::Incomplete);
    }
    let body = &buf[RECORD_HEADER..total];
    if crc32fast::hash(body) != crc {
        return Err(RecordError::Corrupt("CRC mismatch"));
    }
    let mut r = Body { b: body, pos: 0 };
    let record = match r.u8()? {
        KIND_PUT => {
            let seq = r.u64()?;
            let n = r.u32()? as usize;
            // Each event needs at least its 4-byte length: bound the allocation.
            if n > body.len() / 4 {
                return Err(RecordError::Corrupt("event count exceeds record size"));
            }
            let mut events = Vec::with_capacity(n);
            for _ in 0..n {
                let len = r.u32()? as usize;
                events.push(r.take(len)?);
            }
            let position = match r.u8()? {
                0 => None,
                1 => Some(r.position()?),
                _ => return Err(RecordError::Corrupt("bad position flag")),
            };
            Record::Put { seq, events, position }
        }
        KIND_POSITIONS => {
            let n = r.u32()? as usize;
            if n > body.len() / 6 {
                return Err(RecordError::Corrupt("position count exceeds record size"));
            }
            let mut map = HashMap::with_capacity(n);
            for _ in 0..n {
                let p = r.position()?;
                map.insert(p.key, p.value);
            }
            Record::Positions(map)
        }
        _ => return Err(RecordError::Corrupt("unknown record kind")),
    };
    if r.pos != body.len() {
        return Err(RecordError::Corrupt("trailing bytes in record"));
    }
    Ok((record, total))
}

/// The `ACK` file's content for `seq`.
pub fn encode_ack(seq: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&seq.to_le_bytes());
    out[8..12].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    out[12..].copy_from_slice(ACK_MAGIC);
    out
}

/// Reads an `ACK` file's content; `None` when it is torn or not an ACK file.
pub fn decode_ack(buf: &[u8]) -> Option<u64> {
    if buf.len() != 16 || &buf[12..] != ACK_MAGIC {
        return None;
    }
    let seq: [u8; 8] = buf[..8].try_into().ok()?;
    // u64::MAX is never reached by a real channel (sequences count up from
    // 1) and would leave no next sequence: treated as unreadable.
    (crc32fast::hash(&seq).to_le_bytes() == buf[8..12]).then(|| u64::from_le_bytes(seq)).filter(|&s| s != u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn put_round_trip_and_every_truncation_is_incomplete() {
        let mut buf = Vec::new();
        let pos = Position { key: "fp".into(), value: 42u64.to_le_bytes().to_vec() };
        encode_put(&mut buf, 7, &[b"a", b"", b"ccc"], Some(&pos));
        let (rec, len) = decode(&buf).unwrap();
        assert_eq!(len, buf.len());
        assert_eq!(rec, Record::Put { seq: 7, events: vec![b"a", b"", b"ccc"], position: Some(pos) });
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]).unwrap_err(), RecordError::Incomplete, "cut at {cut}");
        }
        buf[12] ^= 1;
        assert_eq!(decode(&buf).unwrap_err(), RecordError::Corrupt("CRC mismatch"));
    }

    #[test]
    fn positions_and_ack() {
        let mut buf = Vec::new();
        let map: HashMap<String, Vec<u8>> = [("a".to_string(), vec![1]), ("b".to_string(), vec![])].into();
        encode_positions(&mut buf, &map);
        assert_eq!(decode(&buf).unwrap().0, Record::Positions(map));
        assert_eq!(decode_ack(&encode_ack(99)), Some(99));
        let mut torn = encode_ack(99);
        torn[3] = 1;
        assert_eq!(decode_ack(&torn), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&b);
            let _ = decode_ack(&b);
        }
    }
}
