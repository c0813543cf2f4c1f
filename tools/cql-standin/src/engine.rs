//! Executes parsed statements against the in-memory database.
//!
//! The [`Database`] owns the catalog and the data; the server serialises
//! access to it behind a mutex (one statement at a time is plenty for a
//! local stand-in and makes every statement atomic, as a single-partition
//! write is in Cassandra). Reads of user tables and of the computed system
//! tables share one path: candidate rows are materialised, filtered by the
//! `WHERE` relations with typed comparisons, limited and projected.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cql::ast::*;
use crate::error::CqlError;
use crate::frame::BoundValue;
use crate::result::{ColSpec, Outcome, ResultSet};
use crate::schema::{ColumnKind, KeyspaceDef, TableDef};
use crate::store::{partition_sort_key, Mutation, TableData};
use crate::system::{self, NodeInfo};
use crate::types::CqlType;

/// Everything one statement execution needs besides the statement.
pub struct Ctx<'a> {
    /// The connection's keyspace (`USE`).
    pub keyspace: Option<&'a str>,
    /// Bound values, by marker index.
    pub values: &'a [BoundValue],
    /// Address the client connected to (reported as this node's address).
    pub local_ip: IpAddr,
    /// Wall-clock now, milliseconds.
    pub now_ms: i64,
    /// The client's default timestamp for writes, microseconds.
    pub default_ts: Option<i64>,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The catalog plus the data.
#[derive(Default, Serialize, Deserialize)]
pub struct Database {
    keyspaces: BTreeMap<String, KeyspaceDef>,
    /// Data by `(keyspace, table)`; kept apart from the definitions so a
    /// statement can hold a table definition while it mutates the data.
    #[serde(with = "data_as_vec")]
    data: HashMap<(String, String), TableData>,
    schema_version: u64,
    #[serde(skip)]
    host_id: [u8; 16],
}

mod data_as_vec {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::store::TableData;

    type Data = HashMap<(String, String), TableData>;

    pub fn serialize<S: Serializer>(d: &Data, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<_> = d.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Data, D::Error> {
        Ok(Vec::<((String, String), TableData)>::deserialize(d)?.into_iter().collect())
    }
}

fn no_keyspace() -> CqlError {
    CqlError::invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
}

/// A row being read: values per column, and per-cell TTL and write time.
struct MatRow {
    values: Vec<Option<Bytes>>,
    ttl: Vec<Option<i32>>,
    writetime: Vec<Option<i64>>,
}

/// Columns of a readable table (user or system).
struct SourceCol {
    name: String,
    ty: CqlType,
    kind: ColumnKind,
}

impl Database {
    /// An empty database; `host_id` identifies this node in `system.local`.
    pub fn new(host_id: [u8; 16]) -> Database {
        Database { host_id, ..Database::default() }
    }

    /// Sets the node id after loading a snapshot.
    pub fn set_host_id(&mut self, host_id: [u8; 16]) {
        self.host_id = host_id;
    }

    fn node(&self, ip: IpAddr) -> NodeInfo {
        let mut sv = [0u8; 16];
        sv[..8].copy_from_slice(&self.schema_version.to_be_bytes());
        sv[8..].copy_from_slice(&self.host_id[8..]);
        sv[6] = (sv[6] & 0x0F) | 0x40;
        sv[8] = (sv[8] & 0x3F) | 0x80;
        NodeInfo { host_id: self.host_id, rpc_address: ip, schema_version: sv }
    }

