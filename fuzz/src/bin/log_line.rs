//! AFL++ harness of `clickstream_fuzz_targets::log_line`.
fn main() {
    afl::fuzz!(|data: &[u8]| clickstream_fuzz_targets::log_line(data));
}
