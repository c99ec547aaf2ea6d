"""The alloy_verify module (plugins/modules/alloy_verify.py) and what it builds on
(module_utils/backends.py): which checks the options ask for, the module's exits, the
documented options, and how an endpoint becomes a backend to check (paths, auth headers,
TLS). Written against the survivors of ./dev mutate (docs/testing.md)."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml
from ansible_collections.fleet.alloy.plugins.module_utils import backends as bk
from ansible_collections.fleet.alloy.plugins.module_utils import verify_checks as vc
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import Response
from ansible_collections.fleet.alloy.plugins.modules import alloy_verify as av
from module_main import run_main


def params(**overrides: Any) -> Dict[str, Any]:
    values: Dict[str, Any] = {name: spec.get("default") for name, spec in av.ARGUMENT_SPEC.items()}
    values.update(overrides)
    return values


class Recorder:
    """http_probe.request as the checks see it: answers 200 "ok" (an empty component list
    for Alloy's components) unless told otherwise."""

    def __init__(self) -> None:
        self.urls: List[str] = []
        self.answers: Dict[str, Response] = {}

    def __call__(self, url: str, **kwargs: Any) -> Response:
        self.urls.append(url)
        default = Response(200, "[]" if url.endswith("/api/v0/web/components") else "ok")
        return self.answers.get(url.split("?")[0], default)


@pytest.fixture()
def http(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()
    monkeypatch.setattr(vc, "request", recorder)
    yield recorder


def names(checks: List[Any]) -> List[str]:
    return [c().name for c in checks]


def runner(argv: List[str]) -> Tuple[int, str, str]:
    if argv[0] == "systemctl":
        return 0, "LoadState=loaded\nActiveState=active\nUnitFileState=disabled\n", ""
    return 0, json.dumps({"Running": True, "Status": "running"}), ""


# --- which checks ------------------------------------------------------------------------------

def test_the_service_check_follows_the_mode(http: Recorder) -> None:
    base = dict(alloy_url="", delivery=False)
    systemd = av.build_checks(params(mode="systemd", service="grafana-alloy.service", **base), runner)
    assert names(systemd) == ["service"]
    assert "grafana-alloy.service" in systemd[0]().detail
    assert not av.build_checks(params(mode="systemd", require_enabled=True, **base), runner)[0]().ok
    container = av.build_checks(params(mode="container", container="agent", **base), runner)
    assert names(container) == ["container"] and container[0]().detail.startswith("container agent running")
    assert av.build_checks(params(mode="none", **base), runner) == []


def test_alloys_own_checks_use_the_base_url_without_its_trailing_slash(http: Recorder) -> None:
    http.answers["http://a:1/api/v0/web/components"] = Response(200, json.dumps(
        [{"localID": "x", "health": {"state": "healthy"}}]))
    checks = av.build_checks(params(mode="none", alloy_url="http://a:1/", delivery=False, components=["x"]), runner)
    assert names(checks) == ["alloy ready", "alloy healthy", "components"]
    assert http.urls == ["http://a:1/-/ready", "http://a:1/-/healthy", "http://a:1/api/v0/web/components"]
    assert checks[2]().detail == "1 components healthy"


def test_delivery_is_checked_for_the_kinds_given_or_for_both(http: Recorder) -> None:
    loki = [{"url": "http://l:3100/loki/api/v1/push"}]
    given = av.build_checks(params(mode="none", loki_endpoints=loki, data_flow=False), runner)
    assert [n for n in names(given) if n.startswith("delivery")] == ["delivery loki"]
    neither = av.build_checks(params(mode="none"), runner)
    assert [n for n in names(neither) if n.startswith("delivery")] == ["delivery loki", "delivery prometheus"]
    off = av.build_checks(params(mode="none", delivery=False), runner)
    assert not [n for n in names(off) if n.startswith("delivery")]


def test_delivery_judges_the_configured_endpoints_only(http: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[Any] = []

    def fake(base: str, kind: str, endpoints: Any, window: float, max_lag: float, timeout: float,
             tls: Any = None, evidence: Any = None) -> Any:
        seen.append((base, kind, endpoints, window, max_lag, timeout))
        return lambda: vc.Check("delivery " + kind, True, "")
    monkeypatch.setattr(av, "delivery_check", fake)
    prom = [{"url": "http://p/api/v1/write"}]
    av.build_checks(params(mode="none", prometheus_endpoints=prom, delivery_window=3.0, max_age=120, timeout=2.0),
                    runner)
    assert seen == [("http://127.0.0.1:12345", "prometheus", prom, 3.0, 120, 2.0)]
    seen.clear()
    av.build_checks(params(mode="none"), runner)
    assert [(kind, endpoints) for _, kind, endpoints, *_ in seen] == [("loki", None), ("prometheus", None)]


def test_backend_checks_readiness_and_optionally_this_hosts_data(http: Recorder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(av.socket, "gethostname", lambda: "web-01")
    endpoints = dict(loki_endpoints=[{"url": "http://l:3100/loki/api/v1/push"}],
                     prometheus_endpoints=[{"url": "https://c.grafana.net/api/prom/push"},
                                           {"url": "http://p:9090/api/v1/write", "verify": {"query": False}}])
    ready_only = av.build_checks(params(mode="none", alloy_url="", **endpoints), runner)
    assert names(ready_only) == ["loki http://l:3100", "prometheus http://p:9090"]  # Grafana Cloud: no readiness
    http.urls.clear()
    with_data = av.build_checks(params(mode="none", alloy_url="", data_flow=True, **endpoints), runner)
    assert names(with_data) == ["loki http://l:3100", "prometheus http://p:9090", "data loki http://l:3100",
                                "data prometheus https://c.grafana.net"]
    assert "query=%7Binstance%3D%22web-01%22%7D" in http.urls[2]
    assert http.urls[3] == "https://c.grafana.net/api/prom/api/v1/query?query=up%7Binstance%3D%22web-01%22%7D"


def test_the_instance_and_the_queries_can_be_given(http: Recorder) -> None:
    endpoints = dict(loki_endpoints=[{"url": "http://l:3100/loki/api/v1/push", "verify": {"ready": False}}],
                     prometheus_endpoints=[{"url": "http://p:9090/api/v1/write", "verify": {"ready": False}}])
    av.build_checks(params(mode="none", alloy_url="", data_flow=True, instance="db-2", **endpoints), runner)
    checks = av.build_checks(params(mode="none", alloy_url="", data_flow=True, instance="db-2", **endpoints), runner)
    http.urls.clear()
    [c() for c in checks]
    assert "query=%7Binstance%3D%22db-2%22%7D" in http.urls[0] and "query=up%7Binstance%3D%22db-2%22%7D" in http.urls[1]
    checks = av.build_checks(params(mode="none", alloy_url="", data_flow=True, loki_query='{job="x"}',
                                    prometheus_query="node_load1", **endpoints), runner)
    http.urls.clear()
    [c() for c in checks]
    assert "query=%7Bjob%3D%22x%22%7D" in http.urls[0] and http.urls[1].endswith("query=node_load1")


def test_verify_reports_every_check_and_waits_when_asked(http: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    http.answers["http://a/-/healthy"] = Response(500, "unhealthy")
    result = av.verify(params(mode="none", alloy_url="http://a", delivery=False), runner)
    assert result["changed"] is False and result["healthy"] is False
    assert result["failed_checks"] == ["alloy healthy"]
    assert [c["name"] for c in result["checks"]] == ["alloy ready", "alloy healthy", "components"]
    assert result["summary"].startswith("unhealthy: 1 of 3 checks failed: alloy healthy (HTTP 500")
    asked: Dict[str, Any] = {}

    def run_all(checks: List[Any], wait: bool, deadline: float, interval: float) -> List[vc.Check]:
        asked.update(wait=wait, deadline=deadline, interval=interval)
        return [vc.Check("x", True, "")]
    monkeypatch.setattr(av, "run_all", run_all)
    monkeypatch.setattr(av.time, "time", lambda: 1000.0)
    healthy = av.verify(params(mode="none", alloy_url="", wait=True, wait_timeout=30, wait_interval=0.5), runner)
    assert asked == {"wait": True, "deadline": 1030.0, "interval": 0.5}
    assert healthy["healthy"] is True and healthy["failed_checks"] == []


# --- options, problems, secrets --------------------------------------------------------------

def test_endpoint_problems_name_the_module_option() -> None:
    found = av.problems(params(loki_endpoints=[{"url": "x"}], prometheus_endpoints=[{"url": "y"}]))
    assert [p.split(".")[0] for p in found] == ["loki_endpoints[0]", "prometheus_endpoints[0]"]


def test_secrets_of_any_shape_are_found_for_masking() -> None:
    found = av.secrets({"loki_endpoints": [
        {"url": "u", "bearer_token": "tok", "headers": {"X-Api-Key": "k1", "Authorization": "a1", "X-Source": "fleet",
                                                          "Cookie": "c1", "x-secret-thing": "s1"}},
        "not a mapping",
        {"url": "u", "basic_auth": {"username": "user", "password": 12345}, "headers": ["not", "a", "mapping"]},
        {"url": "u", "basic_auth": "not a mapping", "bearer_token": ""},
    ], "prometheus_endpoints": "not a list"})
    assert found == ["tok", "k1", "a1", "c1", "s1", "12345"]
    assert av.secrets({}) == []


def test_the_documented_options_are_the_module_options() -> None:
    documented = yaml.safe_load(av.DOCUMENTATION)["options"]
    assert set(documented) == set(av.ARGUMENT_SPEC)
    for name, spec in av.ARGUMENT_SPEC.items():
        doc = documented[name]
        assert spec["type"] == doc["type"], name
        assert spec.get("default") == doc.get("default"), name
        assert spec.get("choices") == doc.get("choices"), name
        assert spec.get("elements") == doc.get("elements"), name


# --- the module's exits ------------------------------------------------------------------------

def test_main_fails_on_endpoint_mistakes_before_any_check(http: Recorder) -> None:
    failed, result = run_main(av.main, {"mode": "none", "alloy_url": "", "loki_endpoints": [{"url": "ftp://x"}]})
    assert failed and result["msg"].startswith("alloy_verify: loki_endpoints[0].url must be an http:// or https://")
    assert http.urls == []


def test_main_fails_when_unhealthy_unless_told_not_to(http: Recorder) -> None:
    http.answers["http://a/-/ready"] = Response(503, "not ready")
    args = {"mode": "none", "alloy_url": "http://a", "delivery": False}
    failed, result = run_main(av.main, args)
    assert failed and result["msg"] == "alloy_verify: " + result["summary"] and result["healthy"] is False
    assert result["failed_checks"] == ["alloy ready"]
    failed, result = run_main(av.main, dict(args, fail_on_unhealthy=False))
    assert not failed and result["healthy"] is False and result["changed"] is False


def test_main_exits_healthy(http: Recorder) -> None:
    failed, result = run_main(av.main, {"mode": "none", "alloy_url": "http://a", "delivery": False})
    assert not failed and result["healthy"] is True and result["summary"] == "healthy: 3 checks passed"
    assert [c["detail"] for c in result["checks"]] == ["HTTP 200: ok", "HTTP 200: ok", "0 components healthy"]


def test_main_masks_the_secrets_in_what_it_returns(http: Recorder) -> None:
    http.answers["http://l:3100/ready"] = Response(401, "bad password S3CRET-PW")
    failed, result = run_main(av.main, {"mode": "none", "alloy_url": "", "loki_endpoints": [
        {"url": "http://l:3100/loki/api/v1/push", "basic_auth": {"username": "u", "password": "S3CRET-PW"}}]})
    assert failed and "S3CRET-PW" not in json.dumps(result)
    failed, result = run_main(av.main, {"mode": "none", "alloy_url": "", "fail_on_unhealthy": False,
                                        "prometheus_endpoints": [{"url": "http://p/api/v1/write",
                                                                  "bearer_token": "S3CRET-TOK"}],
                                        "prometheus_query": "S3CRET-TOK"})
    assert not failed and "S3CRET-TOK" not in json.dumps(result)


# --- backends.py -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,url,flavor", [
    ("loki", "https://logs-prod-006.grafana.net/loki/api/v1/push", "grafana_cloud_logs"),
    ("loki", "https://grafana.net.example.com/loki/api/v1/push", "loki"),
    ("loki", "unix-socket-without-host", "loki"),
    ("prometheus", "https://x.grafana.net/api/prom/push/", "grafana_cloud_metrics"),
    ("prometheus", "https://mimir/api/v1/push/", "mimir"),
    ("prometheus", "https://prom/api/v1/write", "prometheus"),
])
def test_the_flavour_is_guessed_from_the_push_url(kind: str, url: str, flavor: str) -> None:
    assert bk.detect(kind, url) == flavor


def test_verify_mapping_mistakes_name_the_variable() -> None:
    assert bk.flavor_problems("loki", {"url": "u"}, "e[0]") == []
    assert bk.flavor_problems("loki", {"verify": {}}, "e[0]") == []
    assert bk.flavor_problems("loki", {"verify": "yes"}, "e[0]") == [
        "e[0].verify must be a mapping (backend, ready, ready_url, query, query_url)"]
    assert bk.flavor_problems("loki", {"verify": {"backend": "mimir", "ready_url": "ftp://x", "query_url": 7,
                                                  "query": "maybe", "extra": 1}}, "e[0]") == [
        "e[0].verify.extra is not an option (backend, ready, ready_url, query, query_url)",
        "e[0].verify.backend must be auto or one of grafana_cloud_logs, loki, got 'mimir'",
        "e[0].verify.ready_url must be an http:// or https:// URL, got 'ftp://x'",
        "e[0].verify.query_url must be an http:// or https:// URL, got 7",
        "e[0].verify.query must be true or false, got 'maybe'"]
    fine = {"backend": "grafana_cloud_metrics", "ready_url": "http://r", "query_url": "https://q", "ready": "no",
            "query": True}
    assert bk.flavor_problems("prometheus", {"verify": fine}, "e[0]") == []
    assert bk.flavor_problems("prometheus", {"verify": {"backend": "auto", "ready": None}}, "e[0]") == []


@pytest.mark.parametrize("url,base", [
    ("https://gw/prefix/api/prom/push", "https://gw/prefix"),
    ("https://gw/x/api/v1/write/?a=1#f", "https://gw/x"),
    ("https://gw/x/api/v1/push", "https://gw/x"),
    ("https://gw/custom/path", "https://gw/custom/path"),
])
def test_the_base_url_drops_any_push_path_of_the_kind(url: str, base: str) -> None:
    assert bk.Backend("prometheus", {"url": url}).base == base


def test_a_loki_base_keeps_a_prometheus_push_path() -> None:
    assert bk.Backend("loki", {"url": "http://l/api/v1/push"}).base == "http://l/api/v1/push"


def test_a_grafana_cloud_backend_has_no_readiness_path_unless_given() -> None:
    cloud = {"url": "https://logs.grafana.net/loki/api/v1/push"}
    assert bk.Backend("loki", cloud).ready_url is None
    given = bk.Backend("loki", dict(cloud, verify={"ready_url": "https://status/ready"}))
    assert given.ready_url == "https://status/ready"
    assert bk.Backend("loki", dict(cloud, verify={"query": "false"})).query_url is None


def test_tls_options_reach_the_client() -> None:
    tls = bk.Backend("loki", {"url": "https://l/loki/api/v1/push", "tls": {
        "ca_file": "/ca.pem", "ca_pem": "PEM", "cert_file": "/c.pem", "key_file": "/c.key", "server_name": "loki.lab",
        "insecure_skip_verify": "yes", "min_version": "TLS12"}}).tls
    assert (tls.ca_file, tls.ca_pem, tls.cert_file, tls.key_file, tls.server_name, tls.insecure_skip_verify) == \
        ("/ca.pem", "PEM", "/c.pem", "/c.key", "loki.lab", True)
    unreadable = bk.Backend("loki", {"url": "https://l/loki/api/v1/push", "tls": {"insecure_skip_verify": "maybe"}})
    assert unreadable.tls.insecure_skip_verify is False  # verification stays on
    plain = bk.Backend("loki", {"url": "https://l/loki/api/v1/push"}).tls
    assert (plain.ca_file, plain.cert_file, plain.server_name, plain.insecure_skip_verify) == (None, None, None, False)


def test_labels_tell_tenants_and_names_apart() -> None:
    assert bk.Backend("loki", {"url": "http://l/loki/api/v1/push"}).label == "loki http://l"
    assert bk.Backend("prometheus", {"url": "http://p/api/v1/write", "tenant_id": "x"}).label == "prometheus http://p"
    assert bk.Backend("loki", {"url": "http://l/loki/api/v1/push", "tenant_id": "t", "name": "n"}).label == \
        "loki http://l tenant t (n)"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_headers_carry_the_tenant_for_loki_only_and_the_endpoint_headers_as_text() -> None:
    loki = bk.Backend("loki", {"url": "http://l/loki/api/v1/push", "tenant_id": 42, "headers": {"X-N": 1}})
    assert loki.headers() == {"X-N": "1", "X-Scope-OrgID": "42"}
    prom = bk.Backend("prometheus", {"url": "http://p/api/v1/write", "tenant_id": "t"})
    assert prom.headers() == {}


def test_a_bearer_token_wins_over_basic_auth_and_is_read_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("  file-token\n")
    both = {"url": "http://p/api/v1/write", "bearer_token": "tok", "basic_auth": {"username": "u", "password": "p"}}
    assert bk.Backend("prometheus", both).headers()["Authorization"] == "Bearer tok"
    from_file = {"url": "http://p/api/v1/write", "bearer_token_file": str(tmp_path / "tok")}
    assert bk.Backend("prometheus", from_file).headers() == {"Authorization": "Bearer file-token"}


def test_basic_auth_reads_the_password_or_its_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    given = {"url": "http://p/api/v1/write", "basic_auth": {"username": "u", "password": "pw",
                                                           "password_file": str(tmp_path / "pw")}}
    assert bk.Backend("prometheus", given).headers()["Authorization"] == basic("u", "pw")
    filed = {"url": "http://p/api/v1/write", "basic_auth": {"username": "u", "password": "",
                                                           "password_file": str(tmp_path / "pw")}}
    assert bk.Backend("prometheus", filed).headers()["Authorization"] == basic("u", "from-file")
    bare = {"url": "http://p/api/v1/write", "basic_auth": {"password": "pw"}}
    assert bk.Backend("prometheus", bare).headers()["Authorization"] == basic("", "pw")
    no_password = {"url": "http://p/api/v1/write", "basic_auth": {"username": "u"}}
    assert bk.Backend("prometheus", no_password).headers()["Authorization"] == basic("u", "")
    assert bk.Backend("prometheus", {"url": "http://p/api/v1/write", "basic_auth": {}}).headers() == {}


def test_main_checks_in_check_mode_too(http: Recorder) -> None:
    failed, result = run_main(av.main, {"mode": "none", "alloy_url": "http://a", "delivery": False}, check_mode=True)
    assert not failed and not result.get("skipped") and result["summary"] == "healthy: 3 checks passed"
