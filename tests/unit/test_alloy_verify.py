"""alloy_verify's checks against real HTTP(S) servers on 127.0.0.1 and a replaceable
command runner for the service check (the real systemctl path runs in Molecule)."""
from __future__ import annotations

import json
import ssl
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils.verify_checks import base_url, run_all
from ansible_collections.fleet.alloy.plugins.modules.alloy_verify import ARGUMENT_SPEC, verify
from local_http import HANG, LocalServer

HEALTHY = [{"localID": "loki.write.endpoint", "health": {"state": "healthy"}},
           {"localID": "prometheus.remote_write.default", "health": {"state": "healthy"}}]


@pytest.fixture()
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def params(**overrides: object) -> Dict[str, object]:
    values: Dict[str, object] = {name: spec.get("default") for name, spec in ARGUMENT_SPEC.items()}
    values.update(mode="none", alloy_url="", timeout=1.0)
    values.update(overrides)
    return values


def no_runner(argv: List[str]) -> Tuple[int, str, str]:
    raise AssertionError(f"unexpected command {argv}")


def alloy_routes(srv: LocalServer, ready: int = 200, components: object = HEALTHY) -> None:
    srv.routes["/-/ready"] = (ready, "Alloy is ready." if ready == 200 else "Alloy is not ready.")
    srv.routes["/-/healthy"] = (200, "All Alloy components are healthy.")
    srv.routes["/api/v0/web/components"] = (200, components if isinstance(components, str) else json.dumps(components))


def by_name(result: Dict[str, object]) -> Dict[str, Dict[str, object]]:
    return {c["name"]: c for c in result["checks"]}  # type: ignore[union-attr,index]


def test_healthy_alloy(server: LocalServer) -> None:
    alloy_routes(server)
    result = verify(params(alloy_url=server.url), no_runner)
    assert result["healthy"] and result["summary"] == "healthy: 3 checks passed"
    assert result["changed"] is False


def test_not_ready_is_named_with_its_answer(server: LocalServer) -> None:
    alloy_routes(server, ready=503)
    result = verify(params(alloy_url=server.url), no_runner)
    assert not result["healthy"] and result["failed_checks"] == ["alloy ready"]
    assert "alloy ready (HTTP 503: Alloy is not ready.)" in result["summary"]


def test_unhealthy_component(server: LocalServer) -> None:
    alloy_routes(server, components=[{"localID": "loki.write.endpoint",
                                      "health": {"state": "unhealthy", "message": "dial tcp"}}])
    checks = by_name(verify(params(alloy_url=server.url), no_runner))
    assert checks["components"]["detail"] == "loki.write.endpoint is unhealthy"


def test_missing_component(server: LocalServer) -> None:
    alloy_routes(server)
    result = verify(params(alloy_url=server.url, components=["loki.write.endpoint", "loki.source.journal.read"]),
                    no_runner)
    assert by_name(result)["components"]["detail"] == "missing: loki.source.journal.read"


def test_invalid_json(server: LocalServer) -> None:
    alloy_routes(server, components="<html>oops")
    assert "invalid JSON" in by_name(verify(params(alloy_url=server.url), no_runner))["components"]["detail"]


def test_connection_refused() -> None:
    result = verify(params(prometheus_urls=["http://127.0.0.1:9/api/v1/write"]), no_runner)
    check = by_name(result)["prometheus http://127.0.0.1:9"]
    assert not check["ok"] and "connection refused" in check["detail"]


def test_a_server_that_never_answers_is_bounded_by_the_timeout(server: LocalServer) -> None:
    server.routes["/ready"] = (200, HANG)
    start = time.time()
    result = verify(params(loki_urls=[server.url + "/loki/api/v1/push"], timeout=0.5), no_runner)
    assert time.time() - start < 3
    assert "timed out" in result["summary"]


def test_checks_run_concurrently(server: LocalServer) -> None:
    server.routes["/ready"] = (200, HANG)
    start = time.time()
    verify(params(loki_urls=[server.url + f"/p{i}/loki/api/v1/push" for i in range(4)], timeout=0.5), no_runner)
    assert time.time() - start < 2  # four hanging backends, not four timeouts in a row


def test_backend_urls_are_derived_from_push_urls(server: LocalServer) -> None:
    server.routes["/ready"] = (200, "ready")
    server.routes["/-/ready"] = (200, "Prometheus Server is Ready.")
    result = verify(params(loki_urls=[server.url + "/loki/api/v1/push"],
                           prometheus_urls=[server.url + "/api/v1/write"],
                           loki_auth={"tenant_id": "team-a", "username": "u", "password": "p"}), no_runner)
    assert result["healthy"], result["summary"]
    ready = [r.headers for r in server.requests if r.path == "/ready"][0]
    assert ready["x-scope-orgid"] == "team-a" and ready["authorization"].startswith("Basic ")


@pytest.mark.parametrize("url,kind,expected", [
    ("http://loki:3100/loki/api/v1/push", "loki", "http://loki:3100"),
    ("https://gw.example.com/loki/loki/api/v1/push", "loki", "https://gw.example.com/loki"),
    ("http://prometheus:9090/api/v1/write", "prometheus", "http://prometheus:9090"),
    ("https://mimir.example.com/api/v1/push", "prometheus", "https://mimir.example.com"),
    ("http://prometheus:9090", "prometheus", "http://prometheus:9090"),
])
def test_base_url(url: str, kind: str, expected: str) -> None:
    assert base_url(kind, url) == expected


