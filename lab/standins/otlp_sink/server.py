"""TEST FIXTURE (OTLP sink stand-in): the HTTP(S) server, its checks and what it records."""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Optional, Tuple, Type
from urllib.parse import urlsplit

from lab_wire import content, otlp
from lab_wire.otlp import Message
from lab_wire.otlp_http import INVALID_ARGUMENT, JSON, MAX_BODY, PB, OtlpHandler, media_type
from lab_wire.serving import LabServer, server_context

PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
Headers = Dict[str, str]


@dataclass(frozen=True)
class Settings:
    users: Dict[str, str]  # name -> password
    tenant_header: str = ""
    tenants: FrozenSet[str] = frozenset()  # empty: any tenant
    cert: Optional[Path] = None
    key: Optional[Path] = None


def parse_user(text: str) -> Tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise ValueError(f"a user is NAME:PASSWORD, not {text!r}")
    return name, password


def load_users(path: Path) -> Dict[str, str]:
    """{"users": {name: password}}, or the same under an "otlp" key (so that the lab's one
    credentials file can hold them beside the gateway's)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("otlp"), dict):
        data = data["otlp"]
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                              for k, v in users.items()):
        raise ValueError(f'{path}: expected {{"users": {{"name": "password", ...}}}}')
    return dict(users)


def basic_user(header: Optional[str], users: Dict[str, str]) -> Optional[str]:
    """The user whose basic credentials the Authorization header carries; None otherwise."""
    scheme, _, rest = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(rest.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    expected = users.get(name)
    if not sep or expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
        return None
    return name


# ---- what is recorded ----------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A raw attribute value as JSON can hold it (bytes in base64)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _attrs(message: Message, key: str = "attributes") -> Dict[str, Any]:
    return {k: _plain(v) for k, v in otlp.attributes(message.get(key, [])).items()}


def _span(span: Message) -> Dict[str, Any]:
    return {"name": span.get("name", ""), "trace_id": span.get("trace_id", b"").hex(),
            "span_id": span.get("span_id", b"").hex(), "kind": span.get("kind", 0), "attributes": _attrs(span)}


def _metric(metric: Message) -> Dict[str, Any]:
    kind = next((k for k in ("gauge", "sum", "histogram", "exponential_histogram", "summary") if k in metric), "")
    points = []
    for point in metric.get(kind, {}).get("data_points", []) if kind else []:
        value = point.get("as_double", point.get("as_int", point.get("sum")))
        points.append({"attributes": _attrs(point), "value": value, "time_unix_nano": point.get("time_unix_nano", 0)})
    out: Dict[str, Any] = {"name": metric.get("name", ""), "unit": metric.get("unit", ""), "type": kind,
                           "points": points}
    if kind == "sum":
        out["monotonic"] = bool(metric["sum"].get("is_monotonic"))
    return out


def _log(record: Message) -> Dict[str, Any]:
    return {"body": _plain(otlp.any_value(record.get("body"))), "severity_text": record.get("severity_text", ""),
            "severity_number": record.get("severity_number", 0), "attributes": _attrs(record),
            "time_unix_nano": record.get("time_unix_nano", 0)}


ITEMS = {"traces": ("spans", _span), "metrics": ("metrics", _metric), "logs": ("logs", _log)}


def summarize(signal: str, request: Message) -> List[Dict[str, Any]]:
    """The request's resources: attributes, and per scope the spans, metrics or log records."""
    name, convert = ITEMS[signal]
    out = []
    for resource in otlp.resources(signal, request):
        scopes = []
        for scope in otlp.scopes(signal, resource):
            meta = scope.get("scope", {})
            scopes.append({"name": meta.get("name", ""), "version": meta.get("version", ""),
                           name: [convert(item) for item in otlp.items(signal, scope)]})
        out.append({"attributes": _attrs(resource.get("resource", {})), "scopes": scopes})
    return out


