"""What the Alloy stand-in's tests share (not a test file; conftest.py makes fixtures of some):
a fake monotonic clock, the stand-in's Agent served over HTTP on it, a fake backend, GET, a
server run in a thread, and a throwaway PKI made by openssl."""
from __future__ import annotations

import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseServer
from typing import Dict, Iterator, Optional, Tuple, TypeVar

from alloy_standin.otel import Engine
from alloy_standin.server import Agent, make_handler
from alloy_standin.telemetry import Telemetry
from local_http import LocalServer

VERSION = "1.18.0"
WALL = 1_700_000_000.25  # the stand-in's wall clock: samples are stamped 1700000000250 ms
PUSH = "/loki/api/v1/push"
WRITE = "/api/v1/write"
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # quicker to make than RSA
Server = TypeVar("Server", bound=BaseServer)


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """server answering from a thread until the block ends, then shut down and closed."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_agent(config: str, tmp_path: Path, clock: FakeClock) -> Iterator[Tuple[Agent, str]]:
    """The stand-in's Agent (config in tmp_path) and its HTTP surface's URL; telemetry and the
    otelcol engine on the fake clock, driven by the test (retries wait the middle of their
    randomized interval)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.alloy"
    path.write_text(config)
    storage = tmp_path / "data"
    telemetry = Telemetry(storage, VERSION, clock=clock, wall=lambda: WALL)
    engine = Engine(telemetry, VERSION, clock=clock, wall=lambda: WALL, rng=lambda: 0.5)
    agent = Agent(path, storage, VERSION, telemetry, engine)
    ok, message = agent.load()
    assert ok, message
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(agent))
    httpd.daemon_threads = True
    try:
        with serving(httpd):
            yield agent, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        engine.close()


def fake_backend(tls: Optional[ssl.SSLContext] = None) -> LocalServer:
    """A local Prometheus remote-write and Loki push endpoint answering 204 (HTTPS with tls)."""
    server = LocalServer(tls=tls)
    server.routes[WRITE] = server.routes[PUSH] = (204, "")
    return server


def close_soon(server: LocalServer) -> None:
    """Stops a LocalServer without waiting for its serve_forever poll (0.5 s) to notice."""
    threading.Thread(target=server.close, daemon=True).start()


def get(url: str, context: Optional[ssl.SSLContext] = None) -> Tuple[int, str]:
    """(status, text) of a GET, error statuses included (an https:// URL checked with context)."""
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def make_pki(root: Path) -> Dict[str, Path]:
    """In root: a throwaway CA, another CA, a server certificate for 127.0.0.1 and alloy-sink.lab
    and a client certificate, all from the openssl command line; {file name: path}."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *EC_KEY, "-nodes", "-days", "2", "-subj", f"/CN={ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    (root / "srv.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:alloy-sink.lab\n")
    (root / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for leaf in ("srv", "client"):
        openssl("req", *EC_KEY, "-nodes", "-subj", f"/CN={leaf}", "-keyout", f"{leaf}.key",
                "-out", f"{leaf}.csr")
        openssl("x509", "-req", "-in", f"{leaf}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{leaf}.ext", "-out", f"{leaf}.pem")
    return {p.name: p for p in root.iterdir()}
