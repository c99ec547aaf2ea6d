"""alloy_docker on a host with its own Docker engine: the container sees the host as the
role promises, answers on 127.0.0.1 only, keeps its WAL on the host and is healthy."""
from __future__ import annotations

import json
import shlex
import time
from typing import Any, Dict

import pytest

PROJECT = "/opt/alloy"
WAL = f"{PROJECT}/data/prometheus.remote_write.default/wal/00000000"
SECRETS = ["lab-loki-$ecret-\"9f3a\"", "lab-loki-rotated-'77c1'", "lab-prometheus-token-5d1e"]


def _inspect(host) -> Dict[str, Any]:
    return json.loads(host.check_output("docker inspect alloy"))[0]


def _mounts(host) -> Dict[str, Dict[str, Any]]:
    return {m["Destination"]: m for m in _inspect(host)["Mounts"]}


def test_container_runs_with_the_hosts_pid_namespace(host) -> None:
    info = _inspect(host)
    assert info["State"]["Running"] is True
    assert info["HostConfig"]["PidMode"] == "host"
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "always"


@pytest.mark.parametrize("source,target", [
    ("/proc", "/host/proc"), ("/sys", "/host/sys"), ("/", "/host/root"),
    ("/var/log/journal", "/var/log/journal"), ("/run/log/journal", "/run/log/journal"),
    ("/etc/machine-id", "/etc/machine-id"), (f"{PROJECT}/config", "/etc/alloy/conf.d"),
])
def test_host_paths_are_mounted_read_only(host, source: str, target: str) -> None:
    mount = _mounts(host)[target]
    assert (mount["Type"], mount["Source"], mount["RW"]) == ("bind", source, False)


def test_root_file_system_follows_host_mounts(host) -> None:
    assert _mounts(host)["/host/root"]["Propagation"] == "rslave"


def test_wal_is_on_the_host_and_writable(host) -> None:
    mount = _mounts(host)["/var/lib/alloy/data"]
    assert (mount["Type"], mount["Source"], mount["RW"]) == ("bind", f"{PROJECT}/data", True)
    assert host.file(WAL).size > 0


def test_port_is_published_on_loopback_only(host) -> None:
    bindings = _inspect(host)["HostConfig"]["PortBindings"]
    assert bindings == {"12345/tcp": [{"HostIp": "127.0.0.1", "HostPort": "12345"}]}
    assert host.socket("tcp://127.0.0.1:12345").is_listening
    assert not host.socket("tcp://0.0.0.0:12345").is_listening


def test_alloy_listens_on_all_addresses_inside(host) -> None:
    assert "--server.http.listen-addr=0.0.0.0:12345" in _inspect(host)["Args"]


def test_ready_answers_on_loopback(host) -> None:
    assert host.check_output("curl -fsS http://127.0.0.1:12345/-/ready").strip() == "Alloy is ready."


def test_container_logs_rotate(host) -> None:
    log = _inspect(host)["HostConfig"]["LogConfig"]
    assert log == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "100m"}}


def test_host_name_and_time_zone_are_passed_in(host) -> None:
    env = _inspect(host)["Config"]["Env"]
    assert f"HOSTOS_HOSTNAME={host.check_output('hostname')}" in env
    assert "TZ=Asia/Tokyo" in env


def test_dollar_signs_reach_the_container_literally(host) -> None:
    assert host.check_output("docker exec alloy printenv FLEET_ALLOY_LAB_NOTE") == 'a $value with "quotes"'


def test_secrets_only_in_the_env_file(host) -> None:
    env_file = host.file(f"{PROJECT}/alloy.env")
    assert (env_file.user, env_file.group, env_file.mode) == ("root", "root", 0o640)
    assert "lab-prometheus-token-5d1e" in env_file.content_string
    others = host.check_output(f"cat {PROJECT}/compose.yaml {PROJECT}/config/*.alloy")
    for secret in SECRETS:
        assert secret not in others


def test_pipelines_read_the_host_through_the_mounts(host) -> None:
    unix = host.file(f"{PROJECT}/config/fleet_unix.alloy").content_string
    assert 'procfs_path = "/host/proc"' in unix
    assert 'rootfs_path = "/host/root"' in unix


def test_alloy_verify_in_container_mode_is_healthy(host) -> None:
    result = host.ansible("fleet.alloy.alloy_verify",
                          "mode=container container=alloy "
                          "loki_endpoints={{ alloy_config_loki_endpoints }} "
                          "prometheus_endpoints={{ alloy_config_prometheus_endpoints }} "
                          f"instance={host.check_output('hostname')} "
                          "data_flow=true wait=true wait_timeout=60",
                          become=True, check=False)
    assert result.get("healthy") is True, result.get("msg") or result
    names = [c["name"] for c in result["checks"]]
    assert names[0] == "container"
    assert {"delivery loki", "delivery prometheus", "data prometheus http://prometheus:9090",
            "data loki http://loki:3100 tenant lab"} <= set(names)


def test_log_files_are_read_through_the_root_mount_and_named_as_on_the_host(host) -> None:
    """alloy_config_log_files in a container: read under /host/root, labelled with the host's path."""
    line = "appended by the test %d" % time.time_ns()
    host.run_expect([0], "echo '%s' >> /var/log/fleet-lab/app.log" % line)
    # Since the host started: the lab's Loki keeps what earlier runs of the scenario sent.
    started = host.check_output('date -d "$(ps -o lstart= -p 1)" +%s')
    # This host's lines only: the alloy_config scenario tails a file of the same name.
    selector = 'query={job="fleet-lab-files",instance="%s"}' % host.check_output("hostname -s")
    query = ("curl -fsS -G -H 'X-Scope-OrgID: lab' --data-urlencode %s --data-urlencode limit=5000 "
             "--data-urlencode start=%s000000000 http://loki:3100/loki/api/v1/query_range"
             % (shlex.quote(selector), started))
    deadline, lines = time.monotonic() + 60, []
    while line not in lines and time.monotonic() < deadline:
        time.sleep(1)
        streams = json.loads(host.check_output(query))["data"]["result"]
        lines = [v for s in streams if s["stream"].get("filename") == "/var/log/fleet-lab/app.log"
                 for _ts, v in s["values"]]
    assert line in lines and lines.count("written before Alloy started") == 1
