"""TEST FIXTURE (Loki stand-in): the HTTP server of a multi-tenant Loki (auth_enabled)."""
from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple, Type
from urllib.parse import parse_qs, urlsplit

from lab_wire import decode_push, parse_labels
from lab_wire.handler import TextHandler

from .store import Query, Store

NO_ORG_ID = "no org id\n"  # real Loki's 401 body (dskit user.ErrNoOrgID)
NOT_FOUND = "404 page not found\n"
TENANT_CHARS = re.compile(r"^[A-Za-z0-9!\-_.*'()]+$")
HOUR_NS = 3600 * 1_000_000_000
DEFAULT_LIMIT = 100


def tenant_error(tenant: str) -> Optional[str]:
    """Why a tenant ID is refused, as Loki's tenant validation says it; None if valid."""
    if "|" in tenant:
        return "multiple org IDs present"
    if len(tenant) > 150:
        return "tenant ID is too long: max 150 characters"
    if tenant in (".", "..") or not TENANT_CHARS.match(tenant):
        return f"tenant ID '{tenant}' contains unsupported characters"
    return None


def parse_query(params: Dict[str, List[str]], now_ns: int) -> Query:
    """query_range's parameters with Loki's defaults (the last hour, 100 entries, backward)."""
    def one(name: str, default: str) -> str:
        return params.get(name, [default])[0]
    return Query(selector=parse_labels(one("query", "")),
                 start_ns=int(one("start", str(now_ns - HOUR_NS))),
                 end_ns=int(one("end", str(now_ns + 1))),
                 limit=int(one("limit", str(DEFAULT_LIMIT))),
                 forward=one("direction", "backward") == "forward")


def decode_body(body: bytes, content_type: str) -> List[Dict[str, object]]:
    if content_type.startswith("application/json"):
        data = json.loads(body)
        return [{"stream": dict(s["stream"]), "values": [list(map(str, v[:2])) for v in s["values"]]}
                for s in data["streams"]]
    return decode_push(body)


def make_handler(store: Store, ready_at: float) -> Type[BaseHTTPRequestHandler]:
    class Handler(TextHandler):
        server_version = "loki-standin"
        protocol_version = "HTTP/1.1"
        timeout = 30


        def _json(self, value: object) -> None:
            self._send(200, json.dumps(value), "application/json")

        def _tenant(self) -> Optional[str]:
            """The request's tenant; None after answering the refusal."""
            tenant = (self.headers.get("X-Scope-OrgID") or "").strip()
            if not tenant:
                self._send(401, NO_ORG_ID)
                return None
            error = tenant_error(tenant)
            if error:
                self._send(400, error + "\n")
                return None
            return tenant

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urlsplit(self.path)
            routes: Dict[str, Callable[[str], None]] = {
                "/ready": lambda _: self._ready(),
                "/lab/received": lambda _: self._received(),
                "/loki/api/v1/query_range": self._query,
            }
            route = routes.get(url.path)
            if route is None:
                self._send(404, NOT_FOUND)
            else:
                route(url.query)

        def _ready(self) -> None:
            ok = time.monotonic() >= ready_at
            self._send(200 if ok else 503,
                       "ready\n" if ok else "Ingester not ready: waiting for 15s after being ready\n")

        def _received(self) -> None:
            self._json({"streams": store.received(), "tenants": store.tenants()})

        def _query(self, raw_query: str) -> None:
            tenant = self._tenant()
            if tenant is None:
                return
            params = parse_qs(raw_query)
            try:
                query = parse_query(params, time.time_ns())
            except (ValueError, IndexError):
                self._send(400, f"parse error: {params.get('query', [''])[0]}\n")
                return
            self._json({"status": "success",
                        "data": {"resultType": "streams", "result": store.query(tenant, query)}})

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if urlsplit(self.path).path != "/loki/api/v1/push":
                self._send(404, NOT_FOUND)
                return
            tenant = self._tenant()
            if tenant is None:
                return
            try:
                streams = decode_body(body, self.headers.get("Content-Type", ""))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
                self._send(400, f"loghttp.ParsePushRequest: {err}\n")
                return
            store.add(tenant, streams)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def make_server(address: Tuple[str, int], ready_after: float = 0.0,
                store: Optional[Store] = None) -> ThreadingHTTPServer:
    """A Loki stand-in bound to address (port 0: any free port), not yet serving."""
    server = ThreadingHTTPServer(address, make_handler(store or Store(), time.monotonic() + ready_after))
    server.daemon_threads = True
    return server
