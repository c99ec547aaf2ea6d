"""TEST FIXTURE (shared by the Fleet Management stand-in and its tests): the Connect RPC
protocol's unary calls over HTTP/1.1, as connect-go writes and reads them (connect-go
protocol_connect.go, protocol.go, handler.go, codec.go, compression.go).

A unary call is a POST to /<package>.<Service>/<Method> whose Content-Type names the codec
(application/proto or application/json, `; charset=utf-8` allowed), with an optional
Content-Encoding (gzip or identity) and Accept-Encoding. An answer is 200 with the request's
Content-Type and `Accept-Encoding: gzip`, its body gzipped (`Content-Encoding: gzip`) whenever
the client accepts gzip (connect-go's minimum size to compress is 0). An error is JSON whatever
the codec: {"code": "<code>", "message": "..."} (message left out when empty, written as Go's
encoding/json writes it) with the code's HTTP status. A content type no protocol handles is
415 with an empty body and connect-go's Accept-Post list; a method other than POST is 405 with
Allow. The gRPC and gRPC-Web protocols, which a connect-go handler also serves, are not played.
"""
from __future__ import annotations

import gzip
import json
import zlib
from typing import Dict, Optional, Tuple

from . import gojson

PROTO, JSON = "application/proto", "application/json"
CODECS = {PROTO: "proto", JSON: "json", JSON + "; charset=utf-8": "json"}
# connect-go's default handler: Connect, gRPC and gRPC-Web, each with the proto and both JSON codecs.
_CODEC_NAMES = ("proto", "json", "json; charset=utf-8")
ACCEPT_POST = ", ".join(sorted({f"application/{n}" for n in _CODEC_NAMES}
                               | {f"application/{p}+{n}" for p in ("grpc", "grpc-web") for n in _CODEC_NAMES}
                               | {"application/grpc", "application/grpc-web"}))
HTTP_STATUS: Dict[str, int] = {  # connectCodeToHTTP
    "canceled": 499, "unknown": 500, "invalid_argument": 400, "deadline_exceeded": 504, "not_found": 404,
    "already_exists": 409, "permission_denied": 403, "resource_exhausted": 429, "failed_precondition": 400,
    "aborted": 409, "out_of_range": 400, "unimplemented": 501, "internal": 500, "unavailable": 503,
    "data_loss": 500, "unauthenticated": 401,
}
_HTTP_CODES = {400: "internal", 401: "unauthenticated", 403: "permission_denied", 404: "unimplemented",
               429: "unavailable", 502: "unavailable", 503: "unavailable", 504: "unavailable"}  # httpToCode
PROTOCOL_VERSION = "1"


class ConnectError(Exception):
    """A Connect error: code (snake_case, as on the wire) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def body(self) -> bytes:
        wire = {"code": self.code, "message": self.message} if self.message else {"code": self.code}
        return gojson.dumps(wire).encode()


def canonical_content_type(value: str) -> str:
    """canonicalizeContentType: kept as is when it is one plain lower-case type, otherwise the
    media type lower-cased with its parameters (charset lower-cased) as Go formats them."""
    if value.count("/") == 1 and all(c.isascii() and (c.islower() or c in "./+-") for c in value):
        return value
    base, *params = [part.strip() for part in value.split(";")]
    if not base or base.count("/") != 1:
        return value
    pairs = []
    for param in params:
        key, sep, val = param.partition("=")
        if not sep:
            return value
        key, val = key.strip().lower(), val.strip().strip('"')
        pairs.append((key, val.lower() if key == "charset" else val))
    return "; ".join([base.lower()] + [f"{k}={v}" for k, v in sorted(pairs)])


def negotiate(content_encoding: str, accept_encoding: str) -> Tuple[str, str]:
    """(request compression, response compression): negotiateCompression with gzip the one pool."""
    request = "identity"
    if content_encoding not in ("", "identity"):
        if content_encoding != "gzip":
            raise ConnectError("unimplemented",
                               f'unknown compression "{content_encoding}": supported encodings are gzip')
        request = "gzip"
    response = request
    if response == "identity" and "gzip" in accept_encoding.replace(",", " ").split():
        response = "gzip"
    return request, response


def check_protocol_version(value: Optional[str]) -> None:
    """connectCheckProtocolVersion for a POST (the header is not required by default)."""
    if value and value != PROTOCOL_VERSION:
        raise ConnectError("invalid_argument", f'Connect-Protocol-Version must be "1": got "{value}"')


def decompress(compression: str, body: bytes) -> bytes:
    if compression != "gzip" or not body:
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as err:
        raise ConnectError("invalid_argument", f"decompress: {err}") from None


def compress(compression: str, body: bytes) -> Tuple[bytes, Dict[str, str]]:
    """The answer's body and its Content-Encoding header (none when not compressed)."""
    if compression != "gzip":
        return body, {}
    return gzip.compress(body, mtime=0), {"Content-Encoding": "gzip"}


def error_from_response(status: int, content_type: str, body: bytes) -> ConnectError:
    """What a connect-go client makes of an error answer: the JSON error when there is one, else
    the code httpToCode gives the status (404 is unimplemented, 503 unavailable...)."""
    if canonical_content_type(content_type).startswith(JSON):
        try:
            wire = json.loads(body)
            if isinstance(wire, dict) and isinstance(wire.get("code"), str):
                return ConnectError(wire["code"], str(wire.get("message", "")))
        except ValueError:
            pass
    return ConnectError(_HTTP_CODES.get(status, "unknown"), f"HTTP status {status}")
