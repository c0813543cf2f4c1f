//! Avro object container files (Avro 1.x specification, "Object Container
//! Files"), written without re-encoding records and read back two ways.
//!
//! ```text
//! file   = header block*
//! header = "Obj" 0x01, metadata map<bytes> {avro.schema, avro.codec}, sync[16]
//! block  = long count, long size, data[size], sync[16]
//! data   = codec(datum datum … datum)        one ClickEvent datum per event
//! ```
//!
//! - [`header`]: writing and parsing the header (one parser for both readers);
//! - [`writer`]: [`BlockEncoder`], blocks from already-encoded records;
//! - [`blocks`]: [`Blocks`], the batch job's reader of a whole file, which
//!   skips a damaged block to the next sync marker and goes on;
//! - [`scan`]: [`Scanner`], the HDFS sink's recovery reader, which finds the
//!   prefix of complete blocks of a file whose writer died.
//!
//! Written by hand rather than through `apache_avro::Reader`/`Writer` for
//! three reasons: the sink appends the channel's bytes verbatim; errors name
//! the byte offset of the broken block; and the batch job decodes six of the
//! eighteen fields in place instead of building a `Value` tree per record.
//! Every test file is also read back with `apache_avro::Reader`, an
//! independent implementation.

pub mod blocks;
pub mod header;
pub mod scan;
pub mod writer;

pub use blocks::{Blocks, DamagedRange, RawBlock, RecordError};
pub use header::{parse_header, write_header, Header, HeaderError, MAGIC};
pub use scan::{scan, ScanReport, Scanner};
pub use writer::BlockEncoder;
