//! Decoding the fields the reports need from ClickEvent records, in place.
//!
//! A record is eighteen fields; the reports use nine (`event_id`,
//! `source_host`, `client_addr`, `event_time`, `path`, `status`,
//! `response_bytes`, `user_agent`, `category`). This decoder walks the record
//! in schema order and skips the rest without copying or validating them as
//! text, which is most of why the batch job is faster than a generic Avro
//! reader. The field order is the current `click_event.avsc`'s: files of
//! other schema versions are rewritten into it before they get here
//! ([`crate::pipeline::decode_file`]), and a test compares every decoded
//! field with `ClickEvent::decode_datum` on the same bytes.

use clickstream_contract::rules;
use clickstream_contract::varint::read_long;
use clickstream_master_copy::container::{DamagedRange, RecordError};

use crate::intern::Interner;

/// What one event contributes to the reports, in 40 bytes: a file's hits are
/// held until the whole file has decoded (a corrupt file must not count at
/// all), so their size is most of the job's memory. The visitor key lives in
/// the file's arena, the web server, category and path in its interners (see
/// [`FileHits`]): decoding allocates nothing per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// The event id, 32 hex digits read as a number (as two words: a `u128`
    /// would force 16-byte alignment and 48-byte hits).
    id: [u64; 2],
    /// Response size; 0 when the log said `-`.
    pub bytes: u64,
    /// Start of the visitor key in the arena.
    visitor_start: u32,
    /// Visitor key length (high 22 bits) and HTTP status (low 10 bits).
    len_status: u32,
    /// The (web server, category) pair in the file's `groups`.
    group: u32,
    /// The path in the file's `paths`.
    path: u32,
}

/// Where a hit's text fields are in its [`FileHits`]: visitor key in the
/// arena, (web server, category) and path ids in the file's interners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HitText {
    /// Start of the visitor key in the arena.
    pub visitor_start: u32,
    /// Its length (below 4 MiB).
    pub visitor_len: u32,
    /// Id of the (web server, category) pair.
    pub group: u32,
    /// Id of the path.
    pub path: u32,
}

impl Hit {
    /// A hit; `visitor_len` must be below 4 MiB (lines are at most 64 KiB).
    pub fn new(id: u128, status: u16, bytes: u64, text: HitText) -> Hit {
        debug_assert!(status < 1024 && text.visitor_len < (1 << 22));
        Hit {
            id: [(id >> 64) as u64, id as u64],
            bytes,
            visitor_start: text.visitor_start,
            len_status: (text.visitor_len << 10) | u32::from(status),
            group: text.group,
            path: text.path,
        }
    }

    /// The event id.
    #[inline]
    pub fn id(&self) -> u128 {
        (u128::from(self.id[0]) << 64) | u128::from(self.id[1])
    }

    /// The HTTP status.
    #[inline]
    pub fn status(&self) -> u16 {
        (self.len_status & 0x3ff) as u16
    }

    /// Id of the hit's (web server, category) pair in its file ([`FileHits::group`]).
    #[inline]
    pub fn group(&self) -> u32 {
        self.group
    }

    /// Id of the hit's path in its file ([`FileHits::path`]).
    #[inline]
    pub fn path(&self) -> u32 {
        self.path
    }
}

/// Who counts as one visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitorKey {
    /// The client address alone (default).
    Client,
    /// Client address and user agent: two browsers behind one NAT count twice.
    ClientAndUserAgent,
}

impl VisitorKey {
    /// The name stored with every result, so a change of definition is visible.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitorKey::Client => "client",
            VisitorKey::ClientAndUserAgent => "client_and_user_agent",
        }
    }
}

/// The hits of one file and the arena holding their visitor keys.
#[derive(Debug, Default)]
pub struct FileHits {
    /// One per counted record, in file order.
    pub hits: Vec<Hit>,
    /// Visitor keys, back to back.
    pub arena: Vec<u8>,
    /// Records that decoded but break the contract's rules: not counted.
    pub invalid: Vec<InvalidRecord>,
    /// Byte ranges that could not be read as blocks: not counted.
    pub damaged: Vec<DamagedRange>,
    /// The file's (web server, category) pairs, as `group_key` bytes: a
    /// file holds one web server and a handful of categories.
    pub groups: Interner,
    /// The file's distinct paths.
    pub paths: Interner,
    /// Where a group key is built before it is looked up.
    scratch: Vec<u8>,
}

