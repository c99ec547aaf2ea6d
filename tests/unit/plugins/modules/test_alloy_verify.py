"""alloy_verify's checks against real HTTP(S) servers on 127.0.0.1 and a replaceable
command runner for the service check (the real systemctl path runs in Molecule)."""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils.backends import Backend
from ansible_collections.fleet.alloy.plugins.module_utils.verify_checks import run_all
from ansible_collections.fleet.alloy.plugins.modules.alloy_verify import ARGUMENT_SPEC, problems, secrets, verify
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
    values.update(mode="none", alloy_url="", timeout=1.0, delivery=False)
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
    result = verify(params(prometheus_endpoints=[{"url": "http://127.0.0.1:9/api/v1/write"}]), no_runner)
    check = by_name(result)["prometheus http://127.0.0.1:9"]
    assert not check["ok"] and "connection refused" in check["detail"]


def test_a_server_that_never_answers_is_bounded_by_the_timeout(server: LocalServer) -> None:
    server.routes["/ready"] = (200, HANG)
    start = time.time()
    result = verify(params(loki_endpoints=[{"url": server.url + "/loki/api/v1/push"}], timeout=0.5), no_runner)
    assert time.time() - start < 3
    assert "timed out" in result["summary"]


def test_checks_run_concurrently(server: LocalServer) -> None:
    for i in range(4):
        server.routes[f"/p{i}/ready"] = (200, HANG)
    start = time.time()
    result = verify(params(loki_endpoints=[{"url": server.url + f"/p{i}/loki/api/v1/push"} for i in range(4)],
                           timeout=0.5), no_runner)
    assert [r.path for r in server.requests if r.path.endswith("/ready")] != []
    assert result["summary"].count("timed out") == 4
    assert time.time() - start < 2  # four hanging backends, not four timeouts in a row


def test_backend_auth_comes_from_the_endpoint(server: LocalServer) -> None:
    server.routes["/ready"] = (200, "ready")
    server.routes["/-/ready"] = (200, "Prometheus Server is Ready.")
    result = verify(params(loki_endpoints=[{"url": server.url + "/loki/api/v1/push", "tenant_id": "team-a",
                                            "basic_auth": {"username": "u", "password": "p"},
                                            "headers": {"X-Extra": "1"}}],
                           prometheus_endpoints=[{"url": server.url + "/api/v1/write", "bearer_token": "t0k"}]),
                    no_runner)
    assert result["healthy"], result["summary"]
    ready = [r.headers for r in server.requests if r.path == "/ready"][0]
    assert ready["x-scope-orgid"] == "team-a" and ready["authorization"] == "Basic dTpw"
    assert ready["x-extra"] == "1"
    prom = [r.headers for r in server.requests if r.path == "/-/ready"][0]
    assert prom["authorization"] == "Bearer t0k" and "x-scope-orgid" not in prom


