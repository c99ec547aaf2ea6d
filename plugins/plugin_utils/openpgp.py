# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fingerprints of the keys in an OpenPGP public key block, without gpg.

Reads ASCII-armored or binary key material (one or more concatenated keys, as in
Grafana's gpg-full.key) and returns the fingerprints of the primary keys (packet tag 6)
and, on request, of the subkeys (tag 14). v4 keys: SHA-1 over 0x99, a two-octet length
and the key packet body; v6 keys (RFC 9580): SHA-256 over 0x9B, a four-octet length and
the body; v5: SHA-256 over 0x9A with a four-octet length.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import re

PRIMARY_KEY = 6
SUBKEY = 14


class OpenPGPError(ValueError):
    """The input is not an OpenPGP public key block this parser understands."""


def dearmor(text):
    """Binary packets of the first armored block of text (or the bytes unchanged)."""
    if isinstance(text, bytes):
        if not text.lstrip().startswith(b"-----BEGIN"):
            return text
        text = text.decode("ascii", "replace")
    blocks = re.findall(r"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)-----END PGP PUBLIC KEY BLOCK-----",
                        text, re.S)
    if not blocks:
        raise OpenPGPError("no '-----BEGIN PGP PUBLIC KEY BLOCK-----' armor found")
    data = b""
    for block in blocks:
        data += _armor_body(block)
    return data


def _armor_body(block):
    lines = block.replace("\r", "").split("\n")
    if "" in lines:  # armor headers end at the first empty line
        lines = lines[lines.index("") + 1:]
    payload = "".join(line.strip() for line in lines if line.strip() and not line.startswith("="))
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise OpenPGPError("invalid base64 in the armored key: %s" % err)


def _header(data, pos):
    """(tag, body start, body length) of the packet at pos."""
    first = _byte(data, pos)
    if not first & 0x80:
        raise OpenPGPError("not an OpenPGP packet at offset %d" % pos)
    if first & 0x40:  # new format
        tag = first & 0x3F
        length, start = _new_length(data, pos + 1)
        return tag, start, length
    tag = (first >> 2) & 0x0F
    size = {0: 1, 1: 2, 2: 4}.get(first & 3)
    if size is None:
        raise OpenPGPError("indeterminate packet length is not supported")
    length = int(binascii.hexlify(data[pos + 1:pos + 1 + size]), 16)
    return tag, pos + 1 + size, length


def _new_length(data, pos):
    octet = _byte(data, pos)
    if octet < 192:
        return octet, pos + 1
    if octet < 224:
        return ((octet - 192) << 8) + _byte(data, pos + 1) + 192, pos + 2
    if octet == 255:
        return int(binascii.hexlify(data[pos + 1:pos + 5]), 16), pos + 5
    raise OpenPGPError("partial body lengths are not valid in key packets")


def _byte(data, pos):
    if pos >= len(data):
        raise OpenPGPError("truncated OpenPGP data")
    return bytearray(data[pos:pos + 1])[0]


def _fingerprint(body):
    version = _byte(body, 0)
    if version == 4:
        prefix = b"\x99" + bytearray([len(body) >> 8 & 0xFF, len(body) & 0xFF])
        return hashlib.sha1(bytes(prefix) + body).hexdigest().upper()
    if version in (5, 6):
        marker = b"\x9a" if version == 5 else b"\x9b"
        size = bytes(bytearray([len(body) >> 24 & 0xFF, len(body) >> 16 & 0xFF, len(body) >> 8 & 0xFF, len(body) & 0xFF]))
        return hashlib.sha256(marker + size + body).hexdigest().upper()
    raise OpenPGPError("unsupported key packet version %d" % version)


def fingerprints(key, subkeys=False):
    """Upper-case hex fingerprints of the primary keys (and subkeys when asked), in order."""
    data = dearmor(key)
    found = []
    pos = 0
    while pos < len(data):
        tag, start, length = _header(data, pos)
        if start + length > len(data):
            raise OpenPGPError("truncated OpenPGP packet")
        if tag == PRIMARY_KEY or (subkeys and tag == SUBKEY):
            found.append(_fingerprint(data[start:start + length]))
        pos = start + length
    if not found:
        raise OpenPGPError("the key material holds no public key")
    return found
