"""TEST FIXTURE (stand-in for Grafana Alloy): `alloy run`, the agent's HTTP surface.

Serves /-/ready, /-/healthy (500 naming the components whose health is "unhealthy";
exited ones are not counted, as in Alloy's http service), /-/reload (GET or POST; 400 and the
old config kept on a bad one), /metrics (alloy_build_info, the running components, and the
writers' delivery metrics: loki_write_*, prometheus_remote_storage_*, otelcol_exporter_*,
otelcol_receiver_*, labelled component_id), /api/v0/web/components and
/api/v0/web/components/{id}; reloads on SIGHUP. As in real Alloy, loki.write,
prometheus.remote_write and the otelcol exporters stay healthy ("started component", or
"started scheduled components" for otelcol components) whatever their endpoints answer,
refuse or time out: health never depends on a backend, delivery shows only in /metrics.
After a reload every component the new configuration keeps reads "component evaluated" while
healthy (its evaluation is then its newest health; a new one starts as at `alloy run`).
With an `http { tls { ... } }` block the server speaks TLS on every route from the load that
brings it (http_tls.py: Alloy's http service swaps its listener at each load, no restart).
The otelcol.* pipeline (receiver servers included) runs in otel.Engine. WAL directories are created under --storage.path like the real
agent does. Telemetry (a mimic of the pipelines' data flow and of the writers' queues,
retries and backoff) runs in telemetry.Telemetry.run.
"""
from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Type
from urllib.parse import urlsplit

from lab_wire.handler import TextHandler

from .cluster import ClusterNode, attach
from .cluster_flags import Setup
from .components import COMPONENTS
from .diag import make
from .http_tls import HttpTLS, TLSConfigError, accept, configure
from .otel import Engine
from .remotecfg import RemoteCfg, seed_uid
from .scrape_status import debug_info
from .syntax import Block
from .telemetry import Telemetry, render
from .validate import Loaded, LoadError, load


EVALUATED = "component evaluated"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class Component:
    def __init__(self, block: Block) -> None:
        self.block = block
        self.state = "healthy"
        self.message = "started component"
        self.updated = _now()

    def set_health(self, state: str, message: str) -> None:
        if (state, message) != (self.state, self.message):
            self.state, self.message, self.updated = state, message, _now()

    def as_json(self) -> Dict[str, object]:
        block = self.block
        return {
            "name": block.name,
            "localID": block.id,
            "moduleID": "",
            "label": block.label,
            "referencesTo": [],
            "referencedBy": [],
            "dataFlowEdgesTo": [],
            "health": {"state": self.state, "message": self.message, "updatedTime": self.updated},
        }


def _carry_over(old: Component, new: Component) -> None:
    """A component kept by a reload is evaluated again: its evaluation health, "component
    evaluated" (node_builtin_component.go Evaluate), is the newest of its healthy ones; an
    exited or unhealthy health outranks it (component.LeastHealthy)."""
    if old.state == "healthy":
        new.state, new.message, new.updated = "healthy", EVALUATED, _now()
    else:
        new.state, new.message, new.updated = old.state, old.message, old.updated