@dataclass
class Store:
    """Accepted requests, decoded, and refused ones (path, status, reason; never a secret)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: List[Dict[str, Any]] = field(default_factory=list)
    refusals: List[Dict[str, Any]] = field(default_factory=list)

    def add(self, record: Dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(record)

    def refuse(self, path: str, status: int, reason: str) -> None:
        with self.lock:
            self.refusals.append({"path": path, "status": status, "reason": reason})

    def all(self) -> List[Dict[str, Any]]:
        with self.lock:
            return list(self.requests)

    def refused(self) -> List[Dict[str, Any]]:
        with self.lock:
            return list(self.refusals)


# ---- the server ----------------------------------------------------------------------

def make_handler(settings: Settings, store: Store) -> Type[BaseHTTPRequestHandler]:
    class Handler(OtlpHandler):
        server_version = "otlp-sink-standin"
        timeout = 30
        json_separators = (", ", ": ")  # json.dumps's own spacing, unlike the collector's

        def _text(self, status: int, text: str, extra: Optional[Headers] = None) -> None:
            self._write(status, "text/plain; charset=utf-8", text.encode(), extra)

        def _refuse(self, status: int, text: str, extra: Optional[Headers] = None) -> None:
            store.refuse(urlsplit(self.path).path, status, text.strip())
            self._text(status, text, extra)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = urlsplit(self.path).path
            if path == "/lab/received":
                self._write(200, JSON, json.dumps({"requests": store.all(), "refused": store.refused()}).encode())
            elif path == "/lab/health":
                self._write(200, JSON, b'{"status":"ok"}')
            elif path in PATHS:
                self._text(405, "405 method not allowed, supported: [POST]")
            else:
                self._text(404, "404 page not found\n")

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(length, MAX_BODY + 1))
            signal = PATHS.get(urlsplit(self.path).path)
            if signal is None:
                self._text(404, "404 page not found\n")
                return
            user = basic_user(self.headers.get("Authorization"), settings.users)
            if user is None:
                self._refuse(401, "invalid credentials\n", {"WWW-Authenticate": 'Basic realm="otlp"'})
                return
            tenant = self._tenant()
            if tenant is None:
                return
            self._accept(signal, user, tenant, raw)

        def _tenant(self) -> Optional[str]:
            """The tenant header's value ("" when none is required); None after refusing."""
            if not settings.tenant_header:
                return ""
            tenant = (self.headers.get(settings.tenant_header) or "").strip()
            if not tenant:
                self._refuse(401, "no org id\n")
                return None
            if settings.tenants and tenant not in settings.tenants:
                self._refuse(403, f"tenant {tenant!r} is not allowed for this endpoint\n")
                return None
            return tenant

        def _accept(self, signal: str, user: str, tenant: str, raw: bytes) -> None:
            encoding = media_type(self.headers.get("Content-Type") or "")
            if encoding not in (PB, JSON):
                self._text(415, f"415 unsupported media type, supported: [{JSON}, {PB}]")
                return
            try:
                body = content.decode(self.headers.get("Content-Encoding") or "", raw)
                if len(body) > MAX_BODY:
                    raise ValueError("http: request body too large")
            except ValueError as err:
                self._rpc_status(400, encoding, INVALID_ARGUMENT, str(err))
                return
            request = self._decode_export(signal, encoding, body)
            if request is None:
                return
            store.add(self._record(signal, user, tenant, encoding, request))
            self._exported(signal, encoding)

        def _record(self, signal: str, user: str, tenant: str, encoding: str, request: Message) -> Dict[str, Any]:
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
            return {"signal": signal, "path": urlsplit(self.path).path, "user": user, "tenant": tenant,
                    "content_type": encoding, "content_encoding": self.headers.get("Content-Encoding") or "",
                    "headers": headers, "items": otlp.item_count(signal, request),
                    "resources": summarize(signal, request)}

    return Handler


def make_server(address: Tuple[str, int], settings: Settings, store: Optional[Store] = None) -> LabServer:
    """A sink bound to address (port 0: any free port), not yet serving."""
    context = server_context(str(settings.cert), str(settings.key) if settings.key else None) \
        if settings.cert is not None else None
    return LabServer(address, make_handler(settings, store or Store()), context, name="otlp sink stand-in")
