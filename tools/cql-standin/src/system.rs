//! The `system` and `system_schema` tables a driver reads on connect:
//! topology (`system.local`, `system.peers`), schema agreement
//! (`schema_version`) and schema metadata (`system_schema.*`).
//!
//! They are computed from the catalog on every read, never stored, so they
//! cannot drift from the tables that exist. This node reports itself as a
//! single-node cluster named "cql-standin (not Cassandra)" owning one token,
//! which is all a token-aware driver needs to route every request here.
//! ScyllaDB-only tables (`system_schema.scylla_*`) are absent, as on Apache
//! Cassandra: the driver then treats the server as Cassandra.

use std::net::IpAddr;

use bytes::Bytes;

use crate::schema::{ColumnKind, KeyspaceDef};
use crate::types::{encode_collection, encode_text_map, CqlType};

/// A computed table: column names and types, and rows.
pub struct VirtualTable {
    /// `(name, type)` per column.
    pub columns: Vec<(&'static str, CqlType)>,
    /// Row values.
    pub rows: Vec<Vec<Option<Bytes>>>,
}

/// Identity of this node.
pub struct NodeInfo {
    /// `host_id`, stable for the process.
    pub host_id: [u8; 16],
    /// The address clients reached (reported as `rpc_address`).
    pub rpc_address: IpAddr,
    /// Changes on every schema change, for the driver's schema agreement.
    pub schema_version: [u8; 16],
}

/// Name of the cluster, so nobody mistakes the stand-in for Cassandra.
pub const CLUSTER_NAME: &str = "cql-standin (not Cassandra)";
/// Reported release version.
pub const RELEASE_VERSION: &str = "4.0.0-cql-standin";

fn text(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

fn inet(a: IpAddr) -> Option<Bytes> {
    Some(match a {
        IpAddr::V4(v) => Bytes::copy_from_slice(&v.octets()),
        IpAddr::V6(v) => Bytes::copy_from_slice(&v.octets()),
    })
}

fn set_of(items: &[&str]) -> Option<Bytes> {
    Some(Bytes::from(encode_collection(items.iter().map(|s| s.as_bytes()))))
}

fn int(i: i32) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(&i.to_be_bytes()))
}

fn boolean(b: bool) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(&[b as u8]))
}

/// Whether `keyspace` is one of the computed ones.
pub fn is_system_keyspace(keyspace: &str) -> bool {
    matches!(keyspace, "system" | "system_schema")
}

