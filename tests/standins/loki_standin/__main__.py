"""TEST FIXTURE (Loki stand-in): the HTTP server. `python3 -m loki_standin [--listen ADDR]`."""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

from lab_wire import decode_push, parse_labels


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.streams: List[Dict[str, object]] = []
        self.tenants: List[str] = []

    def add(self, streams: List[Dict[str, object]], tenant: str) -> None:
        with self.lock:
            self.streams.extend(streams)
            self.tenants.append(tenant)

    def query(self, selector: Dict[str, str], start_ns: int) -> List[Dict[str, object]]:
        with self.lock:
            found = []
            for stream in self.streams:
                labels = stream["stream"]
                assert isinstance(labels, dict)
                if all(labels.get(k) == v for k, v in selector.items()):
                    values = [v for v in stream["values"] if int(v[0]) >= start_ns]  # type: ignore[union-attr]
                    if values:
                        found.append({"stream": labels, "values": values})
            return found


def make_handler(store: Store, ready_at: float):
    class Handler(BaseHTTPRequestHandler):
        server_version = "loki-standin"

        def log_message(self, fmt: str, *args: object) -> None:
            return

        def _send(self, code: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path == "/ready":
                ok = time.monotonic() >= ready_at
                self._send(200 if ok else 503, "ready\n" if ok else "Ingester not ready: waiting for 15s after being ready\n")
            elif url.path == "/loki/api/v1/query_range":
                self._query(parse_qs(url.query))
            elif url.path == "/lab/received":
                with store.lock:
                    self._send(200, json.dumps({"streams": store.streams, "tenants": store.tenants}),
                               "application/json")
            else:
                self._send(404, "404 page not found\n")

        def _query(self, params: Dict[str, List[str]]) -> None:
            query = params.get("query", [""])[0]
            try:
                selector = parse_labels(query)
            except (ValueError, IndexError):
                self._send(400, f"parse error: {query}\n")
                return
            start = int(params.get("start", ["0"])[0])
            result = store.query(selector, start)
            self._send(200, json.dumps({"status": "success",
                                        "data": {"resultType": "streams", "result": result}}),
                       "application/json")

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/loki/api/v1/push":
                self._send(404, "404 page not found\n")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                streams = self._decode(body)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
                self._send(400, f"loghttp.ParsePushRequest: {err}\n")
                return
            store.add(streams, self.headers.get("X-Scope-OrgID", ""))
            self.send_response(204)
            self.end_headers()

        def _decode(self, body: bytes) -> List[Dict[str, object]]:
            if self.headers.get("Content-Type", "").startswith("application/json"):
                data = json.loads(body)
                return [{"stream": dict(s["stream"]), "values": [list(map(str, v[:2])) for v in s["values"]]}
                        for s in data["streams"]]
            return decode_push(body)

    return Handler


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="0.0.0.0:3100")
    parser.add_argument("--ready-after", type=float, default=0.0, help="seconds of 503 on /ready")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), make_handler(Store(), time.monotonic() + args.ready_after))
    print(f"loki stand-in (TEST FIXTURE) listening on {args.listen}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
