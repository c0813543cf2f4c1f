//! What executing a statement produces, and how it goes on the wire as a
//! `RESULT` body (native protocol v4, section 4.2.5).

use bytes::Bytes;

use crate::frame::Writer;
use crate::types::CqlType;

/// One column of a result or one bind marker of a prepared statement.
#[derive(Debug, Clone, PartialEq)]
pub struct ColSpec {
    /// Keyspace of the table.
    pub keyspace: String,
    /// Table name.
    pub table: String,
    /// Column (or marker) name.
    pub name: String,
    /// Type.
    pub ty: CqlType,
}

/// Rows of a `SELECT`.
#[derive(Debug, Clone, Default)]
pub struct ResultSet {
    /// Column specifications.
    pub columns: Vec<ColSpec>,
    /// Values, one `Option<Bytes>` per column (`None` is null).
    pub rows: Vec<Vec<Option<Bytes>>>,
}

/// One page of rows and, when more follow, the paging state to ask for them.
pub type Page<'a> = (&'a [Vec<Option<Bytes>>], Option<Vec<u8>>);

/// The outcome of one statement.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Writes and most DDL without a schema change.
    Void,
    /// A `SELECT`.
    Rows(ResultSet),
    /// `USE ks`.
    SetKeyspace(String),
    /// DDL that changed the schema.
    SchemaChange {
        /// `CREATED`, `UPDATED` or `DROPPED`.
        change: &'static str,
        /// Keyspace.
        keyspace: String,
        /// Table, for a table change.
        table: Option<String>,
    },
}

/// Result kinds.
const VOID: i32 = 0x0001;
const ROWS: i32 = 0x0002;
const SET_KEYSPACE: i32 = 0x0003;
const PREPARED: i32 = 0x0004;
const SCHEMA_CHANGE: i32 = 0x0005;

/// Metadata flags.
const GLOBAL_TABLES_SPEC: i32 = 0x0001;
const HAS_MORE_PAGES: i32 = 0x0002;
const NO_METADATA: i32 = 0x0004;

fn write_specs(w: &mut Writer, cols: &[ColSpec]) {
    let global = cols.first().filter(|f| cols.iter().all(|c| c.keyspace == f.keyspace && c.table == f.table));
    if let Some(f) = global {
        w.string(&f.keyspace).string(&f.table);
    }
    for c in cols {
        if global.is_none() {
            w.string(&c.keyspace).string(&c.table);
        }
        w.string(&c.name);
        c.ty.write_option(&mut w.buf);
    }
}

fn spec_flags(cols: &[ColSpec]) -> i32 {
    let global = cols.first().is_some_and(|f| cols.iter().all(|c| c.keyspace == f.keyspace && c.table == f.table));
    if global {
        GLOBAL_TABLES_SPEC
    } else {
        0
    }
}

impl Outcome {
    /// Encodes the `RESULT` body. For rows, `page` is the slice of rows to
    /// send, `paging_state` is set when more pages follow, and
    /// `skip_metadata` leaves out the column specs the client already has.
    pub fn encode(&self, page: Option<Page<'_>>, skip_metadata: bool) -> Writer {
        let mut w = Writer::default();
        match self {
            Outcome::Void => {
                w.i32(VOID);
            }
            Outcome::SetKeyspace(ks) => {
                w.i32(SET_KEYSPACE).string(ks);
            }
            Outcome::SchemaChange { change, keyspace, table } => {
                w.i32(SCHEMA_CHANGE).string(change);
                match table {
                    Some(t) => w.string("TABLE").string(keyspace).string(t),
                    None => w.string("KEYSPACE").string(keyspace),
                };
            }
            Outcome::Rows(rs) => {
                let (rows, paging_state) = page.unwrap_or((&rs.rows, None));
                let mut flags = if skip_metadata { NO_METADATA } else { spec_flags(&rs.columns) };
                if paging_state.is_some() {
                    flags |= HAS_MORE_PAGES;
                }
                w.i32(ROWS).i32(flags).i32(rs.columns.len() as i32);
                if let Some(ps) = &paging_state {
                    w.bytes(Some(ps));
                }
                if !skip_metadata {
                    write_specs(&mut w, &rs.columns);
                }
                w.i32(rows.len() as i32);
                for row in rows {
                    for v in row {
                        w.bytes(v.as_deref());
                    }
                }
            }
        }
        w
    }
}

/// Encodes the `RESULT` of a `PREPARE`: id, bind marker metadata (with the
/// partition key indexes drivers use for routing) and result metadata.
pub fn encode_prepared(id: &[u8], markers: &[ColSpec], pk_indexes: &[u16], result: &[ColSpec]) -> Writer {
    let mut w = Writer::default();
    w.i32(PREPARED).short_bytes(id);
    w.i32(spec_flags(markers)).i32(markers.len() as i32).i32(pk_indexes.len() as i32);
    for &i in pk_indexes {
        w.u16(i);
    }
    write_specs(&mut w, markers);
    if result.is_empty() {
        w.i32(NO_METADATA).i32(0);
    } else {
        w.i32(spec_flags(result)).i32(result.len() as i32);
        write_specs(&mut w, result);
    }
    w
}
