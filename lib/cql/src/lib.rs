//! The Cassandra side shared by the speed job, which writes the speed views,
//! and serve, which reads them: the `[cassandra]` section of both configs
//! ([`config::CassandraConfig`]: nodes, keyspace, credentials, consistency
//! levels as types, the writer's schema keys), the consistency names they
//! accept and the one way both open a session, so that a setting means the
//! same in both files.
#![deny(missing_docs)]

pub mod config;

use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::NewSessionError;
use scylla::statement::Consistency;

/// A consistency level by its CQL name (`local_quorum`, `ONE`, ...; any case).
pub fn parse_consistency(name: &str) -> Option<Consistency> {
    Some(match name.to_ascii_lowercase().as_str() {
        "any" => Consistency::Any,
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "local_one" => Consistency::LocalOne,
        _ => return None,
    })
}

/// As [`parse_consistency`], for a reader: Cassandra refuses `ANY` for reads.
pub fn parse_read_consistency(name: &str) -> Option<Consistency> {
    parse_consistency(name).filter(|c| *c != Consistency::Any)
}

/// Where and how to connect.
#[derive(Debug, Clone, Copy)]
pub struct Connect<'a> {
    /// `host:port` of one or more nodes.
    pub contact_points: &'a [String],
    /// Credentials, used when both are set.
    pub username: Option<&'a str>,
    /// See `username`.
    pub password: Option<&'a str>,
    /// How long connecting may take.
    pub timeout: Duration,
}

/// Opens a session to the cluster.
pub async fn connect(to: Connect<'_>) -> Result<Session, NewSessionError> {
    let mut builder = SessionBuilder::new().known_nodes(to.contact_points).connection_timeout(to.timeout);
    if let (Some(u), Some(p)) = (to.username, to.password) {
        builder = builder.user(u, p);
    }
    builder.build().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_in_any_case_and_any_is_refused_for_reads() {
        assert_eq!(parse_consistency("LOCAL_QUORUM"), Some(Consistency::LocalQuorum));
        assert_eq!(parse_consistency("one"), Some(Consistency::One));
        assert_eq!(parse_consistency("Any"), Some(Consistency::Any));
        assert_eq!(parse_consistency("serial"), None, "a serial level is not a read or write level here");
        assert_eq!(parse_consistency("quorum "), None);
        assert_eq!(parse_read_consistency("any"), None);
        assert_eq!(parse_read_consistency("each_quorum"), Some(Consistency::EachQuorum));
    }

    #[tokio::test]
    async fn an_unreachable_cluster_is_an_error_not_a_hang() {
        let nodes = ["127.0.0.1:1".to_string()];
        let to = Connect { contact_points: &nodes, username: None, password: None, timeout: Duration::from_secs(2) };
        let started = std::time::Instant::now();
        assert!(connect(to).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