    fn keyspace_name<'a>(&self, t: &'a TableRef, ctx: &'a Ctx<'_>) -> Result<&'a str, CqlError> {
        t.keyspace.as_deref().or(ctx.keyspace).ok_or_else(no_keyspace)
    }

    fn table_def(&self, ks: &str, table: &str) -> Result<Arc<TableDef>, CqlError> {
        let k = self.keyspaces.get(ks).ok_or_else(|| CqlError::invalid(format!("Keyspace {ks} does not exist")))?;
        k.tables.get(table).cloned().ok_or_else(|| CqlError::invalid(format!("unconfigured table {table}")))
    }

    /// Drops expired rows everywhere (memory hygiene; reads skip them anyway).
    pub fn purge_expired(&mut self, now_ms: i64) {
        for d in self.data.values_mut() {
            d.purge_expired(now_ms);
        }
    }

    /// Runs one statement.
    pub fn execute(&mut self, stmt: &Statement, ctx: &Ctx<'_>) -> Result<Outcome, CqlError> {
        match stmt {
            Statement::Use(ks) => {
                if !self.keyspaces.contains_key(ks) && !system::is_system_keyspace(ks) {
                    return Err(CqlError::invalid(format!("Keyspace '{ks}' does not exist")));
                }
                Ok(Outcome::SetKeyspace(ks.clone()))
            }
            Statement::CreateKeyspace { name, if_not_exists, replication, durable_writes } => {
                if self.keyspaces.contains_key(name) || system::is_system_keyspace(name) {
                    return if *if_not_exists { Ok(Outcome::Void) } else { Err(CqlError::already_exists(name, "")) };
                }
                self.keyspaces.insert(
                    name.clone(),
                    KeyspaceDef { name: name.clone(), replication: replication.clone(), durable_writes: *durable_writes, tables: BTreeMap::new() },
                );
                self.schema_version += 1;
                Ok(Outcome::SchemaChange { change: "CREATED", keyspace: name.clone(), table: None })
            }
            Statement::CreateTable { table, if_not_exists, columns, partition_key, clustering, default_ttl } => {
                let ks_name = self.keyspace_name(table, ctx)?.to_string();
                let ks = self.keyspaces.get_mut(&ks_name).ok_or_else(|| CqlError::invalid(format!("Keyspace {ks_name} doesn't exist")))?;
                if ks.tables.contains_key(&table.table) {
                    return if *if_not_exists { Ok(Outcome::Void) } else { Err(CqlError::already_exists(&ks_name, &table.table)) };
                }
                let def = TableDef::new(&ks_name, &table.table, columns, partition_key, clustering, *default_ttl).map_err(CqlError::invalid)?;
                ks.tables.insert(table.table.clone(), Arc::new(def));
                self.data.insert((ks_name.clone(), table.table.clone()), TableData::default());
                self.schema_version += 1;
                Ok(Outcome::SchemaChange { change: "CREATED", keyspace: ks_name, table: Some(table.table.clone()) })
            }
            Statement::DropKeyspace { name, if_exists } => {
                if self.keyspaces.remove(name).is_none() {
                    return if *if_exists { Ok(Outcome::Void) } else { Err(CqlError::invalid(format!("Keyspace {name} doesn't exist"))) };
                }
                self.data.retain(|(k, _), _| k != name);
                self.schema_version += 1;
                Ok(Outcome::SchemaChange { change: "DROPPED", keyspace: name.clone(), table: None })
            }
            Statement::DropTable { table, if_exists } => {
                let ks_name = self.keyspace_name(table, ctx)?.to_string();
                let removed = self.keyspaces.get_mut(&ks_name).and_then(|k| k.tables.remove(&table.table));
                if removed.is_none() {
                    return if *if_exists {
                        Ok(Outcome::Void)
                    } else {
                        Err(CqlError::invalid(format!("Table {ks_name}.{} doesn't exist", table.table)))
                    };
                }
                self.data.remove(&(ks_name.clone(), table.table.clone()));
                self.schema_version += 1;
                Ok(Outcome::SchemaChange { change: "DROPPED", keyspace: ks_name, table: Some(table.table.clone()) })
            }
            Statement::Truncate(table) => {
                let ks = self.keyspace_name(table, ctx)?.to_string();
                self.table_def(&ks, &table.table)?;
                self.data.insert((ks, table.table.clone()), TableData::default());
                Ok(Outcome::Void)
            }
            Statement::Insert { table, columns, values, ttl, timestamp } => {
                let ks = self.keyspace_name(table, ctx)?.to_string();
                let def = self.table_def(&ks, &table.table)?;
                let mut named = Vec::with_capacity(columns.len());
                for (c, t) in columns.iter().zip(values) {
                    let idx = def.column_index(c).ok_or_else(|| CqlError::invalid(format!("Undefined column name {c}")))?;
                    named.push((idx, bind(t, &def.columns[idx].ty, ctx)?));
                }
                self.write(&def, named, true, ttl.as_ref(), timestamp.as_ref(), ctx)?;
                Ok(Outcome::Void)
            }
            Statement::Update { table, set, where_, ttl, timestamp } => {
                let ks = self.keyspace_name(table, ctx)?.to_string();
                let def = self.table_def(&ks, &table.table)?;
                let mut named = Vec::new();
                for rel in where_ {
                    let Relation::Compare(c, Op::Eq, t) = rel else {
                        return Err(CqlError::invalid("UPDATE needs `column = value` for every primary key column"));
                    };
                    let idx = def.column_index(c).ok_or_else(|| CqlError::invalid(format!("Undefined column name {c}")))?;
                    named.push((idx, bind(t, &def.columns[idx].ty, ctx)?));
                }
                for (c, t) in set {
                    let idx = def.column_index(c).ok_or_else(|| CqlError::invalid(format!("Undefined column name {c}")))?;
                    if def.columns[idx].kind != ColumnKind::Regular {
                        return Err(CqlError::invalid(format!("PRIMARY KEY part {c} found in SET part")));
                    }
                    named.push((idx, bind(t, &def.columns[idx].ty, ctx)?));
                }
                self.write(&def, named, false, ttl.as_ref(), timestamp.as_ref(), ctx)?;
                Ok(Outcome::Void)
            }
            Statement::Delete { columns, table, where_ } => {
                let ks = self.keyspace_name(table, ctx)?.to_string();
                let def = self.table_def(&ks, &table.table)?;
                self.delete(&def, columns, where_, ctx)?;
                Ok(Outcome::Void)
            }
            Statement::Select { table, selectors, where_, order_by, limit } => {
                let ks = self.keyspace_name(table, ctx)?.to_string();
                self.select(&ks, &table.table, selectors.as_deref(), where_, order_by, limit.as_ref(), ctx)
            }
        }
    }

    /// An INSERT or UPDATE: `named` holds every bound column (keys and cells).
    fn write(
        &mut self,
        def: &TableDef,
        named: Vec<(usize, BoundValue)>,
        marker: bool,
        ttl: Option<&Term>,
        ts: Option<&Term>,
        ctx: &Ctx<'_>,
    ) -> Result<(), CqlError> {
        let key_of = |cols: &[usize]| -> Result<Vec<Bytes>, CqlError> {
            cols.iter()
                .map(|&c| {
                    let name = &def.columns[c].name;
                    match named.iter().find(|(i, _)| *i == c) {
                        Some((_, BoundValue::Set(b))) => {
                            check_size(&def.columns[c].ty, b, name)?;
                            Ok(b.clone())
                        }
                        Some(_) => Err(CqlError::invalid(format!("Invalid null value for primary key column {name}"))),
                        None => Err(CqlError::invalid(format!("Some primary key parts are missing: {name}"))),
                    }
                })
                .collect()
        };
        let partition = key_of(&def.partition_key)?;
        let clustering = key_of(&def.clustering)?;
        let mut cells = Vec::new();
        for (idx, v) in named {
            if def.columns[idx].kind != ColumnKind::Regular {
                continue;
            }
            match v {
                BoundValue::Set(b) => {
                    check_size(&def.columns[idx].ty, &b, &def.columns[idx].name)?;
                    cells.push((idx, Some(b)));
                }
                BoundValue::Null => cells.push((idx, None)),
                BoundValue::Unset => {}
            }
        }
        let ttl = match ttl.map(|t| bind(t, &CqlType::Int, ctx)).transpose()? {
            None | Some(BoundValue::Unset) => def.default_ttl,
            Some(BoundValue::Null) => 0,
            Some(BoundValue::Set(b)) => {
                let n = i32::from_be_bytes(b[..].try_into().map_err(|_| CqlError::invalid("TTL must be an int"))?);
                if n < 0 {
                    return Err(CqlError::invalid(format!("A TTL must be greater or equal to 0, but was {n}")));
                }
                n
            }
        };
        let ts = match ts.map(|t| bind(t, &CqlType::BigInt, ctx)).transpose()? {
            Some(BoundValue::Set(b)) => i64::from_be_bytes(b[..].try_into().map_err(|_| CqlError::invalid("TIMESTAMP must be a bigint"))?),
            _ => ctx.default_ts.unwrap_or(ctx.now_ms * 1000),
        };
        let data = self.data.entry((def.keyspace.clone(), def.name.clone())).or_default();
        data.apply(Mutation { partition, clustering, cells, marker, ts, ttl, now_ms: ctx.now_ms, def });
        Ok(())
    }

    fn delete(&mut self, def: &TableDef, columns: &[String], where_: &[Relation], ctx: &Ctx<'_>) -> Result<(), CqlError> {
        let eq = |c: usize| -> Result<Option<Bytes>, CqlError> {
            let name = &def.columns[c].name;
            for rel in where_ {
                if let Relation::Compare(n, Op::Eq, t) = rel {
                    if n == name {
                        return match bind(t, &def.columns[c].ty, ctx)? {
                            BoundValue::Set(b) => Ok(Some(b)),
                            _ => Err(CqlError::invalid(format!("Invalid null value for {name}"))),
                        };
                    }
                }
            }
            Ok(None)
        };
        let mut pk = Vec::new();
        for &c in &def.partition_key {
            pk.push(eq(c)?.ok_or_else(|| CqlError::invalid("DELETE needs `=` on every partition key column"))?);
        }
        let ck: Vec<Option<Bytes>> = def.clustering.iter().map(|&c| eq(c)).collect::<Result<_, _>>()?;
        let Some(data) = self.data.get_mut(&(def.keyspace.clone(), def.name.clone())) else {
            return Ok(());
        };
        let pkey = partition_sort_key(def, &pk);
        if ck.iter().all(Option::is_none) && columns.is_empty() {
            data.partitions.remove(&pkey);
            return Ok(());
        }
        let ck: Vec<Bytes> =
            ck.into_iter().collect::<Option<_>>().ok_or_else(|| CqlError::invalid("DELETE of a row needs `=` on every clustering column"))?;
        if columns.is_empty() {
            if let Some(p) = data.partitions.get_mut(&pkey) {
                p.rows.remove(&crate::store::clustering_sort_key(def, &ck));
            }
            return Ok(());
        }
        let mut cells = Vec::new();
        for c in columns {
            let idx = def.column_index(c).ok_or_else(|| CqlError::invalid(format!("Undefined column name {c}")))?;
            cells.push((idx, None));
        }
        let ts = ctx.default_ts.unwrap_or(ctx.now_ms * 1000);
        data.apply(Mutation { partition: pk, clustering: ck, cells, marker: false, ts, ttl: 0, now_ms: ctx.now_ms, def });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn select(
        &self,
        ks: &str,
        table: &str,
        selectors: Option<&[Selector]>,
        where_: &[Relation],
        order_by: &[(String, Order)],
        limit: Option<&Term>,
        ctx: &Ctx<'_>,
    ) -> Result<Outcome, CqlError> {
        let (cols, rows) = if system::is_system_keyspace(ks) {
            let kss: Vec<&KeyspaceDef> = self.keyspaces.values().collect();
            let vt =
                system::table(ks, table, &self.node(ctx.local_ip), &kss).ok_or_else(|| CqlError::invalid(format!("unconfigured table {table}")))?;
            let cols: Vec<SourceCol> =
                vt.columns.into_iter().map(|(n, ty)| SourceCol { name: n.to_string(), ty, kind: ColumnKind::Regular }).collect();
            let n = cols.len();
            let rows = vt.rows.into_iter().map(|values| MatRow { values, ttl: vec![None; n], writetime: vec![None; n] }).collect();
            (cols, rows)
        } else {
            let def = self.table_def(ks, table)?;
            let cols = def.columns.iter().map(|c| SourceCol { name: c.name.clone(), ty: c.ty.clone(), kind: c.kind }).collect();
            (cols, self.read_rows(&def, where_, order_by, ctx)?)
        };
        let col_index =
            |name: &str| cols.iter().position(|c| c.name == name).ok_or_else(|| CqlError::invalid(format!("Undefined column name {name}")));
        // Bind the relations once.
        let mut filters: Vec<(usize, Op, Vec<Bytes>)> = Vec::new();
        for rel in where_ {
            let idx = col_index(rel.column())?;
            let ty = &cols[idx].ty;
            match rel {
                Relation::Compare(_, op, t) => match bind(t, ty, ctx)? {
                    BoundValue::Set(b) => filters.push((idx, *op, vec![b])),
                    _ => return Err(CqlError::invalid(format!("Invalid null value for column {}", cols[idx].name))),
                },
                Relation::In(_, vals) => filters.push((idx, Op::Eq, bind_in(vals, ty, ctx)?)),
            }
        }
        let limit = match limit.map(|t| bind(t, &CqlType::Int, ctx)).transpose()? {
            Some(BoundValue::Set(b)) => {
                let n = i32::from_be_bytes(b[..].try_into().map_err(|_| CqlError::invalid("LIMIT must be an int"))?);
                if n <= 0 {
                    return Err(CqlError::invalid(format!("LIMIT must be strictly positive, got {n}")));
                }
                n as usize
            }
            _ => usize::MAX,
        };
        let matches = |r: &MatRow| {
            filters.iter().all(|(idx, op, vals)| {
                let Some(v) = &r.values[*idx] else {
                    return false;
                };
                let ty = &cols[*idx].ty;
                vals.iter().any(|b| {
                    let o = ty.compare(v, b);
                    match op {
                        Op::Eq => o.is_eq(),
                        Op::Lt => o.is_lt(),
                        Op::Le => o.is_le(),
                        Op::Gt => o.is_gt(),
                        Op::Ge => o.is_ge(),
                    }
                })
            })
        };
        let selected: Vec<MatRow> = rows.into_iter().filter(|r| matches(r)).take(limit).collect();
        let spec = |name: &str, ty: CqlType| ColSpec { keyspace: ks.to_string(), table: table.to_string(), name: name.to_string(), ty };
        let sels: Vec<Selector> = match selectors {
            Some(s) => s.to_vec(),
            None => star_order(&cols).into_iter().map(|i| Selector::Column(cols[i].name.clone())).collect(),
        };
        if sels.contains(&Selector::Count) {
            if sels.len() != 1 {
                return Err(CqlError::invalid("COUNT(*) cannot be mixed with other selectors in cql-standin"));
            }
            let n = selected.len() as i64;
            return Ok(Outcome::Rows(ResultSet {
                columns: vec![spec("count", CqlType::BigInt)],
                rows: vec![vec![Some(Bytes::copy_from_slice(&n.to_be_bytes()))]],
            }));
        }
        let mut columns = Vec::new();
        let mut getters: Vec<(usize, u8)> = Vec::new();
        for s in &sels {
            match s {
                Selector::Column(n) => {
                    let i = col_index(n)?;
                    columns.push(spec(n, cols[i].ty.clone()));
                    getters.push((i, 0));
                }
                Selector::Ttl(n) => {
                    let i = col_index(n)?;
                    columns.push(spec(&format!("ttl({n})"), CqlType::Int));
                    getters.push((i, 1));
                }
                Selector::WriteTime(n) => {
                    let i = col_index(n)?;
                    columns.push(spec(&format!("writetime({n})"), CqlType::BigInt));
                    getters.push((i, 2));
                }
                Selector::Count => unreachable!("handled above"),
            }
        }
        let rows = selected
            .into_iter()
            .map(|r| {
                getters
                    .iter()
                    .map(|&(i, what)| match what {
                        0 => r.values[i].clone(),
                        1 => r.ttl[i].map(|t| Bytes::copy_from_slice(&t.to_be_bytes())),
                        _ => r.writetime[i].map(|t| Bytes::copy_from_slice(&t.to_be_bytes())),
                    })
                    .collect()
            })
            .collect();
        Ok(Outcome::Rows(ResultSet { columns, rows }))
    }

    /// Live rows of the partitions the relations select (all partitions if
    /// the partition key is not fully restricted), in clustering order.
    fn read_rows(&self, def: &TableDef, where_: &[Relation], order_by: &[(String, Order)], ctx: &Ctx<'_>) -> Result<Vec<MatRow>, CqlError> {
        let reverse = match order_by.first() {
            None => false,
            Some((name, o)) => {
                let first = def.clustering.first().map(|&c| &def.columns[c]);
                match first {
                    Some(c) if &c.name == name => (*o == Order::Desc) != c.desc,
                    _ => return Err(CqlError::invalid(format!("ORDER BY is only supported on the first clustering column (got {name})"))),
                }
            }
        };
        let Some(data) = self.data.get(&(def.keyspace.clone(), def.name.clone())) else {
            return Ok(Vec::new());
        };
        // Keys of the partitions to read: the cartesian product of the `=`/`IN` values.
        let mut keys: Option<Vec<Vec<Bytes>>> = Some(vec![Vec::new()]);
        for &c in &def.partition_key {
            let col = &def.columns[c];
            let vals = where_.iter().find_map(|r| match r {
                Relation::Compare(n, Op::Eq, t) if *n == col.name => Some(bind(t, &col.ty, ctx).map(|v| match v {
                    BoundValue::Set(b) => vec![b],
                    _ => Vec::new(),
                })),
                Relation::In(n, v) if *n == col.name => Some(bind_in(v, &col.ty, ctx)),
                _ => None,
            });
            keys = match (keys, vals) {
                (Some(ks), Some(vals)) => {
                    let vals = vals?;
                    Some(ks.iter().flat_map(|k| vals.iter().map(move |v| [k.clone(), vec![v.clone()]].concat())).collect())
                }
                _ => None,
            };
        }
        let partitions: Vec<&crate::store::Partition> = match keys {
            Some(keys) => keys.iter().filter_map(|k| data.partitions.get(&partition_sort_key(def, k))).collect(),
            None => data.partitions.values().collect(),
        };
        let now = ctx.now_ms;
        let mut out = Vec::new();
        for p in partitions {
            let rows: Box<dyn Iterator<Item = &crate::store::Row>> =
                if reverse { Box::new(p.rows.values().rev()) } else { Box::new(p.rows.values()) };
            for row in rows.filter(|r| r.live(now)) {
                let n = def.columns.len();
                let mut m = MatRow { values: vec![None; n], ttl: vec![None; n], writetime: vec![None; n] };
                for (i, c) in def.columns.iter().enumerate() {
                    match c.kind {
                        ColumnKind::PartitionKey(k) => m.values[i] = Some(p.key[k].clone()),
                        ColumnKind::Clustering(k) => m.values[i] = Some(row.clustering[k].clone()),
                        ColumnKind::Regular => {
                            if let Some(cell) = row.cells.get(&i).filter(|c| c.live(now)) {
                                m.values[i] = cell.value.clone();
                                m.writetime[i] = Some(cell.ts);
                                m.ttl[i] = cell.expires_ms.map(|e| ((e - now + 999) / 1000) as i32);
                            }
                        }
                    }
                }
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Bind marker metadata of a statement for `PREPARE`: the markers' specs,
    /// the indexes of the markers that bind the partition key (for token-aware
    /// routing), and the result columns.
    pub fn prepare(&self, stmt: &Statement, keyspace: Option<&str>) -> Result<PreparedMetadata, CqlError> {
        let Some(tref) = stmt.table() else {
            return Ok((Vec::new(), Vec::new(), Vec::new()));
        };
        let ks = tref.keyspace.as_deref().or(keyspace).ok_or_else(no_keyspace)?.to_string();
        let cols: Vec<(String, CqlType, ColumnKind)> = if system::is_system_keyspace(&ks) {
            let node = self.node(IpAddr::from([127, 0, 0, 1]));
            let vt = system::table(&ks, &tref.table, &node, &[]).ok_or_else(|| CqlError::invalid(format!("unconfigured table {}", tref.table)))?;
            vt.columns.into_iter().map(|(n, t)| (n.to_string(), t, ColumnKind::Regular)).collect()
        } else if matches!(stmt, Statement::CreateTable { .. } | Statement::DropTable { .. }) {
            Vec::new()
        } else {
            self.table_def(&ks, &tref.table)?.columns.iter().map(|c| (c.name.clone(), c.ty.clone(), c.kind)).collect()
        };
        let find = |n: &str| cols.iter().find(|c| c.0 == n).ok_or_else(|| CqlError::invalid(format!("Undefined column name {n}")));
        let spec = |name: String, ty: CqlType| ColSpec { keyspace: ks.clone(), table: tref.table.clone(), name, ty };
        let mut markers: BTreeMap<usize, ColSpec> = BTreeMap::new();
        let mut pk_marker: HashMap<usize, usize> = HashMap::new();
        let mut note = |t: &Term, name: &str, ty: CqlType, pk: Option<usize>, markers: &mut BTreeMap<usize, ColSpec>| {
            if let Term::Marker(m) = t {
                markers.insert(*m, spec(name.to_string(), ty));
                if let Some(p) = pk {
                    pk_marker.insert(p, *m);
                }
            }
        };
        let pk_pos = |k: ColumnKind| {
            if let ColumnKind::PartitionKey(p) = k {
                Some(p)
            } else {
                None
            }
        };
        let relations = |rels: &[Relation], markers: &mut Markers, note: &mut NoteFn<'_>| -> Result<(), CqlError> {
            for r in rels {
                let c = find(r.column())?;
                match r {
                    Relation::Compare(_, op, t) => note(t, &c.0, c.1.clone(), if *op == Op::Eq { pk_pos(c.2) } else { None }, markers),
                    Relation::In(_, InValues::Marker(m)) => {
                        markers.insert(*m, spec(format!("in({})", c.0), CqlType::List(Box::new(c.1.clone()))));
                    }
                    Relation::In(_, InValues::Terms(ts)) => {
                        for t in ts {
                            note(t, &c.0, c.1.clone(), None, markers);
                        }
                    }
                }
            }
            Ok(())
        };
        let mut result = Vec::new();
        match stmt {
            Statement::Insert { columns, values, ttl, timestamp, .. } => {
                for (c, t) in columns.iter().zip(values) {
                    let col = find(c)?;
                    note(t, &col.0, col.1.clone(), pk_pos(col.2), &mut markers);
                }
                if let Some(t) = ttl {
                    note(t, "[ttl]", CqlType::Int, None, &mut markers);
                }
                if let Some(t) = timestamp {
                    note(t, "[timestamp]", CqlType::BigInt, None, &mut markers);
                }
            }
            Statement::Update { set, where_, ttl, timestamp, .. } => {
                if let Some(t) = ttl {
                    note(t, "[ttl]", CqlType::Int, None, &mut markers);
                }
                if let Some(t) = timestamp {
                    note(t, "[timestamp]", CqlType::BigInt, None, &mut markers);
                }
                for (c, t) in set {
                    let col = find(c)?;
                    note(t, &col.0, col.1.clone(), None, &mut markers);
                }
                relations(where_, &mut markers, &mut note)?;
            }
            Statement::Delete { where_, .. } => relations(where_, &mut markers, &mut note)?,
            Statement::Select { selectors, where_, limit, .. } => {
                relations(where_, &mut markers, &mut note)?;
                if let Some(t) = limit {
                    note(t, "[limit]", CqlType::Int, None, &mut markers);
                }
                let sels: Vec<Selector> = match selectors {
                    Some(s) => s.clone(),
                    None => {
                        let sc: Vec<SourceCol> = cols.iter().map(|c| SourceCol { name: c.0.clone(), ty: c.1.clone(), kind: c.2 }).collect();
                        star_order(&sc).into_iter().map(|i| Selector::Column(sc[i].name.clone())).collect()
                    }
                };
                for s in sels {
                    result.push(match s {
                        Selector::Column(n) => spec(n.clone(), find(&n)?.1.clone()),
                        Selector::Ttl(n) => spec(format!("ttl({n})"), CqlType::Int),
                        Selector::WriteTime(n) => spec(format!("writetime({n})"), CqlType::BigInt),
                        Selector::Count => spec("count".into(), CqlType::BigInt),
                    });
                }
            }
            _ => {}
        }
        let n_pk = cols.iter().filter(|c| matches!(c.2, ColumnKind::PartitionKey(_))).count();
        let pk_indexes: Vec<u16> =
            if n_pk > 0 && (0..n_pk).all(|p| pk_marker.contains_key(&p)) { (0..n_pk).map(|p| pk_marker[&p] as u16).collect() } else { Vec::new() };
        let expected = markers.len();
        if markers.keys().copied().ne(0..expected) {
            return Err(CqlError::invalid("bind markers in an unsupported position"));
        }
        Ok((markers.into_values().collect(), pk_indexes, result))
    }
}

/// What `PREPARE` answers besides the id: bind marker specs, the markers
/// binding the partition key (in key order), and the result columns.
pub type PreparedMetadata = (Vec<ColSpec>, Vec<u16>, Vec<ColSpec>);

/// Bind markers by index, as collected while preparing.
type Markers = BTreeMap<usize, ColSpec>;

/// Records the spec of a marker term: `(term, column, type, partition key position, markers)`.
type NoteFn<'a> = dyn FnMut(&Term, &str, CqlType, Option<usize>, &mut Markers) + 'a;

/// Column order of `SELECT *`, as Cassandra returns it: partition key,
/// clustering columns, then the other columns by name.
fn star_order(cols: &[SourceCol]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..cols.len()).collect();
    if cols.iter().all(|c| c.kind == ColumnKind::Regular) {
        return idx; // system tables: declaration order
    }
    idx.sort_by_key(|&i| match cols[i].kind {
        ColumnKind::PartitionKey(p) => (0, p, String::new()),
        ColumnKind::Clustering(p) => (1, p, String::new()),
        ColumnKind::Regular => (2, 0, cols[i].name.clone()),
    });
    idx
}

/// The value of a term as a value of type `ty`.
fn bind(t: &Term, ty: &CqlType, ctx: &Ctx<'_>) -> Result<BoundValue, CqlError> {
    match t {
        Term::Marker(i) => ctx
            .values
            .get(*i)
            .cloned()
            .ok_or_else(|| CqlError::invalid(format!("there are more bind markers than the {} values bound", ctx.values.len()))),
        Term::Literal(l) => Ok(match ty.encode_literal(l)? {
            Some(b) => BoundValue::Set(b),
            None => BoundValue::Null,
        }),
    }
}

/// The values of an `IN`: a bound list, or a list of terms.
fn bind_in(v: &InValues, ty: &CqlType, ctx: &Ctx<'_>) -> Result<Vec<Bytes>, CqlError> {
    match v {
        InValues::Terms(ts) => ts
            .iter()
            .filter_map(|t| match bind(t, ty, ctx) {
                Ok(BoundValue::Set(b)) => Some(Ok(b)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect(),
        InValues::Marker(i) => {
            let BoundValue::Set(list) = ctx.values.get(*i).cloned().unwrap_or(BoundValue::Null) else {
                return Ok(Vec::new());
            };
            let mut r = crate::frame::Reader::new(list);
            let n = r.i32()?;
            (0..n.max(0)).map(|_| r.bytes().map(Option::unwrap_or_default)).collect()
        }
    }
}

/// Rejects fixed-size values of the wrong size, naming the column.
fn check_size(ty: &CqlType, b: &[u8], col: &str) -> Result<(), CqlError> {
    let ok = match ty {
        CqlType::BigInt | CqlType::Timestamp | CqlType::Double => b.len() == 8,
        CqlType::Int | CqlType::Float | CqlType::Date => b.len() == 4,
        CqlType::SmallInt => b.len() == 2,
        CqlType::TinyInt | CqlType::Boolean => b.len() == 1,
        CqlType::Uuid | CqlType::TimeUuid => b.len() == 16,
        CqlType::Inet => b.len() == 4 || b.len() == 16,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(CqlError::invalid(format!("Expected a valid {ty} for column {col}, got {} bytes", b.len())))
    }
}
