//! Which writer schemas the master copy can be read with, and how.
//!
//! A file names its writer schema in its header. Readers work with the
//! current schema (`schemas/avro/click_event.avsc`, embedded by the contract
//! crate). Three cases:
//!
//! - the writer schema *is* the current one (compared in Parsing Canonical
//!   Form, so `doc` strings and whitespace do not matter): the records are
//!   read as they are, the fast path every file of this version takes;
//! - it differs but Avro's schema resolution can read it as the current one
//!   (`schemas/README.md`: fields added with a default, fields removed,
//!   promotions such as int to long): each block is rewritten record by
//!   record into the current schema's encoding by `apache-avro`'s resolving
//!   reader, so everything downstream sees current records (slower, and only
//!   for files of other versions);
//! - it cannot be resolved (a field retyped, a field without a default
//!   missing, another record name): the file is refused with the reason.
//!
//! So a schema change never stops a reader of the other version: files of
//! both versions sit side by side in the master copy during a rolling
//! upgrade, and the batch job reports the same numbers from either.
//!
//! A file's header is input like any other (a damaged or hostile file must
//! not crash or exhaust the reader), so a writer schema other than the
//! current one must also be *flat*: records, primitives, unions, enums and
//! fixed, without arrays, maps or named references. Those are the shapes
//! whose records cost at least one byte per value; an `array<null>` costs
//! none (a 4-byte count could make millions of values) and a recursive
//! record nests as deep as the block is long. The event has no such field;
//! the first one added would lift this rule with a bound of its own.

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;
use clickstream_contract::schema::{parsing_canonical_form, CLICK_EVENT_SCHEMA_JSON};

use crate::container::RecordError;

/// How the records of a file are read as records of the current schema.
#[derive(Debug)]
pub enum Resolution {
    /// Written with the current schema: read as they are.
    Current,
    /// Written with another compatible schema: rewrite each block first.
    Rewrite(Box<Resolver>),
}

/// Rewrites blocks written with a compatible writer schema into the
/// encoding of the reader (current) schema.
#[derive(Debug)]
pub struct Resolver {
    writer: Schema,
    reader: Schema,
}

impl Resolution {
    /// How to read records written with `writer_json` as the current schema.
    pub fn for_writer(writer_json: &[u8]) -> Result<Resolution, String> {
        Resolution::between(writer_json, CLICK_EVENT_SCHEMA_JSON)
    }

    /// How to read records written with `writer_json` as `reader_json`.
    pub fn between(writer_json: &[u8], reader_json: &str) -> Result<Resolution, String> {
        let writer_value: serde_json::Value = serde_json::from_slice(writer_json).map_err(|e| format!("writer schema is not JSON: {e}"))?;
        let reader_value: serde_json::Value = serde_json::from_str(reader_json).map_err(|e| format!("reader schema is not JSON: {e}"))?;
        if parsing_canonical_form(&writer_value) == parsing_canonical_form(&reader_value) {
            return Ok(Resolution::Current);
        }
        let writer = Schema::parse(&writer_value).map_err(|e| format!("writer schema does not parse: {e}"))?;
        flat(&writer).map_err(|what| format!("writer schema is not one the master copy reads: {what}"))?;
        let reader = Schema::parse(&reader_value).map_err(|e| format!("reader schema does not parse: {e}"))?;
        SchemaCompatibility::can_read(&writer, &reader).map_err(|e| {
            format!(
                "writer schema cannot be read as the current ClickEvent schema (schemas/avro/click_event.avsc): {e}. \
                 Fields may only be added with a default or removed (schemas/README.md)"
            )
        })?;
        Ok(Resolution::Rewrite(Box::new(Resolver { writer, reader })))
    }
}

/// Whether `schema` is flat (see the module docs).
fn flat(schema: &Schema) -> Result<(), String> {
    match schema {
        Schema::Array(_) | Schema::Map(_) => Err("it has an array or a map".into()),
        Schema::Ref { name } => Err(format!("it refers to the named type {name} inside itself")),
        Schema::Record(r) => r.fields.iter().try_for_each(|f| flat(&f.schema)),
        Schema::Union(u) => u.variants().iter().try_for_each(flat),
        _ => Ok(()),
    }
}

