"""alloy_docker without Docker: bad variables fail in the preflight (the rule book, run by
the fleet.alloy.alloy_preflight action) with the variable named, and compose.yaml renders
what seed 000's compose.yml does (and the variants the Molecule scenario does not deploy: a
named volume, an external network, no TZ). compose.yaml is data (roles/alloy_docker/vars,
__alloy_docker_compose) written as JSON (to_nice_json, which is YAML with every string quoted): the tests read it back and check values,
their types, and that every $ reaches Compose doubled."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(__file__).resolve().parents[1] / "data" / "alloy_docker_role.yml"

# name: (case variables, the whole failure message)
BAD: Dict[str, Any] = {
    "v_prefix": ({"alloy_docker_version": "v1.10.0"},
                 "alloy_docker: alloy_docker_version: expected a version such as 1.10.0 (no v prefix), got 'v1.10.0'"),
    # the config and storage folders default to folders of the project folder
    "relative_dir": ({"alloy_docker_project_dir": "opt/alloy"},
                     "alloy_docker: alloy_docker_project_dir: expected an absolute path other than /, without blanks, got 'opt/alloy'; "
                     "alloy_docker_config_dir: expected an absolute path other than /, without blanks, got 'opt/alloy/config'; "
                     "alloy_docker_storage_path: expected an absolute path other than /, without blanks, got 'opt/alloy/data'"),
    "host_name": ({"alloy_docker_publish_address": "localhost"},
                  "alloy_docker: alloy_docker_publish_address: expected an IP address of this host (127.0.0.1 by "
                  "default, 0.0.0.0 for all), got 'localhost'"),
    "spaced_flag": ({"alloy_docker_extra_args": ["--cluster.enabled true"]},
                    "alloy_docker: alloy_docker_extra_args[0]: expected one flag such as --cluster.enabled=true "
                    "(no spaces), got '--cluster.enabled true'"),
    "bad_volume": ({"alloy_docker_storage_type": "volume", "alloy_docker_storage_volume": "../x"},
                   "alloy_docker: alloy_docker_storage_volume: expected a Docker volume name, got '../x'"),
    "bad_host": ({"alloy_docker_extra_hosts": {"loki": "not-an-ip"}},
                 "alloy_docker: alloy_docker_extra_hosts.loki: expected an IP address or host-gateway, got 'not-an-ip'"),
    "port": ({"alloy_docker_port": 70000}, "alloy_docker: alloy_docker_port: expected a whole number from 1 to 65535, "
                                           "got 70000"),
    # the role's argument specs answer before its preflight
    "pull_choice": ({"alloy_docker_pull": "sometimes"},
                    "Validation of arguments failed:\nvalue of alloy_docker_pull must be one of: missing, always, "
                    "never, got: sometimes"),
    # a secret: not quoted
    "env_newline": ({"alloy_docker_env": {"A": "x\ny"}},
                    "alloy_docker: alloy_docker_env.A: expected a string or number without line breaks"),
    "image_space": ({"alloy_docker_image": "grafana/alloy v1"},
                    "alloy_docker: alloy_docker_image: expected an image reference such as grafana/alloy:v1.10.0 or "
                    "grafana/alloy@sha256:<digest>, got 'grafana/alloy v1'"),
    "dollar_hostname": ({"alloy_docker_hostname": "h$ost"},
                        "alloy_docker: alloy_docker_hostname: expected a host name, got 'h$ost'"),
    # Clustering: the other members reach this one through the port published on the host, never on
    # the loopback (the default publish address) ...
    "cluster_loopback": ({"alloy_docker_cluster_enabled": True, "alloy_docker_cluster_group": "bad"},
                         "alloy_docker: alloy_docker_cluster_enabled needs alloy_docker_publish_address on an address "
                         "the other members reach (peers talk over Alloy's HTTP server), not the loopback 127.0.0.1: "
                         "for example this host's IP address or 0.0.0.0, with a firewall that lets only the members "
                         "in"),
    # ... and at the host's address, which Alloy in the container cannot find itself
    "cluster_no_address": ({"alloy_docker_cluster_enabled": "yes", "alloy_docker_publish_address": "0.0.0.0",
                            "alloy_docker_cluster_group": "bad"},
                           "alloy_docker: alloy_docker_cluster_enabled needs the address the other members reach this "
                           "host at (Alloy in the container would advertise the container's own): set "
                           "alloy_docker_publish_address to this host's IP address, give the host an IP address as "
                           "ansible_host, or set alloy_docker_cluster_advertise_address"),
}

# The cluster's TLS files (alloy_docker_cluster_tls), paths on the host.
PKI = "/tmp/fleet-alloy-unit-pki"  # the members' TLS files, put there by the outcome fixture
TLS = {"ca_file": "/tmp/fleet-alloy-unit-pki/cluster-ca.pem", "cert_file": "/tmp/fleet-alloy-unit-pki/a.pem", "key_file": "/tmp/fleet-alloy-unit-pki/a.key"}
TLS_FLAGS = ["--cluster.enable-tls=true", "--cluster.tls-ca-path=/tmp/fleet-alloy-unit-pki/cluster-ca.pem"]

RENDER: Dict[str, Dict[str, Any]] = {
    # Seed 000's deployment in variables.
    "seed000": {"alloy_docker_version": "1.8.3", "alloy_docker_timezone": "Asia/Tokyo",
                "alloy_docker_storage_path": "/data/app/grafana_alloy/wal",
                "alloy_docker_config_dir": "/opt/volumes/grafana_alloy/config",
                "alloy_docker_network": "stg_network", "alloy_docker_hostname": "web-01",
                "alloy_docker_log_max_size": "100m", "alloy_docker_log_max_file": 3},
    "volume": {"alloy_docker_storage_type": "volume", "alloy_docker_storage_volume": "alloy-wal",
               "alloy_docker_publish_address": "0.0.0.0", "alloy_docker_host_metrics": False,
               "alloy_docker_journal": "false", "alloy_docker_hostname": "web-02",
               "alloy_docker_extra_args": ["--cluster.enabled=true", "--cluster.node-name=n$1"],
               "alloy_docker_disable_reporting": "yes",
               "alloy_docker_extra_hosts": {"loki": "10.0.0.5"}},
    "defaults": {"alloy_docker_hostname": "docker-host"},
    # Two Compose hosts clustered (the members: the hosts of group render that turn it on): one publishes
    # on every address and is known by its IP ansible_host, the other on its own address and port 9000;
    # over TLS, their files mounted into the container.
    "cluster_a": {"alloy_docker_cluster_enabled": True, "alloy_docker_cluster_group": "render",
                  "alloy_docker_cluster_name": "lab", "alloy_docker_publish_address": "0.0.0.0",
                  "alloy_docker_port": 12345, "alloy_docker_hostname": "cluster-a", "alloy_docker_cluster_tls": TLS},
    "cluster_b": {"alloy_docker_cluster_enabled": "true", "alloy_docker_cluster_group": "render",
                  "alloy_docker_cluster_name": "lab", "alloy_docker_publish_address": "10.0.2.2",
                  "alloy_docker_port": 9000, "alloy_docker_hostname": "cluster-b",
                  "alloy_docker_cluster_tls": dict(TLS, cert_file="/tmp/fleet-alloy-unit-pki/b.pem", key_file="/tmp/fleet-alloy-unit-pki/b.key")},
    # Every variable that may hold a $ (paths, flags): Compose must not interpolate it.
    "dollars": {"alloy_docker_project_dir": "/srv/al$loy", "alloy_docker_config_dir": "/etc/$x/${y}",
                "alloy_docker_storage_path": "/data/$$wal$",
                "alloy_docker_extra_args": ["--a=$HOME", "--b=$$", "--c=${X:-1}"]},
    # Strings YAML would read as numbers or booleans unless quoted.
    "yaml_types": {"alloy_docker_user": "1000", "alloy_docker_hostname": "123", "alloy_docker_restart_policy": False,
                   "alloy_docker_log_max_size": "100", "alloy_docker_log_max_file": "7", "alloy_docker_port": "8080",
                   "alloy_docker_timezone": "UTC", "alloy_docker_extra_hosts": {"yes": "10.0.0.1", "B": "::1",
                                                                              "a": "host-gateway"},
                   "alloy_docker_extra_args": ["--x=true", "--y=null"]},
}
# Host paths missing on the case's host (the role stats them first): their mounts are left out.
MISSING: Dict[str, list] = {"yaml_types": ["/run/udev/data", "/run/log/journal"]}
OPTIONAL_PATHS = ["/run/udev/data", "/var/log/journal", "/run/log/journal"]
# The inventory's own variables of a case's host (ansible_host: the address the others reach it at).
INVENTORY: Dict[str, Dict[str, Any]] = {"cluster_a": {"ansible_host": "10.0.2.1"},
                                        "cluster_b": {"ansible_host": "cluster-b.example"}}

# compose.yaml for the defaults: the project the role has deployed since 0.1.0 (issue #15 made it data).
DEFAULTS_COMPOSE: Dict[str, Any] = {
    "name": "alloy",
    "services": {"alloy": {
        "image": "grafana/alloy:v1.10.0", "container_name": "alloy", "restart": "always", "user": "root",
        "pid": "host",
        "command": ["run", "/etc/alloy/conf.d", "--storage.path=/var/lib/alloy/data",
                    "--server.http.listen-addr=0.0.0.0:12345", "--stability.level=generally-available"],
        "environment": {"HOSTOS_HOSTNAME": "docker-host"},
        "env_file": ["/opt/alloy/alloy.env"],
        "ports": [{"target": 12345, "published": "12345", "host_ip": "127.0.0.1", "protocol": "tcp"}],
        "volumes": [
            {"type": "bind", "source": "/opt/alloy/config", "target": "/etc/alloy/conf.d", "read_only": True},
            {"type": "bind", "source": "/opt/alloy/data", "target": "/var/lib/alloy/data"},
            {"type": "bind", "source": "/proc", "target": "/host/proc", "read_only": True},
            {"type": "bind", "source": "/sys", "target": "/host/sys", "read_only": True},
            {"type": "bind", "source": "/", "target": "/host/root", "read_only": True,
             "bind": {"propagation": "rslave"}},
            {"type": "bind", "source": "/run/udev/data", "target": "/run/udev/data", "read_only": True},
            {"type": "bind", "source": "/var/log/journal", "target": "/var/log/journal", "read_only": True},
            {"type": "bind", "source": "/run/log/journal", "target": "/run/log/journal", "read_only": True},
            {"type": "bind", "source": "/etc/machine-id", "target": "/etc/machine-id", "read_only": True},
            {"type": "bind", "source": "/etc/localtime", "target": "/etc/localtime", "read_only": True}],
        "logging": {"driver": "json-file", "options": {"max-size": "100m", "max-file": "3"}},
    }},
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    root = tmp_path_factory.mktemp("alloy_docker")
    # The cluster members' TLS files, on "the host" (this machine): the preflight refuses them missing.
    pki = Path(PKI)
    pki.mkdir(exist_ok=True)
    for name in ("cluster-ca.pem", "a.pem", "a.key", "b.pem", "b.key"):
        (pki / name).write_text("throwaway: only its presence is checked\n")
    # alloy_docker_hostname defaults to the inventory name without facts; these have _ in them.
    bad = {name: dict({"alloy_docker_project_dir": str(root / name), "alloy_docker_hostname": "docker-host"},
                      **case[0]) for name, case in BAD.items()}
    render = {name: dict({"render_case": case, "render_dest": str(root / f"{name}.yaml"),
                          "render_missing": MISSING.get(name, [])}, **INVENTORY.get(name, {}))
              for name, case in RENDER.items()}
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                         "children": {"bad": {"hosts": bad}, "render": {"hosts": render}}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_FORKS="8")
    out = subprocess.run(["ansible-playbook", "-i", str(root / "inventory.yml"), str(PLAYBOOK)],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    report = json.loads(out.stdout[out.stdout.index("{"):])
    failures: Dict[str, list] = {name: [] for name in [*BAD, *RENDER]}
    changed_tasks: Dict[str, list] = {name: [] for name in BAD}
    optional: Dict[str, Any] = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    failures[host].append(res.get("msg") or json.dumps(res)[:2000])
                if res.get("changed") and host in changed_tasks:
                    changed_tasks[host].append(task["task"]["name"])
                if task["task"]["name"] == "Show the host paths the role reads before it mounts them":
                    optional[host] = res.get("msg")
    return {"root": root, "failures": failures, "changed": changed_tasks, "optional": optional}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_variable_is_named_before_any_change(outcome: Dict[str, Any], case: str) -> None:
    assert outcome["failures"][case] == [BAD[case][1]]
    assert outcome["changed"][case] == []
    assert not (outcome["root"] / case).exists()


def _text(outcome: Dict[str, Any], case: str) -> str:
    assert outcome["failures"][case] == []
    return (outcome["root"] / f"{case}.yaml").read_text()


def _compose(outcome: Dict[str, Any], case: str) -> Dict[str, Any]:
    return yaml.safe_load(_text(outcome, case))


def _typed(value: Any) -> Any:
    """value with every scalar paired with its type: 1 == True and 1 == 1.0 in Python."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def test_defaults_compose_is_the_whole_project(outcome: Dict[str, Any]) -> None:
    text = _text(outcome, "defaults")
    assert text.startswith("# Managed by fleet.alloy (role alloy_docker); local changes are replaced.\n{\n  \"name\": \"alloy\",\n")
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert _typed(yaml.safe_load(text)) == _typed(DEFAULTS_COMPOSE)


