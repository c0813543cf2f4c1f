//! Flume's `AvroSourceProtocol` as it appears in the Avro IPC handshake: the
//! protocol text we send, its MD5, and the check that a peer's protocol is
//! wire-compatible with ours.
//!
//! The handshake identifies protocols by the MD5 of their JSON text, and Java
//! hashes `Protocol.toString()`, its own compact rendering, not the file it
//! parsed. [`text`] is `schemas/avro/flume.avpr` (from `clickstream-contract`)
//! with the whitespace between JSON tokens removed; the file lists its keys in
//! the order Java writes them, so this is byte-for-byte what Avro 1.8.2 prints
//! and [`md5()`] equals the Java `Protocol.getMD5()` of the same protocol (the
//! Java interop test pins this). Equal hashes let the very first call on a
//! connection complete with `match = BOTH`; a different hash still works, it
//! only costs the extra handshake round trip the protocol defines.
//!
//! A peer's protocol is *compatible* when every message it declares is one of
//! ours (`append`, `appendBatch`) with the same wire shape: same parameter and
//! response types once named types are resolved, ignoring names, docs and
//! namespaces, which never reach the wire. This is stricter than Avro's full
//! schema resolution (which would for instance accept extra enum symbols), on
//! purpose: the codec here decodes with our schema only.

use std::collections::HashMap;
use std::sync::OnceLock;

use clickstream_contract::schema::FLUME_PROTOCOL_JSON;
use md5::{Digest, Md5};
use serde_json::Value;

/// Message name of Flume's single-event call.
pub const APPEND: &str = "append";
/// Message name of Flume's batch call.
pub const APPEND_BATCH: &str = "appendBatch";

/// Our protocol's JSON text as sent in handshakes (compact, Java's rendering).
pub fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| compact_json(FLUME_PROTOCOL_JSON))
}

/// MD5 of [`text`]: the hash both sides put in handshakes.
pub fn md5() -> [u8; 16] {
    static HASH: OnceLock<[u8; 16]> = OnceLock::new();
    *HASH.get_or_init(|| protocol_md5(text()))
}

/// MD5 of a protocol's JSON text, as Avro computes protocol hashes.
pub fn protocol_md5(text: &str) -> [u8; 16] {
    Md5::digest(text.as_bytes()).into()
}

