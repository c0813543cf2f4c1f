//! Frames over a TCP (or TLS) stream: buffered [`Connection::read_frame`] and
//! [`Connection::write_frame`], optionally through deflate.
//!
//! This is the mini-redis `connection.rs` half of the codec: it owns the socket
//! and the buffers, and leaves "is this a complete frame?" to [`crate::frame`].
//! With deflate on, bytes from the socket go to a compressed buffer and are
//! inflated into the frame buffer in bounded steps, each followed by a frame
//! check, so the frame limits hold for the *inflated* data as well.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::deflate::{Deflater, Inflater, DEFAULT_LEVEL};
use crate::frame::{self, Frame, FrameError, FrameLimits};
use crate::stats::ServerStats;
use crate::tls::Stream;

/// Read-buffer growth step; also the most bytes one inflate step produces.
const CHUNK: usize = 16 * 1024;

/// Why a connection cannot go on. The variants decide how loudly to log.
#[derive(Debug, Error)]
pub(crate) enum ConnectionError {
    /// Socket error.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The peer broke the framing rules or the limits.
    #[error("bad frame: {source}{hint}")]
    Frame {
        /// What was wrong.
        source: FrameError,
        /// A guess at the cause, for the operator.
        hint: Hint,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("peer closed the connection inside a frame ({buffered} bytes buffered)")]
    ClosedMidFrame {
        /// Bytes of the partial frame.
        buffered: usize,
    },
    /// A frame was begun but not finished within the frame timeout.
    #[error("frame not finished within {limit:?} ({buffered} bytes buffered): too slow a sender")]
    TooSlow {
        /// The frame timeout.
        limit: Duration,
        /// Bytes of the partial frame.
        buffered: usize,
    },
}

/// One connection's share of a server-wide byte budget (`max_buffered_bytes`):
/// the bytes its buffers hold are taken from a semaphore before they are
/// read, and given back when consumed or when the connection ends. When the
/// budget is spent a connection waits before reading more, so slow or
/// hostile senders together cannot make the server buffer more than the
/// budget, and the TCP window pushes back on every sender.
pub(crate) struct Budget {
    pool: Arc<Semaphore>,
    stats: Arc<ServerStats>,
    held: usize,
}

impl Budget {
    pub(crate) fn new(pool: Arc<Semaphore>, stats: Arc<ServerStats>) -> Budget {
        Budget { pool, stats, held: 0 }
    }

    /// Holds at least `bytes`, waiting for other connections to give some
    /// back when the budget is spent.
    async fn hold(&mut self, bytes: usize) {
        if bytes <= self.held {
            return;
        }
        let more = u32::try_from(bytes - self.held).unwrap_or(u32::MAX);
        let permit = match self.pool.clone().try_acquire_many_owned(more) {
            Ok(p) => p,
            Err(_) => {
                ServerStats::add(&self.stats.buffer_waits, 1);
                self.pool.clone().acquire_many_owned(more).await.expect("the budget semaphore is never closed")
            }
        };
        permit.forget();
        self.held += more as usize;
        ServerStats::add(&self.stats.buffered_bytes, u64::from(more));
    }

    /// Gives back all but `bytes`.
    fn release_to(&mut self, bytes: usize) {
        if self.held > bytes {
            let n = self.held - bytes;
            self.pool.add_permits(n);
            self.held = bytes;
            ServerStats::sub(&self.stats.buffered_bytes, n as u64);
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.release_to(0);
    }
}

/// An operator hint appended to frame errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    None,
    /// The first bytes look like a zlib header: the peer compresses, we do not.
    PeerCompresses,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::None => Ok(()),
            Hint::PeerCompresses => {
                f.write_str(" (the data starts like a zlib stream: the peer probably uses compression-type = deflate while this side does not)")
            }
        }
    }
}

/// Compression state, present when deflate is on.
struct Compressed {
    raw: BytesMut,
    output_pending: bool,
    inflater: Inflater,
    deflater: Deflater,
    out: Vec<u8>,
}

/// One Avro-over-Netty connection.
pub(crate) struct Connection {
    stream: Stream,
    limits: FrameLimits,
    /// Inflated (or plain) bytes not yet parsed into frames.
    plain: BytesMut,
    compressed: Option<Box<Compressed>>,
    /// Reused buffer for outgoing frames.
    write_buf: Vec<u8>,
    frames_read: u64,
    /// The server's byte budget (servers only).
    budget: Option<Budget>,
    /// How long a begun frame may take to arrive (servers only).
    frame_timeout: Option<Duration>,
    /// When the first byte of the frame being read arrived.
    frame_started: Option<Instant>,
}

impl Connection {
    pub(crate) fn new(stream: Stream, limits: FrameLimits, deflate: bool) -> Self {
        let compressed = deflate.then(|| {
            Box::new(Compressed {
                raw: BytesMut::new(),
                output_pending: false,
                inflater: Inflater::new(),
                deflater: Deflater::new(DEFAULT_LEVEL),
                out: Vec::new(),
            })
        });
        Connection {
            stream,
            limits,
            plain: BytesMut::new(),
            compressed,
            write_buf: Vec::new(),
            frames_read: 0,
            budget: None,
            frame_timeout: None,
            frame_started: None,
        }
    }

