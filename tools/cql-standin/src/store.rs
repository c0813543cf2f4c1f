//! The data of one table: partitions of rows in clustering order, with
//! Cassandra's per-cell write timestamps and time-to-live.
//!
//! Semantics kept from Cassandra because the project depends on them:
//! - an `INSERT` is an upsert: it overwrites the cells it names and leaves
//!   the others alone; it also writes a row marker, so a row written with
//!   only key columns exists;
//! - every cell carries a write timestamp, and an older write never
//!   overwrites a newer one (last write wins);
//! - a cell written with a TTL (`USING TTL`, else the table's
//!   `default_time_to_live`) disappears when it expires: reads skip it, and a
//!   row whose marker and cells have all expired is gone.
//!
//! Rows sit in a `BTreeMap` under an order-preserving byte encoding of their
//! clustering values (descending columns inverted), so a partition iterates
//! in the table's clustering order without a comparator that knows the table.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::schema::{ColumnKind, TableDef};
use crate::types::CqlType;

/// One stored value with its write time and expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// The value as the client serialised it; `None` for a deleted cell (tombstone).
    #[serde(with = "opt_bytes_hex")]
    pub value: Option<Bytes>,
    /// Write timestamp, microseconds since the epoch.
    pub ts: i64,
    /// TTL it was written with, seconds (0: none).
    pub ttl: i32,
    /// When it expires, milliseconds since the epoch (`None`: never).
    pub expires_ms: Option<i64>,
}

impl Cell {
    /// Whether the cell holds a value at `now_ms`.
    pub fn live(&self, now_ms: i64) -> bool {
        self.value.is_some() && self.expires_ms.is_none_or(|e| e > now_ms)
    }
}

/// One row: key values plus a cell per regular column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Clustering key values, in key order.
    #[serde(with = "vec_bytes_hex")]
    pub clustering: Vec<Bytes>,
    /// Row marker written by `INSERT` (its value is empty), so key-only rows exist.
    pub marker: Option<Cell>,
    /// Cells by column index (only regular columns are ever set).
    pub cells: HashMap<usize, Cell>,
}

impl Row {
    /// Whether any part of the row is live at `now_ms`.
    pub fn live(&self, now_ms: i64) -> bool {
        self.marker.as_ref().is_some_and(|m| m.live(now_ms)) || self.cells.values().any(|c| c.live(now_ms))
    }
}

/// Rows of one partition in clustering order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Partition {
    /// Partition key values, in key order.
    #[serde(with = "vec_bytes_hex")]
    pub key: Vec<Bytes>,
    /// Rows under their order-preserving clustering encoding (see [`clustering_sort_key`]).
    #[serde(with = "map_bytes_key")]
    pub rows: BTreeMap<Vec<u8>, Row>,
}

/// All partitions of a table, by their key values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableData {
    /// Partitions under their encoded key (see [`partition_sort_key`]).
    #[serde(with = "map_bytes_key")]
    pub partitions: BTreeMap<Vec<u8>, Partition>,
}

/// A write of one row: which cells to set, how, and when.
pub struct Mutation<'a> {
    /// Partition key values.
    pub partition: Vec<Bytes>,
    /// Clustering key values (all of them).
    pub clustering: Vec<Bytes>,
    /// `(column index, value)`; `None` deletes the cell.
    pub cells: Vec<(usize, Option<Bytes>)>,
    /// Write the row marker (INSERT does, UPDATE does not).
    pub marker: bool,
    /// Write timestamp, microseconds.
    pub ts: i64,
    /// TTL in seconds (0: none).
    pub ttl: i32,
    /// Wall-clock now, milliseconds.
    pub now_ms: i64,
    /// The table.
    pub def: &'a TableDef,
}

/// Encodes values so that byte order equals the CQL order of the values
/// (descending components inverted).
pub fn clustering_sort_key(def: &TableDef, values: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    for (v, &col) in values.iter().zip(&def.clustering) {
        let c = &def.columns[col];
        let start = out.len();
        encode_ordered(&c.ty, v, &mut out);
        if c.desc {
            for b in &mut out[start..] {
                *b = !*b;
            }
        }
    }
    out
}

/// Encodes partition key values (any injective encoding would do; this one also orders them).
pub fn partition_sort_key(def: &TableDef, values: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    for (v, &col) in values.iter().zip(&def.partition_key) {
        encode_ordered(&def.columns[col].ty, v, &mut out);
    }
    out
}

fn encode_ordered(ty: &CqlType, v: &[u8], out: &mut Vec<u8>) {
    match ty {
        CqlType::BigInt | CqlType::Int | CqlType::SmallInt | CqlType::TinyInt | CqlType::Timestamp => {
            let mut x: i64 = if v.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
            for &b in v {
                x = (x << 8) | b as i64;
            }
            out.extend_from_slice(&((x as u64) ^ (1 << 63)).to_be_bytes());
        }
        CqlType::Double if v.len() == 8 => {
            let bits = u64::from_be_bytes(v.try_into().unwrap_or_default());
            let key = if bits & (1 << 63) != 0 { !bits } else { bits ^ (1 << 63) };
            out.extend_from_slice(&key.to_be_bytes());
        }
        _ => {
            // Escape 0x00 as 00 FF and terminate with 00 00: prefixes sort first.
            for &b in v {
                out.push(b);
                if b == 0 {
                    out.push(0xFF);
                }
            }
            out.extend_from_slice(&[0, 0]);
        }
    }
}