def _query(result: List[object]) -> str:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def test_prometheus_query_without_series(server: LocalServer) -> None:
    server.routes["/-/ready"] = (200, "ok")
    server.routes["/api/v1/query"] = (200, _query([]))
    result = verify(params(prometheus_urls=[server.url], data_flow=True, instance="web-01"), no_runner)
    assert by_name(result)["data prometheus"]["detail"] == 'no series for up{instance="web-01"}'
    assert any("query=up%7Binstance%3D%22web-01%22%7D" in r.path for r in server.requests)


def test_prometheus_recent_and_stale_samples(server: LocalServer) -> None:
    server.routes["/-/ready"] = (200, "ok")
    server.routes["/api/v1/query"] = (200, _query([{"metric": {}, "value": [time.time() - 5, "1"]}]))
    assert verify(params(prometheus_urls=[server.url], data_flow=True, instance="h"), no_runner)["healthy"]
    server.routes["/api/v1/query"] = (200, _query([{"metric": {}, "value": [time.time() - 900, "1"]}]))
    result = verify(params(prometheus_urls=[server.url], data_flow=True, instance="h"), no_runner)
    assert "old (max 300s)" in by_name(result)["data prometheus"]["detail"]


def test_loki_data_flow(server: LocalServer) -> None:
    server.routes["/ready"] = (200, "ready")
    server.routes["/loki/api/v1/query_range"] = (200, json.dumps({"data": {"result": []}}))
    result = verify(params(loki_urls=[server.url], data_flow=True, instance="h"), no_runner)
    assert by_name(result)["data loki"]["detail"] == 'no log line for {instance="h"} in the last 300s'
    server.routes["/loki/api/v1/query_range"] = (200, json.dumps(
        {"data": {"result": [{"stream": {"instance": "h"}, "values": [["1", "x"]]}]}}))
    assert verify(params(loki_urls=[server.url], data_flow=True, instance="h"), no_runner)["healthy"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("pki")

    def ssl_cmd(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        ssl_cmd("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    ssl_cmd("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "srv.key", "-out", "srv.csr")
    (root / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl_cmd("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "ext", "-out", "srv.pem")
    return {name: root / name for name in ("ca.pem", "other-ca.pem", "srv.pem", "srv.key")}


@pytest.fixture()
def tls_server(pki: Dict[str, Path]) -> Iterator[LocalServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["srv.pem"], pki["srv.key"])
    srv = LocalServer(tls=ctx)
    srv.routes["/ready"] = (200, "ready")
    yield srv
    srv.close()


def test_tls_with_the_right_ca(tls_server: LocalServer, pki: Dict[str, Path]) -> None:
    result = verify(params(loki_urls=[tls_server.url], loki_auth={"ca_file": str(pki["ca.pem"])}), no_runner)
    assert result["healthy"], result["summary"]


def test_tls_with_the_wrong_ca(tls_server: LocalServer, pki: Dict[str, Path]) -> None:
    result = verify(params(loki_urls=[tls_server.url], loki_auth={"ca_file": str(pki["other-ca.pem"])}), no_runner)
    assert not result["healthy"] and "CERTIFICATE_VERIFY_FAILED" in result["summary"]


def test_tls_skip_verify(tls_server: LocalServer) -> None:
    result = verify(params(loki_urls=[tls_server.url], loki_auth={"insecure_skip_verify": True}), no_runner)
    assert result["healthy"], result["summary"]


def fake_systemctl(props: Dict[str, str]) -> Callable[[List[str]], Tuple[int, str, str]]:
    def runner(argv: List[str]) -> Tuple[int, str, str]:
        assert argv[:3] == ["systemctl", "show", "alloy.service"]
        return 0, "".join(f"{k}={v}\n" for k, v in props.items()), ""
    return runner


ACTIVE = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "MainPID": "42",
          "UnitFileState": "enabled", "ActiveEnterTimestamp": "Sat 2026-11-21 10:00:00 UTC"}


def test_service_active() -> None:
    result = verify(params(mode="systemd", require_enabled=True), fake_systemctl(ACTIVE))
    assert result["healthy"] and "MainPID 42, since Sat 2026-11-21" in result["checks"][0]["detail"]


@pytest.mark.parametrize("change,expected", [({"ActiveState": "failed", "SubState": "failed"}, "failed"),
                                             ({"UnitFileState": "disabled"}, "not enabled"),
                                             ({"LoadState": "not-found"}, "not-found")])
def test_service_problems(change: Dict[str, str], expected: str) -> None:
    result = verify(params(mode="systemd", require_enabled=True), fake_systemctl(dict(ACTIVE, **change)))
    assert not result["healthy"] and expected in result["summary"]


def test_container_running_and_unhealthy() -> None:
    state = {"Running": True, "Status": "running", "StartedAt": "2026-11-21T10:00:00Z",
             "Health": {"Status": "unhealthy"}}

    def runner(argv: List[str]) -> Tuple[int, str, str]:
        return 0, json.dumps(state), ""
    result = verify(params(mode="container"), runner)
    assert not result["healthy"] and "container alloy running (unhealthy)" in result["summary"]


def test_wait_retries_until_healthy() -> None:
    calls = {"n": 0}

    def flaky() -> object:
        from ansible_collections.fleet.alloy.plugins.module_utils.verify_checks import Check
        calls["n"] += 1
        return Check("flaky", calls["n"] >= 3, f"attempt {calls['n']}")

    results = run_all([flaky], wait=True, deadline=time.time() + 10, interval=0.01)
    assert results[0].ok and calls["n"] == 3


def test_wait_gives_up_at_the_deadline() -> None:
    from ansible_collections.fleet.alloy.plugins.module_utils.verify_checks import Check
    start = time.time()
    results = run_all([lambda: Check("never", False, "no")], wait=True, deadline=time.time() + 0.3, interval=0.05)
    assert not results[0].ok and time.time() - start < 1
