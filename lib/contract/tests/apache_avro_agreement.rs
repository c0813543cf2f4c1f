//! The hand-written codec agrees byte for byte with apache-avro's generic
//! implementation driven by the schema file, in both directions.

mod common;

use apache_avro::headers::HeaderBuilder;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{GenericSingleObjectReader, GenericSingleObjectWriter, Schema};
use clickstream_contract::schema::{click_event_fingerprint, click_event_schema, parsing_canonical_form, rabin_fingerprint, CLICK_EVENT_SCHEMA_JSON};
use clickstream_contract::{ClickEvent, DecodeError, RoutingFields, SINGLE_OBJECT_MARKER};

/// apache-avro's generic datum writer (`to_avro_datum` before 0.21).
fn to_avro_datum(schema: &Schema, value: Value) -> apache_avro::AvroResult<Vec<u8>> {
    GenericDatumWriter::builder(schema).build()?.write_value_to_vec(value)
}

/// apache-avro's generic datum reader (`from_avro_datum` before 0.21).
fn from_avro_datum(schema: &Schema, reader: &mut &[u8]) -> apache_avro::AvroResult<Value> {
    GenericDatumReader::builder(schema).build()?.read_value(reader)
}
use proptest::prelude::*;

use common::{arb_event, sample_event, to_value};

/// Builds single-object headers from this crate's fingerprint (see below).
struct OurHeader;
impl HeaderBuilder for OurHeader {
    fn build_header(&self) -> Vec<u8> {
        let mut h = SINGLE_OBJECT_MARKER.to_vec();
        h.extend_from_slice(&click_event_fingerprint());
        h
    }
}

#[test]
fn schema_file_parses_and_fingerprint_is_the_rabin_one_of_the_canonical_form() {
    let json: serde_json::Value = serde_json::from_str(CLICK_EVENT_SCHEMA_JSON).unwrap();
    let ours = parsing_canonical_form(&json);
    assert_eq!(click_event_fingerprint(), rabin_fingerprint(&ours));
    // apache-avro 0.22 agrees on everything but the logical type, which it
    // leaves as {"type":"long"} (AVRO-4004); Java and fastavro say "long".
    let theirs = click_event_schema().canonical_form();
    assert_ne!(theirs, ours, "apache-avro fixed AVRO-4004: use its canonical_form again");
    assert_eq!(theirs.replace(r#"{"type":"long"}"#, r#""long""#), ours);
}

#[test]
fn flume_protocol_file_is_valid_json_with_flume_names() {
    let p: serde_json::Value = serde_json::from_str(clickstream_contract::schema::FLUME_PROTOCOL_JSON).unwrap();
    assert_eq!(p["protocol"], "AvroSourceProtocol");
    assert_eq!(p["namespace"], "org.apache.flume.source.avro");
    assert!(p["messages"]["append"].is_object() && p["messages"]["appendBatch"].is_object());
    // The two named types parse as Avro schemas.
    for t in p["types"].as_array().unwrap() {
        apache_avro::Schema::parse(t).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn routing_fields_are_the_full_decodes_fields(event in arb_event()) {
        // Encoded by apache-avro from the schema file, so a field moved in
        // the schema breaks this even if the hand-written codec moved too.
        let datum = to_avro_datum(click_event_schema(), to_value(&event)).unwrap();
        let r = RoutingFields::decode(&datum).unwrap();
        prop_assert_eq!(r.event_id, &*event.event_id);
        prop_assert_eq!(r.source_host, &*event.source_host);
        prop_assert_eq!(r.client_addr, &*event.client_addr);
        prop_assert_eq!(r.event_time_ms, event.event_time_ms);
    }

    #[test]
    fn encoding_matches_apache_avro(event in arb_event()) {
        let ours = event.to_datum();
        let theirs = to_avro_datum(click_event_schema(), to_value(&event)).unwrap();
        prop_assert_eq!(&ours, &theirs);
        // apache-avro reads ours back to the same value, and we read theirs.
        let back = from_avro_datum(click_event_schema(), &mut ours.as_slice()).unwrap();
        prop_assert_eq!(back, to_value(&event));
        prop_assert_eq!(ClickEvent::decode_datum(&theirs).unwrap(), event);
    }

    #[test]
    fn single_object_matches_apache_avro(event in arb_event()) {
        let mut ours = Vec::new();
        event.encode_single_object(&mut ours);
        let mut writer =
            GenericSingleObjectWriter::new_with_capacity_and_header_builder(click_event_schema(), 1024, &OurHeader)
                .unwrap();
        let mut theirs = Vec::new();
        writer.write_value(to_value(&event), &mut theirs).unwrap();
        prop_assert_eq!(&ours, &theirs);
        let reader = GenericSingleObjectReader::builder()
            .schema(click_event_schema().clone())
            .header(OurHeader.build_header())
            .build()
            .unwrap();
        prop_assert_eq!(reader.read_value(&mut ours.as_slice()).unwrap(), to_value(&event));
        prop_assert_eq!(ClickEvent::decode_single_object(&ours).unwrap(), event);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ClickEvent::decode_datum(&bytes);
        let _ = ClickEvent::decode_single_object(&bytes);
    }

    #[test]
    fn every_truncation_is_an_error(cut in 0usize..400) {
        let full = sample_event().to_datum();
        let cut = cut.min(full.len() - 1);
        prop_assert!(ClickEvent::decode_datum(&full[..cut]).is_err());
    }
}

#[test]
fn decode_errors_name_the_field() {
    let full = sample_event().to_datum();
    let err = ClickEvent::decode_datum(&full[..full.len() - 3]).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { field: "raw_line", .. }), "{err}");
    let mut extra = full.clone();
    extra.push(0);
    assert_eq!(ClickEvent::decode_datum(&extra).unwrap_err(), DecodeError::TrailingBytes(1));
    // A huge length prefix is refused without allocating it.
    let mut huge = vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    huge.extend_from_slice(&[0; 8]);
    assert!(ClickEvent::decode_datum(&huge).is_err());
    let mut so = Vec::new();
    sample_event().encode_single_object(&mut so);
    so[5] ^= 0xff;
    let err = ClickEvent::decode_single_object(&so).unwrap_err();
    assert!(err.to_string().contains("fingerprint"), "{err}");
}

#[test]
fn timestamp_is_a_timestamp_millis_logical_type() {
    let datum = sample_event().to_datum();
    let v = from_avro_datum(click_event_schema(), &mut datum.as_slice()).unwrap();
    let Value::Record(fields) = v else { panic!("record expected") };
    assert_eq!(fields[4], ("event_time".to_string(), Value::TimestampMillis(1_431_857_103_000)));
}
