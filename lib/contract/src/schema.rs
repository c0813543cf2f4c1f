//! The Avro schema files, embedded so that code and files cannot drift apart,
//! and the schema fingerprint that single-object encoding puts on the wire.
//!
//! The fingerprint is CRC-64-AVRO of the schema's Parsing Canonical Form. The
//! canonical form is computed here rather than by `apache-avro` 0.22, whose
//! `canonical_form()` keeps logical types as `{"type":"long"}` instead of the
//! spec's `"long"` (AVRO-4004) and so disagrees with Java and fastavro. The
//! fastavro interop test pins this crate to what the other implementations say.

use std::collections::HashSet;
use std::sync::LazyLock;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use serde_json::Value;

/// `schemas/avro/click_event.avsc`, verbatim.
pub const CLICK_EVENT_SCHEMA_JSON: &str = include_str!("../../../schemas/avro/click_event.avsc");

/// `schemas/avro/flume.avpr`, verbatim: Flume's `AvroSourceProtocol`.
pub const FLUME_PROTOCOL_JSON: &str = include_str!("../../../schemas/avro/flume.avpr");

static CLICK_EVENT_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::parse_str(CLICK_EVENT_SCHEMA_JSON).expect("schemas/avro/click_event.avsc is embedded at build time and checked by tests")
});

static CLICK_EVENT_FINGERPRINT: LazyLock<[u8; 8]> = LazyLock::new(|| {
    let json: Value = serde_json::from_str(CLICK_EVENT_SCHEMA_JSON).expect("embedded schema is JSON");
    rabin_fingerprint(&parsing_canonical_form(&json))
});

/// The parsed click-event schema, for container files and generic readers.
pub fn click_event_schema() -> &'static Schema {
    &CLICK_EVENT_SCHEMA
}

/// The schema's CRC-64-AVRO (Rabin) fingerprint of its Parsing Canonical Form,
/// in the little-endian byte order that single-object encoding puts on the wire.
pub fn click_event_fingerprint() -> [u8; 8] {
    *CLICK_EVENT_FINGERPRINT
}

/// CRC-64-AVRO of `text`, little-endian.
pub fn rabin_fingerprint(text: &str) -> [u8; 8] {
    let mut digest = <Rabin as digest::Digest>::new();
    digest::Digest::update(&mut digest, text.as_bytes());
    digest::Digest::finalize(digest).into()
}

const PRIMITIVES: &[&str] = &["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// The Parsing Canonical Form of a JSON schema, per the Avro specification
/// (PRIMITIVES, FULLNAMES, STRIP, ORDER, STRINGS, WHITESPACE).
pub fn parsing_canonical_form(schema: &Value) -> String {
    let mut out = String::new();
    pcf(schema, None, &mut HashSet::new(), &mut out);
    out
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn json_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn pcf(schema: &Value, namespace: Option<&str>, defined: &mut HashSet<String>, out: &mut String) {
    match schema {
        Value::String(name) if PRIMITIVES.contains(&name.as_str()) => out.push_str(&json_str(name)),
        Value::String(name) => out.push_str(&json_str(&full_name(name, namespace))),
        Value::Array(branches) => {
            out.push('[');
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pcf(b, namespace, defined, out);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            let ty = obj.get("type").and_then(Value::as_str).unwrap_or_default();
            match ty {
                "record" | "error" | "enum" | "fixed" => {
                    let ns = obj.get("namespace").and_then(Value::as_str).or(namespace);
                    let name = full_name(obj.get("name").and_then(Value::as_str).unwrap_or_default(), ns);
                    let inner_ns = name.rsplit_once('.').map(|(ns, _)| ns.to_string());
                    if !defined.insert(name.clone()) {
                        out.push_str(&json_str(&name));
                        return;
                    }
                    out.push_str(&format!("{{\"name\":{},\"type\":{}", json_str(&name), json_str(ty)));
                    if let Some(fields) = obj.get("fields").and_then(Value::as_array) {
                        out.push_str(",\"fields\":[");
                        for (i, f) in fields.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            let fname = f.get("name").and_then(Value::as_str).unwrap_or_default();
                            out.push_str(&format!("{{\"name\":{},\"type\":", json_str(fname)));
                            pcf(&f["type"], inner_ns.as_deref(), defined, out);
                            out.push('}');
                        }
                        out.push(']');
                    }
                    if let Some(symbols) = obj.get("symbols") {
                        out.push_str(&format!(",\"symbols\":{symbols}"));
                    }
                    if let Some(size) = obj.get("size") {
                        out.push_str(&format!(",\"size\":{size}"));
                    }
                    out.push('}');
                }
                "array" => {
                    out.push_str("{\"type\":\"array\",\"items\":");
                    pcf(&obj["items"], namespace, defined, out);
                    out.push('}');
                }
                "map" => {
                    out.push_str("{\"type\":\"map\",\"values\":");
                    pcf(&obj["values"], namespace, defined, out);
                    out.push('}');
                }
                // A primitive written as an object, with or without a logical type.
                other => pcf(&Value::String(other.to_string()), namespace, defined, out),
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_follows_the_spec() {
        let schema: Value = serde_json::from_str(
            r#"{"type":"record","name":"R","namespace":"a.b","doc":"x","fields":[
                {"name":"t","type":{"type":"long","logicalType":"timestamp-millis"},"doc":"y"},
                {"name":"u","type":["null",{"type":"string"}],"default":null},
                {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
                {"name":"e2","type":"E"},
                {"name":"m","type":{"type":"map","values":{"type":"array","items":"int"}}},
                {"name":"f","type":{"type":"fixed","name":"x.F","size":4}}]}"#,
        )
        .unwrap();
        assert_eq!(
            parsing_canonical_form(&schema),
            r#"{"name":"a.b.R","type":"record","fields":[{"name":"t","type":"long"},{"name":"u","type":["null","string"]},{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["A","B"]}},{"name":"e2","type":"a.b.E"},{"name":"m","type":{"type":"map","values":{"type":"array","items":"int"}}},{"name":"f","type":{"name":"x.F","type":"fixed","size":4}}]}"#
        );
    }

    #[test]
    fn rabin_of_known_schemas() {
        // Values from the Avro specification's test suite (lang/py/avro/test).
        assert_eq!(u64::from_le_bytes(rabin_fingerprint("\"int\"")), 0x7275d51a3f395c8f);
        assert_eq!(u64::from_le_bytes(rabin_fingerprint("\"string\"")), 0x8f014872634503c7);
    }
}
