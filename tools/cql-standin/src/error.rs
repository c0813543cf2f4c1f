//! The errors the stand-in answers with, as CQL `ERROR` frames.
//!
//! Codes follow the native protocol v4 spec (section 9) so that a driver
//! classifies them exactly as it would a real Cassandra's: `Invalid` for a
//! statement the server understands but cannot run, `SyntaxError` for one it
//! cannot parse, `Unprepared` so the driver re-prepares transparently.

use thiserror::Error;

/// Error codes of the native protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ErrorCode {
    /// Something unexpected happened server-side.
    Server = 0x0000,
    /// The client broke the protocol.
    Protocol = 0x000A,
    /// The query string could not be parsed.
    Syntax = 0x2000,
    /// The query is syntactically right but invalid (unknown table, wrong type, unsupported).
    Invalid = 0x2200,
    /// The keyspace or table already exists.
    AlreadyExists = 0x2400,
    /// The prepared statement id is unknown (the driver re-prepares).
    Unprepared = 0x2500,
}

/// An error to send back to the client.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct CqlError {
    /// What kind of error.
    pub code: ErrorCode,
    /// Human-readable explanation; names the offending statement part.
    pub message: String,
    /// Code-specific body after the message (already encoded).
    pub extra: Vec<u8>,
}

impl CqlError {
    /// A statement that cannot be executed.
    pub fn invalid(message: impl Into<String>) -> CqlError {
        CqlError { code: ErrorCode::Invalid, message: message.into(), extra: Vec::new() }
    }

    /// A statement that cannot be parsed.
    pub fn syntax(message: impl Into<String>) -> CqlError {
        CqlError { code: ErrorCode::Syntax, message: message.into(), extra: Vec::new() }
    }

    /// A malformed frame.
    pub fn protocol(message: impl Into<String>) -> CqlError {
        CqlError { code: ErrorCode::Protocol, message: message.into(), extra: Vec::new() }
    }

    /// `CREATE` of something that exists, without `IF NOT EXISTS`.
    pub fn already_exists(keyspace: &str, table: &str) -> CqlError {
        let mut extra = Vec::new();
        for s in [keyspace, table] {
            extra.extend_from_slice(&(s.len() as u16).to_be_bytes());
            extra.extend_from_slice(s.as_bytes());
        }
        let what = if table.is_empty() { format!("keyspace {keyspace}") } else { format!("table {keyspace}.{table}") };
        CqlError { code: ErrorCode::AlreadyExists, message: format!("{what} already exists"), extra }
    }

    /// `EXECUTE` of an id this server does not know (e.g. after a restart).
    pub fn unprepared(id: &[u8]) -> CqlError {
        let mut extra = (id.len() as u16).to_be_bytes().to_vec();
        extra.extend_from_slice(id);
        CqlError { code: ErrorCode::Unprepared, message: "prepared statement not found".into(), extra }
    }
}