/// A record that decodes but cannot be counted (an id that is not an id, a
/// status outside 100..=599, a negative size, an event time outside the
/// file's hour partition): skipped alone, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRecord {
    /// Offset of its block in the file (set by the caller of [`decode_block`]).
    pub block_offset: u64,
    /// Index of the record in its block.
    pub record: usize,
    /// The rule it broke: `event_id`, `status`, `response_bytes`, `partition` or `visitor_key`.
    pub rule: &'static str,
    /// What was wrong.
    pub what: String,
    /// The record's bytes (its Avro datum), kept aside with it.
    pub datum: Vec<u8>,
}

impl FileHits {
    /// The visitor key of `hit`.
    pub fn visitor(&self, hit: &Hit) -> &[u8] {
        let start = hit.visitor_start as usize;
        &self.arena[start..start + (hit.len_status >> 10) as usize]
    }

    /// Interns a (web server, category) pair; returns its id.
    pub fn intern_group(&mut self, server: &[u8], category: &[u8]) -> u32 {
        self.scratch.clear();
        self.scratch.extend_from_slice(&(server.len() as u32).to_le_bytes());
        self.scratch.extend_from_slice(server);
        self.scratch.extend_from_slice(category);
        self.groups.intern(&self.scratch).0
    }

    /// The (web server, category) pair of group `id`.
    pub fn group(&self, id: u32) -> (&[u8], &[u8]) {
        let key = self.groups.get(id);
        let server_len = u32::from_le_bytes(key[..4].try_into().expect("group keys start with a length")) as usize;
        key[4..].split_at(server_len)
    }

