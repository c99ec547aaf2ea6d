"""Lab tests: real containers on the lab network (started by ./dev test before pytest)."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from labtool import lab  # noqa: E402


def playbook(name: str, inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook playbooks/<name> against inventory, run as ./dev runs it: from the
    repository, with its ansible.cfg (the collection link, the output format)."""
    return subprocess.run(["ansible-playbook", "-i", str(inventory), f"playbooks/{name}", *extra],
                          capture_output=True, text=True, cwd=REPO, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))


def site(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return playbook("site.yml", inventory, *extra)


class Host:
    """A throwaway systemd lab host; `sh` runs a shell command in it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["docker", "exec", self.name, "sh", "-c", script],
                                capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name}: `{script}` exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def lab_urls() -> dict[str, str]:
    return lab.up_services()


@pytest.fixture
def new_host(lab_urls: dict[str, str]) -> Iterator[Callable[[str], Host]]:
    started: List[str] = []

    def start(platform: str) -> Host:
        name = f"fleet-alloy-lab-test-{platform}-{uuid.uuid4().hex[:6]}"
        lab.start_host(platform, name)
        started.append(name)
        return Host(name)

    yield start
    if started:
        subprocess.run(["docker", "rm", "-f", *started], capture_output=True, check=False)
