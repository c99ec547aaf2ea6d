"""TEST FIXTURE (gateway stand-in): reading the Authorization header."""
from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Optional, Union


@dataclass(frozen=True)
class Basic:
    username: str
    password: str


@dataclass(frozen=True)
class Bearer:
    token: str


Authorization = Union[Basic, Bearer]


def parse_authorization(value: Optional[str]) -> Optional[Authorization]:
    """`Basic <base64 user:password>` or `Bearer <token>`; None for anything else."""
    scheme, _, rest = (value or "").strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() == "bearer" and rest:
        return Bearer(rest)
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(rest, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return Basic(username, password) if colon else None


def same(given: str, expected: str) -> bool:
    """Constant-time comparison, as a gateway compares secrets."""
    return hmac.compare_digest(given.encode(), expected.encode())


def is_basic(auth: Optional[Authorization], username: str, password: str) -> bool:
    return isinstance(auth, Basic) and same(auth.username, username) and same(auth.password, password)


def is_bearer(auth: Optional[Authorization], token: str) -> bool:
    return isinstance(auth, Bearer) and same(auth.token, token)
