//! AFL++ harness of `clickstream_fuzz_targets::click_event`.
fn main() {
    afl::fuzz!(|data: &[u8]| clickstream_fuzz_targets::click_event(data));
}
