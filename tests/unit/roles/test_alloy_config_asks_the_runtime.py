"""alloy_config's task that asks the runtime role to restart or start Alloy (roles/alloy_config/tasks/
main.yml), run as written on localhost after each kind of apply result: new secrets or the HTTP server's
TLS notify "alloy pipelines changed" (a restart); files Alloy did not reload notify "alloy pipelines
written" (a start); a reload, no change or an apply skipped notifies nothing."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
NAME = "Ask the runtime to restart or start Alloy with the new pipelines"
APPLIED = {"restart_needed": False, "written": [], "removed": [], "reloaded": False, "reload_message": ""}


def handlers_run(tmp_path: Path, applied: Dict[str, Any]) -> List[str]:
    tasks = yaml.safe_load((REPO / "roles" / "alloy_config" / "tasks" / "main.yml").read_text())
    task = next(item for item in tasks if item.get("name") == NAME)
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"__alloy_config_applied": applied},
             "tasks": [task],
             "handlers": [{"name": topic, "ansible.builtin.debug": {"msg": topic}, "listen": topic}
                          for topic in ("alloy pipelines changed", "alloy pipelines written")]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_INVENTORY="localhost,",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(["ansible-playbook", "-c", "local", str(path)], cwd=REPO, env=env, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return [task["task"]["name"] for task in json.loads(out.stdout)["plays"][0]["tasks"][1:]]


@pytest.mark.parametrize("applied, expected", [
    ({"restart_needed": True, "written": ["fleet_loki.alloy"]}, ["alloy pipelines changed"]),
    ({"restart_needed": True}, ["alloy pipelines changed"]),
    ({"written": ["fleet_loki.alloy"]}, ["alloy pipelines written"]),
    ({"removed": ["fleet_otlp.alloy"]}, ["alloy pipelines written"]),
    ({"written": ["fleet_loki.alloy"], "reloaded": True}, []),
    ({}, []),
])
def test_the_runtime_is_asked_for_what_the_apply_needs(tmp_path: Path, applied: Dict[str, Any],
                                                       expected: List[str]) -> None:
    assert handlers_run(tmp_path, dict(APPLIED, **applied)) == expected


def test_an_apply_skipped_as_current_asks_nothing(tmp_path: Path) -> None:
    """The apply skipped (the preflight's read showed the host as it would leave it): a skipped result has
    none of the apply's keys, and nothing is asked."""
    assert handlers_run(tmp_path, {"changed": False, "skipped": True, "false_condition": "not __alloy_config_current",
                                   "skip_reason": "Conditional result was False"}) == []
