//! The ClickEvent decoder: Kafka values (single-object encoding) and the
//! master copy's datums, then the contract's rulebook on what decodes.

use clickstream_contract::{rules, ClickEvent};

/// Decodes `data` as a datum and as a single-object encoding. Whatever
/// decodes re-encodes to bytes that decode to the same event, no longer than
/// the input, and the rulebook judges it without panicking.
///
/// Not byte-for-byte equal: Avro's spec does not forbid overlong varints
/// (`0x80 0x00` for 0), Java's decoder accepts them and so does ours; the
/// writer always emits the shortest form. The fuzzer's first minute found
/// exactly that (fuzz/regressions/click_event/overlong-varint-*), which an
/// earlier version of this target had asserted could not happen.
pub fn click_event(data: &[u8]) {
    if let Ok(event) = ClickEvent::decode_datum(data) {
        let out = event.to_datum();
        assert!(out.len() <= data.len(), "a decoded datum re-encodes to at most its bytes");
        assert_eq!(ClickEvent::decode_datum(&out).as_ref(), Ok(&event), "a decoded datum round-trips");
        check(&event);
    }
    if let Ok(event) = ClickEvent::decode_single_object(data) {
        let mut out = Vec::new();
        event.encode_single_object(&mut out);
        assert!(out.len() <= data.len(), "a decoded single object re-encodes to at most its bytes");
        assert_eq!(ClickEvent::decode_single_object(&out).as_ref(), Ok(&event), "a decoded single object round-trips");
        check(&event);
    }
}

/// The rulebook's verdict, and the owned copy equal to the borrowed one.
fn check(event: &ClickEvent<'_>) {
    let _ = rules::validate(event);
    let owned = event.clone().into_owned();
    assert_eq!(&owned, event);
}
