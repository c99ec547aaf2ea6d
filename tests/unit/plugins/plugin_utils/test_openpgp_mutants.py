"""OpenPGP key material read without gpg (plugin_utils/openpgp.py), on packets built here
byte by byte: both packet header formats and every length encoding of RFC 9580 section
4.2, the v4 / v5 / v6 fingerprint definitions (sections 5.5.4), armor headers and
checksums. gpg's own keys are test_openpgp.py's. Written against the survivors of
./dev mutate (docs/testing.md)."""
from __future__ import annotations

import base64
import hashlib
from typing import List

import pytest
from ansible_collections.fleet.alloy.plugins.plugin_utils import openpgp as op


def body(version: int, size: int, fill: int = 0x41) -> bytes:
    """A key packet body: its version octet, then filler (the fingerprint hashes it whole)."""
    return bytes([version]) + bytes([fill]) * (size - 1)


def v4_fingerprint(data: bytes) -> str:
    return hashlib.sha1(b"\x99" + len(data).to_bytes(2, "big") + data).hexdigest().upper()


def v6_fingerprint(data: bytes, marker: bytes = b"\x9b") -> str:
    return hashlib.sha256(marker + len(data).to_bytes(4, "big") + data).hexdigest().upper()


def new_format(tag: int, data: bytes) -> bytes:
    size = len(data)
    if size < 192:
        length = bytes([size])
    elif size < 8384:
        size -= 192
        length = bytes([(size >> 8) + 192, size & 0xFF])
    else:
        length = b"\xff" + size.to_bytes(4, "big")
    return bytes([0xC0 | tag]) + length + data


def old_format(tag: int, data: bytes, octets: int) -> bytes:
    kind = {1: 0, 2: 1, 4: 2}[octets]
    return bytes([0x80 | (tag << 2) | kind]) + len(data).to_bytes(octets, "big") + data


def armor(data: bytes, headers: str = "") -> str:
    text = base64.b64encode(data).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n%s\n%s\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
            % (headers, "\n".join(lines)))


@pytest.mark.parametrize("size", [10, 191, 192, 193, 500, 8383, 8384, 65535])
def test_new_format_lengths(size: int) -> None:
    key = body(4, size)
    assert op.fingerprints(new_format(6, key)) == [v4_fingerprint(key)]


def test_a_body_beyond_two_length_octets() -> None:
    key = body(6, 70000)
    assert op.fingerprints(new_format(6, key)) == [v6_fingerprint(key)]
    assert op.fingerprints(old_format(6, key, 4)) == [v6_fingerprint(key)]


@pytest.mark.parametrize("octets,size", [(1, 200), (2, 300), (2, 70), (4, 1000)])
def test_old_format_lengths(octets: int, size: int) -> None:
    key = body(4, size)
    assert op.fingerprints(old_format(6, key, octets)) == [v4_fingerprint(key)]


def test_v5_and_v6_fingerprints_are_sha256_with_their_marker() -> None:
    v5, v6 = body(5, 300, 0x42), body(6, 50, 0x43)
    assert op.fingerprints(new_format(6, v5) + new_format(6, v6)) == [v6_fingerprint(v5, b"\x9a"), v6_fingerprint(v6)]


def test_an_unknown_key_version_is_refused() -> None:
    with pytest.raises(op.OpenPGPError, match="unsupported key packet version 3"):
        op.fingerprints(new_format(6, body(3, 20)))


def test_subkeys_follow_their_primary_only_on_request() -> None:
    primary, sub, other = body(4, 40, 1), body(4, 40, 2), body(4, 40, 3)
    data = new_format(6, primary) + new_format(13, b"user id") + new_format(14, sub) + new_format(2, b"sig") + \
        old_format(6, other, 2)
    assert op.fingerprints(data) == [v4_fingerprint(primary), v4_fingerprint(other)]
    assert op.fingerprints(data, subkeys=True) == [v4_fingerprint(primary), v4_fingerprint(sub), v4_fingerprint(other)]


def test_material_without_a_public_key_is_refused() -> None:
    with pytest.raises(op.OpenPGPError, match="the key material holds no public key"):
        op.fingerprints(new_format(14, body(4, 20)) + new_format(13, b"uid"))


@pytest.mark.parametrize("data,message", [
    (b"\x06\x01\x04", "not an OpenPGP packet at offset 0"),
    (new_format(6, body(4, 20)) + b"\x3f", "not an OpenPGP packet at offset 22"),
    (bytes([0x80 | (6 << 2) | 3]) + b"\x04abc", "indeterminate packet length is not supported"),
    (b"\xc6\xe1" + b"\x04" * 10, "partial body lengths are not valid in key packets"),
    (b"\xc6\x14\x04abc", "truncated OpenPGP packet"),
    (b"\xc6", "truncated OpenPGP data"),
    (b"\xc6\xc5", "truncated OpenPGP data"),
])
def test_broken_packets_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(op.OpenPGPError, match=message):
        op.fingerprints(data)


def test_the_five_octet_length_is_read_whole() -> None:
    key = body(4, 300)
    data = b"\xc6\xff" + len(key).to_bytes(4, "big") + key
    assert op.fingerprints(data) == [v4_fingerprint(key)]
    with pytest.raises(op.OpenPGPError, match="truncated OpenPGP packet"):
        op.fingerprints(b"\xc6\xff\x00\x01\x00\x00" + key)


def test_armor_headers_checksum_and_crlf_are_understood() -> None:
    key = body(4, 120)
    plain = armor(new_format(6, key))
    assert op.fingerprints(plain) == [v4_fingerprint(key)]
    with_headers = armor(new_format(6, key), headers="Version: GnuPG v2\nComment: a: b\n")
    assert op.fingerprints(with_headers) == [v4_fingerprint(key)]
    assert op.fingerprints(with_headers.replace("\n", "\r\n")) == [v4_fingerprint(key)]
    assert op.fingerprints(with_headers.encode()) == [v4_fingerprint(key)]
    assert op.fingerprints(b"  \n" + with_headers.encode()) == [v4_fingerprint(key)]


def test_every_armored_block_is_read_in_order() -> None:
    one, two = body(4, 30, 7), body(4, 30, 8)
    found: List[str] = op.fingerprints("junk before\n" + armor(new_format(6, one)) + "between\n" +
                                       armor(new_format(6, two)))
    assert found == [v4_fingerprint(one), v4_fingerprint(two)]


def test_binary_material_is_taken_as_it_is() -> None:
    data = new_format(6, body(4, 30))
    assert op.dearmor(data) == data


def test_bad_armor_is_refused() -> None:
    with pytest.raises(op.OpenPGPError, match="no '-----BEGIN PGP PUBLIC KEY BLOCK-----' armor found"):
        op.dearmor("-----BEGIN PGP PRIVATE KEY BLOCK-----\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n")
    with pytest.raises(op.OpenPGPError, match="invalid base64 in the armored key"):
        op.dearmor("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nab$d\n-----END PGP PUBLIC KEY BLOCK-----\n")
