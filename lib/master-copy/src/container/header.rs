//! The container header: `Obj\x01`, a `map<bytes>` of metadata
//! (`avro.schema`, `avro.codec`), the file's 16-byte sync marker.
//!
//! One parser for both readers: the batch job (a whole file in memory, where
//! a short header is damage) and the HDFS sink's recovery (bytes pushed in
//! chunks, where a short header means "read more").

use clickstream_contract::varint::{put_bytes, put_long, read_long, VarintError};

use crate::codec::Codec;

/// The four bytes every container file starts with.
pub const MAGIC: &[u8; 4] = b"Obj\x01";

/// Most metadata entries and bytes a header may hold: ours has two entries
/// and a schema of a few KB; these bound what a damaged header can claim.
const MAX_META_ENTRIES: u64 = 1024;
const MAX_META_VALUE: usize = 16 << 20;

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Block codec (`null` when the header names none, as the spec says).
    pub codec: Codec,
    /// The writer's schema, as stored (JSON text); [`crate::schema`] decides
    /// whether and how it can be read.
    pub schema_json: Vec<u8>,
    /// The sync marker ending every block.
    pub sync: [u8; 16],
    /// Offset of the first block: the header's length.
    pub data_start: usize,
}

/// Why the bytes are not (yet) a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The bytes end inside the header: more of the file may complete it.
    Incomplete,
    /// The bytes are not a valid header, whatever follows.
    Invalid {
        /// Offset of the part that is wrong.
        offset: usize,
        /// What is wrong.
        what: String,
    },
}

fn invalid<T>(offset: usize, what: impl Into<String>) -> Result<T, HeaderError> {
    Err(HeaderError::Invalid { offset, what: what.into() })
}

/// Appends a container header: magic, metadata (`avro.schema`,
/// `avro.codec`) and the file's sync marker.
pub fn write_header(out: &mut Vec<u8>, schema_json: &str, codec: Codec, sync: &[u8; 16]) {
    out.extend_from_slice(MAGIC);
    put_long(out, 2);
    put_bytes(out, b"avro.schema");
    put_bytes(out, schema_json.as_bytes());
    put_bytes(out, b"avro.codec");
    put_bytes(out, codec.avro_name().as_bytes());
    put_long(out, 0);
    out.extend_from_slice(sync);
}

fn long_at(buf: &[u8], pos: &mut usize) -> Result<i64, HeaderError> {
    let at = *pos;
    read_long(buf, pos).or_else(|e| match e {
        VarintError::Truncated => Err(HeaderError::Incomplete),
        VarintError::Overlong => invalid(at, "varint longer than 64 bits"),
    })
}

fn bytes_at<'a>(buf: &'a [u8], pos: &mut usize, max: usize) -> Result<&'a [u8], HeaderError> {
    let at = *pos;
    let len = long_at(buf, pos)?;
    if len < 0 || len as u64 > max as u64 {
        return invalid(at, format!("metadata length {len} out of range"));
    }
    let end = *pos + len as usize;
    let b = buf.get(*pos..end).ok_or(HeaderError::Incomplete)?;
    *pos = end;
    Ok(b)
}

/// Parses the header at the start of `buf`.
pub fn parse_header(buf: &[u8]) -> Result<Header, HeaderError> {
    if buf.len() < 4 {
        return if MAGIC.starts_with(buf) { Err(HeaderError::Incomplete) } else { invalid(0, "not an Avro object container file (bad magic)") };
    }
    if &buf[..4] != MAGIC {
        return invalid(0, "not an Avro object container file (missing the `Obj\\x01` magic)");
    }
    let mut pos = 4;
    let (mut schema, mut codec) = (None, None);
    loop {
        let at = pos;
        let count = long_at(buf, &mut pos)?;
        if count == 0 {
            break;
        }
        // A negative count is followed by the block's byte size (Avro's map
        // encoding). `unsigned_abs`, not negation: i64::MIN has no positive.
        if count < 0 {
            long_at(buf, &mut pos)?;
        }
        let count = count.unsigned_abs();
        if count > MAX_META_ENTRIES {
            return invalid(at, format!("metadata map block of {count} entries"));
        }
        for _ in 0..count {
            let key = bytes_at(buf, &mut pos, 1024)?;
            let value = bytes_at(buf, &mut pos, MAX_META_VALUE)?;
            match key {
                b"avro.schema" => schema = Some(value),
                b"avro.codec" => codec = Some(value),
                _ => {}
            }
        }
    }
    let sync: [u8; 16] = buf.get(pos..pos + 16).ok_or(HeaderError::Incomplete)?.try_into().expect("16 bytes");
    let codec = match codec {
        None => Codec::Null,
        Some(c) => match Codec::from_avro_name(c) {
            Some(c) => c,
            None => return invalid(0, format!("unsupported codec `{}` (the master copy uses null, deflate or snappy)", String::from_utf8_lossy(c))),
        },
    };
    let Some(schema) = schema else { return invalid(0, "header has no avro.schema") };
    Ok(Header { codec, schema_json: schema.to_vec(), sync, data_start: pos + 16 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_headers_parse_back_and_every_prefix_is_incomplete() {
        let mut out = Vec::new();
        write_header(&mut out, "{\"type\":\"long\"}", Codec::Snappy, &[9; 16]);
        let h = parse_header(&out).unwrap();
        assert_eq!((h.codec, h.sync, h.data_start, &h.schema_json[..]), (Codec::Snappy, [9; 16], out.len(), &b"{\"type\":\"long\"}"[..]));
        for cut in 0..out.len() {
            assert_eq!(parse_header(&out[..cut]), Err(HeaderError::Incomplete), "cut {cut}");
        }
    }

    #[test]
    fn damaged_headers_are_invalid_not_incomplete() {
        assert!(matches!(parse_header(b"PAR1...."), Err(HeaderError::Invalid { offset: 0, .. })));
        // A map count of i64::MIN (a fuzzer's find) must not panic.
        let mut out = MAGIC.to_vec();
        put_long(&mut out, i64::MIN);
        put_long(&mut out, 0);
        assert!(matches!(parse_header(&out), Err(HeaderError::Invalid { .. })));
        let mut out = MAGIC.to_vec();
        put_long(&mut out, 1);
        put_bytes(&mut out, b"avro.codec");
        put_bytes(&mut out, b"zstandard");
        put_long(&mut out, 0);
        out.extend_from_slice(&[0; 16]);
        let Err(HeaderError::Invalid { what, .. }) = parse_header(&out) else { panic!() };
        assert!(what.contains("unsupported codec `zstandard`"), "{what}");
    }
}
