"""alloy_docker's preflight (roles/alloy_docker/tasks/preflight.yml: the rule book run by the
fleet.alloy.alloy_preflight action, then the Compose check) without Docker: every variable
rule on its own (through include_role tasks_from, so the argument specs do not answer
first), and the Docker Compose check against a fake `docker` on PATH whose `compose version`
each case chooses. One ansible-playbook run, local connection, one
inventory host per case. Written against the survivors of ./dev mutate (docs/testing.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]

# What `docker compose version --short` answers: a version, or "missing" (exit 1, no plugin).
FAKE_DOCKER = """#!/bin/sh
if [ "$1 $2" = "compose version" ]; then
  if [ "$FAKE_COMPOSE" = missing ]; then
    echo "docker: 'compose' is not a docker command." >&2
    exit 1
  fi
  echo "$FAKE_COMPOSE"
  exit 0
fi
echo "fake docker: unexpected $*" >&2
exit 2
"""
COMPOSE_MESSAGE = ("alloy_docker needs the Docker engine and the Docker Compose v2 plugin 2.18.0 or later on the host; "
                   "`docker compose version` said: %s. Install them, or set alloy_docker_install_engine to true on a "
                   "distribution that packages Compose v2 (Debian, Ubuntu).")
ENGINE_MESSAGE = ("alloy_docker_install_engine: CentOS 9 does not package Docker Compose v2 (Debian 13 or later, or "
                  "Ubuntu, do). Install Docker and its Compose plugin by other means and set "
                  "alloy_docker_install_engine to false.")
MISSING = "docker: 'compose' is not a docker command."

# name: (case variables, the one failure message; "" when the preflight must pass). The
# preflight's variable rules are the rule book's alloy_docker table, run by the
# fleet.alloy.alloy_preflight action; it fails with "alloy_docker: " and its problems.
VARIABLES: Dict[str, Any] = {
    "defaults": ({}, ""),
    "everything_fine": ({"alloy_docker_version": "1.10.0-rc.1",
                         "alloy_docker_image": "registry:5000/grafana/alloy@sha256:" + "ab" * 32,
                         "alloy_docker_storage_type": "volume",
                         "alloy_docker_port": 65535, "alloy_docker_publish_address": "::1",
                         "alloy_docker_network": "stg_network", "alloy_docker_log_max_size": "10k",
                         "alloy_docker_log_max_file": 1, "alloy_docker_timezone": "America/Argentina/Buenos_Aires",
                         "alloy_docker_extra_hosts": {"loki.lab": "10.0.0.5", "v6": "fd00::1"},
                         "alloy_docker_env": {"GOMAXPROCS": "2"},
                         "alloy_docker_extra_args": ["--cluster.enabled=true"]},
                        ""),
    # By design: AWX survey answers are strings; the rule book converts them.
    "survey_answers": ({"alloy_docker_port": "12345", "alloy_docker_journal": "no",
                        "alloy_docker_host_metrics": "true", "alloy_docker_log_max_file": "3"}, ""),
    "bind_ignores_the_volume_name": ({"alloy_docker_storage_volume": "../x"}, ""),
    "volume_ignores_the_storage_path": ({"alloy_docker_storage_type": "volume",
                                         "alloy_docker_storage_path": "relative/ignored"}, ""),
    "port_1": ({"alloy_docker_port": 1}, ""),
    # Clustering: published on an address of the host, which the others join and this one advertises.
    "cluster_on": ({"alloy_docker_cluster_enabled": True, "alloy_docker_publish_address": "10.0.0.5"}, ""),
    "cluster_extra_args": ({"alloy_docker_cluster_enabled": True, "alloy_docker_publish_address": "10.0.0.5",
                            "alloy_docker_extra_args": ["--cluster.enabled=true"]},
                           "alloy_docker_extra_args sets --cluster.enabled=true while alloy_docker_cluster_enabled "
                           "writes the cluster flags: use the alloy_docker_cluster_* variables"),
    "image": ({"alloy_docker_image": "Grafana/Alloy"},
              "alloy_docker_image: expected an image reference such as grafana/alloy:v1.10.0 or "
              "grafana/alloy@sha256:<digest>, got 'Grafana/Alloy'"),
    "config_dir": ({"alloy_docker_config_dir": "config"},
                   "alloy_docker_config_dir: expected an absolute path other than /, without blanks, got 'config'"),
    "storage_path": ({"alloy_docker_storage_path": "/"},
                     "alloy_docker_storage_path: expected an absolute path other than /, without blanks, got '/'"),
    "volume_name": ({"alloy_docker_storage_type": "volume", "alloy_docker_storage_volume": "-wal"},
                    "alloy_docker_storage_volume: expected a Docker volume name, got '-wal'"),
    "project_name": ({"alloy_docker_project_name": "Alloy"},
                     "alloy_docker_project_name: expected a Compose project name (lowercase letters, digits, _ and -), "
                     "got 'Alloy'"),
    "service_name": ({"alloy_docker_service_name": "my alloy"},
                     "alloy_docker_service_name: expected letters, digits, _, . and -, got 'my alloy'"),
    "container_name": ({"alloy_docker_container_name": "_alloy"},
                       "alloy_docker_container_name: expected letters, digits, _, . and -, got '_alloy'"),
    "port_0": ({"alloy_docker_port": 0}, "alloy_docker_port: expected a whole number from 1 to 65535, got 0"),
    "port_65536": ({"alloy_docker_port": 65536},
                   "alloy_docker_port: expected a whole number from 1 to 65535, got 65536"),
    "port_text": ({"alloy_docker_port": "123x"}, "alloy_docker_port: expected a whole number from 1 to 65535, "
                                                 "got '123x'"),
    "env_key": ({"alloy_docker_env": {"A-B": "1"}}, "alloy_docker_env: a key: expected an environment variable name "
                                                    "([A-Za-z_][A-Za-z0-9_]*), got 'A-B'"),
    "extra_host_name": ({"alloy_docker_extra_hosts": {"-loki": "10.0.0.5"}},
                        "alloy_docker_extra_hosts: a key: expected a host name, got '-loki'"),
    "extra_host_address": ({"alloy_docker_extra_hosts": {"loki": "not-an-ip"}},
                           "alloy_docker_extra_hosts.loki: expected an IP address or host-gateway, got 'not-an-ip'"),
    "network": ({"alloy_docker_network": "my network"}, "alloy_docker_network: expected a Docker network name, got "
                                                        "'my network'"),
    "log_size": ({"alloy_docker_log_max_size": "100 MB"}, "alloy_docker_log_max_size: expected a size such as "
                                                          "100m, got '100 MB'"),
    "log_files": ({"alloy_docker_log_max_file": 0}, "alloy_docker_log_max_file: expected a whole number from 1 up, "
                                                    "got 0"),
    "timezone": ({"alloy_docker_timezone": "Asia Tokyo"}, "alloy_docker_timezone: expected a zone name such as "
                                                          "Asia/Tokyo, got 'Asia Tokyo'"),
    "survey_boolean_typo": ({"alloy_docker_journal": "maybe"},
                            "alloy_docker_journal: expected a boolean (true/false; yes/no, on/off, 1/0 as strings), "
                            "got 'maybe'"),
}

# name: (fake compose answer, case variables, failure message or "")
COMPOSE: Dict[str, Any] = {
    "compose_ok": ("v2.24.5", {}, ""),
    "compose_minimum": ("2.18.0", {}, ""),
    "compose_old": ("v2.17.9", {}, COMPOSE_MESSAGE % "v2.17.9"),
    "compose_missing": ("missing", {}, COMPOSE_MESSAGE % MISSING),
    "compose_missing_absent": ("missing", {"alloy_docker_state": "absent", "alloy_docker_install_engine": True}, ""),
    "engine_installed_when_missing": ("missing", {"alloy_docker_install_engine": True}, ENGINE_MESSAGE),
    "engine_not_needed": ("2.20.0", {"alloy_docker_install_engine": True}, ""),
}

# Run with --check: a dry run checks Compose too (it is skipped only when the engine install
# itself would change something, which needs a real apt: the Molecule scenario's part).
CHECK_MODE: Dict[str, Any] = {
    "check_compose_old": ("v2.0.0", {}, COMPOSE_MESSAGE % "v2.0.0"),
    "check_compose_ok": ("v2.24.0", {}, ""),
}

PLAYBOOK = """
- name: The preflight with each case's variables
  hosts: all
  gather_facts: false
  environment:
    FAKE_COMPOSE: "{{ fake_compose }}"
  tasks:
    - name: A platform whose distribution packages no Compose v2
      ansible.builtin.set_fact:
        distribution: CentOS
        distribution_major_version: "9"
        hostname: docker-host   # the default of alloy_docker_hostname (inventory names here have _)
        cacheable: true

    - name: Run the role's preflight
      ansible.builtin.include_role:
        name: fleet.alloy.alloy_docker
        tasks_from: preflight.yml