    /// The path of path id `id`.
    pub fn path(&self, id: u32) -> &[u8] {
        self.paths.get(id)
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn long(&mut self, field: &str) -> Result<i64, String> {
        read_long(self.buf, &mut self.pos).map_err(|_| format!("truncated or malformed varint in `{field}`"))
    }

    #[inline]
    fn bytes(&mut self, field: &str) -> Result<&'a [u8], String> {
        let len = self.long(field)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| format!("length {len} of `{field}` runs past the block"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    #[inline]
    fn skip(&mut self, field: &str) -> Result<(), String> {
        self.bytes(field).map(|_| ())
    }

    #[inline]
    fn present(&mut self, field: &str) -> Result<bool, String> {
        match self.long(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(format!("union branch {v} of `{field}` is neither 0 (null) nor 1")),
        }
    }
}

/// Decodes `count` records filling `block` exactly, appending to `out`.
/// Every event time must lie in `[times.start, times.end)` (the partition's
/// hour, epoch ms): the per-hour deduplication relies on it.
///
/// A record that decodes but breaks a rule goes to `out.invalid` and the
/// block goes on; a record that does not decode (the bytes are damaged) is
/// an error for the whole block, whose hits the caller then drops.
pub fn decode_block(block: &[u8], count: usize, key: VisitorKey, times: std::ops::Range<i64>, out: &mut FileHits) -> Result<(), RecordError> {
    let mut c = Cursor { buf: block, pos: 0 };
    // The count comes from the file: a damaged one must not size an
    // allocation (the fuzzer's capacity-overflow panic). Every record takes
    // at least one byte per field, so more records than bytes is damage.
    if count > block.len() {
        return Err(RecordError { record: 0, offset: 0, what: format!("the block claims {count} records in {} bytes", block.len()) });
    }
    out.hits.reserve(count);
    for record in 0..count {
        let start = c.pos;
        let decoded = decode_record(&mut c, key, &times, out).map_err(|what| RecordError { record, offset: start, what })?;
        match decoded {
            Ok(hit) => out.hits.push(hit),
            Err((rule, what)) => out.invalid.push(InvalidRecord { block_offset: 0, record, rule, what, datum: block[start..c.pos].to_vec() }),
        }
    }
    if c.pos != block.len() {
        return Err(RecordError {
            record: count,
            offset: c.pos,
            what: format!("{} bytes left after the block's {count} records", block.len() - c.pos),
        });
    }
    Ok(())
}

/// A rule a decoded record breaks: (rule, what).
type Broken = (&'static str, String);

/// Reads one record whole (so the next one starts in the right place), then
/// checks it: `Err` when the bytes do not decode, `Ok(Err)` when the record
/// decodes but breaks a rule (its visitor key is not kept).
#[inline]
fn decode_record(c: &mut Cursor<'_>, key: VisitorKey, times: &std::ops::Range<i64>, out: &mut FileHits) -> Result<Result<Hit, Broken>, String> {
    let id_text = c.bytes("event_id")?;
    let server = c.bytes("source_host")?;
    let client = c.bytes("client_addr")?;
    if c.present("remote_user")? {
        c.skip("remote_user")?;
    }
    let time_ms = c.long("event_time")?;
    c.skip("method")?;
    let path = c.bytes("path")?;
    if c.present("query")? {
        c.skip("query")?;
    }
    c.skip("protocol")?;
    let status = c.long("status")?;
    let bytes = if c.present("response_bytes")? { Some(c.long("response_bytes")?) } else { None };
    if c.present("referrer")? {
        c.skip("referrer")?;
    }
    let ua = if c.present("user_agent")? { Some(c.bytes("user_agent")?) } else { None };
    let category = c.bytes("category")?;
    c.skip("ingest.source_file")?;
    c.skip("ingest.file_fingerprint")?;
    c.long("ingest.byte_offset")?;
    c.skip("raw_line")?;

    let Some(id) = rules::event_id(id_text) else {
        return Ok(Err(("event_id", format!("event_id {:?} is not 32 hex digits", String::from_utf8_lossy(id_text)))));
    };
    if !times.contains(&time_ms) {
        let (d, h) = clickstream_master_copy::layout::partition_of(time_ms);
        return Ok(Err((
            "partition",
            format!("event time {time_ms} ms belongs to date={d}/hour={h:02}, not to this partition (the HDFS sink must partition by event time)"),
        )));
    }
    let Some(status) = rules::status(status) else {
        return Ok(Err(("status", format!("status {status} is not 100..=599"))));
    };
    let bytes = match bytes.map(rules::response_bytes) {
        None => 0,
        Some(Some(b)) => b,
        Some(None) => return Ok(Err(("response_bytes", format!("response_bytes {} is negative", bytes.unwrap_or(0))))),
    };
    let visitor_len = client.len() + if key == VisitorKey::ClientAndUserAgent { 1 + ua.map_or(0, <[u8]>::len) } else { 0 };
    if visitor_len >= 1 << 22 {
        return Ok(Err((
            "visitor_key",
            format!("visitor key of {visitor_len} bytes (client address and user agent are limited by the 64 KiB line)"),
        )));
    }
    let visitor_start = out.arena.len() as u32;
    out.arena.extend_from_slice(client);
    if key == VisitorKey::ClientAndUserAgent {
        // A tab cannot occur in a client address (the parser allows
        // [A-Za-z0-9.:_%-]), so the key is unambiguous.
        out.arena.push(b'\t');
        out.arena.extend_from_slice(ua.unwrap_or_default());
    }
    let text = HitText { visitor_start, visitor_len: visitor_len as u32, group: out.intern_group(server, category), path: out.paths.intern(path).0 };
    Ok(Ok(Hit::new(id, status, bytes, text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickstream_contract::{ClickEvent, IngestMeta};
    use std::borrow::Cow;

    const ALL: std::ops::Range<i64> = i64::MIN..i64::MAX;

    fn event(i: i64, ua: Option<&str>, bytes: Option<i64>) -> ClickEvent<'static> {
        ClickEvent {
            event_id: Cow::Owned(format!("{:032x}", 0xabcdef_u128 * (i as u128 + 1))),
            source_host: Cow::Owned(format!("web{}", i % 2)),
            client_addr: Cow::Owned(format!("10.0.0.{i}")),
            remote_user: if i % 2 == 0 { Some("bob".into()) } else { None },
            event_time_ms: 1_795_132_800_000 + i,
            method: "GET".into(),
            path: Cow::Owned(format!("/a/{}", i % 2)),
            query: if i % 3 == 0 { Some("q=1".into()) } else { None },
            protocol: "HTTP/1.1".into(),
            status: 200 + i as i32,
            response_bytes: bytes,
            referrer: Some("-x".into()),
            user_agent: ua.map(|u| Cow::Owned(u.to_string())),
            category: Cow::Owned(format!("c{i}")),
            ingest: IngestMeta { source_file: "f".into(), file_fingerprint: "fp".into(), byte_offset: i * 100 },
            raw_line: "line".into(),
        }
    }

    #[test]
    fn decodes_the_projected_fields_of_contract_encoded_records() {
        let events = [event(0, Some("UA 1"), Some(5)), event(1, None, None), event(2, Some("x"), Some(0))];
        let mut block = Vec::new();
        for e in &events {
            e.encode_datum(&mut block);
        }
        for key in [VisitorKey::Client, VisitorKey::ClientAndUserAgent] {
            let mut out = FileHits::default();
            decode_block(&block, events.len(), key, ALL, &mut out).unwrap();
            for (e, h) in events.iter().zip(&out.hits) {
                assert_eq!(format!("{:032x}", h.id()), e.event_id);
                assert_eq!(i32::from(h.status()), e.status);
                assert_eq!(h.bytes as i64, e.response_bytes.unwrap_or(0));
                let expected = match key {
                    VisitorKey::Client => e.client_addr.to_string(),
                    VisitorKey::ClientAndUserAgent => {
                        format!("{}\t{}", e.client_addr, e.user_agent.as_deref().unwrap_or(""))
                    }
                };
                assert_eq!(out.visitor(h), expected.as_bytes());
                assert_eq!(out.group(h.group()), (e.source_host.as_bytes(), e.category.as_bytes()));
                assert_eq!(out.path(h.path()), e.path.as_bytes());
            }
        }
    }

    #[test]
    fn a_wrong_count_or_cut_block_is_an_error_with_the_record_offset() {
        let mut block = Vec::new();
        event(0, None, None).encode_datum(&mut block);
        let one = block.len();
        event(1, None, None).encode_datum(&mut block);
        let mut out = FileHits::default();
        let e = decode_block(&block, 1, VisitorKey::Client, ALL, &mut out).unwrap_err();
        assert_eq!((e.record, e.offset), (1, one));
        let e = decode_block(&block[..block.len() - 3], 2, VisitorKey::Client, ALL, &mut out).unwrap_err();
        assert_eq!((e.record, e.offset), (1, one), "{e:?}");
        // Event 1 is 1 ms after event 0: a partition ending before it skips it
        // alone (it decodes; it breaks a rule), and the block goes on.
        let t0 = event(0, None, None).event_time_ms;
        let mut out = FileHits::default();
        decode_block(&block, 2, VisitorKey::Client, t0..t0 + 1, &mut out).unwrap();
        assert_eq!(out.hits.len(), 1);
        assert_eq!(out.invalid.len(), 1);
        let r = &out.invalid[0];
        assert_eq!((r.record, r.rule), (1, "partition"));
        assert!(r.what.contains("not to this partition"), "{}", r.what);
        assert_eq!(r.datum, block[one..], "the record's own bytes are kept");
    }

    #[test]
    fn hits_are_small_and_round_trip() {
        assert_eq!(std::mem::size_of::<Hit>(), 40);
        let h = Hit::new(u128::MAX - 5, 599, u64::MAX, HitText { visitor_start: 7, visitor_len: (1 << 22) - 1, group: 3, path: u32::MAX });
        assert_eq!((h.id(), h.status(), h.bytes, h.group(), h.path()), (u128::MAX - 5, 599, u64::MAX, 3, u32::MAX));
    }
}
