//! The fan-out agent's wire input: Netty frames, the Avro IPC handshake, the
//! call header and Flume's `append` / `appendBatch` parameters.

use bytes::{Bytes, BytesMut};
use clickstream_avro_ipc::avro::Reader;
use clickstream_avro_ipc::call::read_request_header;
use clickstream_avro_ipc::flume::{read_append, read_append_batch, ReceivedEvent};
use clickstream_avro_ipc::frame::{self, FrameLimits};
use clickstream_avro_ipc::handshake::HandshakeRequest;
use clickstream_avro_ipc::protocol;

/// Small limits, so that the fuzzer reaches the "too large" paths with
/// short inputs; the checks are the same as with the server's limits.
const LIMITS: FrameLimits = FrameLimits { max_frame_bytes: 1 << 16, max_buffers: 64 };

/// Most events a batch may hold, as the server's `max_batch_events`.
const MAX_EVENTS: usize = 1000;

/// A connection's bytes as the server reads them: frames one after the
/// other (each checked against the limits before it is taken), the first
/// payload opening with a handshake request, every payload with a call
/// header and, for Flume's messages, their parameters.
pub fn ipc_request(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let mut first = true;
    loop {
        let before = buf.len();
        let checked = frame::check(&buf, &LIMITS);
        let parsed = frame::parse(&mut buf, &LIMITS);
        match (checked, parsed) {
            (Ok(Some(len)), Ok(Some(f))) => {
                assert_eq!(before - buf.len(), len, "parse takes exactly the length check reported");
                assert!(len <= LIMITS.max_frame_bytes, "a frame above the limit was accepted");
                assert!(f.payload.len() <= len);
                request_payload(&f.payload, first);
                first = false;
            }
            (Ok(None), Ok(None)) => {
                assert_eq!(buf.len(), before, "an incomplete frame must be left in the buffer");
                return;
            }
            (Err(a), Err(b)) => {
                assert_eq!(a, b, "check and parse disagree");
                return;
            }
            (c, p) => panic!("check and parse disagree: {c:?} vs {p:?}"),
        }
    }
}

/// One request payload, as the responder reads it.
fn request_payload(payload: &Bytes, handshake: bool) {
    let mut r = Reader::new(payload);
    if handshake {
        let Ok(request) = HandshakeRequest::decode(&mut r) else { return };
        round_trip_handshake(&request);
        if let Some(text) = &request.client_protocol {
            let _ = protocol::check_compatible(text);
        }
    }
    let Ok(header) = read_request_header(&mut r) else { return };
    match header.message {
        protocol::APPEND_BATCH => {
            if let Ok(events) = read_append_batch(payload, &mut r, MAX_EVENTS) {
                check_events(&events);
            }
        }
        protocol::APPEND => {
            if let Ok(event) = read_append(payload, &mut r) {
                check_events(&[event]);
            }
        }
        _ => {}
    }
}

/// What was decoded encodes to what decodes to the same request.
fn round_trip_handshake(request: &HandshakeRequest) {
    let mut out = Vec::new();
    request.encode(&mut out);
    let again = HandshakeRequest::decode(&mut Reader::new(&out)).expect("a re-encoded handshake request decodes");
    assert_eq!(&again, request);
}

/// Flume event batches alone: the parameters of `appendBatch` (or, when the
/// first byte is odd, of `append`), without the frame and the call header.
pub fn flume_batch(data: &[u8]) {
    let Some((&selector, params)) = data.split_first() else { return };
    let payload = Bytes::copy_from_slice(params);
    let mut r = Reader::new(&payload);
    if selector & 1 == 1 {
        if let Ok(event) = read_append(&payload, &mut r) {
            check_events(&[event]);
        }
    } else if let Ok(events) = read_append_batch(&payload, &mut r, MAX_EVENTS) {
        assert!(events.len() <= MAX_EVENTS, "a batch above max_events was accepted");
        check_events(&events);
    }
}

/// Received events are slices of the payload whose headers read back (the
/// server promised they were checked) and whose body ends the encoding.
fn check_events(events: &[ReceivedEvent]) {
    for event in events {
        assert!(event.encoded.ends_with(&event.body), "the body is the end of the event's encoding");
        let headers = event.headers();
        let mut again = Vec::new();
        clickstream_avro_ipc::flume::encode_event(&headers, &event.body, &mut again);
        let decoded = clickstream_avro_ipc::decode_event(&again).expect("a re-encoded event decodes");
        assert_eq!(decoded.headers, headers);
        assert_eq!(decoded.body, &event.body[..]);
    }
}
