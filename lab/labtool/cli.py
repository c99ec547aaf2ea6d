"""Commands of ./dev once the controller is bootstrapped."""
from __future__ import annotations

import os
from typing import List

from . import images, lab, stages
from .common import REPO, log, run
from .platforms import LAB_DOCKER_HOSTS, LAB_HOSTS, image_variable

LAB_INVENTORY = REPO / "inventories" / "lab" / "hosts.yml"


def export_image_env() -> None:
    """ALLOY_TEST_IMAGE_<NAME> for Molecule and the tests, from the content-addressed tags."""
    for name in images.IMAGES:
        os.environ.setdefault(image_variable(name), images.tag(name))


def up() -> None:
    images.ensure(list(images.LAB_IMAGES) + list(LAB_HOSTS) + list(LAB_DOCKER_HOSTS))
    lab.up_services()
    for platform in LAB_HOSTS:
        log(f"lab host {lab.start_host(platform)} up")
    for platform in LAB_DOCKER_HOSTS:
        log(f"lab host {lab.start_docker_host(platform)} up (Docker engine, stand-in images loaded)")


def main_job() -> int:
    up()
    result = run(["ansible-playbook", "-i", str(LAB_INVENTORY), "site.yml"], check=False, cwd=REPO)
    report = run(["ansible-playbook", "-i", str(LAB_INVENTORY), "playbooks/verify.yml"], check=False, cwd=REPO)
    return result.returncode or report.returncode


def dispatch(command: str, rest: List[str]) -> int:
    if command == "mutate":
        return run(["python", "-m", "labtool.mutate", *rest], check=False, cwd=REPO / "lab").returncode
    export_image_env()
    if command == "images":
        images.ensure(list(images.IMAGES))
        return 0
    if command == "up":
        up()
        return 0
    if command == "lab":
        return main_job()
    if command == "down":
        lab.down()
        return 0
    if command == "test":
        return stages.run_all(rest)
    if command == "molecule":
        images.ensure(list(images.IMAGES))
        lab.up_services()
        lab.export_alloy_images()
        return run(["molecule", *(rest or ["test", "--all"])], check=False, cwd=REPO).returncode
    if command == "bench":
        return run(["python", str(REPO / "bench" / "fleet_rollout.py"), *rest], check=False, cwd=REPO).returncode
    raise SystemExit(f"unknown command {command}")