impl Resolver {
    /// Appends the `count` records of `block` (writer encoding), resolved
    /// and re-encoded in the reader schema, to `out`. Fails at the first
    /// record that does not decode, or when bytes are left after the last.
    pub fn rewrite_block(&self, block: &[u8], count: usize, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let fail = |record: usize, offset: usize, what: String| RecordError { record, offset, what };
        let reader = apache_avro::reader::datum::GenericDatumReader::builder(&self.writer)
            .reader_schema(&self.reader)
            .build()
            .map_err(|e| fail(0, 0, format!("schemas do not resolve: {e}")))?;
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&self.reader)
            .build()
            .map_err(|e| fail(0, 0, format!("reader schema unusable: {e}")))?;
        let mut rest = block;
        for record in 0..count {
            let offset = block.len() - rest.len();
            let value = reader.read_value(&mut rest).map_err(|e| fail(record, offset, format!("does not decode with the writer schema: {e}")))?;
            writer.write_value_ref(out, &value).map_err(|e| fail(record, offset, format!("does not fit the current schema: {e}")))?;
        }
        if !rest.is_empty() {
            return Err(fail(count, block.len() - rest.len(), format!("{} bytes left after the block's {count} records", rest.len())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::event;
    use clickstream_contract::ClickEvent;

    /// The current schema with `field` (JSON) added after `category`.
    fn with_field(field: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(CLICK_EVENT_SCHEMA_JSON).unwrap();
        let fields = v["fields"].as_array_mut().unwrap();
        let at = fields.iter().position(|f| f["name"] == "category").unwrap() + 1;
        fields.insert(at, serde_json::from_str(field).unwrap());
        v.to_string()
    }

    #[test]
    fn the_current_schema_needs_no_rewrite_whatever_its_docs() {
        assert!(matches!(Resolution::for_writer(CLICK_EVENT_SCHEMA_JSON.as_bytes()), Ok(Resolution::Current)));
        let mut v: serde_json::Value = serde_json::from_str(CLICK_EVENT_SCHEMA_JSON).unwrap();
        v["doc"] = "another text".into();
        assert!(matches!(Resolution::for_writer(v.to_string().as_bytes()), Ok(Resolution::Current)));
    }

    #[test]
    fn a_file_with_an_added_field_reads_as_the_current_records() {
        // Written by a next version: the same events plus `tenant`.
        let v2 = with_field(r#"{"name": "tenant", "type": "string", "default": "main"}"#);
        let v2_schema = Schema::parse_str(&v2).unwrap();
        let events: Vec<ClickEvent<'static>> = (0..3).map(event).collect();
        let mut block = Vec::new();
        let w = apache_avro::writer::datum::GenericDatumWriter::builder(&v2_schema).build().unwrap();
        for e in &events {
            // The current encoding, resolved the other way (v1 -> v2: `tenant` gets its default).
            let v1 = clickstream_contract::schema::click_event_schema();
            let r = apache_avro::reader::datum::GenericDatumReader::builder(v1).reader_schema(&v2_schema).build().unwrap();
            let value = r.read_value(&mut &e.to_datum()[..]).unwrap();
            w.write_value_ref(&mut block, &value).unwrap();
        }
        let Resolution::Rewrite(r) = Resolution::for_writer(v2.as_bytes()).unwrap() else { panic!("v2 is not the current schema") };
        let mut out = Vec::new();
        r.rewrite_block(&block, 3, &mut out).unwrap();
        let mut expected = Vec::new();
        for e in &events {
            e.encode_datum(&mut expected);
        }
        assert_eq!(out, expected, "byte for byte the current encoding");
        // A cut block fails at the record it cuts.
        let err = r.rewrite_block(&block[..block.len() - 2], 3, &mut Vec::new()).unwrap_err();
        assert_eq!(err.record, 2, "{err:?}");
    }

    #[test]
    fn a_reader_with_an_added_field_takes_its_default_from_current_files() {
        let v2 = with_field(r#"{"name": "tenant", "type": "string", "default": "main"}"#);
        let Resolution::Rewrite(r) = Resolution::between(CLICK_EVENT_SCHEMA_JSON.as_bytes(), &v2).unwrap() else { panic!() };
        let mut out = Vec::new();
        r.rewrite_block(&event(0).to_datum(), 1, &mut out).unwrap();
        let v2_schema = Schema::parse_str(&v2).unwrap();
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&v2_schema).build().unwrap().read_value(&mut &out[..]).unwrap();
        let apache_avro::types::Value::Record(fields) = value else { panic!() };
        assert!(fields.contains(&("tenant".into(), apache_avro::types::Value::String("main".into()))));
    }

    #[test]
    fn incompatible_schemas_are_refused_with_the_reason() {
        // A field the reader needs, added without a default.
        let v2 = with_field(r#"{"name": "tenant", "type": "string"}"#);
        let err = Resolution::between(CLICK_EVENT_SCHEMA_JSON.as_bytes(), &v2).unwrap_err();
        assert!(err.contains("cannot be read"), "{err}");
        // A retyped field.
        let retyped = CLICK_EVENT_SCHEMA_JSON.replacen("\"name\": \"status\", \"type\": \"int\"", "\"name\": \"status\", \"type\": \"string\"", 1);
        assert_ne!(retyped, CLICK_EVENT_SCHEMA_JSON, "the test must change the schema");
        assert!(Resolution::for_writer(retyped.as_bytes()).is_err());
        assert!(Resolution::for_writer(b"not json").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn writer_schemas_whose_records_can_cost_nothing_are_refused() {
        // Both would resolve (the reader ignores the field), but a hostile
        // block could make millions of values, or nest without end, per byte.
        for field in [
            r#"{"name": "xs", "type": {"type": "array", "items": "null"}, "default": []}"#,
            r#"{"name": "m", "type": {"type": "map", "values": "string"}, "default": {}}"#,
            r#"{"name": "next", "type": ["null", "ClickEvent"], "default": null}"#,
        ] {
            let err = Resolution::for_writer(with_field(field).as_bytes()).unwrap_err();
            assert!(err.contains("not one the master copy reads"), "{field}: {err}");
        }
    }
}
