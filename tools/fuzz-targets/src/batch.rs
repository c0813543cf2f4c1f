//! The batch job's reader of the HDFS master copy (Avro container files).

use batch_job::decode::VisitorKey;
use batch_job::pipeline::decode_file;
use batch_job::source::DataFile;
use chrono::NaiveDate;

/// The partition the fuzzed files are read as: the seeds hold events of this
/// day and hour (UTC), so their records are counted, not refused for being
/// outside their hour.
pub fn container_partition() -> (NaiveDate, u8) {
    (NaiveDate::from_ymd_opt(2026, 11, 20).expect("a valid date"), 0)
}

/// Decodes `data` as one container file of [`container_partition`], with
/// both visitor keys. Only a header that cannot be read may refuse the file;
/// otherwise every damaged range lies inside the file, in order, and every
/// counted hit has a valid status and a visitor key inside the arena.
pub fn container_file(data: &[u8]) {
    let (day, hour) = container_partition();
    let file = DataFile { url: "hdfs://fuzz/part.avro".into(), path: "/fuzz/part.avro".into(), hour, len: data.len() as u64 };
    for key in [VisitorKey::Client, VisitorKey::ClientAndUserAgent] {
        let Ok(hits) = decode_file(&file, data, day, key) else { continue };
        let len = data.len() as u64;
        let mut resume = 0;
        for range in &hits.damaged {
            assert!(resume <= range.offset && range.offset < range.end && range.end <= len, "damaged range {range:?} in a {len}-byte file");
            resume = range.end;
        }
        for record in &hits.invalid {
            assert!(record.block_offset < len, "invalid record's block outside the file: {record:?}");
        }
        for hit in &hits.hits {
            assert!((100..=599).contains(&hit.status()), "a counted hit has status {}", hit.status());
            let _ = hits.visitor(hit);
        }
    }
}
