//! TLS and the client allow-list, Rust client against Rust server over
//! loopback: a TLS client that trusts the server's CA sends batches (with
//! and without deflate inside TLS); a plain-TCP sender, a client trusting
//! another CA and one expecting another name all fail with a clear error,
//! each closing only its own connection; a client address outside the
//! allow-list is refused while an allowed one is served.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clickstream_avro_ipc::test_pki::write_test_pki;
use clickstream_avro_ipc::{ClientError, ClientOptions, ClientTls, FlumeClient, ServerLimits, ServerTls, Status, TlsError};
use common::{encoded_test_event, Recorder, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn options(tls: Option<ClientTls>) -> ClientOptions {
    ClientOptions { connect_timeout: Duration::from_secs(5), request_timeout: Duration::from_secs(10), tls, ..ClientOptions::default() }
}

#[tokio::test]
async fn tls_clients_are_served_and_others_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let server_tls = ServerTls::from_pem_files(&pki.cert, &pki.key).unwrap();
    for deflate in [false, true] {
        let limits = ServerLimits { tls: Some(server_tls.clone()), deflate, ..ServerLimits::default() };
        let server = TestServer::start(limits, Recorder::default()).await;

        // Trusting the CA, by name and by address: batches arrive exactly.
        for name in ["localhost", "127.0.0.1"] {
            let tls = ClientTls::from_pem_file(&pki.ca, name).unwrap();
            let mut client = FlumeClient::connect(server.addr, ClientOptions { deflate, ..options(Some(tls)) }).await.unwrap();
            let events: Vec<Vec<u8>> = (0..250).map(encoded_test_event).collect();
            for chunk in events.chunks(100) {
                assert_eq!(client.append_batch_encoded(chunk).await.unwrap(), Status::Ok);
            }
            assert_eq!(client.append(&[], b"single").await.unwrap(), Status::Ok);
        }
        let received = server.handler.events();
        assert_eq!(received.len(), 2 * 251);
        for (i, event) in received[..250].iter().enumerate() {
            assert_eq!(&event.encoded[..], &encoded_test_event(i)[..], "event {i} through TLS (deflate {deflate})");
        }

        // Trusting another CA, or expecting another name: the handshake fails on both sides.
        let other = ClientTls::from_pem_file(&pki.other_ca, "localhost").unwrap();
        let err = FlumeClient::connect(server.addr, options(Some(other))).await.unwrap_err();
        assert!(matches!(err, ClientError::Tls { .. }), "{err}");
        assert!(err.to_string().contains("signed by a CA in the configured file"), "{err}");
        let wrong_name = ClientTls::from_pem_file(&pki.ca, "fanout.example.org").unwrap();
        let err = FlumeClient::connect(server.addr, options(Some(wrong_name))).await.unwrap_err();
        assert!(matches!(err, ClientError::Tls { .. }) && err.to_string().contains("fanout.example.org"), "{err}");

        // A plain-TCP sender: its connection is closed, it gets no answer.
        let mut plain = FlumeClient::connect(server.addr, options(None)).await.unwrap();
        let err = plain.append(&[], b"plain").await.unwrap_err();
        assert!(matches!(err, ClientError::Closed { .. } | ClientError::Io { .. } | ClientError::Protocol { .. }), "{err}");
        server.wait_for("three failed TLS handshakes", |s| s.tls_handshakes_failed == 3).await;

        // The server goes on serving TLS clients.
        let tls = ClientTls::from_pem_file(&pki.ca, "localhost").unwrap();
        let mut client = FlumeClient::connect(server.addr, ClientOptions { deflate, ..options(Some(tls)) }).await.unwrap();
        assert_eq!(client.append(&[], b"after").await.unwrap(), Status::Ok);
        assert_eq!(server.handler.events().len(), 2 * 251 + 1, "nothing of the failed clients reached the handler");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_silent_client_cannot_hold_a_tls_slot_past_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let tls = ServerTls::from_pem_files(&pki.cert, &pki.key).unwrap();
    let limits = ServerLimits { tls: Some(tls), idle_timeout: Duration::from_millis(300), ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    server.wait_for("the handshake timeout", |s| s.tls_handshakes_failed == 1 && s.connections_open == 0).await;
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await.expect("closed by the server");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    server.stop().await;
}

#[tokio::test]
async fn garbage_instead_of_a_client_hello_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let limits = ServerLimits { tls: Some(ServerTls::from_pem_files(&pki.cert, &pki.key).unwrap()), ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    raw.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff]).await.unwrap(); // a record header claiming 64 KiB
    raw.write_all(&vec![0xAB; 70_000]).await.unwrap_or(());
    server.wait_for("the failed handshake", |s| s.tls_handshakes_failed == 1).await;
    let tls = ClientTls::from_pem_file(&pki.ca, "localhost").unwrap();
    let mut client = FlumeClient::connect(server.addr, options(Some(tls))).await.unwrap();
    assert_eq!(client.append(&[], b"fine").await.unwrap(), Status::Ok);
    server.stop().await;
}

