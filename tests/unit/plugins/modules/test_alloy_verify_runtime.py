"""alloy_verify's option runtime (the runtime contract, the fact alloy_runtime): what it puts in
place of mode, service or container, alloy_url and instance, what it refuses, and that the
module's arguments keep it apart from the options it replaces."""
from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import verify_checks as vc
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import Response
from ansible_collections.fleet.alloy.plugins.modules import alloy_verify as av
from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime as rt
from module_main import run_main


def params(**overrides: Any) -> Dict[str, Any]:
    values: Dict[str, Any] = {name: spec.get("default") for name, spec in av.ARGUMENT_SPEC.items()}
    values.update(overrides)
    return values


def systemd_runtime(**changes: Any) -> Dict[str, Any]:
    checked = {"config_path": "/etc/alloy/conf.d", "group": "alloy", "listen_address": "127.0.0.1:23456"}
    built = rt.systemd(checked, {"os_family": "RedHat", "hostname": "web-1"}, "web-1.example.com")
    built.update(changes)
    return built


def compose_runtime(**changes: Any) -> Dict[str, Any]:
    checked = {"pull": "missing", "container_name": "fleet-alloy", "config_dir": "/opt/alloy/config",
               "project_dir": "/opt/alloy", "image": "grafana/alloy:v1.5.1", "publish_address": "0.0.0.0",
               "port": 12399, "hostname": "box-7"}
    built = rt.compose(checked)
    built.update(changes)
    return built


# --- with_runtime --------------------------------------------------------------------------------

def test_a_systemd_runtime_gives_the_unit_and_its_url() -> None:
    given = params(runtime=systemd_runtime())
    got = av.with_runtime(given)
    assert (got["mode"], got["service"], got["alloy_url"], got["instance"]) == \
        ("systemd", "alloy.service", "http://127.0.0.1:23456", "web-1")
    assert got["container"] == "alloy"  # untouched default
    assert given["alloy_url"] == "http://127.0.0.1:12345" and given["instance"] == ""  # the input is not changed


def test_a_systemd_runtime_names_a_unit_other_than_the_default() -> None:
    got = av.with_runtime(params(runtime=systemd_runtime(service="grafana-alloy.service")))
    assert (got["mode"], got["service"]) == ("systemd", "grafana-alloy.service")


def test_a_compose_runtime_gives_the_container_and_its_url() -> None:
    got = av.with_runtime(params(runtime=compose_runtime()))
    assert (got["mode"], got["container"], got["alloy_url"], got["instance"]) == \
        ("container", "fleet-alloy", "http://127.0.0.1:12399", "box-7")
    assert got["service"] == "alloy.service"  # untouched default


@pytest.mark.parametrize("build", [systemd_runtime, compose_runtime])
def test_an_instance_given_to_the_module_wins_over_the_runtimes(build: Any) -> None:
    assert av.with_runtime(params(runtime=build(), instance="chosen"))["instance"] == "chosen"


@pytest.mark.parametrize("instance", [None, ""])
def test_no_instance_anywhere_stays_empty(instance: Any) -> None:
    assert av.with_runtime(params(runtime=systemd_runtime(instance=instance)))["instance"] == ""


@pytest.mark.parametrize("runtime", [None, {}])
def test_without_a_runtime_the_parameters_are_as_given(runtime: Any) -> None:
    given = params(runtime=runtime, mode="none", alloy_url="http://a:1", instance="")
    assert av.with_runtime(given) == given


@pytest.mark.parametrize("runtime", [
    systemd_runtime(kind="docker"),
    systemd_runtime(kind="Systemd"),
    systemd_runtime(kind=None),
    {k: v for k, v in systemd_runtime().items() if k != "kind"},
    systemd_runtime(service=""),
    {k: v for k, v in compose_runtime().items() if k != "service"},
    compose_runtime(api_url=""),
    {k: v for k, v in systemd_runtime().items() if k != "api_url"},
])
def test_a_runtime_it_cannot_read_is_refused(runtime: Dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"^runtime: expected the fact alloy_runtime"):
        av.with_runtime(params(runtime=runtime))