/// Lower-case hex of a hash, for logs and for comparing with Java's output.
pub fn hex(hash: &[u8; 16]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `peer_protocol` (JSON text from a handshake) can talk to us.
///
/// Returns a human-readable reason when it cannot, naming the first mismatch.
pub fn check_compatible(peer_protocol: &str) -> Result<(), String> {
    let peer: Value = serde_json::from_str(peer_protocol).map_err(|e| format!("protocol is not JSON: {e}"))?;
    let ours = our_shapes();
    let theirs = message_shapes(&peer)?;
    if theirs.is_empty() {
        return Err("protocol declares no messages".to_string());
    }
    for (name, shape) in &theirs {
        match ours.get(name) {
            None => return Err(format!("message `{name}` is not part of Flume's AvroSourceProtocol")),
            Some(expected) if expected != shape => {
                return Err(format!("message `{name}` has wire shape {shape}, Flume's is {expected}"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn our_shapes() -> &'static HashMap<String, String> {
    static SHAPES: OnceLock<HashMap<String, String>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let ours: Value = serde_json::from_str(FLUME_PROTOCOL_JSON).expect("flume.avpr is JSON (checked by the contract crate's tests)");
        message_shapes(&ours).expect("flume.avpr is a valid protocol")
    })
}

/// Removes whitespace between JSON tokens, keeping strings untouched.
fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Named types keyed by full name (and short name, for lenient lookup).
type Names<'a> = HashMap<String, &'a Value>;

/// For each message: `request shapes -> response shape` (one-way marked).
fn message_shapes(protocol: &Value) -> Result<HashMap<String, String>, String> {
    let namespace = protocol.get("namespace").and_then(Value::as_str).unwrap_or("");
    let mut names = Names::new();
    if let Some(types) = protocol.get("types") {
        let types = types.as_array().ok_or("`types` is not an array")?;
        for t in types {
            collect_names(t, namespace, &mut names, 0)?;
        }
    }
    let messages = protocol.get("messages").and_then(Value::as_object).ok_or("protocol has no `messages` object")?;
    let mut out = HashMap::new();
    for (name, message) in messages {
        let request = message.get("request").and_then(Value::as_array).ok_or(format!("message `{name}` has no request list"))?;
        let mut params = Vec::new();
        for field in request {
            let ty = field.get("type").ok_or(format!("a parameter of `{name}` has no type"))?;
            collect_names(ty, namespace, &mut names, 0)?;
            params.push(ty);
        }
        let response = message.get("response").ok_or(format!("message `{name}` has no response"))?;
        collect_names(response, namespace, &mut names, 0)?;
        let params = params.iter().map(|p| shape(p, namespace, &names, 0)).collect::<Result<Vec<_>, _>>()?;
        let one_way = message.get("one-way").and_then(Value::as_bool).unwrap_or(false);
        let shape = format!("({}) -> {}{}", params.join(", "), shape(response, namespace, &names, 0)?, if one_way { " one-way" } else { "" });
        out.insert(name.clone(), shape);
    }
    Ok(out)
}

const MAX_DEPTH: usize = 32;

fn full_name(name: &str, schema: &Value, enclosing: &str) -> (String, String) {
    if name.contains('.') {
        let ns = name.rsplit_once('.').map(|(ns, _)| ns.to_string()).unwrap_or_default();
        return (name.to_string(), ns);
    }
    let ns = schema.get("namespace").and_then(Value::as_str).unwrap_or(enclosing);
    let full = if ns.is_empty() { name.to_string() } else { format!("{ns}.{name}") };
    (full, ns.to_string())
}

fn collect_names<'a>(schema: &'a Value, namespace: &str, names: &mut Names<'a>, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("schema nests too deeply".to_string());
    }
    match schema {
        Value::Array(branches) => branches.iter().try_for_each(|b| collect_names(b, namespace, names, depth + 1)),
        Value::Object(obj) => {
            let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
            let mut ns = namespace.to_string();
            if matches!(kind, "record" | "error" | "enum" | "fixed") {
                let name = obj.get("name").and_then(Value::as_str).ok_or(format!("a {kind} has no name"))?;
                let (full, inner_ns) = full_name(name, schema, namespace);
                let short = full.rsplit('.').next().unwrap_or(&full).to_string();
                names.insert(full, schema);
                names.entry(short).or_insert(schema);
                ns = inner_ns;
            }
            if let Some(fields) = obj.get("fields").and_then(Value::as_array) {
                for f in fields {
                    if let Some(t) = f.get("type") {
                        collect_names(t, &ns, names, depth + 1)?;
                    }
                }
            }
            for key in ["items", "values"] {
                if let Some(t) = obj.get(key) {
                    collect_names(t, &ns, names, depth + 1)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The wire layout of a schema, with names, docs and defaults dropped.
fn shape(schema: &Value, namespace: &str, names: &Names<'_>, depth: usize) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err("schema nests too deeply (or is recursive)".to_string());
    }
    match schema {
        Value::String(name) => match name.as_str() {
            "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string" => Ok(name.clone()),
            other => {
                let (full, ns) = full_name(other, &Value::Null, namespace);
                let def = names.get(&full).or_else(|| names.get(other)).ok_or(format!("unknown type `{other}`"))?;
                shape(def, &ns, names, depth + 1)
            }
        },
        Value::Array(branches) => {
            let inner = branches.iter().map(|b| shape(b, namespace, names, depth + 1)).collect::<Result<Vec<_>, _>>()?;
            Ok(format!("union[{}]", inner.join(", ")))
        }
        Value::Object(obj) => {
            let kind = obj.get("type").ok_or("a schema object has no `type`")?;
            let Some(kind_name) = kind.as_str() else {
                return shape(kind, namespace, names, depth + 1);
            };
            let ns = match obj.get("name").and_then(Value::as_str) {
                Some(name) => full_name(name, schema, namespace).1,
                None => namespace.to_string(),
            };
            match kind_name {
                "record" | "error" => {
                    let fields = obj.get("fields").and_then(Value::as_array).ok_or("a record has no fields")?;
                    let inner = fields
                        .iter()
                        .map(|f| f.get("type").ok_or("a field has no type".to_string()).and_then(|t| shape(t, &ns, names, depth + 1)))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(format!("record{{{}}}", inner.join(", ")))
                }
                "enum" => {
                    let symbols = obj.get("symbols").and_then(Value::as_array).ok_or("an enum has no symbols")?;
                    let symbols: Vec<&str> = symbols.iter().filter_map(Value::as_str).collect();
                    Ok(format!("enum[{}]", symbols.join(", ")))
                }
                "fixed" => Ok(format!("fixed({})", obj.get("size").and_then(Value::as_u64).ok_or("a fixed has no size")?)),
                "array" => Ok(format!("array<{}>", shape(obj.get("items").ok_or("an array has no items")?, &ns, names, depth + 1)?)),
                "map" => Ok(format!("map<{}>", shape(obj.get("values").ok_or("a map has no values")?, &ns, names, depth + 1)?)),
                // {"type": "string"} and friends, possibly with a logical type.
                other => shape(&Value::String(other.to_string()), namespace, names, depth + 1),
            }
        }
        other => Err(format!("`{other}` is not a schema")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_text_is_compact_and_parses_back_to_the_file() {
        let text = text();
        assert!(!text.contains(' ') && !text.contains('\n'), "{text}");
        assert!(text.starts_with(r#"{"protocol":"AvroSourceProtocol","namespace":"org.apache.flume.source.avro","types":["#));
        let a: Value = serde_json::from_str(text).unwrap();
        let b: Value = serde_json::from_str(FLUME_PROTOCOL_JSON).unwrap();
        assert_eq!(a, b);
        assert_eq!(md5(), protocol_md5(text));
        assert_eq!(hex(&md5()).len(), 32);
    }

    #[test]
    fn compacting_keeps_whitespace_and_escapes_inside_strings() {
        assert_eq!(compact_json("{ \"a b\" : [ 1 , \"x\\\" y\" ] }"), "{\"a b\":[1,\"x\\\" y\"]}");
    }

    #[test]
    fn flume_protocol_variants_are_compatible() {
        check_compatible(text()).unwrap();
        check_compatible(FLUME_PROTOCOL_JSON).unwrap();
        // Fully qualified names, a doc, inline definitions, only one message.
        let variant = r#"{"protocol":"Other","namespace":"x.y","doc":"d","types":[],
            "messages":{"appendBatch":{"request":[{"name":"evs","type":{"type":"array","items":
              {"type":"record","name":"E","namespace":"z","fields":[{"name":"h","type":{"type":"map","values":{"type":"string"}}},{"name":"b","type":"bytes"}]}}}],
              "response":{"type":"enum","name":"S","symbols":["OK","FAILED","UNKNOWN"]}}}}"#;
        check_compatible(variant).unwrap();
    }

    #[test]
    fn other_protocols_are_rejected_with_a_reason() {
        let extra = FLUME_PROTOCOL_JSON.replace("\"appendBatch\"", "\"appendMany\"");
        assert!(check_compatible(&extra).unwrap_err().contains("appendMany"));
        let reordered = FLUME_PROTOCOL_JSON.replace("\"OK\",", "").replace("\"UNKNOWN\"", "\"UNKNOWN\", \"OK\"");
        assert!(check_compatible(&reordered).unwrap_err().contains("enum"));
        let body_string = FLUME_PROTOCOL_JSON.replace("\"type\": \"bytes\"", "\"type\": \"string\"");
        assert!(check_compatible(&body_string).is_err());
        assert!(check_compatible("not json").is_err());
        assert!(check_compatible(r#"{"protocol":"P","messages":{}}"#).is_err());
        let recursive = r#"{"protocol":"P","types":[{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}],
            "messages":{"append":{"request":[{"name":"e","type":"R"}],"response":"null"}}}"#;
        assert!(check_compatible(recursive).is_err());
    }
}
