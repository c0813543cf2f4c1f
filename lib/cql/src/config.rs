//! The `[cassandra]` settings the speed job and serve share, validated into
//! types when the file is read: a consistency level is a `Consistency` from
//! then on, never a string that a component parses again (and could fall
//! back to a default on). The keys each binary has alone (the speed job's
//! `replication`, `ttl`, `create_schema`, `write_concurrency`) stay in its
//! own config; these are the ones that must mean the same in both files.

use scylla::statement::Consistency;
use serde::{Deserialize, Deserializer};

use crate::{parse_consistency, parse_read_consistency, Connect};

/// Default `cassandra.contact_points`: the local stack's node.
pub fn default_contact_points() -> Vec<String> {
    vec!["127.0.0.1:9042".into()]
}

/// Default `cassandra.keyspace`: where the speed job writes and serve reads.
pub fn default_keyspace() -> String {
    "clickstream_speed".into()
}

/// The consistency level of the speed job's writes (`any` allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteConsistency(pub Consistency);

/// The consistency level of serve's reads (Cassandra refuses `any` for reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadConsistency(pub Consistency);

impl Default for WriteConsistency {
    fn default() -> Self {
        WriteConsistency(Consistency::LocalQuorum)
    }
}

impl Default for ReadConsistency {
    fn default() -> Self {
        ReadConsistency(Consistency::LocalQuorum)
    }
}

const WRITE_NAMES: &str = "any, one, two, three, quorum, all, local_quorum, each_quorum, local_one";
const READ_NAMES: &str = "one, two, three, quorum, all, local_quorum, each_quorum, local_one";

impl<'de> Deserialize<'de> for WriteConsistency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        parse_consistency(&name)
            .map(WriteConsistency)
            .ok_or_else(|| serde::de::Error::custom(format!("consistency level `{name}`: expected {WRITE_NAMES}")))
    }
}

impl<'de> Deserialize<'de> for ReadConsistency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        parse_read_consistency(&name)
            .map(ReadConsistency)
            .ok_or_else(|| serde::de::Error::custom(format!("consistency level `{name}` (for reads): expected {READ_NAMES}")))
    }
}

/// The cluster part of `[cassandra]`, as both binaries check it.
#[derive(Debug, Clone, Copy)]
pub struct Cluster<'a> {
    /// `cassandra.contact_points`.
    pub contact_points: &'a [String],
    /// `cassandra.keyspace`.
    pub keyspace: &'a str,
    /// `cassandra.username`.
    pub username: Option<&'a str>,
    /// `cassandra.password`.
    pub password: Option<&'a str>,
}

impl<'a> Cluster<'a> {
    /// The rules types alone do not express: `Err((key, message))` names the
    /// `cassandra.` key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.contact_points.is_empty() {
            return Err(("cassandra.contact_points", "must name at least one node".into()));
        }
        let k = self.keyspace;
        let ident_ok =
            !k.is_empty() && k.len() <= 48 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !k.as_bytes()[0].is_ascii_digit();
        if !ident_ok {
            return Err(("cassandra.keyspace", format!("`{k}`: letters, digits and _ only, at most 48")));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(("cassandra.username", "username and password go together".into()));
        }
        Ok(())
    }

    /// How to connect, with `timeout` for connecting.
    pub fn connect(&self, timeout: std::time::Duration) -> Connect<'a> {
        Connect { contact_points: self.contact_points, username: self.username, password: self.password, timeout }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Section {
        #[serde(default)]
        write: WriteConsistency,
        #[serde(default)]
        read: ReadConsistency,
    }

    #[test]
    fn levels_are_types_from_the_file_on() {
        let s: Section = toml::from_str("write = \"ANY\"\nread = \"one\"").unwrap();
        assert_eq!((s.write.0, s.read.0), (Consistency::Any, Consistency::One));
        let s: Section = toml::from_str("").unwrap();
        assert_eq!((s.write.0, s.read.0), (Consistency::LocalQuorum, Consistency::LocalQuorum));
        let e = toml::from_str::<Section>("read = \"any\"").unwrap_err().to_string();
        assert!(e.contains("`any` (for reads): expected one, two"), "{e}");
        let e = toml::from_str::<Section>("write = \"most\"").unwrap_err().to_string();
        assert!(e.contains("`most`: expected any, one"), "{e}");
    }

    #[test]
    fn cluster_rules_name_the_key() {
        let nodes = default_contact_points();
        let ok = Cluster { contact_points: &nodes, keyspace: "clickstream_speed", username: None, password: None };
        assert!(ok.validate().is_ok());
        assert_eq!(Cluster { contact_points: &[], ..ok }.validate().unwrap_err().0, "cassandra.contact_points");
        assert_eq!(Cluster { keyspace: "1x", ..ok }.validate().unwrap_err().0, "cassandra.keyspace");
        assert_eq!(Cluster { keyspace: "a-b", ..ok }.validate().unwrap_err().0, "cassandra.keyspace");
        assert_eq!(Cluster { username: Some("u"), ..ok }.validate().unwrap_err().0, "cassandra.username");
    }
}
