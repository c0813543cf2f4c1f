//! Schema evolution of the master copy, through the real fan-out agent, HDFS
//! and batch job (`scripts/stack`).
//!
//! A rolling upgrade leaves files of two schema versions side by side: the
//! current one, and a next one with a field added (with a default, as
//! `schemas/README.md` allows), placed in the middle of the record so that
//! resolution by name is what makes it work, not position. The real spool
//! and fan-out agents carry both sample logs into HDFS; then every other
//! file is rewritten with the next schema by an independent Avro
//! implementation (apache-avro's `Writer`, as a next fan-out version would
//! write them), and one file's events are written a second time with the
//! next schema (a redelivery across versions). The batch job must report
//! exactly the numbers computed from the two logs alone, each line once.

use std::time::Duration;

use apache_avro::types::Value;
use apache_avro::Schema;
use clickstream_contract::schema::CLICK_EVENT_SCHEMA_JSON;
use clickstream_e2e::oracle;
use clickstream_e2e::pipeline::Pipeline;
use clickstream_master_copy::names::{classify, EntryKind};
use clickstream_master_copy::storage::{AnyStorage, HdfsOptions, Storage, StorageUrl, StorageWriter};
use clickstream_testkit::{repo, wait_until};

/// The current schema with `tenant` (a string, default "main") added after `category`.
fn next_schema() -> Schema {
    let mut v: serde_json::Value = serde_json::from_str(CLICK_EVENT_SCHEMA_JSON).unwrap();
    let fields = v["fields"].as_array_mut().unwrap();
    let at = fields.iter().position(|f| f["name"] == "category").unwrap() + 1;
    fields.insert(at, serde_json::json!({"name": "tenant", "type": "string", "default": "main", "doc": "added by the next version"}));
    Schema::parse(&v).unwrap()
}

/// `records` (read with the current schema) as a container file of the next
/// schema, written by apache-avro.
fn next_version_file(records: &[Value], next: &Schema, codec: apache_avro::Codec) -> Vec<u8> {
    let mut w = apache_avro::Writer::builder().schema(next).writer(Vec::new()).codec(codec).build().unwrap();
    for r in records {
        let resolved = r.clone().resolve(next).expect("a current record resolves to the next schema");
        w.append_value(resolved).unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn files_of_the_next_schema_version_report_the_same_numbers_as_the_current_ones() {
    let p = Pipeline::new("schema-next");
    let fanout = p.fanout_agent();
    let agents = [p.spool_agent("weblog1"), p.spool_agent("weblog2")];
    let mut hits = Vec::new();
    for host in ["weblog1", "weblog2"] {
        let log = repo().join(format!("sample-logs/{host}.txt"));
        hits.extend(oracle::read_log(host, &log).0);
        p.drop_file(host, &format!("{host}.txt"), &std::fs::read(&log).unwrap());
    }
    let want = hits.len() as f64;
    wait_until(Duration::from_secs(180), "every valid line in the master copy", || {
        fanout.metric("fanout_agent_sink_events_total", "sink=\"hdfs\"") == want
    });
    for agent in agents {
        assert_eq!(agent.terminate(), Some(0));
    }
    // SIGTERM closes the master-copy files.
    assert_eq!(fanout.terminate(), Some(0));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = StorageUrl::parse(&p.hdfs_url).unwrap();
    let (hdfs, _) = AnyStorage::open(&url, &HdfsOptions::default()).unwrap();
    let mut files: Vec<String> = rt
        .block_on(hdfs.list_files(&p.hdfs_root))
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .filter(|path| classify(path.rsplit('/').next().unwrap()) == EntryKind::Data)
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the sample days fill several hour partitions: {files:?}");

    let next = next_schema();
    let mut rewritten = 0;
    for (i, path) in files.iter().enumerate() {
        let bytes = rt.block_on(hdfs.read_file(path)).unwrap();
        let records: Vec<Value> = apache_avro::Reader::new(&bytes[..]).unwrap().map(Result::unwrap).collect();
        let (dir, name) = path.rsplit_once('/').unwrap();
        let codec = if i % 4 < 2 { apache_avro::Codec::Null } else { apache_avro::Codec::Deflate(Default::default()) };
        let put = |target: String, data: Vec<u8>| {
            rt.block_on(async {
                let mut w = hdfs.create(&target).await.unwrap();
                w.append(data.into()).await.unwrap();
                w.close().await.unwrap();
            })
        };
        if i == 0 {
            // Redelivered by the next version: the same events again, the same ids.
            put(format!("{dir}/next-redelivered-{name}"), next_version_file(&records, &next, codec));
        }
        if i % 2 == 1 {
            put(format!("{dir}/next-{name}"), next_version_file(&records, &next, codec));
            rt.block_on(hdfs.delete(path)).unwrap();
            rewritten += records.len();
        }
    }
    assert!(rewritten > 0 && rewritten < hits.len(), "both versions in the master copy: {rewritten} of {} events rewritten", hits.len());

    assert_eq!(p.batch_job(), 0, "batch-job run over files of both schema versions");
    assert_eq!(p.mysql_days(), oracle::batch_days(&hits), "the reports count each real line once, whatever the file's schema version");
}
