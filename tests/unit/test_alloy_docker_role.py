"""alloy_docker without Docker: bad variables fail in the preflight (the rule book, run by
the fleet.alloy.alloy_preflight action) with the variable named, and compose.yaml renders
what seed 000's compose.yml does (and the variants the Molecule scenario does not deploy: a
named volume, an external network, no TZ)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).parent / "data" / "alloy_docker_role.yml"

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
}

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
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    root = tmp_path_factory.mktemp("alloy_docker")
    # alloy_docker_hostname defaults to the inventory name without facts; these have _ in them.
    bad = {name: dict({"alloy_docker_project_dir": str(root / name), "alloy_docker_hostname": "docker-host"},
                      **case[0]) for name, case in BAD.items()}
    render = {name: {"render_case": case, "render_dest": str(root / f"{name}.yaml")} for name, case in RENDER.items()}
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
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    failures[host].append(res.get("msg") or json.dumps(res)[:2000])
                if res.get("changed") and host in changed_tasks:
                    changed_tasks[host].append(task["task"]["name"])
    return {"root": root, "failures": failures, "changed": changed_tasks}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_variable_is_named_before_any_change(outcome: Dict[str, Any], case: str) -> None:
    assert outcome["failures"][case] == [BAD[case][1]]
    assert outcome["changed"][case] == []
    assert not (outcome["root"] / case).exists()


def _compose(outcome: Dict[str, Any], case: str) -> Dict[str, Any]:
    assert outcome["failures"][case] == []
    return yaml.safe_load((outcome["root"] / f"{case}.yaml").read_text())


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
    assert compose["networks"] == {"fleet_alloy_external": {"name": "stg_network", "external": True}}
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
    # Compose would read $1 as a variable: the template doubles every dollar sign. (A survey's
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