def test_the_role_stats_the_optional_host_paths(outcome: Dict[str, Any]) -> None:
    assert outcome["optional"]["defaults"] == OPTIONAL_PATHS


def test_seed000_compose(outcome: Dict[str, Any]) -> None:
    compose = _compose(outcome, "seed000")
    svc = compose["services"]["alloy"]
    assert svc["image"] == "grafana/alloy:v1.8.3"
    assert svc["pid"] == "host" and svc["restart"] == "always" and svc["user"] == "root"
    assert svc["environment"] == {"HOSTOS_HOSTNAME": "web-01", "TZ": "Asia/Tokyo"}
    mounts = {v["target"]: v for v in svc["volumes"]}
    assert mounts["/var/lib/alloy/data"] == {"type": "bind", "source": "/data/app/grafana_alloy/wal",
                                             "target": "/var/lib/alloy/data"}
    assert mounts["/etc/alloy/conf.d"]["source"] == "/opt/volumes/grafana_alloy/config"
    assert mounts["/host/root"]["bind"] == {"propagation": "rslave"}
    assert all(mounts[t]["read_only"] for t in ("/host/proc", "/host/sys", "/host/root", "/run/udev/data",
                                                 "/var/log/journal", "/etc/machine-id", "/etc/alloy/conf.d"))
    assert "/etc/localtime" not in mounts
    assert svc["command"][:3] == ["run", "/etc/alloy/conf.d", "--storage.path=/var/lib/alloy/data"]
    assert svc["ports"] == [{"target": 12345, "published": "12345", "host_ip": "127.0.0.1", "protocol": "tcp"}]
    assert svc["logging"] == {"driver": "json-file", "options": {"max-size": "100m", "max-file": "3"}}
    assert svc["networks"] == ["fleet_alloy_external"]
    assert _typed(compose["networks"]) == _typed({"fleet_alloy_external": {"name": "stg_network", "external": True}})
    assert "volumes" not in compose


