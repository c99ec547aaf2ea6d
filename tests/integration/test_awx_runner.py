"""The rollout job template as AWX runs it: ansible-runner (AWX's executor) with a
private_data_dir holding the inventory and the survey's defaults as extra vars, the
project as project_dir, playbooks/site.yml as the playbook, against a fresh lab host."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict

import ansible_runner

from labtool import lab  # lab/ is on the path (conftest.py)

REPO = Path(__file__).resolve().parents[2]


def _survey_defaults(name: str) -> Dict[str, Any]:
    spec = json.loads((REPO / "awx" / "surveys" / name).read_text())["spec"]
    return {q["variable"]: q.get("default", "") for q in spec}


def test_rollout_job_template_runs_under_ansible_runner(new_host: Callable[[str], Any], tmp_path: Path) -> None:
    host = new_host("debian12")
    private = tmp_path / "private"
    lab.write_inventory(private / "inventory", {"alloy": {host.name: {}}})
    extravars = _survey_defaults("site.json")
    result = ansible_runner.run(
        private_data_dir=str(private), project_dir=str(REPO), playbook="playbooks/site.yml",
        extravars=extravars, quiet=True,
        envvars={"ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                 **{name: os.environ[name] for name in ("ALLOY_LAB_KEY_FINGERPRINT", "ALLOY_LAB_CREDENTIALS",
                                                         "ALLOY_LAB_CA_FILE")}})
    assert (result.status, result.rc) == ("successful", 0), result.stdout.read()[-4000:]
    stats = result.stats
    assert stats["changed"].get(host.name, 0) > 0 and not stats["failures"] and not stats["dark"]
    verified = [e["event_data"]["res"] for e in result.events
                if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == "Check the host with alloy_verify"]
    assert len(verified) == 1 and verified[0]["healthy"] is True, verified
    names = [c["name"] for c in verified[0]["checks"]]
    assert {"delivery loki", "delivery prometheus", "data prometheus https://gateway:9090"} <= set(names), names
