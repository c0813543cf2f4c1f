//! CQL data types: parsing the names DDL uses, their wire `[option]` ids,
//! value ordering, and encoding of literals.
//!
//! Values are kept exactly as the client serialised them (the CQL binary
//! form), so the stand-in never re-encodes what a driver sent: a row read back
//! carries the very bytes that were written. Only where the server itself has
//! to understand a value (ordering clustering keys, comparing in `WHERE`,
//! turning a literal of a query string into bytes) does this module look
//! inside.

use std::cmp::Ordering;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::CqlError;

/// A CQL type, as far as the stand-in supports them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CqlType {
    /// `ascii`
    Ascii,
    /// `bigint`
    BigInt,
    /// `blob`
    Blob,
    /// `boolean`
    Boolean,
    /// `double`
    Double,
    /// `float`
    Float,
    /// `int`
    Int,
    /// `smallint`
    SmallInt,
    /// `tinyint`
    TinyInt,
    /// `timestamp` (milliseconds since the epoch, as bigint)
    Timestamp,
    /// `date` (days since -2^31, unsigned)
    Date,
    /// `uuid`
    Uuid,
    /// `timeuuid`
    TimeUuid,
    /// `text` / `varchar`
    Text,
    /// `inet`
    Inet,
    /// `list<T>`
    List(Box<CqlType>),
    /// `set<T>`
    Set(Box<CqlType>),
    /// `map<K, V>`
    Map(Box<CqlType>, Box<CqlType>),
}