def test_named_volume_and_no_host_access(outcome: Dict[str, Any]) -> None:
    compose = _compose(outcome, "volume")
    svc = compose["services"]["alloy"]
    assert compose["volumes"] == {"alloy-wal": {"name": "alloy-wal"}}
    targets = [v["target"] for v in svc["volumes"]]
    assert targets == ["/etc/alloy/conf.d", "/var/lib/alloy/data", "/etc/localtime"]
    assert svc["volumes"][1] == {"type": "volume", "source": "alloy-wal", "target": "/var/lib/alloy/data"}
    assert "pid" not in svc and "TZ" not in svc["environment"]
    assert svc["environment"]["HOSTOS_HOSTNAME"] == "web-02"
    # Compose would read $1 as a variable: the role doubles every dollar sign. (A survey's
    # "yes" turned --disable-reporting on; its "false" turned the journal mount off.)
    assert svc["command"][-3:] == ["--disable-reporting", "--cluster.enabled=true", "--cluster.node-name=n$$1"]
    assert svc["ports"][0]["host_ip"] == "0.0.0.0"
    assert svc["extra_hosts"] == ["loki:10.0.0.5"]
    assert "networks" not in compose


# (Written against the survivors of ./dev mutate, docs/testing.md: optional keys that must be
# absent, not present and empty, when their variable is unset.)
def test_optional_keys_are_absent_when_unset(outcome: Dict[str, Any]) -> None:
    svc = _compose(outcome, "seed000")["services"]["alloy"]
    assert "extra_hosts" not in svc
    assert [v["target"] for v in svc["volumes"] if "bind" in v] == ["/host/root"]  # only it propagates
    volume = _compose(outcome, "volume")["services"]["alloy"]
    assert [v for v in volume["volumes"] if "bind" in v] == []