class Agent:
    """The loaded configuration and its components; thread-safe reloads."""

    def __init__(self, config_path: Path, storage: Path, version: str,
                 telemetry: Optional[Telemetry] = None, otel: Optional[Engine] = None) -> None:
        self.config_path = config_path
        self.storage = storage
        self.version = version
        self.lock = threading.Lock()
        self.components: Dict[str, Component] = {}
        self.ready = False
        self.telemetry = telemetry or Telemetry(storage, version)
        self.otel = otel or Engine(self.telemetry, version, clock=self.telemetry.clock, wall=self.telemetry.wall,
                                   log=log)
        self.remotecfg = RemoteCfg(storage, version, log)
        self.cluster: Optional[ClusterNode] = None  # cluster.attach sets it for `alloy run`
        self.http_tls: Optional[HttpTLS] = None  # the http block's tls: the listener serves TLS
        self._http_applied: object = ()  # what the http service last applied (Update runs on a change)

    def load(self) -> Tuple[bool, str]:
        try:
            loaded = load(self.config_path)
        except LoadError as err:
            return False, str(err)
        return self._apply(loaded)

    def _apply(self, loaded: Loaded) -> Tuple[bool, str]:
        for diag in loaded.diagnostics:
            if diag.severity == "Warning":
                log("warn", diag.render())
        if loaded.errors:
            return False, "\n".join(d.render() for d in loaded.errors)
        http = next((b for _, b in loaded.components if b.id == "http"), None)
        try:
            tls = configure(http)
        except TLSConfigError as err:
            assert http is not None
            return False, make("Error", http.file, (http.line, http.col), str(err), http.end).render()
        failed = self.remotecfg.update(next((b for _, b in loaded.components if b.id == "remotecfg"), None))
        if failed:
            return False, failed
        fresh = {b.id: Component(b) for _, b in loaded.components if b.name in COMPONENTS}
        if tls != self._http_applied:   # Service.Update, which the loader calls when the block changed
            log("info", "applying TLS config to HTTP server" if tls else "applying non-TLS config to HTTP server")
            self.http_tls, self._http_applied = tls, tls
        with self.lock:
            kept = {cid for cid in fresh if cid in self.components}
            for cid in kept:
                _carry_over(self.components[cid], fresh[cid])
            self.components = fresh
            self.ready = True
        self._prepare_storage()
        self.telemetry.update({cid: comp.block for cid, comp in fresh.items()})
        if self.cluster is not None:
            self.cluster.loaded({cid: comp.block for cid, comp in fresh.items()})
        self.otel.update({cid: comp.block for cid, comp in fresh.items()})
        for cid, (state, message) in self.otel.health().items():
            if cid in fresh:
                fresh[cid].set_health(state, EVALUATED if cid in kept and state == "healthy" else message)
        return True, "config reloaded"

    def _prepare_storage(self) -> None:
        self.storage.mkdir(parents=True, exist_ok=True)
        seed_uid(self.storage, self.version)
        for comp in self.snapshot():
            if comp.block.name == "prometheus.remote_write":
                wal = self.storage / comp.block.id / "wal"
                wal.mkdir(parents=True, exist_ok=True)
                segment = wal / "00000000"
                if not segment.exists():
                    segment.write_bytes(b"")

    def snapshot(self) -> List[Component]:
        with self.lock:
            return list(self.components.values())

    def unhealthy(self) -> List[str]:
        """http.go: the names (not IDs) of the components whose health is "unhealthy"; an
        exited component is not listed."""
        return [c.block.name for c in self.snapshot() if c.state == "unhealthy"]


def log(level: str, message: str) -> None:
    ts = _now()
    print(f"ts={ts} level={level} msg={json.dumps(message)}", file=sys.stderr, flush=True)


def make_handler(agent: Agent) -> Type[BaseHTTPRequestHandler]:
    class Handler(TextHandler):
        server_version = "alloy-standin"


        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = urlsplit(self.path).path
            if agent.cluster is not None and agent.cluster.serve(self):
                return
            if path == "/-/ready":
                ok = agent.ready
                self._send(200 if ok else 503, "Alloy is ready.\n" if ok else "Alloy is not ready.\n")
            elif path == "/-/healthy":
                bad = agent.unhealthy()
                self._send(500 if bad else 200, f"unhealthy components: {', '.join(bad)}\n" if bad
                           else "All Alloy components are healthy.\n")
            elif path == "/-/reload":
                self._reload()
            elif path == "/metrics":
                self._send(200, metrics(agent), "text/plain; version=0.0.4")
            elif path == "/api/v0/web/components":
                self._send(200, json.dumps([c.as_json() for c in agent.snapshot()]), "application/json")
            elif path.startswith("/api/v0/web/components/"):
                self._component(path.rsplit("/", 1)[1])
            elif path.startswith("/api/v0/web/remotecfg/"):
                self._send(*agent.remotecfg.api(path))
            else:
                self._send(404, "404 page not found\n")

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            if agent.cluster is not None and agent.cluster.serve(self):
                return
            if urlsplit(self.path).path == "/-/reload":
                self._reload()
            else:
                self._send(405, "method not allowed\n")

        def _reload(self) -> None:
            ok, message = agent.load()
            log("info" if ok else "error", "config reloaded" if ok else f"failed to reload config: {message}")
            self._send(200 if ok else 400, message + "\n")

        def _component(self, cid: str) -> None:
            for comp in agent.snapshot():
                if comp.block.id == cid:
                    data = comp.as_json()
                    data.update(arguments=[], exports=[], debugInfo=debug_info(agent.telemetry, cid))
                    self._send(200, json.dumps(data), "application/json")
                    return
            self._send(404, f"component {cid} not found\n")

    return Handler


