//! Avro's `long`: a zig-zag variable-length integer, the building block of
//! every Avro encoding this project writes or reads by hand (event datums,
//! container headers and blocks, the IPC framing). One writer and one reader,
//! so that "longer than 64 bits" means the same everywhere.

/// Why a `long` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The buffer ended inside the number: more bytes may complete it.
    Truncated,
    /// More than 64 bits: the bytes are damaged, more input will not help.
    Overlong,
}

/// Appends `v` as a zig-zag varint.
#[inline]
pub fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends Avro `bytes` (or a `string`): the length, then the bytes.
#[inline]
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Reads the `long` at `*pos` and moves `*pos` past it. On an error `*pos`
/// is left somewhere inside the number: callers restart or give up.
#[inline]
pub fn read_long(buf: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let mut z: u64 = 0;
    let mut shift = 0u32;
    loop {
        let Some(&b) = buf.get(*pos) else { return Err(VarintError::Truncated) };
        *pos += 1;
        // The tenth byte may carry only the 64th bit.
        if shift == 63 && b > 1 {
            return Err(VarintError::Overlong);
        }
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_are_zigzag_varints() {
        for (v, enc) in [(0i64, vec![0u8]), (-1, vec![1]), (1, vec![2]), (64, vec![0x80, 1]), (-65, vec![0x81, 1])] {
            let mut out = Vec::new();
            put_long(&mut out, v);
            assert_eq!(out, enc);
            let mut pos = 0;
            assert_eq!(read_long(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
        for v in [i64::MIN, i64::MAX, i64::MIN + 1] {
            let mut out = Vec::new();
            put_long(&mut out, v);
            assert_eq!(out.len(), 10);
            assert_eq!(read_long(&out, &mut 0), Ok(v));
            assert_eq!(read_long(&out[..9], &mut 0), Err(VarintError::Truncated));
        }
        assert_eq!(read_long(&[0xff; 10], &mut 0), Err(VarintError::Overlong));
        assert_eq!(read_long(&[0x80; 9].iter().copied().chain([2]).collect::<Vec<_>>(), &mut 0), Err(VarintError::Overlong));
    }

    #[test]
    fn bytes_are_a_length_then_the_bytes() {
        let mut out = Vec::new();
        put_bytes(&mut out, b"abc");
        assert_eq!(out, [6, b'a', b'b', b'c']);
    }
}
