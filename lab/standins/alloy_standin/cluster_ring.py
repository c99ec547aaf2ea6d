"""TEST FIXTURE (stand-in for Grafana Alloy): the hash ring that decides which cluster node
owns a scrape target.

As real Alloy does it: XXH64 (github.com/cespare/xxhash/v2, seed 0); a target's key is the
hash of its non-meta labels (names not starting "__meta_", so __address__ counts; sorted),
written as name 0xff value 0xff (internal/component/discovery/target.go hashLabelsInOrder,
checked against the hashes target_test.go expects); the ring gives every node 512
tokens, token t being the digest of the node name followed by the bytes 0, 1, ..., t (each
truncated to a byte), and a key belongs to the first token at or after it, wrapping around;
equal tokens go to the name that sorts first (grafana/ckit internal/chash/ring.go,
shard.Ring(512) in internal/service/cluster/cluster.go). Only participants are on the
read-write ring (ckit shard/shard.go SetPeers), so a viewer or terminating node owns nothing.
"""
from __future__ import annotations

import bisect
import struct
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

TOKENS_PER_NODE = 512
_MASK = (1 << 64) - 1
_P1, _P2, _P3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
_P4, _P5 = 9650029242287828579, 2870177450012600261


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _MASK, 31) * _P1) & _MASK


def _merge(acc: int, lane: int) -> int:
    return ((acc ^ _round(0, lane)) * _P1 + _P4) & _MASK


def _stripes(data: bytes, end: int) -> int:
    lanes = [(_P1 + _P2) & _MASK, _P2, 0, (-_P1) & _MASK]
    for offset in range(0, end, 32):
        words = struct.unpack_from("<4Q", data, offset)
        lanes = [_round(lane, word) for lane, word in zip(lanes, words)]
    acc = (_rotl(lanes[0], 1) + _rotl(lanes[1], 7) + _rotl(lanes[2], 12) + _rotl(lanes[3], 18)) & _MASK
    for lane in lanes:
        acc = _merge(acc, lane)
    return acc


def xxh64(data: bytes) -> int:
    """XXH64 of data with seed 0, as xxhash.Sum64."""
    size = len(data)
    end = size - size % 32
    acc = _stripes(data, end) if size >= 32 else _P5
    acc = (acc + size) & _MASK
    pos = end
    while pos + 8 <= size:
        acc ^= _round(0, struct.unpack_from("<Q", data, pos)[0])
        acc = (_rotl(acc, 27) * _P1 + _P4) & _MASK
        pos += 8
    if pos + 4 <= size:
        acc ^= (struct.unpack_from("<I", data, pos)[0] * _P1) & _MASK
        acc = (_rotl(acc, 23) * _P2 + _P3) & _MASK
        pos += 4
    for byte in data[pos:]:
        acc ^= (byte * _P5) & _MASK
        acc = (_rotl(acc, 11) * _P1) & _MASK
    acc = ((acc ^ (acc >> 33)) * _P2) & _MASK
    acc = ((acc ^ (acc >> 29)) * _P3) & _MASK
    return acc ^ (acc >> 32)


def target_key(target: Dict[str, str]) -> int:
    """discovery.Target.NonMetaLabelsHash: the key a clustered component shards a target by."""
    names = sorted(name for name in target if not name.startswith("__meta_"))
    return xxh64(b"".join(name.encode() + b"\xff" + target[name].encode() + b"\xff" for name in names))


@lru_cache(maxsize=64)
def node_tokens(name: str) -> Tuple[int, ...]:
    """The node's 512 ring tokens (chash ringHash.SetNodes)."""
    data = bytearray(name.encode())
    tokens = []
    for index in range(TOKENS_PER_NODE):
        data.append(index & 0xFF)
        tokens.append(xxh64(bytes(data)))
    return tuple(tokens)


class Ring:
    """The read-write ring of a set of participant names."""

    def __init__(self, names: Sequence[str]) -> None:
        pairs = sorted((token, name) for name in set(names) for token in node_tokens(name))
        self._tokens = [token for token, _ in pairs]
        self._names = [name for _, name in pairs]

    def owner(self, key: int) -> Optional[str]:
        """The first owner of key; None when the ring is empty (chash: "not enough nodes")."""
        if not self._tokens:
            return None
        index = bisect.bisect_left(self._tokens, key)
        return self._names[index % len(self._names)]


def owners(names: Sequence[str], targets: Sequence[Dict[str, str]]) -> List[Optional[str]]:
    """The owner of every target on the ring of names (a test's expectation)."""
    ring = Ring(names)
    return [ring.owner(target_key(target)) for target in targets]
