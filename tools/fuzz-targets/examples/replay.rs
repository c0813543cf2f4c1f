//! Runs one target on the given files, outside AFL, with a normal debug
//! build and full backtraces: how a crash found by the fuzzer is examined.
//!
//! ```text
//! cargo run -p clickstream-fuzz-targets --example replay TARGET FILE...
//! ```

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: replay TARGET FILE...");
    let target = clickstream_fuzz_targets::target(&name).unwrap_or_else(|| panic!("no target named {name}"));
    for file in args {
        println!("{file}");
        target(&std::fs::read(&file).expect("input file"));
    }
}
