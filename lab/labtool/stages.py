"""The README's test command: every stage, timed, in one run.

Stages: images (offline build or reuse), yamllint, ansible-lint (production profile,
offline), unit tests (pytest, no containers: the product's tests/unit, the lab's
lab/tests and the tools' tools/tests) on the controller's ansible-core and again on the
oldest one requires_ansible allows (unit-2.16, its own cached venv), argument specs
(tools.argspecs, and docs/variables.md in sync with them by tools.varsref), ansible-test
sanity (offline, on both core versions, see sanity.py), collection build and install
into a temporary path, lab services, lab tests (pytest against the lab containers),
molecule test --all. A failing stage does not hide the later ones; the command fails if
any did.
"""
from __future__ import annotations

import glob
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, List, Tuple

from . import bootstrap, images, lab, sanity
from .common import REPO, TESTS, Timings, log, run

# The oldest ansible-core that meta/runtime.yml's requires_ansible allows, with what the
# unit tests need beside it (the sanity stage takes its 2.16 pin from here too).
REQUIREMENTS_2_16 = TESTS / "requirements-2.16.txt"
# The unit tests, run in one pytest session: the product's (laid out as ansible-test units
# expects), the lab's own (labtool, the stand-ins, their wire formats) and the tools'.
UNIT_TESTS = ("tests/unit", "lab/tests", "tools/tests")
# Not collection content: build_ignore in galaxy.yml keeps them out of the artifact.
NOT_IN_ARTIFACT = ("tests", "lab", "tools", "bench", "molecule", "dev")


def _pytest(*args: str) -> None:
    run(["python", "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO)


def stage_yamllint() -> None:
    run(["yamllint", "--strict", "."], cwd=REPO)


def stage_ansible_lint() -> None:
    run(["ansible-lint", "--profile", "production", "--offline", "--nocolor"], cwd=REPO)


def stage_unit() -> None:
    _pytest(*UNIT_TESTS)


def stage_unit_2_16() -> None:
    """The unit tests again with ansible-core 2.16 on PATH and as the tests' Python, so the
    playbooks the tests run and the plugins they import are 2.16's."""
    bin_dir = bootstrap.ensure_venv(REQUIREMENTS_2_16, prefix="venv-core2.16")
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(bin_dir.parent)}
    run([str(bin_dir / "python"), "-m", "pytest", "-p", "no:cacheprovider", *UNIT_TESTS], cwd=REPO, env=env)


def stage_argspecs() -> None:
    run(["python", "-m", "tools.argspecs", str(REPO / "roles")], cwd=REPO)
    run(["python", "-m", "tools.varsref"], cwd=REPO)


def stage_sanity() -> None:
    sanity.main([])


def stage_build() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(["ansible-galaxy", "collection", "build", "--output-path", tmp, str(REPO)], cwd=REPO)
        artifact = glob.glob(f"{tmp}/fleet-alloy-*.tar.gz")
        if len(artifact) != 1:
            raise RuntimeError(f"expected one artifact in {tmp}, found {artifact}")
        dest = Path(tmp) / "installed"
        run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "--force", "-p", str(dest), artifact[0]])
        installed = dest / "ansible_collections" / "fleet" / "alloy"
        for must in ("MANIFEST.json", "FILES.json", "meta/runtime.yml"):
            if not (installed / must).is_file():
                raise RuntimeError(f"installed collection lacks {must}")
        carried = [name for name in NOT_IN_ARTIFACT if (installed / name).exists()]
        if carried:
            raise RuntimeError(f"the artifact carries {', '.join(carried)}: build_ignore in galaxy.yml is wrong")
        log(f"built and installed {Path(artifact[0]).name}")


def stage_lab_tests() -> None:
    lab.up_services()
    _pytest("tests/integration")


def stage_molecule() -> None:
    lab.up_services()
    lab.export_alloy_images()
    run(["molecule", "test", "--all"], cwd=REPO)


STAGES: List[Tuple[str, Callable[[], None]]] = [
    ("yamllint", stage_yamllint),
    ("ansible-lint", stage_ansible_lint),
    ("unit", stage_unit),
    ("unit-2.16", stage_unit_2_16),
    ("argspecs", stage_argspecs),
    ("sanity", stage_sanity),
    ("collection-build", stage_build),
    ("lab-tests", stage_lab_tests),
    ("molecule", stage_molecule),
]


def run_all(only: List[str]) -> int:
    timings = Timings()
    failed: List[str] = []
    with timings.stage("images"):
        images.ensure(list(images.IMAGES))
    for name, func in STAGES:
        if only and name not in only:
            continue
        try:
            with timings.stage(name):
                func()
        except (subprocess.CalledProcessError, RuntimeError, SystemExit) as err:
            log(f"stage {name} failed: {err}")
            failed.append(name)
    print(timings.report(), flush=True)
    if failed:
        print(f"FAILED stages: {', '.join(failed)}", flush=True)
        return 1
    print("all test stages passed", flush=True)
    return 0
