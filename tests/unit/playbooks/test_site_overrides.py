"""site.yml's launch overrides (alloy_site_version, alloy_site_loki_url, alloy_site_prometheus_url: extra
vars, an AWX survey) in its first task, run as written on localhost: each one given lands where the
roles read it (the version of both runtime roles; the first endpoint's URL, its other settings and the
other endpoints kept); one not given leaves its variable as it was, defined or not."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PRINTED = ("alloy_install_version", "alloy_docker_version", "alloy_config_loki_endpoints",
           "alloy_config_prometheus_endpoints")
LOKI = [{"url": "https://logs.example/loki/api/v1/push", "tenant_id": "ops",
         "basic_auth": {"username": "u", "password": "p"}}, {"url": "https://backup.example/loki/api/v1/push"}]


def run(tmp_path: Path, variables: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """The variables of PRINTED after site.yml's first task ('UNDEFINED' when not defined)."""
    site = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    task = site[0]["tasks"][0]
    assert task["name"] == "Apply the version and the backend URLs given at launch"
    play = [{"hosts": "localhost", "gather_facts": False, "vars": variables, "tasks": [task, {
        "ansible.builtin.debug": {"msg": "{{ {%s} | to_json }}" % ", ".join(
            "'%s': %s if %s is defined else 'UNDEFINED'" % (name, name, name) for name in PRINTED)}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_INVENTORY="localhost,",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(["ansible-playbook", "-c", "local", str(path), "-e", json.dumps(extra)],
                         cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    tasks = json.loads(out.stdout)["plays"][0]["tasks"]
    found: Dict[str, Any] = json.loads(tasks[1]["hosts"]["localhost"]["msg"])
    found["_applied"] = not tasks[0]["hosts"]["localhost"].get("skipped", False)
    return found


def test_nothing_given_changes_nothing_and_skips(tmp_path: Path) -> None:
    found = run(tmp_path, {"alloy_install_version": "1.9.2", "alloy_config_loki_endpoints": LOKI}, {})
    assert found == {"alloy_install_version": "1.9.2", "alloy_docker_version": "UNDEFINED",
                     "alloy_config_loki_endpoints": LOKI, "alloy_config_prometheus_endpoints": "UNDEFINED",
                     "_applied": False}


def test_empty_answers_are_not_given(tmp_path: Path) -> None:
    """An AWX survey leaves an unanswered question empty: as if not given."""
    found = run(tmp_path, {"alloy_install_version": "1.9.2"},
                {"alloy_site_version": "", "alloy_site_loki_url": "", "alloy_site_prometheus_url": ""})
    assert found == {"alloy_install_version": "1.9.2", "alloy_docker_version": "UNDEFINED",
                     "alloy_config_loki_endpoints": "UNDEFINED", "alloy_config_prometheus_endpoints": "UNDEFINED",
                     "_applied": False}


def test_all_three_given_land_together(tmp_path: Path) -> None:
    found = run(tmp_path, {"alloy_config_loki_endpoints": LOKI},
                {"alloy_site_version": "1.10.0", "alloy_site_loki_url": "https://l.example/push",
                 "alloy_site_prometheus_url": "https://p.example/push"})
    assert found == {"alloy_install_version": "1.10.0", "alloy_docker_version": "1.10.0",
                     "alloy_config_loki_endpoints": [dict(LOKI[0], url="https://l.example/push"), LOKI[1]],
                     "alloy_config_prometheus_endpoints": [{"url": "https://p.example/push"}], "_applied": True}


def test_the_version_goes_to_both_runtime_roles_and_nothing_else(tmp_path: Path) -> None:
    found = run(tmp_path, {"alloy_install_version": "1.9.2", "alloy_config_loki_endpoints": LOKI},
                {"alloy_site_version": "1.10.0"})
    assert found == {"alloy_install_version": "1.10.0", "alloy_docker_version": "1.10.0",
                     "alloy_config_loki_endpoints": LOKI, "alloy_config_prometheus_endpoints": "UNDEFINED",
                     "_applied": True}


@pytest.mark.parametrize("given", ["alloy_site_loki_url", "alloy_site_prometheus_url"])
def test_a_url_replaces_the_first_endpoints_only(tmp_path: Path, given: str) -> None:
    url = "https://gateway.example/push"
    found = run(tmp_path, {"alloy_install_version": "1.9.2", "alloy_config_loki_endpoints": LOKI}, {given: url})
    if given == "alloy_site_loki_url":
        assert found["alloy_config_loki_endpoints"] == [dict(LOKI[0], url=url), LOKI[1]]
        assert found["alloy_config_prometheus_endpoints"] == "UNDEFINED"
    else:   # none defined: one endpoint, with the URL alone
        assert found["alloy_config_prometheus_endpoints"] == [{"url": url}]
        assert found["alloy_config_loki_endpoints"] == LOKI
    assert (found["alloy_install_version"], found["alloy_docker_version"]) == ("1.9.2", "UNDEFINED")