/// Computes `keyspace.table`, or `None` if no such system table exists.
pub fn table(keyspace: &str, table: &str, node: &NodeInfo, keyspaces: &[&KeyspaceDef]) -> Option<VirtualTable> {
    use CqlType::*;
    let set_text = || Set(Box::new(Text));
    let list_text = || List(Box::new(Text));
    Some(match (keyspace, table) {
        ("system", "local") => VirtualTable {
            columns: vec![
                ("key", Text),
                ("bootstrapped", Text),
                ("broadcast_address", Inet),
                ("cluster_name", Text),
                ("cql_version", Text),
                ("data_center", Text),
                ("host_id", Uuid),
                ("listen_address", Inet),
                ("native_protocol_version", Text),
                ("partitioner", Text),
                ("rack", Text),
                ("release_version", Text),
                ("rpc_address", Inet),
                ("schema_version", Uuid),
                ("tokens", set_text()),
            ],
            rows: vec![vec![
                text("local"),
                text("COMPLETED"),
                inet(node.rpc_address),
                text(CLUSTER_NAME),
                text("3.4.5"),
                text("datacenter1"),
                Some(Bytes::copy_from_slice(&node.host_id)),
                inet(node.rpc_address),
                text("4"),
                text("org.apache.cassandra.dht.Murmur3Partitioner"),
                text("rack1"),
                text(RELEASE_VERSION),
                inet(node.rpc_address),
                Some(Bytes::copy_from_slice(&node.schema_version)),
                set_of(&["0"]),
            ]],
        },
        ("system", "peers") => VirtualTable {
            columns: vec![
                ("peer", Inet),
                ("data_center", Text),
                ("host_id", Uuid),
                ("preferred_ip", Inet),
                ("rack", Text),
                ("release_version", Text),
                ("rpc_address", Inet),
                ("schema_version", Uuid),
                ("tokens", set_text()),
            ],
            rows: vec![],
        },
        ("system", "peers_v2") => VirtualTable {
            columns: vec![
                ("peer", Inet),
                ("peer_port", Int),
                ("data_center", Text),
                ("host_id", Uuid),
                ("native_address", Inet),
                ("native_port", Int),
                ("rack", Text),
                ("schema_version", Uuid),
                ("tokens", set_text()),
            ],
            rows: vec![],
        },
        ("system_schema", "keyspaces") => {
            let mut rows = vec![
                vec![text("system"), boolean(true), map_text(&[("class", "org.apache.cassandra.locator.LocalStrategy")])],
                vec![text("system_schema"), boolean(true), map_text(&[("class", "org.apache.cassandra.locator.LocalStrategy")])],
            ];
            for ks in keyspaces {
                let pairs: Vec<(&str, &str)> = ks.replication.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                rows.push(vec![text(&ks.name), boolean(ks.durable_writes), map_text(&pairs)]);
            }
            VirtualTable {
                columns: vec![("keyspace_name", Text), ("durable_writes", Boolean), ("replication", Map(Box::new(Text), Box::new(Text)))],
                rows,
            }
        }
        ("system_schema", "tables") => VirtualTable {
            columns: vec![("keyspace_name", Text), ("table_name", Text), ("comment", Text), ("default_time_to_live", Int)],
            rows: keyspaces
                .iter()
                .flat_map(|ks| ks.tables.values())
                .map(|t| vec![text(&t.keyspace), text(&t.name), text(""), int(t.default_ttl)])
                .collect(),
        },
        ("system_schema", "columns") => VirtualTable {
            columns: vec![
                ("keyspace_name", Text),
                ("table_name", Text),
                ("column_name", Text),
                ("clustering_order", Text),
                ("kind", Text),
                ("position", Int),
                ("type", Text),
            ],
            rows: keyspaces
                .iter()
                .flat_map(|ks| ks.tables.values())
                .flat_map(|t| {
                    t.columns.iter().map(move |c| {
                        let position = match c.kind {
                            ColumnKind::PartitionKey(p) | ColumnKind::Clustering(p) => p as i32,
                            ColumnKind::Regular => -1,
                        };
                        let order = match c.kind {
                            ColumnKind::Clustering(_) if c.desc => "desc",
                            ColumnKind::Clustering(_) => "asc",
                            _ => "none",
                        };
                        vec![
                            text(&t.keyspace),
                            text(&t.name),
                            text(&c.name),
                            text(order),
                            text(c.kind.schema_name()),
                            int(position),
                            text(&c.ty.to_string()),
                        ]
                    })
                })
                .collect(),
        },
        ("system_schema", "types") => VirtualTable {
            columns: vec![("keyspace_name", Text), ("type_name", Text), ("field_names", list_text()), ("field_types", list_text())],
            rows: vec![],
        },
        ("system_schema", "views") => {
            VirtualTable { columns: vec![("keyspace_name", Text), ("view_name", Text), ("base_table_name", Text)], rows: vec![] }
        }
        ("system_schema", "functions") | ("system_schema", "aggregates") => {
            VirtualTable { columns: vec![("keyspace_name", Text), ("function_name", Text), ("argument_types", list_text())], rows: vec![] }
        }
        _ => return None,
    })
}

fn map_text(pairs: &[(&str, &str)]) -> Option<Bytes> {
    Some(Bytes::from(encode_text_map(pairs)))
}