impl CqlType {
    /// Parses a type as written in DDL (`text`, `set<text>`, `frozen<map<text, int>>`).
    pub fn parse(s: &str) -> Result<CqlType, CqlError> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if let Some(inner) = strip_generic(&lower, "frozen") {
            return CqlType::parse(inner);
        }
        if let Some(inner) = strip_generic(&lower, "list") {
            return Ok(CqlType::List(Box::new(CqlType::parse(inner)?)));
        }
        if let Some(inner) = strip_generic(&lower, "set") {
            return Ok(CqlType::Set(Box::new(CqlType::parse(inner)?)));
        }
        if let Some(inner) = strip_generic(&lower, "map") {
            let (k, v) = split_top_level_comma(inner).ok_or_else(|| CqlError::invalid(format!("map type needs two parameters: {s}")))?;
            return Ok(CqlType::Map(Box::new(CqlType::parse(k)?), Box::new(CqlType::parse(v)?)));
        }
        Ok(match lower.as_str() {
            "ascii" => CqlType::Ascii,
            "bigint" => CqlType::BigInt,
            "blob" => CqlType::Blob,
            "boolean" => CqlType::Boolean,
            "double" => CqlType::Double,
            "float" => CqlType::Float,
            "int" => CqlType::Int,
            "smallint" => CqlType::SmallInt,
            "tinyint" => CqlType::TinyInt,
            "timestamp" => CqlType::Timestamp,
            "date" => CqlType::Date,
            "uuid" => CqlType::Uuid,
            "timeuuid" => CqlType::TimeUuid,
            "text" | "varchar" => CqlType::Text,
            "inet" => CqlType::Inet,
            "counter" => {
                return Err(CqlError::invalid(
                    "counter columns are not supported by cql-standin (the project uses idempotent upserts, never counters)",
                ))
            }
            other => return Err(CqlError::invalid(format!("type `{other}` is not supported by cql-standin"))),
        })
    }

    /// The `[option]` id of the type on the wire (native protocol v4, section 4.2.5.2).
    pub fn option_id(&self) -> u16 {
        match self {
            CqlType::Ascii => 0x0001,
            CqlType::BigInt => 0x0002,
            CqlType::Blob => 0x0003,
            CqlType::Boolean => 0x0004,
            CqlType::Double => 0x0007,
            CqlType::Float => 0x0008,
            CqlType::Int => 0x0009,
            CqlType::Timestamp => 0x000B,
            CqlType::Uuid => 0x000C,
            CqlType::Text => 0x000D,
            CqlType::TimeUuid => 0x000F,
            CqlType::Inet => 0x0010,
            CqlType::Date => 0x0011,
            CqlType::SmallInt => 0x0013,
            CqlType::TinyInt => 0x0014,
            CqlType::List(_) => 0x0020,
            CqlType::Map(..) => 0x0021,
            CqlType::Set(_) => 0x0022,
        }
    }

    /// Writes the type as an `[option]`.
    pub fn write_option(&self, out: &mut BytesMut) {
        out.put_u16(self.option_id());
        match self {
            CqlType::List(t) | CqlType::Set(t) => t.write_option(out),
            CqlType::Map(k, v) => {
                k.write_option(out);
                v.write_option(out);
            }
            _ => {}
        }
    }

    /// Total order of two serialised values of this type, as Cassandra sorts
    /// clustering columns (signed integers, byte order for text and blobs).
    pub fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        fn int(v: &[u8]) -> i64 {
            let mut x: i64 = if v.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
            for &b in v {
                x = (x << 8) | b as i64;
            }
            x
        }
        match self {
            CqlType::BigInt | CqlType::Int | CqlType::SmallInt | CqlType::TinyInt | CqlType::Timestamp => int(a).cmp(&int(b)),
            CqlType::Double if a.len() == 8 && b.len() == 8 => {
                let fa = f64::from_be_bytes(a.try_into().unwrap_or_default());
                let fb = f64::from_be_bytes(b.try_into().unwrap_or_default());
                fa.total_cmp(&fb)
            }
            CqlType::Float if a.len() == 4 && b.len() == 4 => {
                let fa = f32::from_be_bytes(a.try_into().unwrap_or_default());
                let fb = f32::from_be_bytes(b.try_into().unwrap_or_default());
                fa.total_cmp(&fb)
            }
            _ => a.cmp(b),
        }
    }

    /// Encodes a literal of a query string as a value of this type.
    pub fn encode_literal(&self, lit: &Literal) -> Result<Option<Bytes>, CqlError> {
        let bad = || CqlError::invalid(format!("cannot use {lit} as a value of type {self}"));
        let v: Vec<u8> = match (self, lit) {
            (_, Literal::Null) => return Ok(None),
            (CqlType::Text | CqlType::Ascii, Literal::Str(s)) => s.as_bytes().to_vec(),
            (CqlType::BigInt | CqlType::Timestamp, Literal::Int(i)) => i.to_be_bytes().to_vec(),
            (CqlType::Int, Literal::Int(i)) => i32::try_from(*i).map_err(|_| bad())?.to_be_bytes().to_vec(),
            (CqlType::SmallInt, Literal::Int(i)) => i16::try_from(*i).map_err(|_| bad())?.to_be_bytes().to_vec(),
            (CqlType::TinyInt, Literal::Int(i)) => i8::try_from(*i).map_err(|_| bad())?.to_be_bytes().to_vec(),
            (CqlType::Double, Literal::Int(i)) => (*i as f64).to_be_bytes().to_vec(),
            (CqlType::Double, Literal::Float(f)) => f.to_be_bytes().to_vec(),
            (CqlType::Float, Literal::Int(i)) => (*i as f32).to_be_bytes().to_vec(),
            (CqlType::Float, Literal::Float(f)) => (*f as f32).to_be_bytes().to_vec(),
            (CqlType::Boolean, Literal::Bool(b)) => vec![*b as u8],
            (CqlType::Blob, Literal::Hex(h)) => h.clone(),
            (CqlType::Uuid | CqlType::TimeUuid, Literal::Uuid(u)) => u.to_vec(),
            (CqlType::Inet, Literal::Str(s)) => match s.parse::<std::net::IpAddr>().map_err(|_| bad())? {
                std::net::IpAddr::V4(a) => a.octets().to_vec(),
                std::net::IpAddr::V6(a) => a.octets().to_vec(),
            },
            (CqlType::List(t) | CqlType::Set(t), Literal::Collection(items)) => {
                let mut encoded: Vec<Bytes> = Vec::with_capacity(items.len());
                for item in items {
                    encoded.push(t.encode_literal(item)?.ok_or_else(bad)?);
                }
                if matches!(self, CqlType::Set(_)) {
                    encoded.sort_by(|a, b| t.compare(a, b));
                    encoded.dedup();
                }
                encode_collection(encoded.iter().map(|b| b.as_ref()))
            }
            (CqlType::Map(k, v), Literal::Map(pairs)) => {
                let mut kv: Vec<(Bytes, Bytes)> = Vec::with_capacity(pairs.len());
                for (key, val) in pairs {
                    kv.push((k.encode_literal(key)?.ok_or_else(bad)?, v.encode_literal(val)?.ok_or_else(bad)?));
                }
                kv.sort_by(|a, b| k.compare(&a.0, &b.0));
                kv.dedup_by(|a, b| a.0 == b.0);
                let mut out = (kv.len() as i32).to_be_bytes().to_vec();
                for (key, val) in &kv {
                    out.extend_from_slice(&(key.len() as i32).to_be_bytes());
                    out.extend_from_slice(key);
                    out.extend_from_slice(&(val.len() as i32).to_be_bytes());
                    out.extend_from_slice(val);
                }
                out
            }
            _ => return Err(bad()),
        };
        Ok(Some(Bytes::from(v)))
    }
}