def test_the_refusal_names_the_kind() -> None:
    with pytest.raises(ValueError, match=r"got kind 'docker'$"):
        av.with_runtime(params(runtime=systemd_runtime(kind="docker")))


# --- the module ----------------------------------------------------------------------------------

class Recorder:
    """http_probe.request as the checks see it: 200 "ok", an empty component list."""

    def __init__(self) -> None:
        self.urls: List[str] = []

    def __call__(self, url: str, **kwargs: Any) -> Response:
        self.urls.append(url)
        return Response(200, "[]" if url.endswith("/api/v0/web/components") else "ok")


@pytest.fixture()
def http(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()
    monkeypatch.setattr(vc, "request", recorder)
    yield recorder


@pytest.fixture()
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[List[str]]]:
    """The module's run_command, recording what it is asked to run: the unit active, the
    container running."""
    seen: List[List[str]] = []

    def run_command(self: Any, argv: List[str], **kwargs: Any) -> Tuple[int, str, str]:
        seen.append(list(argv))
        if argv[0] == "systemctl":
            return 0, "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n", ""
        return 0, json.dumps({"Running": True, "Status": "running"}), ""
    monkeypatch.setattr(av._MaskingModule, "run_command", run_command)
    yield seen


@pytest.mark.parametrize("option,value", [("mode", "none"), ("mode", "systemd"), ("service", "alloy.service"),
                                          ("container", "alloy"), ("alloy_url", "http://127.0.0.1:12345")])
def test_the_runtime_and_an_option_it_replaces_are_refused_together(http: Recorder, commands: List[List[str]],
                                                                     option: str, value: str) -> None:
    failed, result = run_main(av.main, {"runtime": systemd_runtime(), option: value, "delivery": False})
    assert failed
    assert "mutually exclusive" in result["msg"] and "runtime|%s" % option in result["msg"]
    assert http.urls == [] and commands == []


def test_main_checks_the_unit_and_the_url_of_a_systemd_runtime(http: Recorder, commands: List[List[str]]) -> None:
    failed, result = run_main(av.main, {"runtime": systemd_runtime(), "delivery": False})
    assert not failed, result
    assert [c[:3] for c in commands] == [["systemctl", "show", "alloy.service"]]
    assert http.urls and all(u.startswith("http://127.0.0.1:23456/") for u in http.urls)
    assert [c["name"] for c in result["checks"]] == ["service", "alloy ready", "alloy healthy", "components"]


def test_main_checks_the_container_and_the_url_of_a_compose_runtime(http: Recorder, commands: List[List[str]]) -> None:
    failed, result = run_main(av.main, {"runtime": compose_runtime(), "delivery": False})
    assert not failed, result
    assert commands and commands[0][0] == "docker" and commands[0][-1] == "fleet-alloy"
    assert http.urls and all(u.startswith("http://127.0.0.1:12399/") for u in http.urls)
    assert result["checks"][0]["name"] == "container"


def test_main_fails_on_a_runtime_it_cannot_read(http: Recorder, commands: List[List[str]]) -> None:
    failed, result = run_main(av.main, {"runtime": compose_runtime(kind="podman"), "delivery": False})
    assert failed and result["msg"].startswith("alloy_verify: runtime: expected the fact alloy_runtime")
    assert "'podman'" in result["msg"]
    assert http.urls == [] and commands == []


def test_the_runtimes_instance_names_this_hosts_data(http: Recorder, commands: List[List[str]]) -> None:
    args = {"runtime": compose_runtime(), "delivery": False, "data_flow": True, "fail_on_unhealthy": False,
            "prometheus_endpoints": [{"url": "http://prom:9090/api/v1/write"}]}
    failed, _ = run_main(av.main, args)
    assert not failed
    queries = [u for u in http.urls if u.startswith("http://prom:9090/api/v1/query")]
    assert len(queries) == 1 and "box-7" in queries[0]
    http.urls.clear()
    run_main(av.main, dict(args, instance="given"))
    queries = [u for u in http.urls if u.startswith("http://prom:9090/api/v1/query")]
    assert len(queries) == 1 and "given" in queries[0] and "box-7" not in queries[0]
