"""TEST FIXTURE (shared by the stand-ins): HTTP Content-Encoding as the OpenTelemetry
collector's servers decode it (config/confighttp/compression.go).

Decoded here with the standard library: "" (none), gzip, zlib, deflate (zlib, as the
collector maps it), snappy (a block, or the framed format when the body starts with the
framing header). zstd and lz4, which the real servers accept, are not in Python's standard
library: decode() refuses them with NotPlayed, and the stand-ins say so in their answer
rather than pretend.
"""
from __future__ import annotations

import gzip
import zlib
from typing import Callable, Dict

from . import snappy_decompress

SNAPPY_FRAMING_HEADER = b"\xff\x06\x00\x00sNaPpY"


class NotPlayed(ValueError):
    """An encoding the real server accepts that the stand-in cannot decode."""


def _snappy(data: bytes) -> bytes:
    if data.startswith(SNAPPY_FRAMING_HEADER):
        return snappy_framed(data)
    return snappy_decompress(data)


def snappy_framed(data: bytes) -> bytes:
    """The snappy framing format: chunks of (type, 3-byte length, body); CRCs are not checked."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("snappy: corrupt input")
        kind, size = data[pos], int.from_bytes(data[pos + 1:pos + 4], "little")
        body = data[pos + 4:pos + 4 + size]
        if len(body) != size:
            raise ValueError("snappy: corrupt input")
        pos += 4 + size
        if kind == 0x00:
            out += snappy_decompress(body[4:])
        elif kind == 0x01:
            out += body[4:]
        elif kind < 0x80 and kind != 0xFF:
            raise ValueError("snappy: unsupported input")
    return bytes(out)


DECODERS: Dict[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    "gzip": gzip.decompress,
    "zlib": zlib.decompress,
    "deflate": zlib.decompress,
    "snappy": _snappy,
}
NOT_PLAYED = frozenset({"zstd", "lz4"})


def decode(encoding: str, data: bytes, enabled: frozenset = frozenset(DECODERS) | NOT_PLAYED) -> bytes:
    """The body decoded; ValueError `unsupported Content-Encoding: x` as the collector says it
    for an encoding it does not accept, NotPlayed for one only the real server decodes."""
    if encoding not in enabled:
        raise ValueError(f"unsupported Content-Encoding: {encoding}")
    if encoding in NOT_PLAYED:
        raise NotPlayed(f"Content-Encoding {encoding} is accepted by the real server but not decoded by the "
                        f"stand-in (TEST FIXTURE: no {encoding} in Python's standard library)")
    try:
        return DECODERS[encoding](data)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(str(err)) from None
