"""TEST FIXTURE (shared by the Alloy and Loki stand-ins): the snappy block format and the
protobuf messages of a Loki push and a Prometheus remote-write request.

Pure Python so that the stand-ins need nothing beyond the standard library. The encoder
writes literal-only snappy blocks (valid for any decoder, Prometheus's included). Beside it:
otlp.py (the OTLP messages in protobuf and OTLP/JSON), otlp_http.py (the server side of
OTLP/HTTP), content.py (HTTP Content-Encoding as the OpenTelemetry collector decodes it),
gojson.py (JSON as Go's encoding/json writes it), serving.py (the stand-ins' threaded HTTP(S)
server), handler.py (a quiet text handler).
"""
from __future__ import annotations

import struct
from typing import Dict, Iterator, List, Tuple


def read_varint(data: bytes, pos: int, go_errors: bool = False) -> Tuple[int, int]:
    """The base-128 varint at pos: (value, position after it). With go_errors, Go protobuf's
    errors (`unexpected EOF`, `proto: integer overflow` past 64 bits), as lab_wire.otlp wants."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("unexpected EOF" if go_errors else "truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if go_errors and shift > 63:
            raise ValueError("proto: integer overflow")


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def snappy_decompress(data: bytes) -> bytes:
    length, pos = read_varint(data, 0)
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                size = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            size += 1
            out += data[pos:pos + size]
            pos += size
            continue
        if kind == 1:
            size = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            size = 1 + (tag >> 2)
            offset = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            size = 1 + (tag >> 2)
            offset = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise ValueError("invalid snappy copy offset")
        for _ in range(size):
            out.append(out[-offset])
    if len(out) != length:
        raise ValueError(f"snappy length mismatch: header {length}, got {len(out)}")
    return bytes(out)


def snappy_compress(data: bytes) -> bytes:
    """Literal-only snappy block (no compression, always valid)."""
    out = bytearray(encode_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        size = len(chunk) - 1
        if size < 60:
            out.append(size << 2)
        elif size < 256:
            out += bytes([60 << 2, size])
        else:
            out += bytes([61 << 2]) + size.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def fields(data: bytes) -> Iterator[Tuple[int, object]]:
    """(field number, value) of one protobuf message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = read_varint(data, pos)
            yield number, data[pos:pos + size]
            pos += size
        elif wire == 1:
            yield number, data[pos:pos + 8]
            pos += 8
        elif wire == 5:
            yield number, data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def parse_labels(text: str) -> Dict[str, str]:
    """`{a="b", c="d"}` (Loki's label string) into a dict."""
    labels: Dict[str, str] = {}
    body = text.strip().strip("{}")
    pos = 0
    while pos < len(body):
        eq = body.index("=", pos)
        name = body[pos:eq].strip().lstrip(",").strip()
        quote = body.index('"', eq)
        value, pos = _quoted(body, quote)
        labels[name] = value
        comma = body.find(",", pos)
        pos = len(body) if comma < 0 else comma + 1
    return labels


def _quoted(text: str, start: int) -> Tuple[str, int]:
    out: List[str] = []
    pos = start + 1
    while text[pos] != '"':
        if text[pos] == "\\":
            pos += 1
            out.append({"n": "\n", "t": "\t"}.get(text[pos], text[pos]))
        else:
            out.append(text[pos])
        pos += 1
    return "".join(out), pos + 1


def decode_push(data: bytes) -> List[Dict[str, object]]:
    """A snappy-compressed logproto.PushRequest into [{"stream": labels, "values": [[ns, line]]}]."""
    streams = []
    for number, stream in fields(snappy_decompress(data)):
        if number != 1 or not isinstance(stream, bytes):
            continue
        labels: Dict[str, str] = {}
        values: List[List[str]] = []
        for num, value in fields(stream):
            if num == 1 and isinstance(value, bytes):
                labels = parse_labels(value.decode())
            elif num == 2 and isinstance(value, bytes):
                values.append(_entry(value))
        streams.append({"stream": labels, "values": values})
    return streams


def _entry(data: bytes) -> List[str]:
    seconds = nanos = 0
    line = ""
    for num, value in fields(data):
        if num == 1 and isinstance(value, bytes):
            for tnum, tval in fields(value):
                if tnum == 1 and isinstance(tval, int):
                    seconds = tval
                elif tnum == 2 and isinstance(tval, int):
                    nanos = tval
        elif num == 2 and isinstance(value, bytes):
            line = value.decode("utf-8", errors="replace")
    return [str(seconds * 1_000_000_000 + nanos), line]


def _field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def encode_push(streams: List[Dict[str, object]]) -> bytes:
    """The inverse of decode_push (tests use it to push like Alloy does)."""
    out = bytearray()
    for stream in streams:
        labels = stream["stream"]
        assert isinstance(labels, dict)
        label_text = "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
        body = bytearray(_field(1, label_text.encode()))
        for ts, line in stream["values"]:  # type: ignore[union-attr]
            seconds, nanos = divmod(int(ts), 1_000_000_000)
            stamp = encode_varint(1 << 3) + encode_varint(seconds) + encode_varint(2 << 3) + encode_varint(nanos)
            body += _field(2, _field(1, stamp) + _field(2, str(line).encode()))
        out += _field(1, bytes(body))
    return snappy_compress(bytes(out))


def encode_write_request(series: List[Tuple[Dict[str, str], float, int]]) -> bytes:
    """A snappy-compressed prometheus.WriteRequest: (labels, value, timestamp in ms) each."""
    out = bytearray()
    for labels, value, stamp in series:
        body = bytearray()
        for name in sorted(labels):
            body += _field(1, _field(1, name.encode()) + _field(2, str(labels[name]).encode()))
        sample = encode_varint(1 << 3 | 1) + struct.pack("<d", value) + encode_varint(2 << 3) + encode_varint(stamp)
        body += _field(2, sample)
        out += _field(1, bytes(body))
    return snappy_compress(bytes(out))


def decode_write_request(data: bytes) -> List[Tuple[Dict[str, str], float, int]]:
    """The inverse of encode_write_request."""
    series = []
    for _, ts in fields(snappy_decompress(data)):
        labels: Dict[str, str] = {}
        value, stamp = 0.0, 0
        for number, payload in fields(ts):  # type: ignore[arg-type]
            if number == 1:
                pair = dict(fields(payload))  # type: ignore[arg-type]
                labels[pair[1].decode()] = pair[2].decode()  # type: ignore[union-attr]
            elif number == 2:
                sample = dict(fields(payload))  # type: ignore[arg-type]
                value = struct.unpack("<d", sample[1])[0]  # type: ignore[arg-type]
                stamp = int(sample.get(2, 0))  # type: ignore[call-overload]
        series.append((labels, value, stamp))
    return series
