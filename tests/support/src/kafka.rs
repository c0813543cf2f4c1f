//! A Kafka-protocol broker of a test's own, started by `scripts/stack` in a
//! temporary directory on a free port (the same Tansu build the stack runs).
//!
//! Why: a test that restarts the broker must not pull the shared one from
//! under other tests, and a long pipeline test should not depend on the
//! state a whole suite left in the shared broker (Tansu on SQLite slowed
//! down as a suite's records accumulated, until `scripts/stack` indexed its
//! header table; a fetch still costs it the backlog behind its offset).

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
        let k = PrivateKafka::not_started();
        k.up();
        k
    }

    /// Its place (a data directory and a free port) with nothing listening
    /// there yet: for a test whose clients start before the broker does.
    /// [`PrivateKafka::up`] starts it.
    pub fn not_started() -> PrivateKafka {
        PrivateKafka { dir: tempfile::tempdir().expect("temp dir"), port: free_port() }
    }

    /// Starts it (again) on its port and data, and waits until it accepts
    /// connections; does nothing when it runs.
    pub fn up(&self) {
        self.stack(&["up", "kafka"]);
    }

    /// Kills it with SIGKILL, as a crash would: it gets no chance to close
    /// connections or finish writes. Its data stays for [`PrivateKafka::up`].
    pub fn kill(&self) {
        self.stack(&["kill", "kafka"]);
    }

    /// Starts one that requires SASL (SCRAM-SHA-256) from every client,
    /// with the one user `name`: created while the broker still runs
    /// without authentication (Tansu refuses the request afterwards), then
    /// the broker is restarted with it.
    pub fn start_with_sasl_user(name: &str, password: &str) -> PrivateKafka {
        let k = PrivateKafka::start();
        k.stack(&["kafka-user", name, password]);
        k.stack(&["down", "kafka"]);
        k.stack_with(&["up", "kafka"], &[("KAFKA_AUTHENTICATION", "1".into())]);
        k
    }

    /// The librdkafka properties of a client that logs in as `name`, as
    /// TOML `key = "value"` lines.
    pub fn sasl_client_properties(name: &str, password: &str) -> String {
        format!(
            "\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"SCRAM-SHA-256\"\n\"sasl.username\" = \"{name}\"\n\"sasl.password\" = \"{password}\"\n"
        )
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it, waits, and starts it again on the same port and data.
    pub fn restart(&self) {
        self.stack(&["down", "kafka"]);
        std::thread::sleep(Duration::from_secs(2));
        self.up();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(repo().join("scripts/stack"));
        c.args(args).env("CLICKSTREAM_STACK_DIR", self.dir.path()).env("KAFKA_PORT", self.port.to_string());
        c
    }

    fn stack(&self, args: &[&str]) {
        self.stack_with(args, &[]);
    }

    fn stack_with(&self, args: &[&str], env: &[(&str, String)]) {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().expect("running scripts/stack");
        assert!(out.status.success(), "scripts/stack {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        let _ = self.command(&["down", "kafka"]).output();
    }
}

/// A TLS front for a private broker: clients reach the broker only over
/// TLS. The broker runs on its plain port, advertising the front's port
/// ([`PrivateKafka::start_behind_tls`]), so every connection librdkafka
/// makes (bootstrap and the broker the metadata names) is a real TLS
/// session, verified against a CA made by the test.
///
/// Why a terminator: Tansu 0.6 has `--cert` and `--key`, but its command
/// line puts both in one argument group, so giving both is refused ("the
/// argument '--cert' cannot be used with '--key'") and giving one leaves TLS
/// off (docs/services.md). The client side, which is what this project
/// ships, is the same either way.
pub struct TlsFront {
    /// The CA, server certificate and key, and another CA (PEM files).
    pub pki: clickstream_avro_ipc::test_pki::TestPki,
    port: u16,
    _terminator: tls::Terminator,
    _dir: tempfile::TempDir,
}

impl PrivateKafka {
    /// Starts a private broker behind a TLS front.
    pub fn start_behind_tls() -> (PrivateKafka, TlsFront) {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = clickstream_avro_ipc::test_pki::write_test_pki(dir.path());
        let port = free_port();
        let broker = PrivateKafka::not_started();
        broker.stack_with(&["up", "kafka"], &[("KAFKA_ADVERTISED_PORT", port.to_string())]);
        let terminator = tls::Terminator::start(port, broker.addr(), &pki.cert, &pki.key);
        (broker, TlsFront { pki, port, _terminator: terminator, _dir: dir })
    }
}

impl TlsFront {
    /// `host:port` for `bootstrap.servers` (TLS).
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The librdkafka properties of a client that trusts `ca`, as TOML
    /// `key = "value"` lines.
    pub fn client_properties(&self, ca: &std::path::Path) -> String {
        format!("\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"{}\"\n", ca.display())
    }
}

mod tls {
    //! A TLS terminator: accepts TLS on a port and relays the plain bytes to
    //! an upstream address, one task per connection, until dropped.

    use std::path::Path;
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;

    pub struct Terminator {
        runtime: Option<tokio::runtime::Runtime>,
    }

    impl Terminator {
        pub fn start(port: u16, upstream: String, cert: &Path, key: &Path) -> Terminator {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(cert).expect("certificate file").collect::<Result<_, _>>().expect("certificates");
            let key = PrivateKeyDer::from_pem_file(key).expect("key file");
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("certificate and key");
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
            let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).expect("binding the TLS terminator");
            runtime.spawn(async move {
                loop {
                    let Ok((socket, _)) = listener.accept().await else { continue };
                    let acceptor = acceptor.clone();
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        // A client that fails the handshake (it does not trust
                        // the CA) just loses its connection, as with a real broker.
                        let Ok(mut tls) = acceptor.accept(socket).await else { return };
                        let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else { return };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    });
                }
            });
            Terminator { runtime: Some(runtime) }
        }
    }

    impl Drop for Terminator {
        fn drop(&mut self) {
            if let Some(rt) = self.runtime.take() {
                rt.shutdown_background();
            }
        }
    }
}