def test_secret_files_are_read_on_the_host(server: LocalServer, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    (tmp_path / "tok").write_text("tok-file\n")
    server.routes["/ready"] = (200, "ready")
    server.routes["/-/ready"] = (200, "ok")
    verify(params(loki_endpoints=[{"url": server.url + "/loki/api/v1/push",
                                   "basic_auth": {"username": "u", "password_file": str(tmp_path / "pw")}}],
                  prometheus_endpoints=[{"url": server.url + "/api/v1/write",
                                         "bearer_token_file": str(tmp_path / "tok")}]), no_runner)
    headers = {r.path: r.headers["authorization"] for r in server.requests}
    assert headers["/ready"] == "Basic dTpmcm9tLWZpbGU=" and headers["/-/ready"] == "Bearer tok-file"


@pytest.mark.parametrize("url,kind,backend,ready,query", [
    ("http://loki:3100/loki/api/v1/push", "loki", "loki", "http://loki:3100/ready",
     "http://loki:3100/loki/api/v1/query_range"),
    ("https://gw.example.com/loki/loki/api/v1/push", "loki", "loki", "https://gw.example.com/loki/ready",
     "https://gw.example.com/loki/loki/api/v1/query_range"),
    ("https://logs-prod-006.grafana.net/loki/api/v1/push", "loki", "grafana_cloud_logs", None,
     "https://logs-prod-006.grafana.net/loki/api/v1/query_range"),
    ("http://prometheus:9090/api/v1/write", "prometheus", "prometheus", "http://prometheus:9090/-/ready",
     "http://prometheus:9090/api/v1/query"),
    ("https://mimir.example.com/api/v1/push", "prometheus", "mimir", "https://mimir.example.com/ready",
     "https://mimir.example.com/prometheus/api/v1/query"),
    ("https://prometheus-prod-01-eu-west-0.grafana.net/api/prom/push", "prometheus", "grafana_cloud_metrics", None,
     "https://prometheus-prod-01-eu-west-0.grafana.net/api/prom/api/v1/query"),
])
def test_backend_paths_follow_the_flavour(url: str, kind: str, backend: str, ready: str, query: str) -> None:
    found = Backend(kind, {"url": url})
    assert (found.flavor, found.ready_url, found.query_url) == (backend, ready, query)


def test_explicit_urls_and_switches_win() -> None:
    found = Backend("prometheus", {"url": "https://gw/x/push", "verify": {
        "backend": "mimir", "ready_url": "https://gw/health", "query_url": "https://gw/q"}})
    assert (found.flavor, found.ready_url, found.query_url) == ("mimir", "https://gw/health", "https://gw/q")
    off = Backend("prometheus", {"url": "https://gw/api/v1/write", "verify": {"ready": False, "query": False}})
    assert off.ready_url is None and off.query_url is None


def test_endpoint_mistakes_are_named_before_anything_runs() -> None:
    found = problems(params(prometheus_endpoints=[{"url": "http://p/api/v1/write",
                                                   "verify": {"backend": "loki", "querry": True}}],
                            loki_endpoints=[{"url": "ftp://x"}]))
    assert "loki_endpoints[0].url must be an http:// or https:// URL, got 'ftp://x'" in found
    assert any(p.startswith("prometheus_endpoints[0].verify.backend must be auto or one of") for p in found)
    assert "prometheus_endpoints[0].verify.querry is not an option (backend, ready, ready_url, query, query_url)" \
        in found


def test_secrets_are_listed_for_masking() -> None:
    assert sorted(secrets(params(loki_endpoints=[{"url": "http://l", "basic_auth": {"username": "u",
                                                                                   "password": "pw1"}}],
                                 prometheus_endpoints=[{"url": "http://p", "bearer_token": "tok2"}]))) == ["pw1", "tok2"]


def test_write_only_credential_gets_a_hint(server: LocalServer) -> None:
    server.routes["/api/prom/api/v1/query"] = (401, '{"status":"error","error":"authentication error: '
                                                     'invalid scope requested"}')
    result = verify(params(prometheus_endpoints=[{"url": server.url + "/api/prom/push"}], data_flow=True,
                           instance="h"), no_runner)
    detail = by_name(result)["data prometheus " + server.url]["detail"]
    assert "HTTP 401" in detail and "set verify.query: false" in detail
    assert [c["name"] for c in result["checks"]] == ["data prometheus " + server.url]  # no readiness path
    skipped = verify(params(prometheus_endpoints=[{"url": server.url + "/api/prom/push",
                                                   "verify": {"query": False}}], data_flow=True), no_runner)
    assert skipped["checks"] == [] and skipped["healthy"]


def _query(result: List[object]) -> str:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def test_prometheus_query_without_series(server: LocalServer) -> None:
    server.routes["/-/ready"] = (200, "ok")
    server.routes["/api/v1/query"] = (200, _query([]))
    result = verify(params(prometheus_endpoints=[{"url": server.url + "/api/v1/write"}], data_flow=True,
                           instance="web-01"), no_runner)
    assert by_name(result)["data prometheus " + server.url]["detail"] == 'no series for up{instance="web-01"}'
    assert any("query=up%7Binstance%3D%22web-01%22%7D" in r.path for r in server.requests)


def test_prometheus_recent_and_stale_samples(server: LocalServer) -> None:
    server.routes["/-/ready"] = (200, "ok")
    server.routes["/api/v1/query"] = (200, _query([{"metric": {}, "value": [time.time() - 5, "1"]}]))
    endpoints = [{"url": server.url + "/api/v1/write"}]
    assert verify(params(prometheus_endpoints=endpoints, data_flow=True, instance="h"), no_runner)["healthy"]
    server.routes["/api/v1/query"] = (200, _query([{"metric": {}, "value": [time.time() - 900, "1"]},
                                                   {"metric": {}, "value": [time.time() - 1000, "1"]}]))
    result = verify(params(prometheus_endpoints=endpoints, data_flow=True, instance="h"), no_runner)
    assert "old (max 300s)" in by_name(result)["data prometheus " + server.url]["detail"]
    server.routes["/api/v1/query"] = (200, _query([{"metric": {}, "value": [time.time() - 900, "1"]},
                                                   {"metric": {}, "value": [time.time() - 2, "1"]}]))
    assert verify(params(prometheus_endpoints=endpoints, data_flow=True, instance="h"), no_runner)["healthy"]


def test_loki_data_flow(server: LocalServer) -> None:
    server.routes["/ready"] = (200, "ready")
    server.routes["/loki/api/v1/query_range"] = (200, json.dumps({"data": {"result": []}}))
    endpoints = [{"url": server.url + "/loki/api/v1/push", "tenant_id": "ops"}]
    result = verify(params(loki_endpoints=endpoints, data_flow=True, instance="h"), no_runner)
    assert by_name(result)["data loki " + server.url + " tenant ops"]["detail"] == 'no log line for {instance="h"} in the last 300s'
    server.routes["/loki/api/v1/query_range"] = (200, json.dumps(
        {"data": {"result": [{"stream": {"instance": "h"}, "values": [["1", "x"]]}]}}))
    assert verify(params(loki_endpoints=endpoints, data_flow=True, instance="h"), no_runner)["healthy"]
    query = [r for r in server.requests if r.path.startswith("/loki/api/v1/query_range")][-1]
    assert query.headers["x-scope-orgid"] == "ops"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("pki")

    def ssl_cmd(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        ssl_cmd("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    ssl_cmd("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "srv.key", "-out", "srv.csr")
    (root / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:loki.lab\n")
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
    result = verify(params(loki_endpoints=[{"url": tls_server.url, "tls": {"ca_file": str(pki["ca.pem"])}}]),
                    no_runner)
    assert result["healthy"], result["summary"]
    pem = pki["ca.pem"].read_text()
    result = verify(params(loki_endpoints=[{"url": tls_server.url, "tls": {"ca_pem": pem}}]), no_runner)
    assert result["healthy"], result["summary"]


def test_tls_server_name_is_what_the_certificate_must_carry(tls_server: LocalServer, pki: Dict[str, Path]) -> None:
    tls = {"ca_file": str(pki["ca.pem"]), "server_name": "loki.example.com"}
    result = verify(params(loki_endpoints=[{"url": tls_server.url, "tls": tls}]), no_runner)
    assert not result["healthy"] and "CERTIFICATE_VERIFY_FAILED" in result["summary"]
    assert "loki.example.com" in result["summary"]
    tls["server_name"] = "loki.lab"
    result = verify(params(loki_endpoints=[{"url": tls_server.url, "tls": tls}]), no_runner)
    assert result["healthy"], result["summary"]


def test_tls_with_the_wrong_ca(tls_server: LocalServer, pki: Dict[str, Path]) -> None:
    result = verify(params(loki_endpoints=[{"url": tls_server.url, "tls": {"ca_file": str(pki["other-ca.pem"])}}]),
                    no_runner)
    assert not result["healthy"] and "CERTIFICATE_VERIFY_FAILED" in result["summary"]


def test_tls_skip_verify(tls_server: LocalServer) -> None:
    result = verify(params(loki_endpoints=[{"url": tls_server.url, "tls": {"insecure_skip_verify": True}}]),
                    no_runner)
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


# --- secrets, odd inputs, transport -------------------------------------------------------

def run_module(args: Dict[str, object]) -> subprocess.CompletedProcess[str]:
    """The module as Ansible runs it (ad hoc, on this machine), at -vvv."""
    repo = Path(__file__).resolve().parents[4]
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), ANSIBLE_INVENTORY="localhost,")
    return subprocess.run(["ansible", "localhost", "-c", "local", "-m", "fleet.alloy.alloy_verify", "-vvv",
                           "-a", json.dumps(args)], cwd=repo, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("broken", [{"delivery_window": "5s"}, {"mode": "sideways"}, {"wait_timeout": "2m"}])
def test_secrets_are_masked_when_the_arguments_are_refused(broken: Dict[str, object]) -> None:
    args = dict(mode="none", alloy_url="", loki_endpoints=[{
        "url": "http://127.0.0.1:1/loki/api/v1/push", "basic_auth": {"username": "u", "password": "S3CRET-PW-1"},
        "headers": {"X-Api-Key": "S3CRET-KEY-2"}}],
        prometheus_endpoints=[{"url": "http://127.0.0.1:1/api/v1/write", "bearer_token": "S3CRET-TOK-3"}])
    args.update(broken)
    out = run_module(args)
    assert out.returncode != 0 and list(broken)[0] in out.stdout, out.stdout[-2000:]
    for secret in ("S3CRET-PW-1", "S3CRET-KEY-2", "S3CRET-TOK-3"):
        assert secret not in out.stdout + out.stderr


def test_secrets_are_masked_in_a_result() -> None:
    out = run_module(dict(mode="none", alloy_url="", fail_on_unhealthy=False, loki_endpoints=[{
        "url": "http://127.0.0.1:1/loki/api/v1/push", "basic_auth": {"username": "u", "password": "S3CRET-PW-4"}}]))
    assert out.returncode == 0 and "healthy: false" in out.stdout, out.stdout[-2000:]
    assert "S3CRET-PW-4" not in out.stdout and "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in out.stdout


def test_a_secret_with_a_line_break_is_refused_without_repeating_it(server: LocalServer) -> None:
    endpoints = [{"url": server.url + "/api/v1/write", "bearer_token": "TOK-5\n"}]
    assert problems(params(prometheus_endpoints=endpoints)) == [
        "prometheus_endpoints[0].bearer_token holds a line break or control character (a trailing newline from "
        "a vault block scalar?): remove it"]
    result = verify(params(prometheus_endpoints=endpoints), no_runner)  # had it slipped through
    assert "TOK-5" not in json.dumps(result) and "header Authorization holds a line break" in result["summary"]


@pytest.mark.parametrize("value,checked", [("false", False), ("no", False), ("False", False), ("true", True),
                                           (True, True), (None, True)])
def test_switches_given_as_strings(value: object, checked: bool) -> None:
    verify_opts = {} if value is None else {"ready": value, "query": value}
    found = Backend("prometheus", {"url": "https://p/api/v1/write", "verify": verify_opts,
                                   "tls": {"insecure_skip_verify": value if value is not None else False}})
    assert (found.ready_url is not None, found.query_url is not None) == (checked, checked)
    assert found.tls.insecure_skip_verify is (value is not None and checked)
    assert problems(params(prometheus_endpoints=[{"url": "https://p/api/v1/write", "verify": {"ready": "maybe"}}])) \
        == ["prometheus_endpoints[0].verify.ready must be true or false, got 'maybe'"]


def test_an_explicit_backend_strips_any_push_path_of_its_kind() -> None:
    found = Backend("prometheus", {"url": "https://gw.example/api/prom/push", "verify": {"backend": "mimir"}})
    assert (found.ready_url, found.query_url) == ("https://gw.example/ready", "https://gw.example/prometheus/api/v1/query")


def test_check_names_tell_endpoints_apart() -> None:
    assert Backend("loki", {"url": "https://gw:3100/loki/api/v1/push", "tenant_id": "ops"}).label == \
        "loki https://gw:3100 tenant ops"
    assert Backend("prometheus", {"url": "https://m/api/v1/push", "name": "team_b"}).label == \
        "prometheus https://m (team_b)"
    assert problems(params(prometheus_endpoints=[{"url": "https://m/api/v1/push"}, {"url": "https://m/api/v1/push"}])) \
        == ["prometheus_endpoints[0, 1] share the url https://m/api/v1/push: give each a distinct name"]


def test_credentials_never_follow_a_redirect(server: LocalServer) -> None:
    server.routes["/-/ready"] = (302, "moved")
    result = verify(params(prometheus_endpoints=[{"url": server.url + "/api/v1/write", "bearer_token": "t"}]),
                    no_runner)
    assert not result["healthy"] and "HTTP 302" in result["summary"]
    assert [r.path for r in server.requests] == ["/-/ready"]


def test_metrics_are_read_whole(server: LocalServer) -> None:
    from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import MAX_BODY, request
    server.routes["/metrics"] = (200, "# padding\n" * (MAX_BODY // 10 + 10) + "loki_write_sent_entries_total 1\n")
    assert request(server.url + "/metrics", max_body=None).body.endswith("loki_write_sent_entries_total 1\n")
    assert len(request(server.url + "/metrics").body) == MAX_BODY


def _idle_remote_write(url: str, now: float) -> str:
    labels = 'component_id="prometheus.remote_write.default",component_path="/",remote_name="q",url="%s"' % url
    return ("prometheus_remote_storage_samples_total{%s} 40\n"
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds{%s} %d\n"
            'prometheus_remote_storage_highest_timestamp_in_seconds{component_id="prometheus.remote_write.default",'
            'component_path="/"} %d\n' % (labels, labels, now, now))


@pytest.mark.parametrize("series, early", [([{"metric": {}, "value": [time.time(), "1"]}], True), ([], False)])
def test_the_data_check_confirms_an_idle_endpoint_to_the_delivery_check(
        server: LocalServer, series: List[object], early: bool) -> None:
    # One Alloy and one Prometheus on the same server: the remote write endpoint is idle (no
    # send in the window). With the host's series at the backend the window ends at the first
    # poll; without, it runs to its end (and passes: idle, delivered before).
    alloy_routes(server, components=[{"name": "prometheus.remote_write", "localID": "prometheus.remote_write.default",
                                      "health": {"state": "healthy"}}])
    write = server.url + "/api/v1/write"
    server.routes["/metrics"] = (200, _idle_remote_write(write, time.time()))
    server.routes["/api/v1/query"] = (200, _query(series))
    result = verify(params(alloy_url=server.url, delivery=True, delivery_window=3.0, data_flow=True, instance="h",
                           prometheus_endpoints=[{"url": write, "verify": {"ready": False}}]), no_runner)
    delivery = by_name(result)["delivery prometheus"]
    assert delivery["ok"] and ("asked in this window, has this host's recent data" in delivery["detail"]) is early
    reads = [r.path for r in server.requests].count("/metrics")
    assert reads <= 3 if early else "idle in 3" in delivery["detail"]   # 7 reads unless the machine is slow
