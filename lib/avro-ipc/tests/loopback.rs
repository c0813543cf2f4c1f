//! The Rust client against the Rust server over loopback: happy paths, status
//! pass-through, deflate, and every way a peer can misbehave, each closing only
//! its own connection while the server keeps serving.

mod common;

use std::time::Duration;

use clickstream_avro_ipc::handshake::HandshakeRequest;
use clickstream_avro_ipc::{call, frame, protocol, ClientError, ClientOptions, FlumeClient, ServerLimits, Status};
use common::{encoded_test_event, test_event, Recorder, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn options() -> ClientOptions {
    ClientOptions { connect_timeout: Duration::from_secs(5), request_timeout: Duration::from_secs(10), ..ClientOptions::default() }
}

/// Sends `total` events in batches of `batch` and checks the handler saw them
/// exactly, encoded bytes included.
async fn send_and_verify(server: &TestServer, client: &mut FlumeClient, total: usize, batch: usize) {
    let encoded: Vec<Vec<u8>> = (0..total).map(encoded_test_event).collect();
    for chunk in encoded.chunks(batch) {
        assert_eq!(client.append_batch_encoded(chunk).await.unwrap(), Status::Ok);
    }
    let received = server.handler.events();
    assert_eq!(received.len(), total);
    for (i, (event, bytes)) in received.iter().zip(&encoded).enumerate() {
        let (headers, body) = test_event(i);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(event.headers(), headers, "headers of event {i}");
        assert_eq!(event.body, body, "body of event {i}");
        assert_eq!(&event.encoded[..], &bytes[..], "encoded bytes of event {i}");
    }
}

/// Reads from a raw socket until the server closes it (EOF or reset).
async fn assert_closed_by_server(socket: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await.expect("server closes the connection") {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn many_batches_arrive_exactly_with_one_handshake() {
    let server = TestServer::start(ServerLimits::default(), Recorder::default()).await;
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert!(!client.is_established());
    send_and_verify(&server, &mut client, 5_000, 250).await;
    assert!(client.is_established());
    let stats = server.stats.snapshot();
    assert_eq!((stats.handshakes_both, stats.handshakes_client, stats.handshakes_none), (1, 0, 0), "{stats:?}");
    assert_eq!((stats.batches, stats.events), (20, 5_000));
    assert_eq!(stats.connections_open, 1);
    drop(client);
    server.wait_for("the connection to close", |s| s.connections_open == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn statuses_pass_through_and_append_is_a_batch_of_one() {
    let server = TestServer::start(ServerLimits::default(), Recorder::with_script([Status::Failed, Status::Unknown])).await;
    let mut client = FlumeClient::connect(server.addr.to_string(), options()).await.unwrap();
    let batch = vec![encoded_test_event(1), encoded_test_event(2)];
    assert_eq!(client.append_batch_encoded(&batch).await.unwrap(), Status::Failed);
    assert_eq!(client.append_batch_encoded(&batch).await.unwrap(), Status::Unknown);
    assert_eq!(client.append(&[("k", "v")], b"single").await.unwrap(), Status::Ok);
    assert_eq!(client.append_encoded(&encoded_test_event(7)).await.unwrap(), Status::Ok);
    // An empty batch is answered OK without reaching the handler.
    assert_eq!(client.append_batch_encoded::<Vec<u8>>(&[]).await.unwrap(), Status::Ok);
    assert_eq!(server.handler.batch_sizes(), vec![2, 2, 1, 1]);
    let single = server.handler.batches.lock().unwrap()[2][0].clone();
    assert_eq!(single.headers(), vec![("k", "v")]);
    assert_eq!(&single.body[..], b"single");
    server.stop().await;
}

#[tokio::test]
async fn deflate_on_both_sides() {
    let limits = ServerLimits { deflate: true, ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let mut client = FlumeClient::connect(server.addr, ClientOptions { deflate: true, ..options() }).await.unwrap();
    send_and_verify(&server, &mut client, 3_000, 100).await;
    server.stop().await;
}

#[tokio::test]
async fn deflate_mismatch_fails_that_connection_only() {
    let server = TestServer::start(ServerLimits::default(), Recorder::default()).await;
    let mut compressed = FlumeClient::connect(server.addr, ClientOptions { deflate: true, ..options() }).await.unwrap();
    let err = compressed.append(&[], b"x").await.unwrap_err();
    assert!(matches!(err, ClientError::Closed { .. } | ClientError::Io { .. }), "{err}");
    assert!(matches!(compressed.append(&[], b"x").await.unwrap_err(), ClientError::Unusable { .. }));
    server.wait_for("the bad frame to be counted", |s| s.frames_rejected == 1).await;

    let mut plain = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(plain.append(&[], b"fine").await.unwrap(), Status::Ok);
    server.stop().await;
}

#[tokio::test]
async fn garbage_closes_only_its_connection() {
    let server = TestServer::start(ServerLimits::default(), Recorder::default()).await;
    let mut good = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(good.append(&[], b"before").await.unwrap(), Status::Ok);

    // Random bytes that happen to form a plausible frame header but garbage payload.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    let mut wire = Vec::new();
    frame::encode(1, b"\xde\xad\xbe\xef this is not avro", &mut wire).unwrap();
    socket.write_all(&wire).await.unwrap();
    assert!(assert_closed_by_server(&mut socket).await.is_empty(), "no reply to garbage");

    // Text that is not even a frame.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_closed_by_server(&mut socket).await;

    server.wait_for("both bad connections to be rejected", |s| s.frames_rejected == 2).await;
    // The established connection is untouched.
    assert_eq!(good.append(&[], b"after").await.unwrap(), Status::Ok);
    assert_eq!(server.handler.batch_sizes(), vec![1, 1]);
    server.stop().await;
}

#[tokio::test]
async fn hostile_lengths_are_rejected_without_waiting_for_the_body() {
    let limits = ServerLimits { max_frame_bytes: 1 << 20, ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    for header in [
        // One buffer of 2 GiB - 1.
        vec![0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff],
        // 2^31 - 1 buffers.
        vec![0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff],
        // A negative length.
        vec![0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff],
    ] {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket.write_all(&header).await.unwrap();
        // The socket stays open on our side: the server must act on the header alone.
        assert_closed_by_server(&mut socket).await;
    }
    server.wait_for("three rejections", |s| s.frames_rejected == 3).await;
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(client.append(&[], b"still serving").await.unwrap(), Status::Ok);
    server.stop().await;
}

#[tokio::test]
async fn oversized_batches_get_an_error_reply_and_a_close() {
    let limits = ServerLimits { max_batch_events: 10, ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    let batch: Vec<Vec<u8>> = (0..11).map(encoded_test_event).collect();
    let err = client.append_batch_encoded(&batch).await.unwrap_err();
    match &err {
        ClientError::Remote { message, .. } => assert!(message.contains("max_batch_events"), "{message}"),
        other => panic!("expected a remote error, got {other}"),
    }
    // The server closed after replying: the next call fails, the client must reconnect.
    assert!(client.append_batch_encoded(&batch[..10]).await.is_err());
    let mut fresh = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(fresh.append_batch_encoded(&batch[..10]).await.unwrap(), Status::Ok);
    assert_eq!(server.handler.batch_sizes(), vec![10]);
    server.stop().await;
}

#[tokio::test]
async fn a_foreign_protocol_is_told_why_and_disconnected() {
    let server = TestServer::start(ServerLimits::default(), Recorder::default()).await;
    let foreign = r#"{"protocol":"Mail","namespace":"x","messages":{"send":{"request":[{"name":"to","type":"string"}],"response":"string"}}}"#;
    let mut payload = Vec::new();
    HandshakeRequest { client_hash: protocol::protocol_md5(foreign), client_protocol: Some(foreign.into()), server_hash: [0; 16], meta: None }
        .encode(&mut payload);
    call::encode_request_header("send", &mut payload);
    clickstream_avro_ipc::avro::put_str(&mut payload, "someone");
    let mut wire = Vec::new();
    frame::encode(42, &payload, &mut wire).unwrap();
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(&wire).await.unwrap();
    let reply = assert_closed_by_server(&mut socket).await;
    let mut buf = bytes::BytesMut::from(&reply[..]);
    let frame = frame::parse(&mut buf, &frame::FrameLimits::default()).unwrap().expect("an error reply before the close");
    assert_eq!(frame.serial, 42);
    let text = String::from_utf8_lossy(&frame.payload);
    assert!(text.contains("incompatible protocol") && text.contains("send"), "{text}");
    server.wait_for("the protocol rejection", |s| s.protocols_rejected == 1).await;

    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(client.append(&[], b"ok").await.unwrap(), Status::Ok);
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once() {
    let limits = ServerLimits { max_connections: 2, ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let mut a = FlumeClient::connect(server.addr, options()).await.unwrap();
    let mut b = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(a.append(&[], b"a").await.unwrap(), Status::Ok);
    assert_eq!(b.append(&[], b"b").await.unwrap(), Status::Ok);
    let mut c = FlumeClient::connect(server.addr, options()).await.unwrap();
    let err = c.append(&[], b"c").await.unwrap_err();
    assert!(matches!(err, ClientError::Closed { .. } | ClientError::Io { .. }), "{err}");
    assert_eq!(server.stats.snapshot().connections_refused, 1);

    drop(a);
    server.wait_for("a slot to free up", |s| s.connections_open == 1).await;
    let mut d = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(d.append(&[], b"d").await.unwrap(), Status::Ok);
    assert_eq!(b.append(&[], b"b2").await.unwrap(), Status::Ok);
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let limits = ServerLimits { idle_timeout: Duration::from_millis(200), ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(client.append(&[], b"x").await.unwrap(), Status::Ok);
    server.wait_for("the idle close", |s| s.connections_idle_closed == 1 && s.connections_open == 0).await;
    assert!(client.append(&[], b"y").await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_slow_server_times_out_and_poisons_the_client() {
    let recorder = Recorder::default();
    *recorder.delay.lock().unwrap() = Duration::from_millis(800);
    let server = TestServer::start(ServerLimits::default(), recorder).await;
    let opts = ClientOptions { request_timeout: Duration::from_millis(200), ..options() };
    let mut client = FlumeClient::connect(server.addr, opts).await.unwrap();
    let err = client.append(&[], b"slow").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("reconnect"), "{err}");
    assert!(matches!(client.append(&[], b"again").await.unwrap_err(), ClientError::Unusable { .. }));
    server.stop().await;
}

#[tokio::test]
async fn connect_errors_name_the_peer() {
    // Bind then drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = FlumeClient::connect(format!("127.0.0.1:{port}"), options()).await.unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn shutdown_lets_the_call_in_flight_finish() {
    let recorder = Recorder::default();
    *recorder.delay.lock().unwrap() = Duration::from_millis(300);
    let server = TestServer::start(ServerLimits::default(), recorder).await;
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    let call = tokio::spawn(async move { client.append(&[], b"in flight").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    assert_eq!(call.await.unwrap().unwrap(), Status::Ok);
}

/// A frame header declaring one buffer of `len` bytes, then `sent` of them.
fn partial_frame(len: u32, sent: usize) -> Vec<u8> {
    let mut wire = vec![0, 0, 0, 1, 0, 0, 0, 1];
    wire.extend_from_slice(&len.to_be_bytes());
    wire.resize(wire.len() + sent, b'x');
    wire
}

#[tokio::test]
async fn the_first_frame_is_small_until_the_handshake_completes() {
    let limits = ServerLimits { max_first_frame_bytes: 64 * 1024, max_frame_bytes: 4 << 20, ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    // An unknown peer cannot start with a large frame: refused on its header.
    let mut stranger = TcpStream::connect(server.addr).await.unwrap();
    stranger.write_all(&partial_frame(100_000, 10)).await.unwrap();
    assert_closed_by_server(&mut stranger).await;
    server.wait_for("the refused first frame", |s| s.frames_rejected == 1).await;
    // Our client pings first when its first call is large, then sends it whole;
    // after the handshake, frames up to max_frame_bytes are fine.
    let big: Vec<Vec<u8>> = (0..2000).map(encoded_test_event).collect();
    assert!(big.iter().map(Vec::len).sum::<usize>() > 64 * 1024);
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(client.append_batch_encoded(&big).await.unwrap(), Status::Ok);
    assert_eq!(client.append_batch_encoded(&big).await.unwrap(), Status::Ok);
    assert_eq!(server.handler.batch_sizes(), vec![2000, 2000]);
    server.stop().await;
}

#[tokio::test]
async fn silent_and_slow_peers_are_closed_at_their_deadlines() {
    let limits = ServerLimits {
        handshake_timeout: Duration::from_millis(300),
        frame_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(60),
        ..ServerLimits::default()
    };
    let server = TestServer::start(limits, Recorder::default()).await;
    // Connects and says nothing: no handshake in time.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // Begins a frame and stalls.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(&partial_frame(1000, 10)).await.unwrap();
    let t = std::time::Instant::now();
    assert_closed_by_server(&mut silent).await;
    assert_closed_by_server(&mut slow).await;
    assert!(t.elapsed() < Duration::from_secs(3), "closed after {:?}", t.elapsed());
    server.wait_for("two slow closes", |s| s.connections_slow_closed == 2 && s.connections_open == 0).await;
    // A sender that keeps its pace is served, then left idle without being closed for it.
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(client.append(&[], b"x").await.unwrap(), Status::Ok);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(client.append(&[], b"y").await.unwrap(), Status::Ok);
    server.stop().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let limits = ServerLimits { max_connections_per_address: 2, ..ServerLimits::default() };
    let server = TestServer::start(limits, Recorder::default()).await;
    let _a = TcpStream::connect(server.addr).await.unwrap();
    let _b = TcpStream::connect(server.addr).await.unwrap();
    server.wait_for("two open", |s| s.connections_open == 2).await;
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_by_server(&mut third).await;
    server.wait_for("the refusal", |s| s.connections_refused_per_address == 1).await;
    // Another client address is still served.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = other.connect(server.addr).await.unwrap();
    drop(stream);
    server.wait_for("the other address served", |s| s.connections_accepted == 4 && s.connections_refused == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn unfinished_frames_cannot_buffer_more_than_the_budget() {
    let limits = ServerLimits {
        max_frame_bytes: 512 * 1024,
        max_first_frame_bytes: 512 * 1024,
        max_buffered_bytes: 1 << 20,
        handshake_timeout: Duration::from_secs(2),
        frame_timeout: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let server = TestServer::start(limits, Recorder::default()).await;
    // Six peers each begin a 500 KB frame, send 400 KB of it and stall: 2.4 MB wanted.
    let mut hogs = Vec::new();
    for _ in 0..6 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let wire = partial_frame(500_000, 400_000);
        // The server may stop reading (budget spent): do not wait for the write to finish.
        tokio::spawn(async move {
            let _ = s.write_all(&wire).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        hogs.push(());
    }
    let mut peak = 0;
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_millis(1500) {
        peak = peak.max(server.stats.snapshot().buffered_bytes);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = server.stats.snapshot();
    assert!(peak > 0 && peak <= (1 << 20) + 64 * 1024, "buffered {peak} bytes, budget 1 MiB");
    assert!(stats.buffer_waits > 0, "someone waited for the budget: {stats:?}");
    // A real sender gets through once the hogs have been closed at their deadline.
    let mut client = FlumeClient::connect(server.addr, options()).await.unwrap();
    assert_eq!(client.append_batch_encoded(&[encoded_test_event(1)]).await.unwrap(), Status::Ok);
    server.wait_for("the hogs closed", |s| s.connections_slow_closed >= 6).await;
    drop(client);
    server.wait_for("every connection closed, every byte given back", |s| s.connections_open == 0 && s.buffered_bytes == 0).await;
    server.stop().await;
}
