//! Property tests: arbitrary bytes never panic the parser, and parsing never
//! allocates more than a small multiple of the line's length, whatever the input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use clickstream_logparse::{LineOrigin, Parser, RejectReason};
use proptest::prelude::*;

/// Counts bytes allocated by each thread, so a test can bound its own.
struct Counting;
thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(n: usize) {
    let _ = ALLOCATED.try_with(|c| c.set(c.get() + n));
}

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const VALID: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /category/x?y=1 HTTP/1.1" 200 203023 "http://r/" "Mozilla \"q\"""#;

/// Lines near the valid shape find more paths through the parser than pure noise.
fn mutated_line() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec((0usize..VALID.len(), any::<u8>()), 0..6), 0usize..=VALID.len()).prop_map(|(edits, cut)| {
        let mut line = VALID.as_bytes()[..cut.max(1)].to_vec();
        for (pos, byte) in edits {
            if pos < line.len() {
                line[pos] = byte;
            }
        }
        line
    })
}

fn check(parser: &Parser, line: &[u8]) {
    let before = allocated();
    let origin = LineOrigin { source_host: "h", source_file: "f", file_fingerprint: "fp", byte_offset: 0 };
    let result = parser.parse_event(line, &origin);
    let allocated = allocated() - before;
    // Owned copies of unescaped fields, the id and a bounded message at most.
    assert!(allocated <= 4 * line.len() + 1024, "{allocated} bytes allocated for a {}-byte line", line.len());
    if let Ok(event) = result {
        assert!((100..=599).contains(&event.status));
        assert!(!event.client_addr.is_empty() && !event.method.is_empty() && !event.category.is_empty());
        // Whatever the parser accepts keeps the contract's rulebook, which every later hop applies.
        if let Err(v) = clickstream_contract::rules::validate(&event) {
            panic!("the parser produced an event the contract refuses ({v}) from {:?}", String::from_utf8_lossy(line));
        }
        let mut buf = Vec::new();
        event.encode_datum(&mut buf);
        assert_eq!(clickstream_contract::ClickEvent::decode_datum(&buf).unwrap(), event);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(line in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&Parser::default(), &line);
    }

    #[test]
    fn mutations_of_a_valid_line(line in mutated_line()) {
        check(&Parser::default(), &line);
    }
}

#[test]
fn a_huge_line_is_refused_without_copying_it() {
    let parser = Parser::default();
    let line = vec![b'a'; 10 << 20];
    let before = allocated();
    assert_eq!(parser.parse(&line).unwrap_err().reason, RejectReason::TooLong);
    assert!(allocated() - before < 4096);
}