impl TableData {
    /// Applies one row write.
    pub fn apply(&mut self, m: Mutation<'_>) {
        let expires_ms = (m.ttl > 0).then(|| m.now_ms + m.ttl as i64 * 1000);
        let pkey = partition_sort_key(m.def, &m.partition);
        let partition = self.partitions.entry(pkey).or_insert_with(|| Partition { key: m.partition.clone(), rows: BTreeMap::new() });
        let ckey = clustering_sort_key(m.def, &m.clustering);
        let row = partition.rows.entry(ckey).or_insert_with(|| Row { clustering: m.clustering.clone(), marker: None, cells: HashMap::new() });
        let newer = |old: Option<&Cell>| old.is_none_or(|c| c.ts <= m.ts);
        if m.marker && newer(row.marker.as_ref()) {
            row.marker = Some(Cell { value: Some(Bytes::new()), ts: m.ts, ttl: m.ttl, expires_ms });
        }
        for (col, value) in m.cells {
            debug_assert_eq!(m.def.columns[col].kind, ColumnKind::Regular);
            if newer(row.cells.get(&col)) {
                // A deleted cell never expires: the tombstone keeps older writes out.
                let (ttl, expires_ms) = if value.is_some() { (m.ttl, expires_ms) } else { (0, None) };
                row.cells.insert(col, Cell { value, ts: m.ts, ttl, expires_ms });
            }
        }
    }

    /// Drops expired rows and empty partitions (called now and then to bound memory).
    pub fn purge_expired(&mut self, now_ms: i64) {
        for p in self.partitions.values_mut() {
            p.rows.retain(|_, r| r.live(now_ms));
        }
        self.partitions.retain(|_, p| !p.rows.is_empty());
    }
}

mod hex {
    pub fn encode(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    pub fn decode(s: &str) -> Result<Vec<u8>, String> {
        if s.len() & 1 == 1 {
            return Err("odd hex length".into());
        }
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string())).collect()
    }
}

mod opt_bytes_hex {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&super::hex::encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| super::hex::decode(&s).map(Bytes::from).map_err(serde::de::Error::custom)).transpose()
    }
}

mod vec_bytes_hex {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Bytes], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| super::hex::encode(b)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Bytes>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|s| super::hex::decode(s).map(Bytes::from).map_err(serde::de::Error::custom)).collect()
    }
}

mod map_bytes_key {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, V: Serialize>(m: &BTreeMap<Vec<u8>, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (super::hex::encode(k), v)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(d: D) -> Result<BTreeMap<Vec<u8>, V>, D::Error> {
        BTreeMap::<String, V>::deserialize(d)?.into_iter().map(|(k, v)| Ok((super::hex::decode(&k).map_err(serde::de::Error::custom)?, v))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql::ast::Order;

    fn def() -> TableDef {
        TableDef::new(
            "ks",
            "t",
            &[("k".into(), CqlType::Text), ("c".into(), CqlType::BigInt), ("v".into(), CqlType::Int)],
            &["k".into()],
            &[("c".into(), Order::Desc)],
            0,
        )
        .unwrap()
    }

    fn write(data: &mut TableData, def: &TableDef, c: i64, v: i32, ts: i64, ttl: i32) {
        data.apply(Mutation {
            partition: vec![Bytes::from_static(b"a")],
            clustering: vec![Bytes::copy_from_slice(&c.to_be_bytes())],
            cells: vec![(2, Some(Bytes::copy_from_slice(&v.to_be_bytes())))],
            marker: true,
            ts,
            ttl,
            now_ms: 1_000,
            def,
        });
    }

    #[test]
    fn descending_clustering_iterates_newest_first() {
        let d = def();
        let mut data = TableData::default();
        for c in [-3i64, 10, 2] {
            write(&mut data, &d, c, 0, 1, 0);
        }
        let p = data.partitions.values().next().unwrap();
        let order: Vec<i64> = p.rows.values().map(|r| i64::from_be_bytes(r.clustering[0][..].try_into().unwrap())).collect();
        assert_eq!(order, vec![10, 2, -3]);
    }

    #[test]
    fn last_write_wins_and_ttl_expires() {
        let d = def();
        let mut data = TableData::default();
        write(&mut data, &d, 1, 5, 10, 0);
        write(&mut data, &d, 1, 6, 9, 0); // older: ignored
        let row = data.partitions.values().next().unwrap().rows.values().next().unwrap().clone();
        assert_eq!(&row.cells[&2].value.as_ref().unwrap()[..], &5i32.to_be_bytes());
        write(&mut data, &d, 2, 1, 20, 2);
        let p = data.partitions.values().next().unwrap();
        let r2 = p.rows.values().next().unwrap();
        assert!(r2.live(2_999) && !r2.live(3_000));
        data.purge_expired(3_000);
        assert_eq!(data.partitions.values().next().unwrap().rows.len(), 1);
    }
}