def test_every_dollar_sign_is_doubled(outcome: Dict[str, Any]) -> None:
    text = _text(outcome, "dollars")
    svc = yaml.safe_load(text)["services"]["alloy"]
    assert svc["volumes"][0]["source"] == "/etc/$$x/$${y}"
    assert svc["volumes"][1] == {"type": "bind", "source": "/data/$$$$wal$$", "target": "/var/lib/alloy/data"}
    assert svc["env_file"] == ["/srv/al$$loy/alloy.env"]
    assert svc["command"][-3:] == ["--a=$$HOME", "--b=$$$$", "--c=$${X:-1}"]
    assert all(len(run) % 2 == 0 for run in re.findall(r"\$+", text))
    # the values without a dollar sign are as they were
    assert svc["command"][:2] == ["run", "/etc/alloy/conf.d"] and svc["user"] == "root"


def test_strings_stay_strings(outcome: Dict[str, Any]) -> None:
    compose = _compose(outcome, "yaml_types")
    svc = compose["services"]["alloy"]
    assert _typed(svc["ports"]) == _typed([{"target": 8080, "published": "8080", "host_ip": "127.0.0.1",
                                            "protocol": "tcp"}])
    assert _typed({key: svc[key] for key in ("user", "restart", "environment", "logging")}) == _typed({
        "user": "1000", "restart": "no", "environment": {"HOSTOS_HOSTNAME": "123", "TZ": "UTC"},
        "logging": {"driver": "json-file", "options": {"max-size": "100", "max-file": "7"}}})
    assert svc["command"][-2:] == ["--x=true", "--y=null"]
    # sorted by name, case-insensitively (dictsort), as name:address
    assert svc["extra_hosts"] == ["a:host-gateway", "B:::1", "yes:10.0.0.1"]
    # a missing optional host path is not mounted; the rest keep their order; TZ: no /etc/localtime
    assert [v["target"] for v in svc["volumes"]] == ["/etc/alloy/conf.d", "/var/lib/alloy/data", "/host/proc",
                                                     "/host/sys", "/host/root", "/var/log/journal", "/etc/machine-id"]
    assert all(v["read_only"] is True for v in svc["volumes"][2:])
    assert _typed(svc["volumes"][0]["read_only"]) == ("bool", True)


