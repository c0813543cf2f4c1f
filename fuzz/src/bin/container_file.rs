//! AFL++ harness of `clickstream_fuzz_targets::container_file`.
fn main() {
    afl::fuzz!(|data: &[u8]| clickstream_fuzz_targets::container_file(data));
}
