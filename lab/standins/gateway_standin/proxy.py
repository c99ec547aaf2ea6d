"""TEST FIXTURE (gateway stand-in): one request forwarded upstream over plain HTTP,
bounded by a timeout; the upstream's status, headers and body come back unchanged."""
from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass
from email.message import Message
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade", "content-length"})
# Consumed by the gateway, or set by it (server, date: the gateway's own).
NOT_FORWARDED = HOP_BY_HOP | {"host", "authorization", "x-scope-orgid"}
NOT_RETURNED = HOP_BY_HOP | {"server", "date"}
METHODS_WITHOUT_BODY = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Outgoing:
    method: str
    upstream: str  # base URL, http://host:port
    path: str
    query: str
    headers: Message
    set_headers: Tuple[Tuple[str, str], ...]
    body: bytes


def request_headers(outgoing: Outgoing) -> Dict[str, str]:
    headers = {k: v for k, v in outgoing.headers.items() if k.lower() not in NOT_FORWARDED}
    for name in [k for k in headers if k.lower() in {s.lower() for s, _ in outgoing.set_headers}]:
        del headers[name]
    headers.update(dict(outgoing.set_headers))
    return headers


def gateway_error(status: int, reason: str) -> Answer:
    body = f"{status} {http.client.responses[status]}: {reason}\n".encode()
    return Answer(status, [("Content-Type", "text/plain; charset=utf-8")], body)


def forward(outgoing: Outgoing, timeout: float) -> Answer:
    """502 when the upstream cannot be reached or answers garbage, 504 on its timeout."""
    base = urlsplit(outgoing.upstream)
    target = base.path.rstrip("/") + outgoing.path + (f"?{outgoing.query}" if outgoing.query else "")
    body: Optional[bytes] = outgoing.body
    if not body and outgoing.method in METHODS_WITHOUT_BODY:
        body = None
    conn = http.client.HTTPConnection(base.hostname or "", base.port or 80, timeout=timeout)
    try:
        conn.request(outgoing.method, target, body=body, headers=request_headers(outgoing))
        response = conn.getresponse()
        data = response.read()
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in NOT_RETURNED]
        return Answer(response.status, headers, data)
    except (socket.timeout, TimeoutError):
        return gateway_error(504, f"upstream {outgoing.upstream} timed out after {timeout:g}s")
    except (OSError, http.client.HTTPException) as err:
        return gateway_error(502, f"upstream {outgoing.upstream} unreachable: {err}")
    finally:
        conn.close()