def _member_command(listen_port: int, name: str, joins: str, advertises: str, cert: str) -> list:
    """The command after `run <dir> --storage.path` of a TLS cluster member of the render cases."""
    return [f"--server.http.listen-addr=0.0.0.0:{listen_port}", "--stability.level=generally-available",
            "--cluster.enabled=true", f"--cluster.node-name={name}", f"--cluster.join-addresses={joins}",
            "--cluster.name=lab", f"--cluster.advertise-address={advertises}", *TLS_FLAGS,
            f"--cluster.tls-cert-path={PKI}/{cert}.pem", f"--cluster.tls-key-path={PKI}/{cert}.key"]


def test_a_cluster_member_runs_with_the_cluster_flags(outcome: Dict[str, Any]) -> None:
    # each joins the other at its host's address and published port, and advertises its own: the
    # container's address would reach no other host
    a = _compose(outcome, "cluster_a")["services"]["alloy"]
    assert a["command"][3:] == _member_command(12345, "cluster_a", "10.0.2.2:9000", "10.0.2.1:12345", "a")
    # the TLS files read-only at the same paths in the container, where the flags and the http block name them
    assert [v for v in a["volumes"] if v["source"].startswith(PKI + "/")] == [
        {"type": "bind", "source": f"{PKI}/{name}", "target": f"{PKI}/{name}", "read_only": True}
        for name in ("cluster-ca.pem", "a.pem", "a.key")]
    b = _compose(outcome, "cluster_b")["services"]["alloy"]
    assert b["command"][3:] == _member_command(9000, "cluster_b", "10.0.2.1:12345", "10.0.2.2:9000", "b")
    assert b["ports"] == [{"target": 9000, "published": "9000", "host_ip": "10.0.2.2", "protocol": "tcp"}]


def test_a_host_that_does_not_cluster_gets_no_cluster_flags(outcome: Dict[str, Any]) -> None:
    for case in ("defaults", "seed000", "yaml_types"):
        assert not [flag for flag in _compose(outcome, case)["services"]["alloy"]["command"]
                    if flag.startswith("--cluster.")], case
        assert not [v for v in _compose(outcome, case)["services"]["alloy"]["volumes"]
                    if v["source"].startswith("/tmp/fleet-alloy-unit-pki")], case
