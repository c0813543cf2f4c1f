//! The two read-only stores behind the API: the batch views in MySQL
//! ([`mysql`]) and the speed views in Cassandra ([`cql`]). Each owns its
//! queries and turns rows into plain structs; neither knows about HTTP.

pub mod cql;
pub mod mysql;

/// Why a store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had (down, wrong credentials, pool exhausted).
    #[error("{store} at {target} is unavailable: {message}")]
    Unavailable {
        /// `mysql` or `cassandra`.
        store: &'static str,
        /// Where (no credentials).
        target: String,
        /// The driver's message.
        message: String,
    },
    /// A query failed.
    #[error("{store}: {what}: {message}")]
    Query {
        /// `mysql` or `cassandra`.
        store: &'static str,
        /// What was being read.
        what: &'static str,
        /// The driver's message.
        message: String,
    },
}

impl StoreError {
    /// `mysql` or `cassandra`.
    pub fn store(&self) -> &'static str {
        match self {
            StoreError::Unavailable { store, .. } | StoreError::Query { store, .. } => store,
        }
    }
}
