//! Throw-away certificates for tests (feature `test-pki`): a CA, a server
//! certificate it signs for `localhost` and `127.0.0.1`, and a second CA
//! that signed nothing, written as PEM files the way an operator would
//! configure them. Never for production: the keys sit in the test's
//! directory unprotected.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// PEM files of one test PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate (what a client trusts).
    pub ca: PathBuf,
    /// The server's certificate, signed by `ca`, for `localhost` and `127.0.0.1`.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8).
    pub key: PathBuf,
    /// Another CA's certificate, which signed nothing here (a client trusting
    /// only this one must refuse the server).
    pub other_ca: PathBuf,
}

/// Writes a fresh test PKI into `dir`.
pub fn write_test_pki(dir: &Path) -> TestPki {
    let ca_key = KeyPair::generate().expect("generate the CA key");
    let params = ca_params("clickstream test CA");
    let ca_cert = params.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = Issuer::new(params, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("valid names");
    server.distinguished_name.push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().expect("generate the server key");
    let server_cert = server.signed_by(&server_key, &issuer).expect("sign the server certificate");

    let other_key = KeyPair::generate().expect("generate the other CA key");
    let other_cert = ca_params("another CA").self_signed(&other_key).expect("self-sign the other CA");

    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    };
    TestPki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", server_cert.pem()),
        key: write("server.key", server_key.serialize_pem()),
        other_ca: write("other-ca.pem", other_cert.pem()),
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    params
}
