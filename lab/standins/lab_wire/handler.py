"""TEST FIXTURE (shared by the stand-ins' HTTP servers): a request handler that keeps
quiet and answers with a body of text."""
from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class TextHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args: object) -> None:  # no access log
        return

    def _send(self, code: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
