"""TEST FIXTURE (Fleet Management stand-in): the HTTP(S) server, the collector API over Connect
and the lab-only endpoints."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Type
from urllib.parse import parse_qs, unquote, urlsplit

from gateway_standin.server import read_body
from lab_wire import connect, gojson
from lab_wire.connect import CODECS, ConnectError
from lab_wire.otlp_http import OtlpHandler
from lab_wire.serving import LabServer, server_context
from otlp_sink.server import basic_user

from . import proto
from .fleet import Fleet, make_pipeline

SERVICE = "/collector.v1.CollectorService/"
# procedure -> (request message, response message, Fleet method name, GET allowed: NO_SIDE_EFFECTS)
PROCEDURES: Dict[str, Tuple[str, str, str, bool]] = {
    "GetConfig": ("GetConfigRequest", "GetConfigResponse", "get_config", True),
    "RegisterCollector": ("RegisterCollectorRequest", "RegisterCollectorResponse", "register", False),
    "UnregisterCollector": ("UnregisterCollectorRequest", "UnregisterCollectorResponse", "unregister", False),
}
NOT_FOUND = b"404 page not found\n"  # http.NotFound, what the generated handler's mux answers
JSON = "application/json"
Headers = Dict[str, str]


@dataclass(frozen=True)
class Settings:
    users: Dict[str, str]  # instance ID -> token
    cert: Optional[Path] = None
    key: Optional[Path] = None


def load_users(path: Path) -> Dict[str, str]:
    """{"fleet": {"users": {"<instance ID>": "<token>"}}} (or {"users": ...} at the top)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("fleet"), dict):
        data = data["fleet"]
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict) or not users or not all(
            isinstance(k, str) and k.isdigit() and isinstance(v, str) and v for k, v in users.items()):
        raise ValueError(f'{path}: expected {{"fleet": {{"users": {{"<numeric instance ID>": "<token>"}}}}}}')
    return dict(users)


def _decode(message: str, codec: str, body: bytes) -> proto.Message:
    """The request message; invalid_argument as connect-go words it when it does not decode."""
    try:
        if codec == "json":
            if not body:
                raise ValueError("zero-length payload is not a valid JSON object")
            try:
                value = json.loads(body)
            except (ValueError, RecursionError) as err:
                raise ValueError(f"unmarshal into *collectorv1.{message}: proto: syntax error: {err}") from None
            return proto.from_json(value, message)
        return proto.decode(body, message)
    except ValueError as err:
        text = str(err)
        if not text.startswith(("unmarshal into", "zero-length")):
            text = f"unmarshal into *collectorv1.{message}: {text}"
        raise ConnectError("invalid_argument", f"unmarshal message: {text}") from None


def _encode(message: str, codec: str, value: proto.Message) -> bytes:
    if codec == "json":
        return gojson.dumps(proto.to_json(value, message), escape_html=False).encode()
    return proto.encode(value, message)


