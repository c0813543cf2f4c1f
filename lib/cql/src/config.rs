//! The `[cassandra]` section of the speed job's and serve's configs, one
//! struct for both: [`CassandraConfig`] owns its keys, their defaults, the
//! rules types alone do not express, and how a session is opened with
//! them. Values become types when the file is read: a consistency level is
//! a `Consistency` from then on, never a string that a component parses
//! again (and could fall back to a default on).
//!
//! The type parameter is the side, named by its consistency type:
//! `CassandraConfig<WriteConsistency>` is the speed job's (it writes the
//! speed views), `CassandraConfig<ReadConsistency>` serve's (it reads them).
//! The sides differ in the levels they accept (`any` is for writes only),
//! the default `request_timeout` (10s, 5s) and the writer's own keys
//! (`replication`, `ttl`, `create_schema`, `write_concurrency`), which a
//! reader's file may not set: it is refused when read, with its line, like
//! an unknown key. No `#[serde(flatten)]` of a shared part into two
//! structs: it would lose both `deny_unknown_fields` and the line numbers.

use std::time::Duration;

use scylla::statement::Consistency;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::{parse_consistency, parse_read_consistency, Connect};

/// Default name of the speed job (its `job.name`): the key of its
/// checkpoint rows, which serve looks up by the same default.
pub fn speed_job_name() -> String {
    "speed-job".into()
}

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

/// Which side of the speed views a `[cassandra]` section is for, named by
/// its consistency type ([`WriteConsistency`], [`ReadConsistency`]).
pub trait Side: Copy + Default + std::fmt::Debug + DeserializeOwned {
    /// Default `cassandra.request_timeout`.
    const REQUEST_TIMEOUT: Duration;
    /// Whether the writer's keys (`replication`, `ttl`, `create_schema`,
    /// `write_concurrency`) may be set.
    const WRITES: bool;
}

impl Side for WriteConsistency {
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    const WRITES: bool = true;
}

impl Side for ReadConsistency {
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
    const WRITES: bool = false;
}

/// Default `cassandra.replication` (the writer's): one copy, as the local stack has one node.
pub const DEFAULT_REPLICATION: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
/// Default `cassandra.ttl` (the writer's): the speed views expire once the daily batch layer covers them.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3 * 86_400);
/// Default `cassandra.write_concurrency` (the writer's).
pub const DEFAULT_WRITE_CONCURRENCY: usize = 64;

/// `[cassandra]`: where the speed views are and how to reach them; `C` is
/// the side (see the module's documentation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "C: Side"))]
pub struct CassandraConfig<C> {
    /// `host:port` of one or more nodes.
    #[serde(default = "default_contact_points")]
    pub contact_points: Vec<String>,
    /// Keyspace of the speed views.
    #[serde(default = "default_keyspace")]
    pub keyspace: String,
    /// Consistency level of every request (`local_quorum` by default).
    #[serde(default)]
    pub consistency: C,
    /// Timeout of one request, and of connecting ([`Side::REQUEST_TIMEOUT`] by default).
    #[serde(default = "request_timeout::<C>", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Optional credentials (serve's: a role with SELECT on the keyspace only).
    #[serde(default)]
    pub username: Option<String>,
    /// Optional credentials; goes with `username`.
    #[serde(default)]
    pub password: Option<String>,
    /// The writer's: replication map used when it creates the keyspace.
    #[serde(default, deserialize_with = "writer_only::<C, _, _>")]
    replication: Option<String>,
    /// The writer's: the tables' `default_time_to_live` when it creates
    /// them; 0 keeps rows forever.
    #[serde(default, deserialize_with = "writer_only_duration::<C, _>")]
    ttl: Option<Duration>,
    /// The writer's: apply `schemas/cql` at start (idempotent).
    #[serde(default, deserialize_with = "writer_only::<C, _, _>")]
    create_schema: Option<bool>,
    /// The writer's: writes in flight at once.
    #[serde(default, deserialize_with = "writer_only::<C, _, _>")]
    write_concurrency: Option<usize>,
}

fn request_timeout<C: Side>() -> Duration {
    C::REQUEST_TIMEOUT
}

/// A writer's key: read as `T` on the writer's side, refused on the reader's.
fn writer_only<'de, C: Side, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    if !C::WRITES {
        return Err(serde::de::Error::custom(
            "only the speed job's [cassandra] has this key (it creates and writes the speed views); serve reads them",
        ));
    }
    T::deserialize(d).map(Some)
}

/// [`writer_only`] for a duration (`"3d"`).
fn writer_only_duration<'de, C: Side, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    writer_only::<C, humantime_serde::Serde<Duration>, D>(d).map(|t| t.map(humantime_serde::Serde::into_inner))
}

impl<C: Side> Default for CassandraConfig<C> {
    /// What an empty (or absent) section means.
    fn default() -> Self {
        CassandraConfig {
            contact_points: default_contact_points(),
            keyspace: default_keyspace(),
            consistency: C::default(),
            request_timeout: C::REQUEST_TIMEOUT,
            username: None,
            password: None,
            replication: None,
            ttl: None,
            create_schema: None,
            write_concurrency: None,
        }
    }
}

