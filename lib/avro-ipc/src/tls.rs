//! Optional TLS for both ends, as Flume's Avro source and sink offer it
//! (`ssl = true`): the server presents a certificate chain, the client checks
//! it against the CA certificates it is given and the name it expects.
//! rustls with the `ring` provider, TLS 1.2 and 1.3. The Avro IPC frames
//! (and deflate, when on) run inside the TLS stream unchanged.
//!
//! Certificates and keys are read from PEM files once, at start: an error
//! names the file and what is wrong with it, so `validate` can report it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Why TLS could not be set up (a configuration error: fix the files).
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("TLS {what} file {path}: {detail}")]
    File {
        /// Which file it is ("certificate", "private key", "CA certificates").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// rustls refused the combination (for example a key that does not
    /// match the certificate, or an unsupported key type).
    #[error("TLS setup: {0}")]
    Setup(String),
    /// The client's expected server name is neither a DNS name nor an IP address.
    #[error("TLS server name {0:?} is not a valid DNS name or IP address")]
    ServerName(String),
}

/// The server side: a certificate chain and its private key.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl ServerTls {
    /// Reads the certificate chain (`cert`, PEM, the server's certificate
    /// first) and its private key (`key`, PEM: PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        let chain = read_certs(cert, "certificate")?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
            what: "private key",
            path: key.to_path_buf(),
            detail: pem_detail(e, "a PEM private key (PKCS#8, PKCS#1 or SEC1)"),
        })?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Setup(format!("the certificate and key do not go together: {e}")))?;
        Ok(ServerTls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }

    /// Runs the server side of the TLS handshake on an accepted socket.
    pub(crate) async fn accept(&self, socket: TcpStream) -> io::Result<Stream> {
        Ok(Stream::Tls(Box::new(self.acceptor.accept(socket).await?.into())))
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerTls { .. }")
    }
}

/// Two settings are equal when they are the same loaded configuration.
impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.acceptor.config(), other.acceptor.config())
    }
}

impl Eq for ServerTls {}

/// The client side: which CA certificates to trust and which name the
/// server's certificate must carry.
#[derive(Clone)]
pub struct ClientTls {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

impl ClientTls {
    /// Trusts the CA certificates in `ca` (PEM; a private CA's certificate,
    /// or a system bundle such as `/etc/ssl/certs/ca-certificates.crt`) and
    /// expects the server's certificate to be issued for `server_name` (a DNS
    /// name or an IP address).
    pub fn from_pem_file(ca: &Path, server_name: &str) -> Result<ClientTls, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(ca, "CA certificates")? {
            roots.add(cert).map_err(|e| TlsError::File {
                what: "CA certificates",
                path: ca.to_path_buf(),
                detail: format!("a certificate cannot be used as a trust anchor: {e}"),
            })?;
        }
        let name = ServerName::try_from(server_name.to_string()).map_err(|_| TlsError::ServerName(server_name.to_string()))?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ClientTls { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), server_name: name })
    }

    /// The name the server's certificate must carry.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// Runs the client side of the TLS handshake on a connected socket.
    pub(crate) async fn connect(&self, socket: TcpStream) -> io::Result<Stream> {
        Ok(Stream::Tls(Box::new(self.connector.connect(self.server_name.clone(), socket).await?.into())))
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

/// Two settings are equal when they are the same loaded configuration.
impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.connector.config(), other.connector.config()) && self.server_name == other.server_name
    }
}

impl Eq for ClientTls {}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |detail: String| TlsError::File { what, path: path.to_path_buf(), detail };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(pem_detail(e, "PEM certificates")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(pem_detail(e, "PEM certificates")))?;
    if certs.is_empty() {
        return Err(file_error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

fn pem_detail(e: rustls_pki_types::pem::Error, expected: &str) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(e) => format!("cannot be read: {e}"),
        rustls_pki_types::pem::Error::NoItemsFound => format!("holds no {expected}"),
        e => format!("is not valid PEM ({e:?}); expected {expected}"),
    }
}

/// A connection's byte stream: plain TCP, or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
