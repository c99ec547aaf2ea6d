"""ansible-test sanity, offline, on what the collection ships: a venv with ansible-core and ansible-test's own sanity
pins, a pre-seeded get-pip script (ansible-test bootstraps pip in the virtual
environments it makes from a host that is unreachable here), and a copy of the
collection under ansible_collections/fleet/alloy, where ansible-test must run.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

from .common import CACHE, REPO, log, run

CORE_PIN = "ansible-core==2.19.14"
# The lab, its stand-ins and the scenarios are test fixtures, not collection content
# (galaxy.yml's build_ignore leaves them out of the artifact too).
NOT_SHIPPED = ("tests", "molecule", "bench", "awx", "collections", "execution-environment.yml", ".config", ".ci", "dev")
# Whatever ansible-test asks for, ensurepip provides pip; the machine's pip configuration
# (index and CA) stays visible, and the unsupported flags are dropped.
GET_PIP = '''"""fleet.alloy lab: offline stand-in for get-pip.py, written by tests/labtool/sanity.py."""
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


def _venv() -> Path:
    key = hashlib.sha256((CORE_PIN + sys.version).encode()).hexdigest()[:12]
    venv = CACHE / f"sanity-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(python), "-m", "pip", "install", "-q", CORE_PIN])
    reqs = Path(subprocess.check_output([str(python), "-c",
                                         "import ansible_test, os; print(os.path.dirname(ansible_test.__file__))"],
                                        text=True).strip()) / "_data" / "requirements"
    for req in sorted(reqs.glob("sanity.*.txt")):
        run([str(python), "-m", "pip", "install", "-q", "-r", str(req)])
    (venv / ".complete").write_text(CORE_PIN + "\n")
    return venv


def _seed_get_pip() -> None:
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in ("24_2", "25_0_1", "25_2"):
        (cache / f"get_pip_{version}.py").write_text(GET_PIP)


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


def main(tests: List[str]) -> None:
    venv = _venv()
    _seed_get_pip()
    with tempfile.TemporaryDirectory() as tmp:
        target = _copy_collection(Path(tmp))
        env_path = f"{venv / 'bin'}:/usr/bin:/bin"
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        cmd = [str(venv / "bin" / "ansible-test"), "sanity", "--local", "--python", py, "--color", "no"]
        cmd += [arg for t in tests for arg in ("--test", t)]
        log("running " + " ".join(cmd[1:]))
        run(cmd, cwd=target, env={"PATH": env_path})