def metrics(agent: Agent) -> str:
    lines = [
        "# HELP alloy_build_info A metric with a constant '1' value labeled by version, revision, "
        "branch, goversion from which alloy was built, and the goos and goarch for the build.",
        "# TYPE alloy_build_info gauge",
        f'alloy_build_info{{branch="HEAD",goarch="amd64",goos="linux",goversion="go1.24.0",'
        f'revision="standin",tags="builtinassets",version="v{agent.version}"}} 1',
        "# HELP alloy_component_controller_running_components Total number of running components.",
        "# TYPE alloy_component_controller_running_components gauge",
    ]
    for state in ("healthy", "unhealthy"):
        count = sum(1 for c in agent.snapshot() if c.state == state)
        lines.append(f'alloy_component_controller_running_components{{health_type="{state}"}} {count}')
    return ("\n".join(lines) + "\n" + agent.telemetry.render() + render(agent.otel.samples())
            + agent.remotecfg.render() + (agent.cluster.render() if agent.cluster else ""))


class AgentServer(ThreadingHTTPServer):
    """Alloy's HTTP server: each connection plain or TLS as the last load said (http_tls.accept)."""

    daemon_threads = True

    def __init__(self, address: Tuple[str, int], agent: Agent) -> None:
        self.agent = agent
        super().__init__(address, make_handler(agent))

    def finish_request(self, request: socket.socket, client_address: Tuple[str, int]) -> None:  # type: ignore[override]
        conn = accept(request, client_address, self.agent.http_tls)
        if conn is None:
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            if conn is not request:
                conn.close()


class _V6Server(AgentServer):
    address_family = socket.AF_INET6


def make_server(agent: Agent, listen: str) -> AgentServer:
    """The agent's HTTP server on listen (host:port, [ipv6]:port; an empty host is every interface)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    return (_V6Server if ":" in host else AgentServer)((host, int(port)), agent)


def serve(config_path: Path, listen: str, storage: Path, version: str, cluster: Optional[Setup] = None) -> int:
    agent = Agent(config_path, storage, version)
    node = attach(agent, cluster) if cluster else None
    ok, message = agent.load()
    if not ok:
        print(message, file=sys.stderr)
        print("Error: could not perform the initial load successfully", file=sys.stderr)
        return 1
    server = make_server(agent, listen)

    def on_hup(_sig: int, _frame: object) -> None:
        threading.Thread(target=_sighup_reload, args=(agent,), daemon=True).start()

    def on_term(_sig: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threading.Thread(target=agent.telemetry.run, args=(log,), daemon=True).start()
    threading.Thread(target=agent.otel.run, args=(log,), daemon=True).start()
    agent.remotecfg.runtime.start(log)
    threading.Thread(target=agent.remotecfg.run, args=(threading.Event(),), daemon=True).start()
    log("info", f"now listening for http traffic service=http addr={listen}")
    if node is not None:
        threading.Thread(target=node.run, daemon=True).start()
    server.serve_forever()
    if node is not None:
        node.stop()
    agent.otel.close()
    agent.remotecfg.shutdown()
    log("info", "exiting")
    return 0


def _sighup_reload(agent: Agent) -> None:
    ok, message = agent.load()
    log("info" if ok else "error", "config reloaded" if ok else f"failed to reload config: {message}")
