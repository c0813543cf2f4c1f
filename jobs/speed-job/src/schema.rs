//! The CQL schema (`schemas/cql/*.cql`), embedded at compile time so the
//! files stay the one definition, rendered with the configured keyspace,
//! replication and TTL, and applied idempotently at start.

use scylla::client::session::Session;

use crate::config::CassandraConfig;

/// The schema files, in the order they are applied.
pub const FILES: [(&str, &str); 2] = [
    ("001_keyspace.cql", include_str!("../../../schemas/cql/001_keyspace.cql")),
    ("002_speed_views.cql", include_str!("../../../schemas/cql/002_speed_views.cql")),
];

/// Fills the `{{placeholders}}` of the schema files.
pub fn render(cfg: &CassandraConfig) -> String {
    FILES
        .iter()
        .map(|(_, text)| {
            text.replace("{{keyspace}}", &cfg.keyspace)
                .replace("{{replication}}", cfg.replication())
                .replace("{{ttl_seconds}}", &cfg.ttl().as_secs().to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits rendered CQL into statements: `--` comments dropped, split at `;`.
pub fn statements(cql: &str) -> Vec<String> {
    let without_comments: String = cql
        .lines()
        .map(|l| match l.find("--") {
            Some(i) if !l[..i].contains('\'') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Why the schema could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("applying the CQL schema: `{statement}`: {source}")]
pub struct SchemaError {
    /// The statement that failed (first line).
    pub statement: String,
    /// The driver's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Creates the keyspace and tables if they do not exist, and waits for schema agreement.
pub async fn apply(session: &Session, cfg: &CassandraConfig) -> Result<(), SchemaError> {
    for stmt in statements(&render(cfg)) {
        let first = stmt.lines().next().unwrap_or_default().to_string();
        session.query_unpaged(stmt, &[]).await.map_err(|e| SchemaError { statement: first.clone(), source: Box::new(e) })?;
    }
    session.await_schema_agreement().await.map_err(|e| SchemaError { statement: "(schema agreement)".into(), source: Box::new(e) })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder() {
        let cfg: CassandraConfig = toml::from_str("keyspace = \"ks1\"\nttl = \"60s\"").unwrap();
        let cql = render(&cfg);
        assert!(!cql.contains("{{"), "unfilled placeholder");
        let stmts = statements(&cql);
        assert_eq!(stmts.len(), 11, "{stmts:#?}");
        assert!(stmts[0].starts_with("CREATE KEYSPACE IF NOT EXISTS ks1"));
        assert!(stmts.iter().skip(1).all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS ks1.")));
        assert!(stmts[1].contains("default_time_to_live = 60"));
        let table = |name: &str| stmts.iter().find(|s| s.contains(&format!("ks1.{name} "))).unwrap();
        assert!(table("speed_checkpoints").contains("default_time_to_live = 0"), "checkpoints never expire");
        assert!(table("speed_pending_windows").contains("default_time_to_live = 0"), "nor do windows waiting for their merge");
    }
}
