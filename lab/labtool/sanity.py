"""ansible-test sanity, offline, on what the collection ships, once with the newest and once
with the oldest ansible-core that meta/runtime.yml's requires_ansible allows on this
Python: per core version a venv with ansible-core and that ansible-test's own sanity
pins, a pre-seeded get-pip script for the pip version that ansible-test wants (it
bootstraps pip in the virtual environments it makes from a host that is unreachable
here), and a copy of the collection under ansible_collections/fleet/alloy, where
ansible-test must run.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from .common import CACHE, REPO, TESTS, log, run


def _core_pin(requirements: Path) -> str:
    pins = [line.strip() for line in requirements.read_text().splitlines() if line.startswith("ansible-core==")]
    if len(pins) != 1:
        raise RuntimeError(f"{requirements} must pin ansible-core exactly once")
    return pins[0]


# Newest first: the controller's own (tests/requirements.txt), then the oldest that
# requires_ansible allows (tests/requirements-2.16.txt, the unit-2.16 stage's venv).
CORE_PINS = (_core_pin(TESTS / "requirements.txt"), _core_pin(TESTS / "requirements-2.16.txt"))
# The lab, its stand-ins, the tests, the scenarios and the product tooling are not
# collection content (galaxy.yml's build_ignore leaves them out of the artifact too).
NOT_SHIPPED = ("tests", "lab", "tools", "molecule", "bench", "awx", "collections", "execution-environment.yml",
               ".config", ".ci", "dev")
# Whatever ansible-test asks for, ensurepip provides pip; the machine's pip configuration
# (index and CA) stays visible, and the unsupported flags are dropped.
GET_PIP = '''"""fleet.alloy lab: offline stand-in for get-pip.py, written by lab/labtool/sanity.py."""
import ensurepip
import os
import runpy
import sys

ensurepip.bootstrap(upgrade=True)
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if args:
    sys.argv = ["pip", "install"] + args
    runpy.run_module("pip", run_name="__main__")
'''


def _venv(core_pin: str) -> Path:
    key = hashlib.sha256((core_pin + sys.version).encode()).hexdigest()[:12]
    venv = CACHE / f"sanity-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(python), "-m", "pip", "install", "-q", core_pin])
    reqs = Path(subprocess.check_output([str(python), "-c",
                                         "import ansible_test, os; print(os.path.dirname(ansible_test.__file__))"],
                                        text=True).strip()) / "_data" / "requirements"
    for req in sorted(reqs.glob("sanity.*.txt")):
        run([str(python), "-m", "pip", "install", "-q", "-r", str(req)])
    (venv / ".complete").write_text(core_pin + "\n")
    return venv


def _seed_get_pip(venv: Path) -> None:
    """The get-pip script for the pip version this venv's ansible-test bootstraps
    (2.19: 24.2, 2.16: 23.1.2), asked of ansible-test itself."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    version = subprocess.check_output([str(venv / "bin" / "python"), "-c",
                                       "import types\n"
                                       "from ansible_test._internal.python_requirements import get_venv_packages\n"
                                       f"print(get_venv_packages(types.SimpleNamespace(version={py!r}))['pip'])"],
                                      text=True).strip()
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    script = cache / f"get_pip_{version.replace('.', '_')}.py"
    if not script.exists() or script.read_text() != GET_PIP:
        script.write_text(GET_PIP)


def _copy_collection(dest: Path) -> Path:
    files = subprocess.check_output(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, text=True)
    target = dest / "ansible_collections" / "fleet" / "alloy"
    for name in files.splitlines():
        if name.split("/")[0] in NOT_SHIPPED:
            continue
        src = REPO / name
        if src.is_file() and not src.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)
    return target


def _run(core_pin: str, target: Path, tests: List[str]) -> None:
    venv = _venv(core_pin)
    _seed_get_pip(venv)
    env_path = f"{venv / 'bin'}:/usr/bin:/bin"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    cmd = [str(venv / "bin" / "ansible-test"), "sanity", "--local", "--python", py, "--color", "no"]
    cmd += [arg for t in tests for arg in ("--test", t)]
    log(f"{core_pin}: running " + " ".join(cmd[1:]))
    run(cmd, cwd=target, env={"PATH": env_path})


def main(tests: List[str], core_pins: Tuple[str, ...] = CORE_PINS) -> None:
    """Every core version runs, even after one failed; the call fails if any did."""
    failed: List[str] = []
    took: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        target = _copy_collection(Path(tmp))
        for core_pin in core_pins:
            start = time.monotonic()
            try:
                _run(core_pin, target, tests)
            except subprocess.CalledProcessError:
                failed.append(core_pin)
            took.append(f"{core_pin} {time.monotonic() - start:.1f}s{' FAILED' if core_pin in failed else ''}")
            # ansible-test leaves its results in tests/output of the copy: start the next one clean.
            shutil.rmtree(target / "tests" / "output", ignore_errors=True)
    log("sanity took: " + ", ".join(took))
    if failed:
        raise RuntimeError(f"ansible-test sanity failed with {', '.join(failed)}")