/// Encodes a list or set value: `[int n]` then `n` times `[bytes]`.
pub fn encode_collection<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = (items.len() as i32).to_be_bytes().to_vec();
    for item in items {
        out.extend_from_slice(&(item.len() as i32).to_be_bytes());
        out.extend_from_slice(item);
    }
    out
}

/// Encodes a `map<text, text>` value.
pub fn encode_text_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let mut out = (sorted.len() as i32).to_be_bytes().to_vec();
    for (k, v) in sorted {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as i32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// Splits `a, b` at the first comma that is not inside `<>`.
fn split_top_level_comma(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => return Some((&s[..i], &s[i + 1..])),
            _ => {}
        }
    }
    None
}

/// `name<inner>` -> `inner`.
fn strip_generic<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(name)?.trim_start();
    rest.strip_prefix('<')?.strip_suffix('>').map(str::trim)
}

impl fmt::Display for CqlType {
    /// The name Cassandra stores in `system_schema.columns.type`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CqlType::Ascii => f.write_str("ascii"),
            CqlType::BigInt => f.write_str("bigint"),
            CqlType::Blob => f.write_str("blob"),
            CqlType::Boolean => f.write_str("boolean"),
            CqlType::Double => f.write_str("double"),
            CqlType::Float => f.write_str("float"),
            CqlType::Int => f.write_str("int"),
            CqlType::SmallInt => f.write_str("smallint"),
            CqlType::TinyInt => f.write_str("tinyint"),
            CqlType::Timestamp => f.write_str("timestamp"),
            CqlType::Date => f.write_str("date"),
            CqlType::Uuid => f.write_str("uuid"),
            CqlType::TimeUuid => f.write_str("timeuuid"),
            CqlType::Text => f.write_str("text"),
            CqlType::Inet => f.write_str("inet"),
            CqlType::List(t) => write!(f, "list<{t}>"),
            CqlType::Set(t) => write!(f, "set<{t}>"),
            CqlType::Map(k, v) => write!(f, "map<{k}, {v}>"),
        }
    }
}

/// A constant written in a query string.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'`
    Str(String),
    /// `42`, `-7`
    Int(i64),
    /// `1.5`
    Float(f64),
    /// `true` / `false`
    Bool(bool),
    /// `0xCAFE`
    Hex(Vec<u8>),
    /// `123e4567-e89b-12d3-a456-426614174000`
    Uuid([u8; 16]),
    /// `null`
    Null,
    /// `[a, b]` or `{a, b}`
    Collection(Vec<Literal>),
    /// `{k: v, ...}`
    Map(Vec<(Literal, Literal)>),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write!(f, "'{s}'"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Hex(h) => write!(f, "a blob of {} bytes", h.len()),
            Literal::Uuid(_) => f.write_str("a uuid"),
            Literal::Null => f.write_str("null"),
            Literal::Collection(_) => f.write_str("a collection"),
            Literal::Map(_) => f.write_str("a map"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ddl_type_names() {
        assert_eq!(CqlType::parse("TEXT").unwrap(), CqlType::Text);
        assert_eq!(CqlType::parse("frozen<set<text>>").unwrap(), CqlType::Set(Box::new(CqlType::Text)));
        assert_eq!(CqlType::parse("map<text, bigint>").unwrap(), CqlType::Map(Box::new(CqlType::Text), Box::new(CqlType::BigInt)));
        assert_eq!(CqlType::parse("map<text,bigint>").unwrap().to_string(), "map<text, bigint>");
        assert!(CqlType::parse("counter").unwrap_err().to_string().contains("counter"));
    }

    #[test]
    fn orders_signed_integers_and_text() {
        let t = CqlType::BigInt;
        assert_eq!(t.compare(&(-5i64).to_be_bytes(), &3i64.to_be_bytes()), Ordering::Less);
        assert_eq!(CqlType::Text.compare(b"b", b"ab"), Ordering::Greater);
    }

    #[test]
    fn encodes_literals() {
        let v = CqlType::Int.encode_literal(&Literal::Int(7)).unwrap().unwrap();
        assert_eq!(&v[..], &[0, 0, 0, 7]);
        assert!(CqlType::Int.encode_literal(&Literal::Str("x".into())).is_err());
        let s = CqlType::Set(Box::new(CqlType::Text))
            .encode_literal(&Literal::Collection(vec![Literal::Str("b".into()), Literal::Str("a".into())]))
            .unwrap()
            .unwrap();
        assert_eq!(&s[..], &[0, 0, 0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']);
    }
}
