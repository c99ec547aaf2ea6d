"""site.yml's gate: a canary that alloy_verify finds unhealthy stops the rollout before
the next batch, and the hosts of later batches are left untouched."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable

from labtool import lab  # tests/ is on the path (conftest.py)

REPO = Path(__file__).resolve().parents[2]


def test_unhealthy_canary_stops_the_rollout(new_host: Callable[[str], Any], tmp_path: Path) -> None:
    canary, *later = [new_host("debian12") for _ in range(3)]
    # The canary writes its metrics to a port where no Prometheus listens: it installs and
    # configures fine, and only the verification can tell.
    broken = {"alloy_config_prometheus_endpoints": [{"url": "http://prometheus:9999/api/v1/write"}]}
    inventory = lab.write_inventory(tmp_path, {"alloy": {canary.name: broken, **{h.name: {} for h in later}}})
    out = subprocess.run(["ansible-playbook", "-i", str(inventory), "playbooks/site.yml",
                          "-e", "alloy_verify_wait_timeout=5"],
                         capture_output=True, text=True, cwd=REPO, check=False,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    assert out.returncode != 0, out.stdout[-3000:]
    assert f"{canary.name} is not healthy after the change" in out.stdout
    assert "prometheus http://prometheus:9999" in out.stdout
    assert canary.sh("dpkg-query -W -f '${Status}' alloy").stdout == "install ok installed"
    for host in later:
        assert host.sh("dpkg-query -W alloy", check=False).returncode != 0, f"{host.name} was changed"