#[test]
fn bad_tls_files_are_configuration_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let missing = dir.path().join("missing.pem");
    let err = ServerTls::from_pem_files(&missing, &pki.key).unwrap_err();
    assert!(matches!(err, TlsError::File { what: "certificate", .. }) && err.to_string().contains("missing.pem"), "{err}");
    // A certificate where the key should be, and the other way round.
    let err = ServerTls::from_pem_files(&pki.cert, &pki.cert).unwrap_err();
    assert!(err.to_string().contains("private key") && err.to_string().contains("server.pem"), "{err}");
    let err = ServerTls::from_pem_files(&pki.key, &pki.key).unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    // A key that does not belong to the certificate.
    let other = tempfile::tempdir().unwrap();
    let other_pki = write_test_pki(other.path());
    let err = ServerTls::from_pem_files(&pki.cert, &other_pki.key).unwrap_err();
    assert!(matches!(err, TlsError::Setup(_)) && err.to_string().contains("do not go together"), "{err}");
    let err = ClientTls::from_pem_file(&pki.ca, "not a name!").unwrap_err();
    assert!(matches!(err, TlsError::ServerName(_)), "{err}");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, b"\xff\xfe not pem at all").unwrap();
    let err = ClientTls::from_pem_file(&garbage, "localhost").unwrap_err();
    assert!(err.to_string().contains("garbage.pem"), "{err}");
}

/// Connects from a chosen loopback address (Linux routes all of 127/8 to lo).
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
    socket.connect(server).await.unwrap()
}

#[tokio::test]
async fn only_allowed_client_addresses_are_served() {
    let allowed = Ipv4Addr::new(127, 0, 0, 2);
    let limits = ServerLimits { allow: vec![IpAddr::V4(allowed)], ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;

    // 127.0.0.1 is not on the list: closed at once, counted, nothing handled.
    let mut refused = FlumeClient::connect(server.addr, options(None)).await.unwrap();
    let err = refused.append(&[], b"no").await.unwrap_err();
    assert!(matches!(err, ClientError::Closed { .. } | ClientError::Io { .. }), "{err}");
    server.wait_for("the refusal", |s| s.connections_refused == 1).await;

    // From 127.0.0.2 the same exchange is served. The client owns its
    // socket, so it talks through a relay whose upstream leg starts there.
    let upstream = connect_from(allowed, server.addr).await;
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let relaying = tokio::spawn(async move {
        let (mut inbound, _) = relay.accept().await.unwrap();
        let mut upstream = upstream;
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
    });
    let mut client = FlumeClient::connect(relay_addr, options(None)).await.unwrap();
    assert_eq!(client.append(&[], b"yes").await.unwrap(), Status::Ok);
    drop(client);
    let _ = relaying.await;
    let events = server.handler.events();
    assert_eq!(events.len(), 1);
    assert_eq!(&events[0].body[..], b"yes");
    assert_eq!(server.stats.snapshot().connections_refused, 1);
    server.stop().await;
}