def make_handler(settings: Settings, fleet: Fleet) -> Type[BaseHTTPRequestHandler]:
    class Handler(OtlpHandler):
        server_version = "fleet-management-standin"
        timeout = 30

        # ---- routing -------------------------------------------------------------------

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = urlsplit(self.path).path
            if path == "/lab/health":
                self._json(200, {"status": "ok"})
            elif path in ("/lab/collectors", "/lab/pipelines", "/lab/state"):
                snapshot = fleet.snapshot()
                self._json(200, snapshot if path == "/lab/state" else {path[5:]: snapshot[path[5:]]})
            else:
                self._service()

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            path = urlsplit(self.path).path
            if path == "/lab/down":
                self._lab(lambda body: self._down(body))
            elif path == "/lab/up":
                fleet.up()
                self._json(200, {"down": False})
            else:
                self._service()

        def do_PUT(self) -> None:  # noqa: N802 - http.server API
            self._lab_resource("PUT")

        def do_PATCH(self) -> None:  # noqa: N802 - http.server API
            self._lab_resource("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802 - http.server API
            self._lab_resource("DELETE")

        def _bare(self, status: int, extra: Headers) -> None:
            """An answer without a body or a Content-Type, as net/http writes a bare WriteHeader."""
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _json(self, status: int, value: Any) -> None:
            self._write(status, JSON, json.dumps(value).encode())

        # ---- the collector API (Connect unary) ---------------------------------------

        def _service(self) -> None:
            url = urlsplit(self.path)
            if not url.path.startswith(SERVICE):
                self._write(404, "text/plain; charset=utf-8", NOT_FOUND, {"X-Content-Type-Options": "nosniff"})
                return
            try:
                body = read_body(self)
            except ValueError as err:
                self._connect_error(ConnectError("resource_exhausted", str(err)))
                return
            if fleet.is_down(url.path[len(SERVICE):]):  # lab switch: the service (or that procedure) is unavailable
                self._connect_error(ConnectError("unavailable", "fleet management is unavailable (lab down switch)"))
                return
            user = basic_user(self.headers.get("Authorization"), settings.users)
            if user is None:
                self._connect_error(ConnectError("unauthenticated", "invalid authentication credentials"))
                return
            procedure = PROCEDURES.get(url.path[len(SERVICE):])
            if procedure is None:
                self._write(404, "text/plain; charset=utf-8", NOT_FOUND, {"X-Content-Type-Options": "nosniff"})
                return
            self._procedure(procedure, user, body, parse_qs(url.query, keep_blank_values=True))

        def _procedure(self, procedure: Tuple[str, str, str, bool], user: str, body: bytes,
                       query: Dict[str, Any]) -> None:
            request_type, response_type, method, get_ok = procedure
            if self.command not in ("POST", "GET") or (self.command == "GET" and not get_ok):
                self._bare(405, {"Allow": "GET, POST" if get_ok else "POST"})
                return
            is_get = self.command == "GET"
            one = lambda name: query.get(name, [""])[0]  # noqa: E731
            content_type = "application/" + one("encoding") if is_get else \
                connect.canonical_content_type(self.headers.get("Content-Type") or "")
            codec = CODECS.get(content_type)
            if codec is None or (is_get and body):
                self._bare(415, {} if is_get and body else {"Accept-Post": connect.ACCEPT_POST})
                return
            try:
                compression = self._negotiate(is_get, one)
                if is_get:
                    body = self._get_message(query, one)
                request = _decode(request_type, codec, connect.decompress(compression[0], body))
                answer = getattr(fleet, method)(request, user, self.headers.get("User-Agent") or "")
            except ConnectError as err:
                self._connect_error(err)
                return
            payload, extra = connect.compress(compression[1], _encode(response_type, codec, answer))
            self._write(200, content_type, payload, {"Accept-Encoding": "gzip", **extra})

        def _negotiate(self, is_get: bool, one: Callable[[str], str]) -> Tuple[str, str]:
            if is_get:
                if one("connect") not in ("", "v1"):
                    raise ConnectError("invalid_argument", f'connect must be "v1": got "{one("connect")}"')
            else:
                connect.check_protocol_version(self.headers.get("Connect-Protocol-Version"))
            sent = one("compression") if is_get else self.headers.get("Content-Encoding") or ""
            return connect.negotiate(sent, self.headers.get("Accept-Encoding") or "")

        def _get_message(self, query: Dict[str, Any], one: Callable[[str], str]) -> bytes:
            if "message" not in query:
                raise ConnectError("invalid_argument", "missing message parameter")
            if one("base64") != "1":
                return one("message").encode()
            text = one("message")
            try:
                return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError) as err:
                raise ConnectError("invalid_argument", f"unmarshal message: {err}") from None

        def _connect_error(self, err: ConnectError) -> None:
            self._write(err.status, JSON, err.body(), {"Accept-Encoding": "gzip"})

        # ---- lab only ----------------------------------------------------------------

        def _lab(self, action: Callable[[Any], Tuple[int, Any]]) -> None:
            try:
                raw = read_body(self)
                body = json.loads(raw) if raw.strip() else {}
                status, answer = action(body)
            except ValueError as err:
                status, answer = 400, {"error": str(err)}
            self._json(status, answer)

        def _down(self, body: Any) -> Tuple[int, Any]:
            seconds = body.get("seconds", 60) if isinstance(body, dict) else None
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise ValueError('expected {"seconds": N, "procedures": ["GetConfig", ...]}')
            procedures = body.get("procedures")
            if procedures is not None and (not isinstance(procedures, list) or not procedures
                                           or not all(p in PROCEDURES for p in procedures)):
                raise ValueError("procedures: expected a list of %s" % ", ".join(sorted(PROCEDURES)))
            fleet.down(float(seconds), procedures)
            return 200, {"down": True, "seconds": seconds, "procedures": procedures}

        def _lab_resource(self, verb: str) -> None:
            parts = [unquote(p) for p in urlsplit(self.path).path.split("/")]
            if len(parts) == 4 and parts[:3] == ["", "lab", "pipelines"]:
                self._lab(lambda body: self._pipeline(verb, parts[3], body))
            elif len(parts) == 5 and parts[:3] == ["", "lab", "collectors"] and parts[4] == "attributes" \
                    and verb == "PUT":
                self._lab(lambda body: self._remote_attributes(parts[3], body))
            elif urlsplit(self.path).path.startswith(SERVICE):
                self._service()
            else:
                self._write(404, "text/plain; charset=utf-8", NOT_FOUND)

        def _pipeline(self, verb: str, name: str, body: Any) -> Tuple[int, Any]:
            if verb == "DELETE":
                found = fleet.delete_pipeline(name)
                return (200, {"deleted": name}) if found else (404, {"error": f"no pipeline {name!r}"})
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if verb == "PATCH":
                patched = fleet.patch_pipeline(name, body)
                return (200, patched.__dict__) if patched else (404, {"error": f"no pipeline {name!r}"})
            pipeline = make_pipeline(name, body.get("contents"), body.get("matchers"), body.get("enabled", True))
            fleet.put_pipeline(pipeline)
            return 200, pipeline.__dict__

        def _remote_attributes(self, collector_id: str, body: Any) -> Tuple[int, Any]:
            attributes = body.get("attributes") if isinstance(body, dict) else None
            if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
                raise ValueError('expected {"attributes": {"name": "value"}}')
            if not fleet.set_remote_attributes(collector_id, attributes):
                return 404, {"error": f"no collector {collector_id!r}"}
            return 200, {"id": collector_id, "remote_attributes": attributes}

    return Handler


def make_server(address: Tuple[str, int], settings: Settings, fleet: Fleet) -> LabServer:
    """The stand-in bound to address (port 0: any free port), not yet serving."""
    context = server_context(str(settings.cert), str(settings.key) if settings.key else None) \
        if settings.cert is not None else None
    return LabServer(address, make_handler(settings, fleet), context, name="fleet management stand-in")
