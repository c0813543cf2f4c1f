//! Lines per second per core for parse + validate + Avro encode on the real
//! dataset (what a spool agent does for every line), with baselines measured
//! in the same run: a bare newline split (the floor of any line reader) and
//! parsing without encoding.
//!
//! `cargo bench -p clickstream-logparse --bench parse_encode`

use std::hint::black_box;

use clickstream_logparse::{LineOrigin, Parser};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn dataset() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/apache_logs")).expect("tests/data/apache_logs")
}

fn bench(c: &mut Criterion) {
    let data = dataset();
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let parser = Parser::default();
    let mut group = c.benchmark_group("apache_logs");
    group.throughput(Throughput::Elements(lines.len() as u64));

    group.bench_function("split_lines_baseline", |b| b.iter(|| black_box(&data).split(|b| *b == b'\n').map(|l| l.len()).sum::<usize>()));
    group.bench_function("parse_validate", |b| b.iter(|| lines.iter().filter(|l| parser.parse(black_box(l)).is_ok()).count()));
    group.bench_function("parse_validate_encode", |b| {
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            let mut offset = 0u64;
            for line in &lines {
                let origin = LineOrigin {
                    source_host: "weblog1",
                    source_file: "/var/spool/clickstream/access.log",
                    file_fingerprint: "8c5f0e3b2a7d41f6",
                    byte_offset: offset,
                };
                if let Ok(event) = parser.parse_event(line, &origin) {
                    event.encode_datum(&mut out);
                }
                offset += line.len() as u64 + 1;
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
