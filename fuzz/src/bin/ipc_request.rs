//! AFL++ harness of `clickstream_fuzz_targets::ipc_request`.
fn main() {
    afl::fuzz!(|data: &[u8]| clickstream_fuzz_targets::ipc_request(data));
}
