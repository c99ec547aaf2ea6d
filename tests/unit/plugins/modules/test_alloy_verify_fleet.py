"""alloy_verify's options fleet_management and cluster_peers against the lab's stand-in Alloy
run as `alloy run` processes (lab/standins/alloy_standin: remotecfg.py, cluster.py), a Fleet
Management stand-in server in this process (lab/standins/fleet_standin), and, for what the
stand-ins cannot be made to serve, a local server answering Alloy's API as real Alloy does."""
from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import verify_checks as vc
from ansible_collections.fleet.alloy.plugins.modules import alloy_verify as av
from fleet_standin.fleet import Fleet, Pipeline
from fleet_standin.server import Settings, make_server
from local_http import LocalServer
from module_main import run_main

USER, TOKEN = "300001", "lab-throwaway-fleet-token"
PROD_LOGS = ('loki.write "w" {\n\tendpoint {\n\t\turl = "http://127.0.0.1:9/loki/api/v1/push"\n\t}\n'
             '\texternal_labels = {env = argument.attributes.value["env"]}\n}\n')
SELF_METRICS = 'prometheus.exporter.self "s" { }\n'
BROKEN = 'prometheus.scrapez "x" { }\n'
LOCAL = 'prometheus.exporter.unix "local" { }\n'
NAMES = ("alloy-1", "alloy-2", "alloy-3")


def params(**overrides: Any) -> Dict[str, Any]:
    values: Dict[str, Any] = {name: spec.get("default") for name, spec in av.ARGUMENT_SPEC.items()}
    values.update(mode="none", delivery=False, timeout=2.0, wait_interval=0.2)
    values.update(overrides)
    return values


