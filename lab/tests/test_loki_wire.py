"""The Loki stand-in's decoders: snappy blocks and the protobuf push request."""
from __future__ import annotations

import pytest
from lab_wire import decode_push, encode_push, parse_labels, snappy_compress, snappy_decompress


def test_snappy_decodes_copies_as_well_as_literals() -> None:
    # varint 12, literal "abc", then a 1-byte-offset copy of length 9 at offset 3
    block = bytes([12, 2 << 2, ord("a"), ord("b"), ord("c"), ((9 - 4) << 2) | 1, 3])
    assert snappy_decompress(block) == b"abcabcabcabc"


def test_snappy_decodes_a_two_byte_offset_copy() -> None:
    block = bytes([8, 3 << 2]) + b"wxyz" + bytes([((4 - 1) << 2) | 2, 4, 0])
    assert snappy_decompress(block) == b"wxyzwxyz"


@pytest.mark.parametrize("size", [0, 1, 59, 60, 61, 255, 256, 70000])
def test_snappy_literal_encoder_round_trips(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    assert snappy_decompress(snappy_compress(data)) == data


def test_snappy_rejects_a_bad_offset() -> None:
    with pytest.raises(ValueError):
        snappy_decompress(bytes([4, ((4 - 4) << 2) | 1, 9]))


def test_push_round_trip_keeps_labels_lines_and_nanoseconds() -> None:
    streams = [{"stream": {"unit": "ssh.service", "host": "web-1"},
                "values": [["1700000000123456789", "line one"], ["1700000001000000000", "ü ☃"]]}]
    assert decode_push(encode_push(streams)) == streams


def test_label_string_with_escapes() -> None:
    assert parse_labels('{a="x", b="say \\"hi\\"", c="1,2"}') == {"a": "x", "b": 'say "hi"', "c": "1,2"}
