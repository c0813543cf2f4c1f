//! The statements the stand-in understands, as parsed from CQL text.

use crate::types::{CqlType, Literal};

/// `keyspace.table` or `table` (resolved against the connection's keyspace).
#[derive(Debug, Clone, PartialEq)]
pub struct TableRef {
    /// Explicit keyspace, if written.
    pub keyspace: Option<String>,
    /// Table name.
    pub table: String,
}

/// A value in a statement: a constant or a bind marker.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A constant from the query string.
    Literal(Literal),
    /// The n-th `?` of the statement (0-based).
    Marker(usize),
}

/// Sort direction of a clustering column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending (the default).
    Asc,
    /// Descending.
    Desc,
}

/// Comparison operators of `WHERE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The right side of `IN`.
#[derive(Debug, Clone, PartialEq)]
pub enum InValues {
    /// `IN ?`: one marker bound to a list.
    Marker(usize),
    /// `IN (a, ?, c)`
    Terms(Vec<Term>),
}

/// One restriction of `WHERE`.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    /// `col op term`
    Compare(String, Op, Term),
    /// `col IN ...`
    In(String, InValues),
}

impl Relation {
    /// The restricted column.
    pub fn column(&self) -> &str {
        match self {
            Relation::Compare(c, ..) | Relation::In(c, _) => c,
        }
    }
}

/// What a `SELECT` returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// A column.
    Column(String),
    /// `TTL(col)`: seconds the cell has left, null without TTL.
    Ttl(String),
    /// `WRITETIME(col)`: microseconds since the epoch of the cell's write.
    WriteTime(String),
    /// `COUNT(*)` / `COUNT(1)`
    Count,
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `USE ks`
    Use(String),
    /// `CREATE KEYSPACE`
    CreateKeyspace {
        /// Keyspace name.
        name: String,
        /// `IF NOT EXISTS` given.
        if_not_exists: bool,
        /// The replication map as written.
        replication: Vec<(String, String)>,
        /// `durable_writes` option (default true).
        durable_writes: bool,
    },
    /// `CREATE TABLE`
    CreateTable {
        /// Table reference.
        table: TableRef,
        /// `IF NOT EXISTS` given.
        if_not_exists: bool,
        /// Columns in declaration order.
        columns: Vec<(String, CqlType)>,
        /// Partition key columns.
        partition_key: Vec<String>,
        /// Clustering columns and their order.
        clustering: Vec<(String, Order)>,
        /// `default_time_to_live` in seconds (0: none).
        default_ttl: i32,
    },
    /// `DROP KEYSPACE`
    DropKeyspace {
        /// Keyspace name.
        name: String,
        /// `IF EXISTS` given.
        if_exists: bool,
    },
    /// `DROP TABLE`
    DropTable {
        /// Table reference.
        table: TableRef,
        /// `IF EXISTS` given.
        if_exists: bool,
    },
    /// `TRUNCATE`
    Truncate(TableRef),
    /// `INSERT INTO ... VALUES ...`
    Insert {
        /// Table reference.
        table: TableRef,
        /// Column names.
        columns: Vec<String>,
        /// One term per column.
        values: Vec<Term>,
        /// `USING TTL`
        ttl: Option<Term>,
        /// `USING TIMESTAMP`
        timestamp: Option<Term>,
    },
    /// `UPDATE ... SET ... WHERE ...`
    Update {
        /// Table reference.
        table: TableRef,
        /// `col = term` assignments.
        set: Vec<(String, Term)>,
        /// Primary key restrictions.
        where_: Vec<Relation>,
        /// `USING TTL`
        ttl: Option<Term>,
        /// `USING TIMESTAMP`
        timestamp: Option<Term>,
    },
    /// `DELETE [cols] FROM ... WHERE ...`
    Delete {
        /// Columns to delete (empty: the whole row or partition).
        columns: Vec<String>,
        /// Table reference.
        table: TableRef,
        /// Primary key restrictions.
        where_: Vec<Relation>,
    },
    /// `SELECT`
    Select {
        /// Table reference.
        table: TableRef,
        /// `None` for `*`.
        selectors: Option<Vec<Selector>>,
        /// Restrictions.
        where_: Vec<Relation>,
        /// `ORDER BY`
        order_by: Vec<(String, Order)>,
        /// `LIMIT`
        limit: Option<Term>,
    },
}

impl Statement {
    /// The table the statement reads or writes, if any.
    pub fn table(&self) -> Option<&TableRef> {
        match self {
            Statement::CreateTable { table, .. }
            | Statement::DropTable { table, .. }
            | Statement::Truncate(table)
            | Statement::Insert { table, .. }
            | Statement::Update { table, .. }
            | Statement::Delete { table, .. }
            | Statement::Select { table, .. } => Some(table),
            _ => None,
        }
    }
}
