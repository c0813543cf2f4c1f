//! A Kafka-protocol broker of a test's own, started by `scripts/stack` in a
//! temporary directory on a free port (the same Tansu build the stack runs).
//!
//! Why: a test that restarts the broker must not pull the shared one from
//! under other tests, and a long pipeline test should not depend on the
//! state a whole suite left in the shared broker (Tansu on SQLite slows down
//! as it accumulates topics and abandoned fetches).

use std::process::Command;
use std::time::Duration;

use crate::{free_port, repo};

/// A private broker; stopped when dropped.
pub struct PrivateKafka {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateKafka {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> PrivateKafka {
        let k = PrivateKafka { dir: tempfile::tempdir().expect("temp dir"), port: free_port() };
        k.stack(&["up", "kafka"]);
        k
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it, waits, and starts it again on the same port and data.
    pub fn restart(&self) {
        self.stack(&["down", "kafka"]);
        std::thread::sleep(Duration::from_secs(2));
        self.stack(&["up", "kafka"]);
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(repo().join("scripts/stack"));
        c.args(args).env("CLICKSTREAM_STACK_DIR", self.dir.path()).env("KAFKA_PORT", self.port.to_string());
        c
    }

    fn stack(&self, args: &[&str]) {
        let out = self.command(args).output().expect("running scripts/stack");
        assert!(out.status.success(), "scripts/stack {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        let _ = self.command(&["down", "kafka"]).output();
    }
}
