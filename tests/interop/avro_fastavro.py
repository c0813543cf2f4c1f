"""Independent check of the ClickEvent Avro codec with Python's fastavro.

Driven by lib/contract/tests/fastavro_interop.rs:

  decode SCHEMA BIN JSONL   read single-object encoded events written by the
                            Rust codec (u32 big-endian length + bytes each) and
                            check each equals the JSON line Rust wrote for it.
  encode SCHEMA BIN JSONL   make events here, write them single-object encoded
                            with fastavro, and their JSON for Rust to compare.

The single-object header is built and checked from fastavro's own
CRC-64-AVRO fingerprint, so the Rust fingerprint is checked too.
"""
import datetime
import io
import json
import random
import struct
import sys

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def load_schema(path):
    return fastavro.parse_schema(json.load(open(path)))


def header(schema):
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    # fastavro's hex is already the little-endian byte order the wire carries.
    return b"\xc3\x01" + fp


def millis(dt):
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def read_frames(path):
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        pos += 4
        yield data[pos : pos + n]
        pos += n


def decode(schema_path, bin_path, jsonl_path):
    schema = load_schema(schema_path)
    hdr = header(schema)
    expected = [json.loads(line) for line in open(jsonl_path, encoding="utf-8")]
    got = 0
    for frame, want in zip(read_frames(bin_path), expected):
        assert frame[:10] == hdr, f"header {frame[:10].hex()} != fastavro's {hdr.hex()}"
        rec = fastavro.schemaless_reader(io.BytesIO(frame[10:]), schema)
        rec["event_time"] = millis(rec["event_time"])
        assert rec == want, f"fastavro decoded {rec!r}, Rust meant {want!r}"
        got += 1
    assert got == len(expected) and got > 0, f"decoded {got} of {len(expected)} events"
    print(f"fastavro decoded {got} Rust-encoded events")


def text(rng):
    alphabet = "abcXYZ019 /?&=-_.\"\\é日本🙂\t"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))


def maybe(rng, value):
    return value if rng.random() < 0.6 else None


def encode(schema_path, bin_path, jsonl_path, count=300):
    schema = load_schema(schema_path)
    hdr = header(schema)
    rng = random.Random(20261123)
    with open(bin_path, "wb") as out, open(jsonl_path, "w", encoding="utf-8") as js:
        for i in range(count):
            ms = rng.randrange(0, 4_102_444_800_000)  # 1970 .. 2100
            rec = {
                "event_id": f"{rng.getrandbits(128):032x}",
                "source_host": text(rng),
                "client_addr": text(rng),
                "remote_user": maybe(rng, text(rng)),
                "event_time": ms,
                "method": text(rng),
                "path": text(rng),
                "query": maybe(rng, text(rng)),
                "protocol": text(rng),
                "status": rng.randrange(-(2**31), 2**31),
                "response_bytes": maybe(rng, rng.randrange(-(2**63), 2**63)),
                "referrer": maybe(rng, text(rng)),
                "user_agent": maybe(rng, text(rng)),
                "category": text(rng),
                "ingest": {
                    "source_file": text(rng),
                    "file_fingerprint": text(rng),
                    "byte_offset": rng.randrange(0, 2**63),
                },
                "raw_line": text(rng),
            }
            buf = io.BytesIO()
            as_written = dict(rec, event_time=EPOCH + datetime.timedelta(milliseconds=ms))
            fastavro.schemaless_writer(buf, schema, as_written)
            frame = hdr + buf.getvalue()
            out.write(struct.pack(">I", len(frame)) + frame)
            js.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"fastavro encoded {count} events")


if __name__ == "__main__":
    {"decode": decode, "encode": encode}[sys.argv[1]](*sys.argv[2:5])
