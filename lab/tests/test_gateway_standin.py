"""The gateway stand-in (TEST FIXTURE): the three production shapes over TLS, in front of
the Loki stand-in and a fake Prometheus, with a throwaway CA made by openssl."""
from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pytest
from gateway_standin import lab_ca
from labtool import lab as labtool_lab
from gateway_standin.credentials import Credentials, load
from gateway_standin.server import Gateway, Settings
from gateway_standin.shapes import Upstreams
from lab_wire import encode_push, encode_write_request
from local_http import LocalServer
from loki_standin.server import make_server

STANDINS = Path(__file__).resolve().parents[1] / "standins"
CREDS: Credentials = load()
NOW_NS = time.time_ns()


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class Lab:
    ports: Dict[str, int]
    loki: str
    prometheus: LocalServer
    pki: Pki


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    pair = lab_ca.build(folder / "public", folder / "private", ["gateway"])
    return Pki(folder / "public" / "ca.pem", folder / "public" / "other-ca.pem", pair.cert, pair.key)


@pytest.fixture(scope="module")
def lab(pki: Pki) -> Iterator[Lab]:
    loki = make_server(("127.0.0.1", 0))
    threading.Thread(target=loki.serve_forever, args=(0.05,), daemon=True).start()
    loki_url = f"http://127.0.0.1:{loki.server_address[1]}"
    prometheus = LocalServer()
    prometheus.routes.update({"/api/v1/write": (204, ""), "/-/ready": (200, "Prometheus Server is Ready.\n"),
                              "/api/v1/query": (200, '{"status":"success","data":{"result":[]}}')})
    gateway = start_gateway(pki, Upstreams(loki_url, prometheus.url))
    yield Lab(gateway.ports(), loki_url, prometheus, pki)
    gateway.close()
    prometheus.close()
    loki.shutdown()
    loki.server_close()


def start_gateway(pki: Pki, upstreams: Upstreams, timeout: float = 5.0) -> Gateway:
    gateway = Gateway(Settings(cert=pki.cert, key=pki.key, upstreams=upstreams, host="127.0.0.1",
                               ports={"loki": 0, "prometheus": 0, "cloud": 0}, upstream_timeout=timeout))
    gateway.serve()
    return gateway


class GatewayConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but checks the certificate against the name `gateway`."""

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname="gateway")  # type: ignore[attr-defined]


def call(port: int, path: str, ca: Path, headers: Optional[Mapping[str, str]] = None,
         body: Optional[bytes] = None) -> Answer:
    context = ssl.create_default_context(cafile=str(ca))
    conn = GatewayConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        conn.request("POST" if body is not None else "GET", path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def basic(user: str, password: str) -> Dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def loki_auth(tenant: Optional[str] = None) -> Dict[str, str]:
    headers = basic(CREDS.loki.username, CREDS.loki.password)
    return {**headers, "X-Scope-OrgID": tenant} if tenant else headers


def loki_push(labels: Dict[str, str], line: str) -> bytes:
    return encode_push([{"stream": labels, "values": [[str(NOW_NS), line]]}])


PROTO = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}


def received(lab: Lab) -> List[Dict[str, Any]]:
    port = int(lab.loki.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/lab/received")
    streams: List[Dict[str, Any]] = json.loads(conn.getresponse().read())["streams"]
    conn.close()
    return streams


# --- TLS ---------------------------------------------------------------------------

def test_a_client_that_trusts_another_ca_fails_the_handshake(lab: Lab) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        call(lab.ports["loki"], "/ready", lab.pki.other_ca, loki_auth("ops"))
    assert call(lab.ports["loki"], "/lab/health", lab.pki.ca).status == 200  # still serving


def test_the_certificate_is_for_the_name_gateway_only(lab: Lab) -> None:
    context = ssl.create_default_context(cafile=str(lab.pki.ca))
    with socket.create_connection(("127.0.0.1", lab.ports["cloud"]), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="loki")


def test_plain_http_gets_no_answer(lab: Lab) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", lab.ports["prometheus"], timeout=5)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.request("GET", "/-/ready")
        conn.getresponse()
    conn.close()


# --- 3100: Loki behind an auth gateway ---------------------------------------------

def test_loki_gateway_asks_for_basic_auth(lab: Lab) -> None:
    for headers in ({}, basic(CREDS.loki.username, "wrong"), {"Authorization": "Bearer " + CREDS.loki.password},
                    {**basic(CREDS.prometheus.username, CREDS.prometheus.password), "X-Scope-OrgID": "ops"}):
        answer = call(lab.ports["loki"], "/loki/api/v1/push", lab.pki.ca, headers, loki_push({"job": "x"}, "x"))
        assert answer.status == 401
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_loki_gateway_needs_an_allowed_tenant(lab: Lab) -> None:
    push = loki_push({"job": "x"}, "x")
    answer = call(lab.ports["loki"], "/loki/api/v1/push", lab.pki.ca, loki_auth(), push)
    assert (answer.status, answer.text) == (401, "no org id\n")
    answer = call(lab.ports["loki"], "/loki/api/v1/push", lab.pki.ca, loki_auth("finance"), push)
    assert answer.status == 403
    assert '"finance"' in answer.text


def test_loki_gateway_forwards_push_and_query_with_the_tenant(lab: Lab) -> None:
    answer = call(lab.ports["loki"], "/loki/api/v1/push", lab.pki.ca, {**loki_auth("ops"), **PROTO},
                  loki_push({"job": "gw"}, "through the gateway"))
    assert answer.status == 204
    assert {"tenant": "ops", "stream": {"job": "gw"}, "values": [[str(NOW_NS), "through the gateway"]]} in received(lab)
    path = "/loki/api/v1/query_range?query=%7Bjob%3D%22gw%22%7D"
    mine = json.loads(call(lab.ports["loki"], path, lab.pki.ca, loki_auth("ops")).body)
    other = json.loads(call(lab.ports["loki"], path, lab.pki.ca, loki_auth("lab")).body)
    assert [v[1] for v in mine["data"]["result"][0]["values"]] == ["through the gateway"]
    assert other["data"]["result"] == []


def test_loki_gateway_forwards_ready_and_refuses_other_paths(lab: Lab) -> None:
    ready = call(lab.ports["loki"], "/ready", lab.pki.ca, loki_auth("lab"))
    assert (ready.status, ready.text) == (200, "ready\n")
    assert call(lab.ports["loki"], "/lab/received", lab.pki.ca, loki_auth("lab")).status == 404
    assert call(lab.ports["loki"], "/ready", lab.pki.ca).status == 401


# --- 9090: Prometheus / Mimir behind an auth gateway -------------------------------

def test_prometheus_gateway_takes_basic_or_bearer(lab: Lab) -> None:
    write = encode_write_request([({"__name__": "up", "job": "gw"}, 1.0, 1)])
    for auth in (basic(CREDS.prometheus.username, CREDS.prometheus.password),
                 {"Authorization": f"Bearer {CREDS.prometheus.bearer_token}"}):
        answer = call(lab.ports["prometheus"], "/api/v1/write", lab.pki.ca, {**auth, **PROTO}, write)
        assert answer.status == 204
        upstream = lab.prometheus.requests[-1]
        assert (upstream.path, upstream.body) == ("/api/v1/write", write)
        assert upstream.headers["Content-Encoding"] == "snappy"
        assert upstream.headers["Content-Type"] == "application/x-protobuf"
        assert upstream.headers["Authorization"] is None


def test_prometheus_gateway_refuses_without_valid_credentials(lab: Lab) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, basic(CREDS.prometheus.username, "wrong"),
                    basic(CREDS.loki.username, CREDS.loki.password)):
        answer = call(lab.ports["prometheus"], "/-/ready", lab.pki.ca, headers)
        assert answer.status == 401
        assert answer.headers.get_all("WWW-Authenticate")


@pytest.mark.parametrize("path,upstream", [
    ("/-/ready", "/-/ready"), ("/ready", "/-/ready"),
    ("/api/v1/query?query=up", "/api/v1/query?query=up"),
    ("/prometheus/api/v1/query?query=up", "/api/v1/query?query=up"),
])
def test_prometheus_and_mimir_paths_are_mapped(lab: Lab, path: str, upstream: str) -> None:
    bearer = {"Authorization": f"Bearer {CREDS.prometheus.bearer_token}"}
    answer = call(lab.ports["prometheus"], path, lab.pki.ca, bearer)
    assert answer.status == 200
    assert lab.prometheus.requests[-1].path == upstream


def test_mimir_push_goes_to_remote_write(lab: Lab) -> None:
    auth = basic(CREDS.prometheus.username, CREDS.prometheus.password)
    assert call(lab.ports["prometheus"], "/api/v1/push", lab.pki.ca, {**auth, **PROTO}, b"x").status == 204
    assert lab.prometheus.requests[-1].path == "/api/v1/write"


def test_upstream_status_and_body_come_back(lab: Lab) -> None:
    lab.prometheus.routes["/api/v1/query"] = (400, '{"status":"error","error":"bad query"}')
    try:
        answer = call(lab.ports["prometheus"], "/api/v1/query?query=(", lab.pki.ca,
                      {"Authorization": f"Bearer {CREDS.prometheus.bearer_token}"})
    finally:
        lab.prometheus.routes["/api/v1/query"] = (200, '{"status":"success","data":{"result":[]}}')
    assert (answer.status, answer.text) == (400, '{"status":"error","error":"bad query"}')


# --- 443: Grafana Cloud shaped ------------------------------------------------------

def cloud_metrics(token: str) -> Dict[str, str]:
    return basic(CREDS.cloud_metrics.username, token)


def test_cloud_remote_write_and_query(lab: Lab) -> None:
    rw = cloud_metrics(CREDS.cloud_metrics.rw_token)
    assert call(lab.ports["cloud"], "/api/prom/push", lab.pki.ca, {**rw, **PROTO}, b"w").status == 204
    assert lab.prometheus.requests[-1].path == "/api/v1/write"
    assert call(lab.ports["cloud"], "/api/prom/api/v1/query?query=up", lab.pki.ca, rw).status == 200
    assert lab.prometheus.requests[-1].path == "/api/v1/query?query=up"


def test_cloud_write_only_token_pushes_but_cannot_query(lab: Lab) -> None:
    write_only = cloud_metrics(CREDS.cloud_metrics.write_only_token)
    assert call(lab.ports["cloud"], "/api/prom/push", lab.pki.ca, {**write_only, **PROTO}, b"w").status == 204
    answer = call(lab.ports["cloud"], "/api/prom/api/v1/query?query=up", lab.pki.ca, write_only)
    assert answer.status == 401
    assert json.loads(answer.body) == {"status": "error", "error": "authentication error: invalid scope requested"}


def test_cloud_refuses_wrong_credentials(lab: Lab) -> None:
    for headers in ({}, cloud_metrics("wrong"), basic("100002", CREDS.cloud_metrics.rw_token),
                    basic(CREDS.cloud_logs.username, CREDS.cloud_logs.token)):
        answer = call(lab.ports["cloud"], "/api/prom/push", lab.pki.ca, headers, b"w")
        assert answer.status == 401
        assert json.loads(answer.body)["status"] == "error"


@pytest.mark.parametrize("path", ["/-/ready", "/ready", "/api/v1/write", "/api/prom/-/ready"])
def test_cloud_has_no_readiness_path(lab: Lab, path: str) -> None:
    assert call(lab.ports["cloud"], path, lab.pki.ca, cloud_metrics(CREDS.cloud_metrics.rw_token)).status == 404


def test_cloud_logs_tenant_is_the_user(lab: Lab) -> None:
    logs = basic(CREDS.cloud_logs.username, CREDS.cloud_logs.token)
    answer = call(lab.ports["cloud"], "/loki/api/v1/push", lab.pki.ca, {**logs, **PROTO, "X-Scope-OrgID": "ops"},
                  loki_push({"job": "cloud"}, "to the cloud"))
    assert answer.status == 204
    assert {"tenant": CREDS.cloud_logs.username, "stream": {"job": "cloud"},
            "values": [[str(NOW_NS), "to the cloud"]]} in received(lab)
    found = call(lab.ports["cloud"], "/loki/api/v1/query_range?query=%7Bjob%3D%22cloud%22%7D", lab.pki.ca, logs)
    assert [v[1] for v in json.loads(found.body)["data"]["result"][0]["values"]] == ["to the cloud"]
    metrics_user = cloud_metrics(CREDS.cloud_metrics.rw_token)
    assert call(lab.ports["cloud"], "/loki/api/v1/push", lab.pki.ca, metrics_user, b"x").status == 401


# --- failures -----------------------------------------------------------------------

def test_upstream_down_is_502(pki: Pki) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    gateway = start_gateway(pki, Upstreams(dead, dead))
    try:
        answer = call(gateway.ports()["loki"], "/ready", pki.ca, loki_auth("ops"))
        assert answer.status == 502
        auth = {"Authorization": f"Bearer {CREDS.prometheus.bearer_token}"}
        assert call(gateway.ports()["prometheus"], "/-/ready", pki.ca, auth).status == 502
    finally:
        gateway.close()


def test_upstream_that_hangs_is_cut_by_the_timeout(pki: Pki) -> None:
    hanging = LocalServer()
    hanging.routes["/-/ready"] = (200, "hang")
    gateway = start_gateway(pki, Upstreams(hanging.url, hanging.url), timeout=0.5)
    try:
        start = time.monotonic()
        auth = {"Authorization": f"Bearer {CREDS.prometheus.bearer_token}"}
        assert call(gateway.ports()["prometheus"], "/-/ready", pki.ca, auth).status == 504
        assert time.monotonic() - start < 3
    finally:
        gateway.close()
        hanging.close()


def test_a_stalled_client_does_not_block_others(lab: Lab) -> None:
    with socket.create_connection(("127.0.0.1", lab.ports["loki"]), timeout=5):
        assert call(lab.ports["loki"], "/lab/health", lab.pki.ca).status == 200


def test_command_line(pki: Pki) -> None:
    env = dict(os.environ, PYTHONPATH=str(STANDINS))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_standin", "--listen-host", "127.0.0.1", "--loki-port", "0",
         "--prometheus-port", "0", "--cloud-port", "0", "--cert", str(pki.cert), "--key", str(pki.key),
         "--loki-upstream", "http://127.0.0.1:9", "--prometheus-upstream", "http://127.0.0.1:9"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "TEST FIXTURE" in line
        ports = dict(item.split("=") for item in line.split(": ", 1)[1].split())
        assert set(ports) == {"loki", "prometheus", "cloud"}
        health = call(int(ports["cloud"]), "/lab/health", pki.ca)
        assert json.loads(health.body) == {"status": "ok", "shape": "cloud"}
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_the_lab_credentials_file_has_the_agreed_shape() -> None:
    data = json.loads((STANDINS / "gateway_standin" / "lab_credentials.json").read_text())
    assert {k: sorted(v) for k, v in data.items()} == {
        "loki": ["password", "tenants", "username"],
        "prometheus": ["bearer_token", "password", "username"],
        "cloud_metrics": ["rw_token", "username", "write_only_token"],
        "cloud_logs": ["token", "username"],
        "otlp": ["users"],   # the OTLP sink's (otlp_sink.load_users): Grafana Cloud's shape, an instance ID
        "fleet": ["users"],  # the Fleet Management stand-in's (fleet_standin.server.load_users), the same shape
    }
    assert all(user.isdigit() for user in data["otlp"]["users"])
    assert all(user.isdigit() for user in data["fleet"]["users"])
    assert data["loki"]["tenants"] == ["ops", "lab"]
    assert data["cloud_metrics"]["username"].isdigit() and data["cloud_logs"]["username"].isdigit()


# --- labtool: the CA from the mirror, the readiness probe over TLS -------------------

def test_labtool_fetches_the_cas_and_waits_for_the_gateway_over_tls(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "srv"
    (served / "lab").mkdir(parents=True)
    for name in ("ca.pem", "other-ca.pem"):
        (served / "lab" / name).write_bytes((lab.pki.ca.parent / name).read_bytes())
    mirror = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietFiles, directory=str(served)))
    threading.Thread(target=mirror.serve_forever, args=(0.05,), daemon=True).start()
    for variable in labtool_lab.CA_FILES:
        monkeypatch.setenv(variable, "")
    monkeypatch.setattr(labtool_lab, "CACHE", tmp_path / "cache")
    try:
        paths = labtool_lab.export_ca_env(f"http://127.0.0.1:{mirror.server_address[1]}")
    finally:
        mirror.shutdown()
        mirror.server_close()
    assert Path(os.environ["ALLOY_LAB_CA_FILE"]).read_bytes() == lab.pki.ca.read_bytes()
    assert Path(paths["ALLOY_LAB_OTHER_CA_FILE"]).read_bytes() == lab.pki.other_ca.read_bytes()
    health = f"https://127.0.0.1:{lab.ports['loki']}/lab/health"
    labtool_lab._wait_http(health, timeout=5, context=labtool_lab.lab_ca_context())
    other = ssl.create_default_context(cafile=paths["ALLOY_LAB_OTHER_CA_FILE"])
    other.check_hostname = False
    with pytest.raises(SystemExit, match="CERTIFICATE_VERIFY_FAILED"):
        labtool_lab._wait_http(health, timeout=1, context=other)


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return