impl<C: Side> CassandraConfig<C> {
    /// The rules types alone do not express: `Err((key, message))` names the
    /// `cassandra.` key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.contact_points.is_empty() {
            return Err(("cassandra.contact_points", "must name at least one node".into()));
        }
        let k = &self.keyspace;
        let ident_ok =
            !k.is_empty() && k.len() <= 48 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !k.as_bytes()[0].is_ascii_digit();
        if !ident_ok {
            return Err(("cassandra.keyspace", format!("`{k}`: letters, digits and _ only, at most 48")));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(("cassandra.username", "username and password go together".into()));
        }
        if self.replication.as_deref().is_some_and(|r| !r.trim_start().starts_with('{')) {
            return Err(("cassandra.replication", format!("must be a CQL map such as {DEFAULT_REPLICATION}")));
        }
        if self.ttl.is_some_and(|t| t.as_secs() > i32::MAX as u64 || t.subsec_nanos() != 0) {
            return Err(("cassandra.ttl", "must be whole seconds below 68 years (0 disables expiry)".into()));
        }
        if self.write_concurrency == Some(0) {
            return Err(("cassandra.write_concurrency", "must be at least 1".into()));
        }
        Ok(())
    }

    /// How to connect, with `timeout` for connecting.
    pub fn connect(&self, timeout: Duration) -> Connect<'_> {
        Connect { contact_points: &self.contact_points, username: self.username.as_deref(), password: self.password.as_deref(), timeout }
    }
}

/// The writer's keys, with their defaults.
impl CassandraConfig<WriteConsistency> {
    /// `cassandra.replication`: the replication map of the keyspace it creates.
    pub fn replication(&self) -> &str {
        self.replication.as_deref().unwrap_or(DEFAULT_REPLICATION)
    }

    /// `cassandra.ttl`: the `default_time_to_live` of the tables it creates.
    pub fn ttl(&self) -> Duration {
        self.ttl.unwrap_or(DEFAULT_TTL)
    }

    /// `cassandra.create_schema`: apply `schemas/cql` at start.
    pub fn create_schema(&self) -> bool {
        self.create_schema.unwrap_or(true)
    }

    /// `cassandra.write_concurrency`: writes in flight at once.
    pub fn write_concurrency(&self) -> usize {
        self.write_concurrency.unwrap_or(DEFAULT_WRITE_CONCURRENCY)
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

    type Writer = CassandraConfig<WriteConsistency>;
    type Reader = CassandraConfig<ReadConsistency>;

    #[test]
    fn an_empty_section_is_the_default_of_its_side() {
        let (w, r): (Writer, Reader) = (toml::from_str("").unwrap(), toml::from_str("").unwrap());
        assert_eq!(format!("{w:?}"), format!("{:?}", Writer::default()));
        assert_eq!(format!("{r:?}"), format!("{:?}", Reader::default()));
        assert_eq!((w.request_timeout, r.request_timeout), (Duration::from_secs(10), Duration::from_secs(5)));
        assert_eq!((w.contact_points.join(","), w.keyspace.as_str()), ("127.0.0.1:9042".to_string(), "clickstream_speed"));
        assert_eq!((w.ttl(), w.replication(), w.create_schema(), w.write_concurrency()), (DEFAULT_TTL, DEFAULT_REPLICATION, true, 64));
    }

    #[test]
    fn the_writers_keys_are_read_on_its_side_and_refused_with_their_line_on_the_readers() {
        let keys = "keyspace = \"ks\"\nttl = \"2h\"\nreplication = \"{'class': 'X'}\"\ncreate_schema = false\nwrite_concurrency = 3\n";
        let w: Writer = toml::from_str(keys).unwrap();
        assert_eq!((w.ttl(), w.replication(), w.create_schema(), w.write_concurrency()), (Duration::from_secs(7200), "{'class': 'X'}", false, 3));
        for key in keys.lines().skip(1) {
            let e = toml::from_str::<Reader>(&format!("keyspace = \"ks\"\n{key}\n")).unwrap_err().to_string();
            assert!(e.contains("only the speed job's [cassandra] has this key") && e.contains("line 2"), "{key}: {e}");
        }
        let e = toml::from_str::<Reader>("keyspace = \"ks\"\nttll = \"2h\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `ttll`") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn rules_name_the_key() {
        let rule = |text: &str| toml::from_str::<Writer>(text).unwrap().validate().err().map(|(key, _)| key);
        assert_eq!(rule(""), None);
        assert_eq!(rule("contact_points = []"), Some("cassandra.contact_points"));
        assert_eq!(rule("keyspace = \"1x\""), Some("cassandra.keyspace"));
        assert_eq!(rule("keyspace = \"a-b\""), Some("cassandra.keyspace"));
        assert_eq!(rule("username = \"u\""), Some("cassandra.username"));
        assert_eq!(rule("replication = \"SimpleStrategy\""), Some("cassandra.replication"));
        assert_eq!(rule("ttl = \"1500ms\""), Some("cassandra.ttl"));
        assert_eq!(rule("write_concurrency = 0"), Some("cassandra.write_concurrency"));
        let r: Reader = toml::from_str("username = \"u\"\npassword = \"p\"").unwrap();
        assert_eq!(r.validate(), Ok(()));
        assert_eq!((r.connect(Duration::from_secs(1)).username, r.connect(Duration::from_secs(1)).password), (Some("u"), Some("p")));
    }
}
