"""A real HTTP(S) server on 127.0.0.1 for unit tests: answers each path with the
(status, body) a test sets or a redirect, records every request, and can be told never to answer."""
from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

HANG = "hang"  # a route body that makes the server accept and never answer


@dataclass
class Recorded:
    method: str
    path: str  # with the query string
    headers: Message  # case-insensitive
    body: bytes


class LocalServer:
    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.routes: Dict[str, Tuple[int, str]] = {}
        self.redirects: Dict[str, str] = {}   # path -> Location of a 302
        self.requests: List[Recorded] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.requests.append(Recorded(self.command, self.path, self.headers, self.rfile.read(length)))
                if self.path in owner.redirects:
                    self.send_response(302)
                    self.send_header("Location", owner.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                code, body = owner.routes.get(self.path.split("?")[0], (404, "not found"))
                if body == HANG:
                    time.sleep(5)
                    return
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815 - http.server API

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll: close() waits for serve_forever to notice (0.5 s by default, per server,
        # which added up to seconds in each unit run).
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
