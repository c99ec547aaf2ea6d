# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grafana's release packages of Alloy, as alloy_install takes them from the controller: their
file names (the GitHub release assets, alloy-<version>-<release>.<arch>.deb and .rpm, built with
fpm) and the SHA256 list that vouches for them (the release's SHA256SUMS, or a mapping)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

# The host's machine (ansible_facts.architecture) -> the architecture in the asset's name, per
# package format (Grafana names both amd64; ppc64le is ppc64el in Debian's words).
_ARCHITECTURES = {
    "x86_64": {"deb": "amd64", "rpm": "amd64"},
    "aarch64": {"deb": "arm64", "rpm": "arm64"},
    "ppc64le": {"deb": "ppc64el", "rpm": "ppc64le"},
    "s390x": {"deb": "s390x", "rpm": "s390x"},
}
MACHINES = tuple(sorted(_ARCHITECTURES))
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
VERSION = re.compile(r"[0-9][0-9A-Za-z.+~-]*")   # what may go into a file name and a URL path
# sha256sum's lines: digest, a blank, then " " (text) or "*" (binary) and the file's name.
_SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


class PackageError(ValueError):
    """A package that cannot be named or does not match its SHA256."""


def package_format(os_family):
    """deb on the Debian family, rpm elsewhere (the RHEL family)."""
    return "deb" if os_family == "Debian" else "rpm"


def asset_name(version, release, fmt, machine):
    """The file name of the release asset for this version, package format and machine."""
    try:
        arch = _ARCHITECTURES[machine][fmt]
    except KeyError:
        raise PackageError("Grafana publishes no %s package for the machine %s (only for %s)"
                           % (fmt, machine, ", ".join(MACHINES)))
    return "alloy-%s-%s.%s.%s" % (version, release, arch, fmt)


def parse_sums(text):
    """{file name: lower-case SHA256} from the lines of a SHA256SUMS file; ValueError names the
    first line that is not "<64 hex digits>  <file name>". A path before the name is dropped."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SUMS_LINE.fullmatch(line)
        if not match:
            raise ValueError("line %d is not \"<64 hex digits>  <file name>\", got %r" % (number, line[:160]))
        sums[match.group(2).rsplit("/", 1)[-1]] = match.group(1).lower()
    return sums


SUMS_DOC = ("the lines of a SHA256SUMS file (<64 hex digits>  <file name>, as lookup('file', ...) reads it) or a "
            "mapping of file name to SHA256")


def checksum_map(value):
    """{file name: lower-case SHA256} from SHA256SUMS text or a mapping; ValueError says what is wrong."""
    if isinstance(value, str):
        return parse_sums(value)
    if not isinstance(value, dict):
        raise ValueError("expected %s" % SUMS_DOC)
    out = {}
    for name, digest in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[^/\s]+", name):
            raise ValueError("a key: expected a file name such as alloy-1.10.0-1.amd64.deb, got %r" % (name,))
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise ValueError("[%r]: expected a SHA256 (64 hexadecimal digits), got %r" % (name, digest))
        out[name] = digest.lower()
    return out


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_hashing(source, target, chunk=1 << 20):
    """Copy the open binary stream source into target (a path), returning the SHA256 of exactly
    the bytes written; target is flushed to disk."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for block in iter(lambda: source.read(chunk), b""):
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()
