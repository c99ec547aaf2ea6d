"""The Alloy stand-in's remotecfg block (Grafana Fleet Management's client) against the Fleet
Management stand-in, both in process: registration, pipelines chosen by attributes and run as
modules, reloads, the cache, FAILED reports and not_modified."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from alloy_standin.cli import cmd_validate
from alloy_standin.remotecfg import fnv32
from alloy_standin.server import Agent
from alloy_standin.telemetry import attr, evaluate
from fleet_standin.fleet import Fleet, Pipeline
from fleet_standin.server import Settings, make_server
from lab_wire.connect import ConnectError
from standin_harness import VERSION, FakeClock, get, running_agent, serving

USER, TOKEN = "300001", "lab-throwaway-fleet-token"
PROD = 'loki.write "w" {\n\tendpoint {\n\t\turl = "http://127.0.0.1:9/loki/api/v1/push"\n\t}\n' \
       '\texternal_labels = {env = argument.attributes.value["env"]}\n}\n'
DEV = 'prometheus.exporter.self "s" { }\n'
LOCAL = 'prometheus.exporter.unix "local" { }\n'


class FlakyFleet(Fleet):
    """Registers collectors but cannot serve configurations while failing is set."""
    failing = False

    def get_config(self, request: Dict[str, object], user: str,  # type: ignore[override]
                   agent: str) -> Dict[str, object]:
        if self.failing:
            raise ConnectError("unavailable", "config store unavailable")
        return super().get_config(request, user, agent)  # type: ignore[arg-type]


def pipelines() -> Dict[str, Pipeline]:
    return {"prod_logs": Pipeline("prod_logs", PROD, ['env="prod"']),
            "dev_metrics": Pipeline("dev_metrics", DEV, ['env="dev"'])}


@contextmanager
def fleet_server(fleet: Fleet, tls: Tuple[Path, Path] = ()) -> Iterator[str]:  # type: ignore[assignment]
    settings = Settings(users={USER: TOKEN}, cert=tls[0] if tls else None, key=tls[1] if tls else None)
    with serving(make_server(("127.0.0.1", 0), settings, fleet)) as server:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"


def config(url: str, env: str, extra: str = "") -> str:
    return f'''{LOCAL}
remotecfg {{
	url            = "{url}"
	poll_frequency = "10s"
	attributes     = {{"env" = "{env}", "region" = "eu"}}
	basic_auth {{
		username = "{USER}"
		password = "{TOKEN}"
	}}
{extra}}}
'''


def collector(fleet: Fleet) -> Dict[str, object]:
    found = fleet.snapshot()["collectors"]
    assert len(found) == 1, found
    return found[0]


def listing(base: str, path: str) -> List[Dict[str, object]]:
    status, body = get(base + path)
    assert status == 200, body
    return json.loads(body)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, name
    return float(found.group(1))


def test_registers_with_attributes_and_runs_the_served_pipeline(tmp_path: Path, clock: FakeClock) -> None:
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url, running_agent(config(url, "prod"), tmp_path, clock) as (agent, base):
        seen = collector(fleet)
        assert (seen["register_calls"], seen["get_config_calls"]) == (1, 0)  # Update registers during the load
        assert get(base + "/api/v0/web/remotecfg/components")[0] == 500  # Run has not started yet
        agent.remotecfg.begin()
        seen = collector(fleet)
        seed = json.loads((tmp_path / "data" / "alloy_seed.json").read_text())
        assert seen["id"] == seed["UID"] and uuid.UUID(seed["UID"])
        assert seen["local_attributes"] == {"env": "prod", "region": "eu", "collector.os": "linux",
                                            "collector.version": f"v{VERSION}"}
        assert seen["user"] == USER and seen["user_agent"].startswith(f"Alloy/v{VERSION} (linux;")
        assert seen["pipelines"] == ["prod_logs"] and seen["registered"]
        assert (seen["register_calls"], seen["get_config_calls"]) == (2, 2)  # fetch, status report, register
        assert [s["status"] for s in seen["status_history"]] == ["RemoteConfigStatuses_UNSET",
                                                                 "RemoteConfigStatuses_APPLIED"]
        assert "prod_logs" in seen["effective_config"]
        roots = listing(base, "/api/v0/web/remotecfg/components")
        assert [(c["name"], c["localID"], c["moduleID"], c["health"]["state"], c["createdModuleIDs"])
                for c in roots] == [("prod_logs", "prod_logs.default", "remotecfg", "healthy",
                                     ["remotecfg/prod_logs.default"])]
        inner = listing(base, "/api/v0/web/remotecfg/modules/remotecfg/prod_logs.default/components")
        assert [(c["localID"], c["moduleID"], c["health"]["state"]) for c in inner] == [
            ("loki.write.w", "remotecfg/prod_logs.default", "healthy")]
        assert get(base + "/api/v0/web/remotecfg/components/remotecfg/prod_logs.default/loki.write.w")[0] == 200
        assert "loki.write.w" in agent.remotecfg.runtime.telemetry["remotecfg/prod_logs.default"].writers()
        block = agent.remotecfg.runtime.components["remotecfg/prod_logs.default"]["loki.write.w"].block
        assert evaluate(attr(block, "external_labels")) == {"env": "prod"}  # argument.attributes.value["env"]
        assert [c["localID"] for c in listing(base, "/api/v0/web/components")] == ["prometheus.exporter.unix.local"]
        cache = tmp_path / "data" / "remotecfg" / agent.remotecfg.args_hash
        assert cache.read_text() == fleet.get_config({"id": seen["id"], "local_attributes": seen["local_attributes"]},
                                                     USER, "")["content"]
        text = get(base + "/metrics")[1]
        assert metric(text, "remotecfg_last_load_successful") == 1
        assert metric(text, f'remotecfg_hash{{hash="{fnv32(cache.read_bytes())}"}}') == 1
        assert metric(text, "remotecfg_load_attempts_total") == 1


def test_reload_with_other_attributes_switches_pipeline(tmp_path: Path, clock: FakeClock) -> None:
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url, running_agent(config(url, "prod"), tmp_path, clock) as (agent, base):
        agent.remotecfg.begin()
        first_cache = agent.remotecfg.cache_path
        (tmp_path / "config.alloy").write_text(config(url, "dev"))
        assert get(base + "/-/reload")[0] == 200
        seen = collector(fleet)
        assert seen["local_attributes"]["env"] == "dev" and seen["pipelines"] == ["dev_metrics"]
        assert seen["register_calls"] == 3
        roots = listing(base, "/api/v0/web/remotecfg/components")
        assert [c["localID"] for c in roots] == ["dev_metrics.default"]
        inner = listing(base, "/api/v0/web/remotecfg/modules/remotecfg/dev_metrics.default/components")
        assert [(c["localID"], c["health"]["state"]) for c in inner] == [("prometheus.exporter.self.s", "healthy")]
        assert agent.remotecfg.cache_path != first_cache and first_cache.is_file()
        assert seen["remote_config_status"]["status"] == "RemoteConfigStatuses_APPLIED"


def test_server_down_at_start_fails_the_initial_load_as_alloy_does(tmp_path: Path) -> None:
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url:
        fleet.down(60)
        path = tmp_path / "config.alloy"
        path.write_text(config(url, "prod"))
        ok, message = Agent(path, tmp_path / "data", VERSION).load()
    assert not ok
    assert re.search(r"config.alloy:\d+:1: Failed to evaluate service: updating service: unavailable: "
                     r"fleet management is unavailable \(lab down switch\)$", message), message


def test_cached_config_runs_when_the_server_cannot_serve_it_at_start(tmp_path: Path, clock: FakeClock) -> None:
    fleet = FlakyFleet(pipelines())
    with fleet_server(fleet) as url:
        with running_agent(config(url, "prod"), tmp_path, clock) as (agent, _):
            agent.remotecfg.begin()
            hash_before = agent.remotecfg.loaded_hash
        fleet.failing = True
        with running_agent(config(url, "prod"), tmp_path, clock) as (agent, base):
            agent.remotecfg.begin()
            roots = listing(base, "/api/v0/web/remotecfg/components")
            assert [(c["localID"], c["health"]["state"]) for c in roots] == [("prod_logs.default", "healthy")]
            assert agent.remotecfg.loaded_hash == hash_before
            text = get(base + "/metrics")[1]
            assert metric(text, "remotecfg_load_failures_total") == 1
            assert metric(text, "remotecfg_last_load_successful") == 0
            fleet.failing = False
            agent.remotecfg.fetch_load(allow_cache=False)
            seen = collector(fleet)
            assert seen["remote_config_status"] == {"status": "RemoteConfigStatuses_APPLIED", "error_message": ""}
            assert any(s["error_message"] == "unavailable: config store unavailable" for s in seen["status_history"])


def test_broken_pipeline_is_reported_failed_and_local_config_keeps_running(tmp_path: Path,
                                                                           clock: FakeClock) -> None:
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url, running_agent(config(url, "prod"), tmp_path, clock) as (agent, base):
        agent.remotecfg.begin()
        fleet.put_pipeline(Pipeline("prod_logs", 'prometheus.scrapez "x" { }\n', ['env="prod"']))
        agent.remotecfg.fetch_load(allow_cache=False)
        seen = collector(fleet)
        status = seen["remote_config_status"]
        assert status["status"] == "RemoteConfigStatuses_FAILED"
        assert status["error_message"] == '6:1: cannot find the definition of component name "prometheus.scrapez"'
        roots = listing(base, "/api/v0/web/remotecfg/components")
        assert [(c["localID"], c["health"]["state"]) for c in roots] == [("prod_logs.default", "healthy")]
        inner = listing(base, "/api/v0/web/remotecfg/modules/remotecfg/prod_logs.default/components")
        assert [c["localID"] for c in inner] == ["loki.write.w"]  # the cached good config again
        local = listing(base, "/api/v0/web/components")
        assert [(c["localID"], c["health"]["state"]) for c in local] == [("prometheus.exporter.unix.local", "healthy")]
        assert get(base + "/-/healthy")[0] == 200
        calls = seen["get_config_calls"]
        agent.remotecfg.fetch_load(allow_cache=False)  # the same broken content: not loaded again
        seen = collector(fleet)
        assert seen["get_config_calls"] == calls + 1
        assert seen["remote_config_status"]["status"] == "RemoteConfigStatuses_FAILED"


TS = "remotecfg_last_load_success_timestamp_seconds"
BROKEN = 'prometheus.scrapez "x" { }\n'


def remotecfg_lines(capsys: pytest.CaptureFixture[str]) -> List[str]:
    return [line for line in capsys.readouterr().err.splitlines() if "service=remotecfg" in line]


def logged_at(line: str) -> float:
    found = re.search(r"\bts=(\S+)", line)
    assert found, line
    return datetime.fromisoformat(found.group(1).replace("Z", "+00:00")).timestamp()


def test_the_fetch_time_orders_a_refusal_as_in_alloy(tmp_path: Path, clock: FakeClock,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """What alloy_verify reads a refusal by (config_manager.go fetchLoadRemoteConfig): the time
    of the last answer that carried a configuration, with all its digits, set before that
    configuration is refused, kept by not-modified answers (the server still serving it), moved
    by the next answer, even one with the configuration loaded already (logged at debug only)."""
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url, running_agent(config(url, "prod"), tmp_path, clock) as (agent, base):
        agent.remotecfg.begin()
        loaded = metric(get(base + "/metrics")[1], TS)
        good = fleet.pipelines["prod_logs"]
        fleet.put_pipeline(Pipeline("prod_logs", BROKEN, ['env="prod"']))
        remotecfg_lines(capsys)
        agent.remotecfg.fetch_load(allow_cache=False)
        refusal = [line for line in remotecfg_lines(capsys) if "failed to parse and load new remote" in line]
        assert len(refusal) == 1
        received = metric(get(base + "/metrics")[1], TS)
        assert loaded < received <= logged_at(refusal[0]) < time.time()
        agent.remotecfg.fetch_load(allow_cache=False)  # still served: not modified, nothing logged
        text = get(base + "/metrics")[1]
        assert (metric(text, TS), metric(text, "remotecfg_last_load_not_modified")) == (received, 1)
        fleet.put_pipeline(good)
        agent.remotecfg.fetch_load(allow_cache=False)  # the loaded one again: nothing logged either
        assert remotecfg_lines(capsys) == []
        text = get(base + "/metrics")[1]
        assert metric(text, TS) > logged_at(refusal[0])
        assert (metric(text, "remotecfg_last_load_not_modified"), metric(text, "remotecfg_load_attempts_total"),
                metric(text, "remotecfg_load_failures_total")) == (0, 4, 0)
        assert collector(fleet)["remote_config_status"]["status"] == "RemoteConfigStatuses_APPLIED"


def test_not_modified_keeps_the_loaded_config(tmp_path: Path, clock: FakeClock) -> None:
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url, running_agent(config(url, "prod"), tmp_path, clock) as (agent, base):
        agent.remotecfg.begin()
        before = listing(base, "/api/v0/web/remotecfg/components")
        calls = collector(fleet)["get_config_calls"]
        agent.remotecfg.fetch_load(allow_cache=False)
        seen = collector(fleet)
        assert seen["get_config_calls"] == calls + 1  # nothing new to report: no second call
        assert seen["last_request_hash"] == seen["last_served_hash"] != ""
        assert listing(base, "/api/v0/web/remotecfg/components") == before  # not reloaded
        text = get(base + "/metrics")[1]
        assert metric(text, "remotecfg_last_load_not_modified") == 1
        assert metric(text, "remotecfg_load_attempts_total") == 2


def test_https_with_ca_pem_and_bearer_token(tmp_path: Path, clock: FakeClock, pki: Dict[str, Path]) -> None:
    fleet = Fleet(pipelines())
    with fleet_server(fleet, (pki["srv.pem"], pki["srv.key"])) as url:
        ca = pki["ca.pem"].read_text()
        text = config(url, "prod", f"\ttls_config {{\n\t\tca_pem = `{ca}`\n\t}}\n")
        with running_agent(text, tmp_path / "ok", clock) as (agent, _):
            agent.remotecfg.begin()
            assert collector(fleet)["pipelines"] == ["prod_logs"]
        path = tmp_path / "bad.alloy"
        path.write_text(config(url, "prod"))
        ok, message = Agent(path, tmp_path / "bad", VERSION).load()
        assert not ok and "x509: certificate signed by unknown authority" in message
        path.write_text(config(url, "prod", '\tbearer_token = "t"\n'))
        ok, message = Agent(path, tmp_path / "bad", VERSION).load()
        assert not ok and message.endswith("Failed to evaluate service: decoding configuration: at most one of "
                                           "basic_auth, authorization, oauth2, bearer_token & bearer_token_file "
                                           "must be configured")


@pytest.mark.parametrize(("extra", "expected"), [
    ('\tpoll_frequency = "5s"\n', 'poll_frequency must be at least "10s", got "5s"'),
    ('\tattributes = {"collector.os" = "x"}\n', '"collector" is a reserved namespace for remotecfg attribute keys'),
])
def test_run_refuses_what_validate_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str,
                                           expected: str) -> None:
    path = tmp_path / "config.alloy"
    path.write_text(f'remotecfg {{\n\turl = "http://127.0.0.1:9"\n{extra}}}\n')
    assert cmd_validate([str(path)]) == 0
    ok, message = Agent(path, tmp_path / "data", VERSION).load()
    assert not ok
    assert message == f"Error: {path}:1:1: Failed to evaluate service: decoding configuration: {expected}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sighup_switches_pipeline_in_the_same_process(tmp_path: Path) -> None:
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url:
        path = tmp_path / "config.alloy"
        path.write_text(config(url, "prod"))
        port = _free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        proc = subprocess.Popen([sys.executable, "-m", "alloy_standin", "run", str(path),
                                 f"--server.http.listen-addr=127.0.0.1:{port}", f"--storage.path={tmp_path / 'data'}"],
                                env=env, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            assert _wait(lambda: _roots(base) == ["prod_logs.default"])
            path.write_text(config(url, "dev"))
            proc.send_signal(signal.SIGHUP)
            assert _wait(lambda: _roots(base) == ["dev_metrics.default"])
            assert proc.poll() is None and collector(fleet)["pipelines"] == ["dev_metrics"]
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
        assert "successfully loaded remote configuration" in err
        assert collector(fleet)["registered"] is False  # UnregisterCollector on shutdown


def _roots(base: str) -> List[str]:
    try:
        status, body = get(base + "/api/v0/web/remotecfg/components")
    except OSError:
        return []
    # Alloy marshals a remote controller without components as `null` (a nil Go slice).
    return [c["localID"] for c in json.loads(body) or []] if status == 200 else []


def _wait(check: "object", timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False
