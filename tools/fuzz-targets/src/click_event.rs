//! The ClickEvent decoder: Kafka values (single-object encoding) and the
//! master copy's datums, then the contract's rulebook on what decodes.

use clickstream_contract::{rules, ClickEvent};

/// Decodes `data` as a datum and as a single-object encoding. Whatever
/// decodes re-encodes to the very same bytes (Avro binary has one encoding
/// per value, so the decoder accepted nothing it would not write) and the
/// rulebook judges it without panicking.
pub fn click_event(data: &[u8]) {
    if let Ok(event) = ClickEvent::decode_datum(data) {
        assert_eq!(event.to_datum(), data, "a decoded datum re-encodes to its bytes");
        check(&event);
    }
    if let Ok(event) = ClickEvent::decode_single_object(data) {
        let mut out = Vec::new();
        event.encode_single_object(&mut out);
        assert_eq!(out, data, "a decoded single object re-encodes to its bytes");
        check(&event);
    }
}

/// The rulebook's verdict, and the owned copy equal to the borrowed one.
fn check(event: &ClickEvent<'_>) {
    let _ = rules::validate(event);
    let owned = event.clone().into_owned();
    assert_eq!(&owned, event);
}