def by_name(result: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {c["name"]: c for c in result["checks"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, context: Optional[ssl.SSLContext] = None) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:
            return int(answer.status)
    except OSError:
        return 0


def wait_for(check: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


class Alloy:
    """One stand-in `alloy run` process on 127.0.0.1: its URL (https:// when it serves TLS), its log,
    its process."""

    def __init__(self, folder: Path, port: int, proc: "subprocess.Popen[bytes]", tls: bool = False) -> None:
        self.folder, self.url, self.proc = folder, "%s://127.0.0.1:%d" % ("https" if tls else "http", port), proc
        self.addr = "127.0.0.1:%d" % port

    @property
    def config(self) -> Path:
        return self.folder / "config.alloy"

    def log(self) -> str:
        return (self.folder / "stderr.log").read_text()


@contextmanager
def alloy(tmp_path: Path, name: str, config: str = LOCAL, *flags: str, port: int = 0,
          context: Optional[ssl.SSLContext] = None) -> Iterator[Alloy]:
    """A stand-in `alloy run`, ready; with context, its configuration serves TLS, checked with it."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.alloy").write_text(config)
    port = port or free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), ALLOY_STANDIN_CLUSTER_TIME_SCALE="0.1")
    with (folder / "stderr.log").open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "alloy_standin", "run", str(folder / "config.alloy"),
                                 "--server.http.listen-addr=127.0.0.1:%d" % port,
                                 "--storage.path=%s" % (folder / "data"), *flags], stderr=sink, env=env)
    node = Alloy(folder, port, proc, tls=context is not None)
    try:
        wait_for(lambda: proc.poll() is None and get(node.url + "/-/ready", context) == 200, 20,
                 "%s never became ready" % name)
        yield node
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@contextmanager
def fleet_server(fleet: Fleet) -> Iterator[str]:
    server = make_server(("127.0.0.1", 0), Settings(users={USER: TOKEN}), fleet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def collector_config(url: str, env: str, extra: str = "") -> str:
    return '''%s
remotecfg {
	url            = "%s"
	poll_frequency = "10s"
	attributes     = {"env" = "%s", "region" = "eu"%s}
	basic_auth {
		username = "%s"
		password = "%s"
	}
}
''' % (LOCAL, url, env, extra, USER, TOKEN)


def pipelines(prod_logs: str = PROD_LOGS) -> Dict[str, Pipeline]:
    return {"prod_logs": Pipeline("prod_logs", prod_logs, ['env="prod"']),
            "self_metrics": Pipeline("self_metrics", SELF_METRICS, ['env=~"prod|dev"'])}


def journal(node: Alloy) -> Callable[[List[str]], Tuple[int, str, str]]:
    """A host's commands for mode systemd: the unit active, its journal the stand-in's log."""
    def runner(argv: List[str]) -> Tuple[int, str, str]:
        if argv[:2] == ["systemctl", "show"]:
            return 0, "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=1\n", ""
        assert argv[:3] == ["journalctl", "-u", "alloy.service"], argv
        return 0, node.log(), ""
    return runner


def no_runner(argv: List[str]) -> Tuple[int, str, str]:
    raise AssertionError("unexpected command %s" % argv)


# --- Fleet Management -------------------------------------------------------------------------

def test_a_healthy_collector_passes_with_its_pipelines_named(tmp_path: Path) -> None:
    with fleet_server(Fleet(pipelines())) as url, alloy(tmp_path, "web-1", collector_config(url, "prod")) as node:
        # right after the start the remote components may not be served yet: wait covers it
        result = av.verify(params(alloy_url=node.url, fleet_management=True, wait=True, wait_timeout=20), no_runner)
    checks = by_name(result)
    assert result["healthy"], result["summary"]
    assert checks["fleet management"]["detail"].startswith("remote configuration loaded (hash ")
    # two pipelines, each a custom component (root) with one built-in component in its module
    assert checks["fleet pipelines"]["detail"] == "pipelines prod_logs, self_metrics: 4 components healthy"
    assert [c["name"] for c in result["checks"]] == ["alloy ready", "alloy healthy", "components",
                                                     "fleet management", "fleet pipelines"]


def test_a_broken_pipeline_fails_and_alloys_error_is_named(tmp_path: Path) -> None:
    fleet = Fleet(pipelines(prod_logs=BROKEN))
    with fleet_server(fleet) as url, alloy(tmp_path, "web-1", collector_config(url, "prod")) as node:
        wait_for(lambda: vc.REMOTECFG_REFUSED in node.log(), 15, "the stand-in never tried the pipeline")
        failed, result = run_main(av.main, {"alloy_url": node.url, "mode": "none", "delivery": False,
                                            "fleet_management": True})
        with_log = av.verify(params(alloy_url=node.url, mode="systemd", fleet_management=True), journal(node))
    assert failed and result["failed_checks"] == ["fleet management"]
    checks = by_name(result)
    assert checks["fleet management"]["detail"] == (
        "no remote configuration is loaded (1 fetches, 0 failed, since start)")
    assert "fleet management (no remote configuration is loaded" in result["msg"]
    detail = by_name(with_log)["fleet management"]["detail"]
    assert detail.startswith("no remote configuration is loaded: failed to parse and load new remote configuration: ")
    assert 'cannot find the definition of component name "prometheus.scrapez"' in detail
    assert by_name(with_log)["service"]["ok"]


RACK = ', "rack" = "r1"'


def reload(node: Alloy, config: str) -> None:
    """New arguments make Alloy fetch at once (Update), whatever its poll frequency."""
    node.config.write_text(config)
    node.proc.send_signal(signal.SIGHUP)


def fetched_at(node: Alloy) -> float:
    """remotecfg_last_load_success_timestamp_seconds: the last answer that carried a configuration."""
    with urllib.request.urlopen(node.url + "/metrics", timeout=2) as answer:
        text = answer.read().decode()
    found = [line.split()[1] for line in text.splitlines()
             if line.startswith("remotecfg_last_load_success_timestamp_seconds ")]
    return float(found[0]) if found else 0.0


@contextmanager
def refused_update(tmp_path: Path) -> Iterator[Tuple[Fleet, str, Alloy]]:
    """A collector whose Fleet Management serves a pipeline it refused, Alloy back on the one it
    ran. Its cache is kept per arguments: a load under other arguments (a rack attribute) first,
    then the broken pipeline refused under the arguments it started with, whose cache holds a
    good one to restore."""
    fleet = Fleet(pipelines())
    with fleet_server(fleet) as url, alloy(tmp_path, "web-1", collector_config(url, "prod")) as node:
        first = av.verify(params(alloy_url=node.url, mode="systemd", fleet_management=True, wait=True,
                                 wait_timeout=20), journal(node))
        assert first["healthy"], first["summary"]
        reload(node, collector_config(url, "prod", RACK))
        wait_for(lambda: node.log().count("successfully loaded remote configuration") == 2, 15, "no reload")
        fleet.put_pipeline(Pipeline("prod_logs", BROKEN, ['env="prod"']))
        reload(node, collector_config(url, "prod"))
        wait_for(lambda: "successfully restored cached configuration" in node.log(), 15, "no refused update")
        yield fleet, url, node


def test_a_refused_update_fails_although_alloy_went_back_to_the_good_one(tmp_path: Path) -> None:
    with refused_update(tmp_path) as (dummy_fleet, dummy_url, node):
        result = av.verify(params(alloy_url=node.url, mode="systemd", fleet_management=True), journal(node))
        blind = av.verify(params(alloy_url=node.url, fleet_management=True), no_runner)
    checks = by_name(result)
    assert result["failed_checks"] == ["fleet management"]
    assert checks["fleet management"]["detail"].startswith(
        'Fleet Management serves a configuration Alloy refused: 6:1: cannot find the definition of component name '
        '"prometheus.scrapez"; it runs the one it loaded before')
    assert checks["fleet pipelines"]["detail"] == "pipelines prod_logs, self_metrics: 4 components healthy"
    assert blind["healthy"]  # without its log, Alloy's metrics and API show nothing of it


def test_a_refusal_no_longer_counts_once_the_server_serves_the_loaded_one_again(tmp_path: Path) -> None:
    with refused_update(tmp_path) as (fleet, url, node):
        refused_at = vc.remotecfg_log_failures(node.log().splitlines())[0][2]
        fleet.put_pipeline(pipelines()["prod_logs"])
        # under the rack arguments the answer is the configuration Alloy loaded last: it takes it
        # without a word at info level, only the time of the last answer moves past the refusal
        reload(node, collector_config(url, "prod", RACK))
        wait_for(lambda: fetched_at(node) > refused_at, 15, "no fetch after the refusal")
        lines = node.log().splitlines()
        result = av.verify(params(alloy_url=node.url, mode="systemd", fleet_management=True), journal(node))
    assert vc.remotecfg_log_failure(lines)[0] == vc.REMOTECFG_REFUSED  # still the newest remotecfg line
    assert sum("successfully loaded remote configuration" in line for line in lines) == 2
    assert result["healthy"], result["summary"]
    assert by_name(result)["fleet management"]["detail"].startswith("remote configuration loaded (")


def test_a_collector_without_a_pipeline_is_reported_as_such(tmp_path: Path) -> None:
    with fleet_server(Fleet(pipelines())) as url, alloy(tmp_path, "web-1", collector_config(url, "staging")) as node:
        wait_for(lambda: "successfully loaded remote configuration" in node.log(), 15, "nothing loaded")
        result = av.verify(params(alloy_url=node.url, fleet_management=True), no_runner)
    checks = by_name(result)
    assert result["healthy"], result["summary"]
    assert checks["fleet pipelines"]["detail"] == (
        "no remote pipeline selected for this collector: no Fleet Management pipeline's matchers match its "
        "attributes (usual before the pipelines are written), so none runs here; not an error")
    assert checks["fleet management"]["ok"]


def test_an_alloy_without_remotecfg_fails_the_fleet_checks(tmp_path: Path) -> None:
    with alloy(tmp_path, "web-1") as node:
        result = av.verify(params(alloy_url=node.url, fleet_management=True), no_runner)
    checks = by_name(result)
    assert result["failed_checks"] == ["fleet management"]
    assert checks["fleet management"]["detail"].startswith("no remote configuration fetched since Alloy started")


def _component(module: str, local: str, state: str = "healthy", message: str = "started component",
               created: Tuple[str, ...] = ()) -> Dict[str, Any]:
    found: Dict[str, Any] = {"name": local.rsplit(".", 1)[0], "localID": local, "moduleID": module,
                             "health": {"state": state, "message": message}}
    if created:
        found["createdModuleIDs"] = list(created)
    return found


@pytest.fixture()
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def test_an_unhealthy_remote_component_is_named_with_its_message_in_nested_modules(server: LocalServer) -> None:
    api = "/api/v0/web/remotecfg"
    server.routes[api + "/components"] = (200, json.dumps([
        _component("remotecfg", "app.default", created=("remotecfg/app.default",))]))
    server.routes[api + "/modules/remotecfg/app.default/components"] = (200, json.dumps([
        _component("remotecfg/app.default", "inner.x", created=("remotecfg/app.default/inner.x",)),
        _component("remotecfg/app.default", "loki.write.w")]))
    server.routes[api + "/modules/remotecfg/app.default/inner.x/components"] = (200, json.dumps([
        _component("remotecfg/app.default/inner.x", "loki.source.journal.j", "unhealthy", "no journal")]))
    check = vc.fleet_pipelines_check(server.url, 1.0)()
    assert (check.name, check.ok) == ("fleet pipelines", False)
    assert check.detail == "app.default/inner.x/loki.source.journal.j is unhealthy: no journal"
    server.routes[api + "/modules/remotecfg/app.default/inner.x/components"] = (200, "null")
    assert vc.fleet_pipelines_check(server.url, 1.0)().detail == "pipelines app: 3 components healthy"
    server.routes[api + "/components"] = (500, "remote config service startup in progress")
    assert vc.fleet_pipelines_check(server.url, 1.0)().detail == (
        server.url + api + "/components: HTTP 500: remote config service startup in progress")


# --- clustering -------------------------------------------------------------------------------

def test_cluster_peers_seen_pass_and_a_stopped_peer_fails_by_name(tmp_path: Path) -> None:
    with ExitStack() as stack:
        nodes: List[Alloy] = []
        for name in NAMES:
            port = free_port()
            join = ["--cluster.join-addresses=%s" % nodes[0].addr] if nodes else []
            nodes.append(stack.enter_context(alloy(
                tmp_path, name, LOCAL, "--cluster.enabled", "--cluster.node-name=%s" % name,
                "--cluster.advertise-address=127.0.0.1:%d" % port, *join, port=port)))
        first = nodes[0]
        # the last one has just started: it joins within the wait
        joined = av.verify(params(alloy_url=first.url, cluster_peers=list(NAMES), wait=True, wait_timeout=15),
                           no_runner)
        assert joined["healthy"], joined["summary"]
        assert by_name(joined)["cluster"]["detail"] == "3 expected peers participating"
        fewer = av.verify(params(alloy_url=first.url, cluster_peers=["alloy-1", "alloy-2"]), no_runner)
        assert fewer["healthy"] and by_name(fewer)["cluster"]["detail"] == \
            "2 expected peers participating; not expected: alloy-3"

        nodes[2].proc.send_signal(signal.SIGTERM)  # a clean stop: it leaves at once
        assert nodes[2].proc.wait(10) == 0
        failed, result = run_main(av.main, {"alloy_url": first.url, "mode": "none", "delivery": False,
                                            "cluster_peers": list(NAMES), "wait": True, "wait_timeout": 2,
                                            "wait_interval": 0.2})
    assert failed and result["failed_checks"] == ["cluster"]
    assert by_name(result)["cluster"]["detail"] == "alloy-3 missing (seen alloy-1, alloy-2)"
    assert "cluster (alloy-3 missing (seen alloy-1, alloy-2))" in result["msg"]


def test_peers_in_another_state_and_unexpected_ones_are_reported(server: LocalServer) -> None:
    peers = [{"name": "web-01", "addr": "10.0.0.1:12345", "isSelf": True, "state": "participant"},
             {"name": "web-02", "addr": "10.0.0.2:12345", "isSelf": False, "state": "terminating"},
             {"name": "web-09", "addr": "10.0.0.9:12345", "isSelf": False, "state": "terminating"}]
    server.routes["/api/v0/web/peers"] = (200, json.dumps(peers))
    check = vc.cluster_check(server.url, ["web-01", "web-02", "web-03"], 1.0)()
    assert (check.name, check.ok) == ("cluster", False)
    assert check.detail == ("web-03 missing (seen web-01, web-02, web-09); web-02 is terminating; "
                            "not expected: web-09 (terminating)")
    ok = vc.cluster_check(server.url, ["web-01"], 1.0)()
    assert ok.ok and ok.detail == "1 expected peers participating; not expected: web-02 (terminating), " \
        "web-09 (terminating)"
    server.routes["/api/v0/web/peers"] = (500, "cluster service not running")
    assert vc.cluster_check(server.url, ["web-01"], 1.0)().detail == (
        server.url + "/api/v0/web/peers: HTTP 500: cluster service not running")


def test_without_the_options_nothing_of_fleet_or_cluster_is_checked(server: LocalServer) -> None:
    server.routes["/-/ready"] = server.routes["/-/healthy"] = (200, "ok")
    server.routes["/api/v0/web/components"] = (200, "[]")
    result = av.verify(params(alloy_url=server.url), no_runner)
    assert [c["name"] for c in result["checks"]] == ["alloy ready", "alloy healthy", "components"]
    assert not any("remotecfg" in r.path or "peers" in r.path for r in server.requests)


# --- Alloy's log, as real Alloy writes it (logfmt, err quoted) ---------------------------------

REAL_FETCH = ('ts=2026-11-20T10:00:01Z level=error msg="failed to fetch remote config, falling back to cache" '
              'service=remotecfg err="unauthenticated: invalid authentication credentials for '
              'https://300001:s3cret@fleet.example.com/x"')
REAL_REFUSED = ('ts=2026-11-20T10:00:00Z level=error msg="failed to parse and load new remote configuration" '
                'service=remotecfg received_hash=1 loaded_hash=2 err="6:1: unknown \\"x\\""')
REAL_LOADED = 'ts=2026-11-20T10:00:02Z level=info msg="successfully loaded remote configuration" service=remotecfg'


@pytest.mark.parametrize("lines,expected", [
    ([REAL_FETCH], ("failed to fetch remote config",
                    "unauthenticated: invalid authentication credentials for https://fleet.example.com/x")),
    ([REAL_REFUSED, REAL_REFUSED.replace("parse and load new remote configuration",
                                         "fetch remote config, falling back to cache")],
     (vc.REMOTECFG_REFUSED, '6:1: unknown "x"')),
    ([REAL_REFUSED, REAL_LOADED], ("", "")),
    ([REAL_LOADED, REAL_FETCH, "level=info msg=unrelated"], ("failed to fetch remote config",
                                                               "unauthenticated: invalid authentication "
                                                               "credentials for https://fleet.example.com/x")),
])
def test_the_newest_remotecfg_failure_is_read_from_alloys_log(lines: List[str], expected: Tuple[str, str]) -> None:
    assert vc.remotecfg_log_failure(lines) == expected


def test_alloys_log_comes_from_the_journal_or_the_container() -> None:
    asked: List[List[str]] = []

    def runner(argv: List[str]) -> Tuple[int, str, str]:
        asked.append(argv)
        return (0, "a\nb", "c") if argv[0] == "docker" else (1, "", "no journal")
    assert vc.alloy_log(runner, "container", "alloy", 5) == ["a", "b", "c"]
    assert vc.alloy_log(runner, "systemd", "alloy.service", 5) == []
    assert vc.alloy_log(runner, "none", "alloy", 5) == []
    assert asked == [["docker", "logs", "--tail", "5", "alloy"],
                     ["journalctl", "-u", "alloy.service", "-o", "cat", "--no-pager", "-n", "5"]]


# --- the judgement on Alloy's remotecfg metrics, read over the window -------------------------

def go_float(value: float) -> str:
    """A sample as Prometheus' text format writes it: strconv.FormatFloat(value, 'g', -1, 64),
    the shortest digits, an exponent from 1e+06 on (Alloy's timestamps: 1.79516880025e+09)."""
    shortest = Decimal(repr(value)).normalize()
    digits, exponent = len(shortest.as_tuple().digits), shortest.adjusted()
    if exponent < -4 or exponent >= 6:
        return "%.*e" % (digits - 1, value)
    return format(shortest, "f")


def remotecfg_metrics(attempts: int, failures: int, successful: int = 1, received: float = 1000.0,
                      hashes: Tuple[str, ...] = ("5ad3d8d0",)) -> str:
    """/metrics as real Alloy serves them (internal/service/remotecfg/metrics.go)."""
    lines = ['remotecfg_hash{hash="%s"} 1' % h for h in hashes]
    lines += ["remotecfg_last_load_not_modified 1",
              "remotecfg_last_load_success_timestamp_seconds %s" % go_float(received),
              "remotecfg_last_load_successful %d" % successful, "remotecfg_load_attempts_total %d" % attempts,
              "remotecfg_load_failures_total %d" % failures, "remotecfg_request_duration_seconds_count %d" % attempts]
    return "\n".join(lines) + "\n"


def watched(server: LocalServer, reads: List[str], log: List[str], window: float = 5.0) -> "vc.Check":
    """The fleet management check over a window in which /metrics answers reads in turn."""
    pending = list(reads)
    server.routes["/metrics"] = (200, pending.pop(0))

    def sleep(seconds: float) -> None:
        if pending:
            server.routes["/metrics"] = (200, pending.pop(0))
    return vc.fleet_management_check(server.url, 1.0, lambda: log, window, sleep=sleep, poll=1.0,
                                     clock=lambda: 0.0)()


JSON_FETCH = ('{"ts":"2026-11-20T10:00:01.5Z","level":"error","msg":"failed to fetch remote config",'
              '"service":"remotecfg","err":"unavailable: dial tcp 10.0.0.1:443: connect: connection refused"}')
JSON_REFUSED = ('{"ts":"2026-11-20T10:00:00.25Z","level":"error","msg":"failed to parse and load new remote '
                'configuration","service":"remotecfg","received_hash":"1","loaded_hash":"2",'
                '"err":"6:1: cannot find the definition of component name \\"prometheus.scrapez\\""}')
REFUSED_AT = 1795168800.25  # JSON_REFUSED's ts
# Alloy writes ts as RFC 3339 with nanoseconds (internal/runtime/logging/handler.go: RFC3339Nano, UTC)
REAL_REFUSED_NS = REAL_REFUSED.replace("ts=2026-11-20T10:00:00Z", "ts=2026-11-20T10:00:00.250004117Z")
REFUSED_NS_AT = REFUSED_AT + 0.000004117


def test_a_blip_long_ago_then_good_fetches_passes(server: LocalServer) -> None:
    # one failed fetch left remotecfg_last_load_successful at 0; not-modified fetches since do not reset it
    check = watched(server, [remotecfg_metrics(40, 1, successful=0), remotecfg_metrics(40, 1, successful=0),
                             remotecfg_metrics(41, 1, successful=0)], [JSON_FETCH])
    assert check.ok, check.detail
    assert check.detail == (
        "remote configuration loaded (hash 5ad3d8d0); 1 fetches in 2 s, none failed (41 fetches, 1 failed, since "
        "start); remotecfg_last_load_successful 0 is left from an earlier failure (Alloy resets it only when a "
        "new configuration loads)")
    idle = watched(server, [remotecfg_metrics(40, 1, successful=0)] * 6, [JSON_FETCH])
    assert idle.ok and "no fetch in 5 s (poll_frequency is longer)" in idle.detail


def test_a_fetch_failing_in_the_window_fails_with_the_error_of_the_json_log(server: LocalServer) -> None:
    check = watched(server, [remotecfg_metrics(40, 1), remotecfg_metrics(41, 2, successful=0)] +
                    [remotecfg_metrics(41, 2, successful=0)] * 4, ["not json {", JSON_REFUSED, JSON_FETCH])
    assert not check.ok
    assert check.detail == (
        "1 of 1 fetches in 5 s failed: failed to fetch remote config: unavailable: dial tcp 10.0.0.1:443: connect: "
        "connection refused; Alloy runs the remote configuration it loaded before (41 fetches, 2 failed, since "
        "start)")
    # a failure followed by a good fetch in the same window still fails: the window is judged whole
    again = watched(server, [remotecfg_metrics(40, 1), remotecfg_metrics(41, 2), remotecfg_metrics(42, 2)] +
                    [remotecfg_metrics(42, 2)] * 3, [])
    assert not again.ok and again.detail.startswith("1 of 2 fetches in 5 s failed; ")


def test_nothing_loaded_or_never_fetched_or_no_alloy_fails(server: LocalServer) -> None:
    check = watched(server, [remotecfg_metrics(3, 0, successful=0, hashes=())] * 6, [JSON_REFUSED])
    assert not check.ok and check.detail == (
        'no remote configuration is loaded: failed to parse and load new remote configuration: 6:1: cannot find the '
        'definition of component name "prometheus.scrapez" (3 fetches, 0 failed, since start)')
    assert watched(server, [remotecfg_metrics(0, 0, hashes=())] * 6, []).detail.startswith(
        "no remote configuration fetched since Alloy started")
    server.routes["/metrics"] = (500, "down")
    assert not vc.fleet_management_check(server.url, 1.0, None, 0.0)().ok


def test_a_refusal_counts_only_while_alloy_received_nothing_newer(server: LocalServer) -> None:
    # refused at REFUSED_AT, Alloy back on the one it ran: metrics unchanged but for the fetch time
    current = watched(server, [remotecfg_metrics(5, 0, received=REFUSED_AT - 0.01)] * 6, [JSON_REFUSED])
    assert not current.ok
    assert current.detail == (
        'Fleet Management serves a configuration Alloy refused: 6:1: cannot find the definition of component name '
        '"prometheus.scrapez"; it runs the one it loaded before (5 fetches, 0 failed, since start)')
    # the server went back to the loaded hash (logged at debug only): a later fetch received it
    stale = watched(server, [remotecfg_metrics(5, 0, received=REFUSED_AT - 0.01),
                             remotecfg_metrics(6, 0, received=REFUSED_AT + 60)], [JSON_REFUSED])
    assert stale.ok, stale.detail
    assert watched(server, [remotecfg_metrics(5, 0, received=REFUSED_AT - 0.01)] * 6, []).ok  # no log: no refusal
    # no answer carried a configuration since Alloy started: the refusal is an older process's
    assert watched(server, [remotecfg_metrics(5, 0, received=0.0)] * 6, [JSON_REFUSED]).ok


@pytest.mark.parametrize("received,refused", [
    (REFUSED_NS_AT - 2e-6, True),  # the answer refused: its time is set before the load, the refusal logged after
    (REFUSED_NS_AT, True),
    (REFUSED_NS_AT + 2e-6, False),  # any answer since is later, however soon: an order, no slack
])
def test_a_refusal_is_ordered_by_alloys_own_clock_without_slack(server: LocalServer, received: float,
                                                                refused: bool) -> None:
    check = watched(server, [remotecfg_metrics(5, 0, received=received)] * 6, [REAL_LOADED, REAL_REFUSED_NS])
    assert check.ok is not refused, check.detail


def test_alloys_json_log_lines_are_read() -> None:
    assert vc.remotecfg_log_failures([JSON_REFUSED, JSON_FETCH]) == [
        ("failed to fetch remote config", "unavailable: dial tcp 10.0.0.1:443: connect: connection refused",
         REFUSED_AT + 1.25),
        (vc.REMOTECFG_REFUSED, '6:1: cannot find the definition of component name "prometheus.scrapez"', REFUSED_AT)]
    loaded = '{"ts":"2026-11-20T10:00:02Z","level":"info","msg":"successfully loaded remote configuration"}'
    assert vc.remotecfg_log_failures([JSON_FETCH, loaded]) == []
