//! Turns the lines of one file into Flume events (or dead letters) and
//! collects them into the batch the source puts into the channel.

use clickstream_logparse::{LineOrigin, Parser};
use tracing::error;

use super::dead_letter::DeadLetters;
use super::lines::Line;
use crate::metrics::{label, Metrics};

/// The events of one file's next put, and the file's counts.
pub struct Batcher<'a> {
    parser: &'a Parser,
    host: &'a str,
    source_file: &'a str,
    stream: &'a str,
    replace_invalid_utf8: bool,
    metrics: &'a Metrics,
    /// Encoded Flume events of the next put.
    pub batch: Vec<Vec<u8>>,
    /// Buffers of put events, reused.
    pub pool: Vec<Vec<u8>>,
    /// The file's dead-letter file.
    pub dead: DeadLetters,
    /// Lines read (events and rejects).
    pub lines: u64,
    /// Lines rejected.
    pub rejected: u64,
    datum: Vec<u8>,
}

impl<'a> Batcher<'a> {
    /// A batcher for the lines of `source_file`, of stream `stream`, read on `host`.
    pub fn new(
        parser: &'a Parser,
        host: &'a str,
        source_file: &'a str,
        stream: &'a str,
        replace_invalid_utf8: bool,
        metrics: &'a Metrics,
        dead: DeadLetters,
    ) -> Self {
        Batcher {
            parser,
            host,
            source_file,
            stream,
            replace_invalid_utf8,
            metrics,
            batch: Vec::new(),
            pool: Vec::new(),
            dead,
            lines: 0,
            rejected: 0,
            datum: Vec::with_capacity(1024),
        }
    }

    /// Adds one line: an event in the batch, or a dead letter.
    pub fn add(&mut self, line: Line<'_>) {
        self.lines += 1;
        match line {
            Line::TooLong { offset, len, prefix } => {
                let msg =
                    format!("line of {len} bytes exceeds max_line_bytes = {} (first {} bytes kept)", self.parser.max_line_bytes(), prefix.len());
                self.reject(offset, "too_long", &msg, prefix);
            }
            Line::Ok { offset, bytes } => {
                let origin = LineOrigin { source_host: self.host, source_file: self.source_file, file_fingerprint: self.stream, byte_offset: offset };
                let replaced;
                let text: &[u8] = if self.replace_invalid_utf8 && std::str::from_utf8(bytes).is_err() {
                    replaced = String::from_utf8_lossy(bytes).into_owned();
                    replaced.as_bytes()
                } else {
                    bytes
                };
                match self.parser.parse_event(text, &origin) {
                    Ok(event) => {
                        self.datum.clear();
                        event.encode_datum(&mut self.datum);
                        let ts = event.event_time_ms.to_string();
                        let headers = [
                            ("timestamp", ts.as_str()),
                            ("host", self.host),
                            ("event_id", event.event_id.as_ref()),
                            ("category", event.category.as_ref()),
                        ];
                        let mut encoded = self.pool.pop().unwrap_or_default();
                        encoded.clear();
                        clickstream_avro_ipc::flume::encode_event(&headers, &self.datum, &mut encoded);
                        self.batch.push(encoded);
                    }
                    Err(rej) => self.reject(offset, rej.reason.as_str(), &rej.message, bytes),
                }
            }
        }
    }

    fn reject(&mut self, offset: u64, reason: &str, message: &str, line: &[u8]) {
        self.rejected += 1;
        self.metrics.lines_rejected.get_or_create(&label("reason", reason)).inc();
        if let Err(e) = self.dead.write(offset, reason, message, line) {
            // Never drop silently: without a dead-letter file the line is only in the log.
            error!(file = %self.dead.path().display(), offset, reason, error = %e, line = %String::from_utf8_lossy(line), "cannot write dead-letter file; rejected line logged here instead");
        }
    }
}
