//! The TCP server: accepts connections and answers CQL v4 requests.
//!
//! Shape after mini-redis: [`run`] accepts in a `select!` against the
//! shutdown future; each connection is a task that reads frames, answers
//! them in order and writes the responses back. All connections share one
//! [`Shared`] state: the database behind a mutex (statements are atomic)
//! and the prepared-statement cache.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cql::ast::Statement;
use crate::cql::parse;
use crate::engine::{now_ms, Ctx, Database};
use crate::error::CqlError;
use crate::frame::{opcode, BoundValue, Frame, Reader, Writer, VERSION};
use crate::result::{encode_prepared, Outcome};

/// A prepared statement as cached by the server.
struct Prepared {
    statement: Statement,
    /// Keyspace of the connection at prepare time (unqualified tables resolve against it).
    keyspace: Option<String>,
}

/// State shared by all connections.
pub struct Shared {
    /// The data.
    pub db: Mutex<Database>,
    prepared: Mutex<HashMap<Vec<u8>, Arc<Prepared>>>,
    /// Where to save snapshots, if anywhere.
    pub snapshot: Option<PathBuf>,
}

impl Shared {
    /// Shared state around `db`.
    pub fn new(db: Database, snapshot: Option<PathBuf>) -> Arc<Shared> {
        Arc::new(Shared { db: Mutex::new(db), prepared: Mutex::new(HashMap::new()), snapshot })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Database> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves `listener` until `shutdown` resolves.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_connection(stream, shared).await {
                            tracing::debug!(%peer, error = %e, "connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Per-connection state.
struct Conn {
    keyspace: Option<String>,
    local_ip: IpAddr,
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let local: SocketAddr = stream.local_addr()?;
    let mut conn = Conn { keyspace: None, local_ip: local.ip() };
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    loop {
        if stream.read_buf(&mut inbuf).await? == 0 {
            return Ok(());
        }
        loop {
            match Frame::parse(&mut inbuf) {
                Ok(Some(frame)) => {
                    let (op, body) = handle(&shared, &mut conn, &frame);
                    Frame::write_response(&mut out, frame.stream, op, &body);
                }
                Ok(None) => break,
                Err(e) => {
                    Frame::write_response(&mut out, 0, opcode::ERROR, &error_body(&e));
                    stream.write_all(&out).await?;
                    return Ok(());
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}

fn error_body(e: &CqlError) -> Bytes {
    let mut w = Writer::default();
    w.i32(e.code as i32).string(&e.message).raw(&e.extra);
    w.buf.freeze()
}

/// Answers one request frame: `(opcode, body)`.
fn handle(shared: &Shared, conn: &mut Conn, frame: &Frame) -> (u8, Bytes) {
    if frame.version != VERSION {
        let e = CqlError::protocol(format!("Invalid or unsupported protocol version ({}); cql-standin speaks only v4", frame.version));
        return (opcode::ERROR, error_body(&e));
    }
    match dispatch(shared, conn, frame) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, opcode = frame.opcode, "request failed");
            (opcode::ERROR, error_body(&e))
        }
    }
}

/// Query parameters of QUERY and EXECUTE.
struct Params {
    values: Vec<BoundValue>,
    skip_metadata: bool,
    page_size: Option<usize>,
    paging_state: Option<Bytes>,
    timestamp: Option<i64>,
}

fn read_params(r: &mut Reader) -> Result<Params, CqlError> {
    let _consistency = r.u16()?; // a single node satisfies every consistency level
    let flags = r.u8()?;
    let mut values = Vec::new();
    if flags & 0x01 != 0 {
        let n = r.u16()?;
        for _ in 0..n {
            if flags & 0x40 != 0 {
                return Err(CqlError::invalid("named bind values are not supported by cql-standin"));
            }
            values.push(r.value()?);
        }
    }
    let page_size = if flags & 0x04 != 0 { Some(r.i32()?.max(1) as usize) } else { None };
    let paging_state = if flags & 0x08 != 0 { r.bytes()? } else { None };
    if flags & 0x10 != 0 {
        r.u16()?;
    }
    let timestamp = if flags & 0x20 != 0 { Some(r.i64()?) } else { None };
    Ok(Params { values, skip_metadata: flags & 0x02 != 0, page_size, paging_state, timestamp })
}

fn prepared_id(keyspace: Option<&str>, query: &str) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    for salt in [0u8, 1] {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, keyspace, query).hash(&mut h);
        id.extend_from_slice(&h.finish().to_be_bytes());
    }
    id
}

fn dispatch(shared: &Shared, conn: &mut Conn, frame: &Frame) -> Result<(u8, Bytes), CqlError> {
    let mut r = Reader::new(frame.body.clone());
    match frame.opcode {
        opcode::OPTIONS => {
            let mut w = Writer::default();
            w.string_multimap(&[("CQL_VERSION", vec!["3.4.5"]), ("COMPRESSION", vec![]), ("PROTOCOL_VERSIONS", vec!["4/v4"])]);
            Ok((opcode::SUPPORTED, w.buf.freeze()))
        }
        opcode::STARTUP => {
            let opts = r.string_map()?;
            if let Some((_, c)) = opts.iter().find(|(k, _)| k.eq_ignore_ascii_case("COMPRESSION")) {
                return Err(CqlError::protocol(format!("compression `{c}` is not supported by cql-standin")));
            }
            Ok((opcode::READY, Bytes::new()))
        }
        opcode::REGISTER => {
            // Events are never pushed: a single node has no topology changes, and
            // schema changes are answered in the RESULT of the DDL itself.
            r.string_list()?;
            Ok((opcode::READY, Bytes::new()))
        }
        opcode::QUERY => {
            let query = r.long_string()?;
            let params = read_params(&mut r)?;
            let stmt = parse(&query)?;
            run_statement(shared, conn, &stmt, None, &params)
        }
        opcode::PREPARE => {
            let query = r.long_string()?;
            let stmt = parse(&query)?;
            let ks = match stmt.table().and_then(|t| t.keyspace.clone()) {
                Some(k) => Some(k),
                None => conn.keyspace.clone(),
            };
            let (markers, pk, result) = shared.db().prepare(&stmt, ks.as_deref())?;
            let id = prepared_id(conn.keyspace.as_deref(), &query);
            let body = encode_prepared(&id, &markers, &pk, &result);
            shared
                .prepared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, Arc::new(Prepared { statement: stmt, keyspace: conn.keyspace.clone() }));
            Ok((opcode::RESULT, body.buf.freeze()))
        }
        opcode::EXECUTE => {
            let id = r.short_bytes()?;
            let prepared = shared.prepared.lock().unwrap_or_else(|p| p.into_inner()).get(&id[..]).cloned();
            let prepared = prepared.ok_or_else(|| CqlError::unprepared(&id))?;
            let params = read_params(&mut r)?;
            run_statement(shared, conn, &prepared.statement, prepared.keyspace.as_deref(), &params)
        }
        opcode::BATCH => {
            let _kind = r.u8()?;
            let n = r.u16()?;
            let mut items: Vec<(Arc<Prepared>, Vec<BoundValue>)> = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let stmt = match r.u8()? {
                    0 => {
                        let q = r.long_string()?;
                        Arc::new(Prepared { statement: parse(&q)?, keyspace: conn.keyspace.clone() })
                    }
                    1 => {
                        let id = r.short_bytes()?;
                        let p = shared.prepared.lock().unwrap_or_else(|p| p.into_inner()).get(&id[..]).cloned();
                        p.ok_or_else(|| CqlError::unprepared(&id))?
                    }
                    k => return Err(CqlError::protocol(format!("unknown batch statement kind {k}"))),
                };
                let nv = r.u16()?;
                let values = (0..nv).map(|_| r.value()).collect::<Result<Vec<_>, _>>()?;
                items.push((stmt, values));
            }
            let _consistency = r.u16()?;
            let flags = if r.remaining() > 0 { r.u8()? } else { 0 };
            if flags & 0x10 != 0 {
                r.u16()?;
            }
            let ts = if flags & 0x20 != 0 { Some(r.i64()?) } else { None };
            // All statements under one lock: the batch is applied atomically.
            let mut db = shared.db();
            let now = now_ms();
            for (p, values) in &items {
                if matches!(p.statement, Statement::Select { .. }) {
                    return Err(CqlError::invalid("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed"));
                }
                let ctx = Ctx {
                    keyspace: p.keyspace.as_deref().or(conn.keyspace.as_deref()),
                    values,
                    local_ip: conn.local_ip,
                    now_ms: now,
                    default_ts: ts,
                };
                db.execute(&p.statement, &ctx)?;
            }
            Ok((opcode::RESULT, Outcome::Void.encode(None, false).buf.freeze()))
        }
        op => Err(CqlError::protocol(format!("unsupported opcode 0x{op:02x}"))),
    }
}

fn run_statement(
    shared: &Shared,
    conn: &mut Conn,
    stmt: &Statement,
    prepared_keyspace: Option<&str>,
    params: &Params,
) -> Result<(u8, Bytes), CqlError> {
    let outcome = {
        let mut db = shared.db();
        let ctx = Ctx {
            keyspace: prepared_keyspace.or(conn.keyspace.as_deref()),
            values: &params.values,
            local_ip: conn.local_ip,
            now_ms: now_ms(),
            default_ts: params.timestamp,
        };
        db.execute(stmt, &ctx)?
    };
    if let Outcome::SetKeyspace(ks) = &outcome {
        conn.keyspace = Some(ks.clone());
    }
    if let Outcome::SchemaChange { change, keyspace, table } = &outcome {
        tracing::info!(change, keyspace, table = table.as_deref().unwrap_or(""), "schema change");
    }
    let body = match (&outcome, params.page_size) {
        (Outcome::Rows(rs), Some(size)) => {
            let start = match &params.paging_state {
                Some(ps) if ps.len() == 8 => u64::from_be_bytes(ps[..].try_into().unwrap_or_default()) as usize,
                Some(_) => return Err(CqlError::protocol("invalid paging state")),
                None => 0,
            };
            let start = start.min(rs.rows.len());
            let end = (start + size).min(rs.rows.len());
            let next = (end < rs.rows.len()).then(|| (end as u64).to_be_bytes().to_vec());
            outcome.encode(Some((&rs.rows[start..end], next)), params.skip_metadata)
        }
        _ => outcome.encode(None, params.skip_metadata),
    };
    Ok((opcode::RESULT, body.buf.freeze()))
}
