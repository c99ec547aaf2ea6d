"""TEST FIXTURE (gateway stand-in): the TLS servers, one per production shape."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Dict, List, Tuple, Type
from urllib.parse import urlsplit

from lab_wire.serving import LabServer, server_context

from .credentials import DEFAULT_PATH, load
from .proxy import Outgoing, forward
from .shapes import SHAPES, Forward, Incoming, Reply, Shape, Upstreams

HEALTH_PATH = "/lab/health"  # lab only, no credentials: the gateway is up
MAX_BODY = 64 * 1024 * 1024


class BodyTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    cert: Path
    key: Path
    upstreams: Upstreams
    ports: Dict[str, int] = field(default_factory=lambda: {"loki": 3100, "prometheus": 9090, "cloud": 443})
    host: str = "0.0.0.0"
    credentials: Path = DEFAULT_PATH
    upstream_timeout: float = 10.0
    client_timeout: float = 30.0


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, by Content-Length or chunked; ValueError when malformed."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        return _read_chunked(handler)
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        raise BodyTooLarge(f"request body of {length} bytes is too large")
    return handler.rfile.read(length)


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    chunks: List[bytes] = []
    total = 0
    while True:
        size = int(handler.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        total += size
        if total > MAX_BODY:
            raise BodyTooLarge("chunked request body is too large")
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline(1024)


def make_handler(shape: Shape, settings: Settings) -> Type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lab-gateway"
        protocol_version = "HTTP/1.1"
        timeout = settings.client_timeout

        def log_message(self, fmt: str, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self._handle()

        do_POST = do_HEAD = do_GET  # noqa: N815 - http.server API

        def _handle(self) -> None:
            try:
                body = read_body(self)
            except ValueError as err:
                self.close_connection = True
                status = 413 if isinstance(err, BodyTooLarge) else 400
                self._send(status, [("Content-Type", "text/plain; charset=utf-8")], f"{err}\n".encode())
                return
            url = urlsplit(self.path)
            if url.path == HEALTH_PATH:
                health = {"status": "ok", "shape": shape.name}
                self._send(200, [("Content-Type", "application/json")], json.dumps(health).encode())
                return
            decision = shape.decide(Incoming(self.command, url.path, self.headers))
            if isinstance(decision, Reply):
                self._reply(decision)
            else:
                self._forward(decision, url.query, body)

        def _reply(self, reply: Reply) -> None:
            self._send(reply.status, [("Content-Type", reply.content_type), *reply.headers], reply.body.encode())

        def _forward(self, decision: Forward, query: str, body: bytes) -> None:
            answer = forward(Outgoing(self.command, decision.upstream, decision.path, query, self.headers,
                                      decision.headers, body), settings.upstream_timeout)
            self._send(answer.status, answer.headers, answer.body)

        def _send(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


class Gateway:
    """The three TLS servers, bound on construction; serve() runs them in threads."""

    def __init__(self, settings: Settings) -> None:
        credentials = load(settings.credentials)
        context = server_context(str(settings.cert), str(settings.key))
        self.servers: Dict[str, LabServer] = {}
        self._threads: Dict[str, threading.Thread] = {}
        try:
            for name, port in settings.ports.items():
                shape = SHAPES[name](credentials, settings.upstreams)
                self.servers[name] = LabServer((settings.host, port), make_handler(shape, settings), context,
                                               name="gateway stand-in")
        except BaseException:
            self.close()
            raise

    def ports(self) -> Dict[str, int]:
        return {name: server.server_address[1] for name, server in self.servers.items()}

    def serve(self) -> None:
        for name, server in self.servers.items():
            thread = threading.Thread(target=server.serve_forever, args=(0.1,), name=f"gateway-{name}", daemon=True)
            thread.start()
            self._threads[name] = thread

    def wait(self) -> None:
        for thread in list(self._threads.values()):
            thread.join()

    def close(self) -> None:
        for name, server in self.servers.items():
            if name in self._threads:
                server.shutdown()
            server.server_close()
