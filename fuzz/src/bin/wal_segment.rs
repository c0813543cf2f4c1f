//! AFL++ harness of `clickstream_fuzz_targets::wal_segment`.
fn main() {
    afl::fuzz!(|data: &[u8]| clickstream_fuzz_targets::wal_segment(data));
}
