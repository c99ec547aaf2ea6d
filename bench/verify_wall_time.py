#!/usr/bin/env python3
"""Benchmark (not a test): wall time of fleet.alloy.alloy_verify on a healthy host and
with one dead backend. Prints figures; asserts nothing.

The host is simulated by real HTTP servers on 127.0.0.1 (Alloy's endpoints, a Loki and a
Prometheus that answer like the real ones); the dead backend is a port nobody listens on
and one that accepts but never answers (bounded by the timeout). Each figure is the
median of --runs calls of the module's verify() (in-process, the checks' own cost) and
one `ansible localhost -m fleet.alloy.alloy_verify` (the whole module round trip).

    python bench/verify_wall_time.py [--runs 20] [--timeout 2]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.fleet.alloy.plugins.modules.alloy_verify import ARGUMENT_SPEC, verify  # noqa: E402

ANSWERS: Dict[str, str] = {
    "/-/ready": "ready", "/-/healthy": "All Alloy components are healthy.", "/ready": "ready",
    "/api/v0/web/components": json.dumps([{"localID": "loki.write.endpoint", "health": {"state": "healthy"}}]),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/api/v1/query":
            body = json.dumps({"data": {"result": [{"metric": {}, "value": [time.time(), "1"]}]}})
        elif path == "/loki/api/v1/query_range":
            body = json.dumps({"data": {"result": [{"stream": {}, "values": [["1", "x"]]}]}})
        else:
            body = ANSWERS.get(path, "")
        data = body.encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return


def serve() -> str:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def silent_port() -> int:
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    threading.Thread(target=lambda: [sock.accept() for _ in iter(int, 1)], daemon=True).start()
    return sock.getsockname()[1]


def params(base: str, prometheus: str, timeout: float) -> Dict[str, object]:
    values = {name: spec.get("default") for name, spec in ARGUMENT_SPEC.items()}
    # delivery off: its window (a sleep between two reads of /metrics) is a setting, not a cost.
    values.update(mode="none", alloy_url=base, loki_endpoints=[{"url": base + "/loki/api/v1/push"}],
                  prometheus_endpoints=[{"url": prometheus + "/api/v1/write"}], data_flow=True, instance="bench",
                  timeout=timeout, delivery=False)
    return values


def median_ms(func: Callable[[], object], runs: int) -> float:
    times: List[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def module_ms(args: Dict[str, object]) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    start = time.perf_counter()
    subprocess.run(["ansible", "localhost", "-c", "local", "-m", "fleet.alloy.alloy_verify",
                    "-a", json.dumps(args)], cwd=REPO, env=env, capture_output=True, check=False)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=2.0)
    opts = parser.parse_args()
    base = serve()
    cases = {
        "healthy host": params(base, base, opts.timeout),
        "dead backend (connection refused)": params(base, "http://127.0.0.1:9", opts.timeout),
        "dead backend (never answers)": params(base, f"http://127.0.0.1:{silent_port()}", opts.timeout),
    }
    print(f"alloy_verify wall time, median of {opts.runs} runs, timeout {opts.timeout}s, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'case':36} {'checks':>6} {'in-process ms':>14} {'ansible module ms':>18}")
    for name, args in cases.items():
        result = verify(args, lambda argv: (0, "", ""))
        ms = median_ms(lambda: verify(args, lambda argv: (0, "", "")), opts.runs)
        cli_args = {k: v for k, v in args.items() if v not in (None, [], {}, "")}
        print(f"{name:36} {len(result['checks']):>6} {ms:>14.1f} {module_ms(cli_args):>18.0f}"
              f"   {'healthy' if result['healthy'] else ', '.join(result['failed_checks'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