    /// Takes buffer memory from `budget` and closes frames that take longer
    /// than `frame_timeout` once begun: a server's defences against slow and
    /// hostile senders.
    pub(crate) fn guarded(mut self, budget: Budget, frame_timeout: Duration) -> Self {
        self.budget = Some(budget);
        self.frame_timeout = Some(frame_timeout);
        self
    }

    /// Changes the largest frame accepted from now on (a server lifts its
    /// small first-frame limit once the handshake has completed).
    pub(crate) fn set_max_frame_bytes(&mut self, max: usize) {
        self.limits.max_frame_bytes = max;
    }

    /// Gives back the budget of buffer bytes no longer in use (call after a
    /// frame has been answered and dropped).
    pub(crate) fn release_buffers(&mut self) {
        let in_use = self.buffered_capacity();
        if let Some(b) = self.budget.as_mut() {
            b.release_to(in_use);
        }
    }

    fn buffered_capacity(&self) -> usize {
        self.plain.capacity() + self.compressed.as_ref().map_or(0, |c| c.raw.capacity())
    }

    /// Reads the next frame; `Ok(None)` when the peer closed cleanly between
    /// frames.
    pub(crate) async fn read_frame(&mut self) -> Result<Option<Frame>, ConnectionError> {
        loop {
            match frame::parse(&mut self.plain, &self.limits) {
                Ok(Some(frame)) => {
                    self.frames_read += 1;
                    // Bytes of the next frame may already be here: its clock starts now.
                    self.frame_started = (!self.plain.is_empty()).then(Instant::now);
                    return Ok(Some(frame));
                }
                Ok(None) => {}
                Err(source) => return Err(ConnectionError::Frame { source, hint: self.hint() }),
            }
            if let Some(c) = self.compressed.as_mut() {
                // Inflate while there is input, or while the last step filled
                // its whole output (the inflater may hold more for us).
                if !c.raw.is_empty() || c.output_pending {
                    if let Some(b) = self.budget.as_mut() {
                        b.hold(c.raw.capacity() + self.plain.capacity().max(self.plain.len() + CHUNK)).await;
                    }
                    let (used, produced) = c.inflater.inflate(&c.raw, &mut self.plain, CHUNK)?;
                    c.raw.advance(used);
                    c.output_pending = produced == CHUNK;
                    if used > 0 || produced > 0 {
                        continue;
                    }
                }
            }
            let target = match self.compressed.as_mut() {
                Some(c) => &mut c.raw,
                None => &mut self.plain,
            };
            if target.capacity() - target.len() < CHUNK / 4 {
                target.reserve(CHUNK);
            }
            let deadline = match (self.frame_timeout, self.frame_started) {
                (Some(limit), Some(started)) => Some((limit, started + limit)),
                _ => None,
            };
            let read = async {
                if let Some(b) = self.budget.as_mut() {
                    let in_use = self.plain.capacity() + self.compressed.as_ref().map_or(0, |c| c.raw.capacity());
                    b.hold(in_use).await;
                }
                let target = match self.compressed.as_mut() {
                    Some(c) => &mut c.raw,
                    None => &mut self.plain,
                };
                self.stream.read_buf(target).await
            };
            let n = match deadline {
                None => read.await?,
                Some((limit, at)) => match tokio::time::timeout_at(at, read).await {
                    Ok(n) => n?,
                    Err(_) => return Err(ConnectionError::TooSlow { limit, buffered: self.buffered_len() }),
                },
            };
            if n > 0 && self.frame_started.is_none() {
                self.frame_started = Some(Instant::now());
            }
            if n == 0 {
                // A compressed stream may end with a trailer that inflates to
                // nothing; only unparsed frame bytes make the close unclean.
                return if self.plain.is_empty() { Ok(None) } else { Err(ConnectionError::ClosedMidFrame { buffered: self.plain.len() }) };
            }
        }
    }

    /// Writes one frame whose payload `write_payload` appends.
    pub(crate) async fn write_frame(&mut self, serial: i32, write_payload: impl FnOnce(&mut Vec<u8>)) -> Result<(), ConnectionError> {
        self.write_buf.clear();
        frame::encode_with(serial, &mut self.write_buf, write_payload).map_err(|source| ConnectionError::Frame { source, hint: Hint::None })?;
        match self.compressed.as_mut() {
            None => self.stream.write_all(&self.write_buf).await?,
            Some(c) => {
                c.out.clear();
                c.deflater.compress_message(&self.write_buf, &mut c.out)?;
                self.stream.write_all(&c.out).await?;
                shrink(&mut c.out);
            }
        }
        // TLS holds written bytes in its session until flushed (plain TCP: no-op).
        self.stream.flush().await?;
        shrink(&mut self.write_buf);
        Ok(())
    }

    /// Closes the sending side after everything written so far.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    fn buffered_len(&self) -> usize {
        self.plain.len() + self.compressed.as_ref().map_or(0, |c| c.raw.len())
    }

    fn hint(&self) -> Hint {
        let looks_zlib = self.compressed.is_none()
            && self.frames_read == 0
            && self.plain.len() >= 2
            && self.plain[0] == 0x78
            && matches!(self.plain[1], 0x01 | 0x5e | 0x9c | 0xda);
        if looks_zlib {
            Hint::PeerCompresses
        } else {
            Hint::None
        }
    }
}

/// Lets a buffer that once held a huge frame go back to a modest size.
fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > 4 << 20 {
        *buf = Vec::new();
    }
}
