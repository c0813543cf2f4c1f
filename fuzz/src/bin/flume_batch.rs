//! AFL++ harness of `clickstream_fuzz_targets::flume_batch`.
fn main() {
    afl::fuzz!(|data: &[u8]| clickstream_fuzz_targets::flume_batch(data));
}