"""


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[str]]:
    root = tmp_path_factory.mktemp("alloy_docker_preflight")
    (root / "bin").mkdir()
    (root / "bin" / "docker").write_text(FAKE_DOCKER)
    (root / "bin" / "docker").chmod(0o755)
    groups = {
        "variables": {n: dict(c[0], fake_compose="2.20.0") for n, c in VARIABLES.items()},
        "compose": {n: dict(c[1], fake_compose=c[0]) for n, c in COMPOSE.items()},
        "check": {n: dict(c[1], fake_compose=c[0]) for n, c in CHECK_MODE.items()},
    }
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                         "children": {g: {"hosts": h} for g, h in groups.items()}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (root / "playbook.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORKS="8",
               PATH="%s%s%s" % (root / "bin", os.pathsep, os.environ["PATH"]))
    found: Dict[str, List[str]] = {}
    for extra in (["--limit", "variables:compose"], ["--limit", "check", "--check"]):
        command = ["ansible-playbook", "-i", str(root / "inventory.yml"), str(root / "playbook.yml"), *extra]
        out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
        report = json.loads(out.stdout[out.stdout.index("{"):])
        for play in report["plays"]:
            for task in play["tasks"]:
                for host, res in task["hosts"].items():
                    if res.get("failed"):
                        found.setdefault(host, []).append(" ".join((res.get("msg") or json.dumps(res)[:2000]).split()))
    return found


KNOWN_BUGS: Set[str] = set()   # product bugs, recorded as strict xfails (docs/testing.md)


def _cases(table: Dict[str, Any]) -> List[Any]:
    return [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason="product bug")) if c in KNOWN_BUGS else c
            for c in sorted(table)]


@pytest.mark.parametrize("case", _cases(VARIABLES))
def test_each_variable_rule_names_its_variable(failures: Dict[str, List[str]], case: str) -> None:
    expected = VARIABLES[case][1]
    assert failures.get(case, []) == (["alloy_docker: " + expected] if expected else [])


@pytest.mark.parametrize("case", _cases(COMPOSE))
def test_the_compose_plugin_is_checked_before_anything_changes(failures: Dict[str, List[str]], case: str) -> None:
    expected = COMPOSE[case][2]
    assert failures.get(case, []) == ([expected] if expected else [])


@pytest.mark.parametrize("case", _cases(CHECK_MODE))
def test_a_dry_run_checks_compose_too(
        failures: Dict[str, List[str]], case: str) -> None:
    expected = CHECK_MODE[case][2]
    assert failures.get(case, []) == ([expected] if expected else [])
