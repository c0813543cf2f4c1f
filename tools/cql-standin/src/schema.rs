//! The catalog: keyspaces and table definitions created by DDL.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cql::ast::Order;
use crate::types::CqlType;

/// What role a column plays in the primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    /// Part of the partition key, at this position.
    PartitionKey(usize),
    /// A clustering column, at this position.
    Clustering(usize),
    /// Not part of the key.
    Regular,
}

impl ColumnKind {
    /// The name `system_schema.columns.kind` uses.
    pub fn schema_name(self) -> &'static str {
        match self {
            ColumnKind::PartitionKey(_) => "partition_key",
            ColumnKind::Clustering(_) => "clustering",
            ColumnKind::Regular => "regular",
        }
    }
}

/// A column definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    /// Name (case as stored).
    pub name: String,
    /// Type, kept as its DDL text in snapshots.
    #[serde(with = "type_as_text")]
    pub ty: CqlType,
    /// Key role.
    pub kind: ColumnKind,
    /// Clustering order (clustering columns only).
    pub desc: bool,
}

mod type_as_text {
    use super::CqlType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &CqlType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CqlType, D::Error> {
        let s = String::deserialize(d)?;
        CqlType::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A table definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableDef {
    /// Keyspace.
    pub keyspace: String,
    /// Name.
    pub name: String,
    /// All columns, in declaration order.
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the partition key, in key order.
    pub partition_key: Vec<usize>,
    /// Indexes into `columns` of the clustering columns, in key order.
    pub clustering: Vec<usize>,
    /// `default_time_to_live` in seconds (0: rows do not expire unless written with a TTL).
    pub default_ttl: i32,
}

impl TableDef {
    /// Builds a definition from parsed DDL, checking that every key column is declared.
    pub fn new(
        keyspace: &str,
        name: &str,
        cols: &[(String, CqlType)],
        partition_key: &[String],
        clustering: &[(String, Order)],
        default_ttl: i32,
    ) -> Result<TableDef, String> {
        let find = |n: &str| cols.iter().position(|(c, _)| c == n).ok_or_else(|| format!("unknown key column {n}"));
        let pk: Vec<usize> = partition_key.iter().map(|n| find(n)).collect::<Result<_, _>>()?;
        let ck: Vec<usize> = clustering.iter().map(|(n, _)| find(n)).collect::<Result<_, _>>()?;
        let columns = cols
            .iter()
            .enumerate()
            .map(|(i, (n, t))| {
                let kind = if let Some(p) = pk.iter().position(|&x| x == i) {
                    ColumnKind::PartitionKey(p)
                } else if let Some(p) = ck.iter().position(|&x| x == i) {
                    ColumnKind::Clustering(p)
                } else {
                    ColumnKind::Regular
                };
                let desc = clustering.iter().any(|(c, o)| c == n && *o == Order::Desc);
                if kind != ColumnKind::Regular && matches!(t, CqlType::List(_) | CqlType::Set(_) | CqlType::Map(..)) {
                    return Err(format!("key column {n} cannot be a collection"));
                }
                Ok(Column { name: n.clone(), ty: t.clone(), kind, desc })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(TableDef { keyspace: keyspace.to_string(), name: name.to_string(), columns, partition_key: pk, clustering: ck, default_ttl })
    }

    /// Index of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// A keyspace definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyspaceDef {
    /// Name.
    pub name: String,
    /// Replication options as written (`class`, `replication_factor`...).
    pub replication: Vec<(String, String)>,
    /// `durable_writes`.
    pub durable_writes: bool,
    /// Tables by name.
    pub tables: BTreeMap<String, Arc<TableDef>>,
}
