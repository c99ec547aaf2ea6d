"""Bootstrap: the pinned virtual environment, a Docker engine and the compose v2 plugin.

Idempotent and quick when everything is already there. Installing needs root and apt;
without them it stops with a message naming what is missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import CACHE, REPO, TESTS, digest, log, output, run, succeeds
from .debmirror import debian_mirror

REQUIREMENTS = TESTS / "requirements.txt"
DOCKERD_LOG = CACHE / "dockerd.log"
COMPOSE_PLUGIN = Path.home() / ".docker" / "cli-plugins" / "docker-compose"


def venv_dir(requirements: Path = REQUIREMENTS, prefix: str = "venv") -> Path:
    return CACHE / f"{prefix}-{digest([requirements.read_bytes(), sys.version])}"


def ensure_venv(requirements: Path = REQUIREMENTS, prefix: str = "venv") -> Path:
    """Create (once) the venv pinned by a requirements file (tests/requirements.txt unless
    told otherwise) and return its bin dir."""
    venv = venv_dir(requirements, prefix)
    stamp = venv / ".complete"
    if stamp.exists():
        log(f"venv ready: {venv}")
        return venv / "bin"
    log(f"creating venv {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run([*pip, "--upgrade", "pip"])
    run([*pip, "-r", str(requirements)])
    stamp.write_text("ok\n")
    return venv / "bin"


def activate(bin_dir: Path) -> None:
    """Put the venv first on PATH for every later subprocess."""
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    os.environ["VIRTUAL_ENV"] = str(bin_dir.parent)
    os.environ.setdefault("ANSIBLE_FORCE_COLOR", "0")


def _require_root_apt(what: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(
            f"{what} is missing and can only be installed as root with apt-get; "
            f"install it yourself (Debian package names are in lab/labtool/bootstrap.py)"
        )


_apt_updated = False


def apt_install(*packages: str) -> None:
    global _apt_updated
    missing = [p for p in packages if not succeeds(["dpkg-query", "-W", "-f=${Status}", p])
               or "installed" not in output(["dpkg-query", "-W", "-f=${Status}", p])]
    if not missing:
        return
    _require_root_apt(", ".join(missing))
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        run(["apt-get", "update", "-qq"], env=env)
        _apt_updated = True
    log(f"apt-get install {' '.join(missing)}")
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


def docker_answers() -> bool:
    return shutil.which("docker") is not None and succeeds(["docker", "info"])


def ensure_docker() -> None:
    if docker_answers():
        log("docker engine answers")
        return
    if shutil.which("dockerd") is None:
        apt_install("docker.io")
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"starting dockerd (log: {DOCKERD_LOG})")
    with open(DOCKERD_LOG, "ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if docker_answers():
            log("docker engine started")
            return
        time.sleep(1)
    raise SystemExit(f"dockerd did not answer within 90 s; see {DOCKERD_LOG}")


def _download_trixie_compose(workdir: Path) -> Path:
    """Fetch Debian 13's docker-compose .deb through a private apt state (host lists untouched)."""
    mirror = debian_mirror()
    state = workdir / "state"
    (state / "lists" / "partial").mkdir(parents=True)
    (workdir / "sources.list").write_text(f"deb {mirror} trixie main\n")
    opts = [
        "-o", f"Dir::Etc::SourceList={workdir / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=-",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={workdir / 'cache'}",
        "-o", "APT::Get::List-Cleanup=0",
    ]
    run(["apt-get", *opts, "update", "-qq"])
    run(["apt-get", *opts, "download", "docker-compose"], cwd=workdir)
    return next(workdir.glob("docker-compose_*.deb"))


def ensure_compose_plugin() -> None:
    if succeeds(["docker", "compose", "version"]):
        log("docker compose plugin present")
        return
    _require_root_apt("the docker compose v2 plugin")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        deb = _download_trixie_compose(work)
        run(["dpkg-deb", "-x", str(deb), str(work / "root")])
        binary = next((work / "root").rglob("cli-plugins/docker-compose"))
        COMPOSE_PLUGIN.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, COMPOSE_PLUGIN)
    log(f"installed {output(['docker', 'compose', 'version'])}")


def ensure_collection_link() -> None:
    """Make the checkout resolvable as fleet.alloy through ansible.cfg's collections_path."""
    link = REPO / ".collections" / "ansible_collections" / "fleet" / "alloy"
    if link.is_symlink() and link.resolve() == REPO:
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(REPO, target_is_directory=True)


def ensure_all() -> Path:
    """Everything the lab and the tests need on the controller; returns the venv bin dir."""
    apt_install("debootstrap", "ca-certificates")
    ensure_docker()
    ensure_compose_plugin()
    bin_dir = ensure_venv()
    activate(bin_dir)
    ensure_collection_link()
    return bin_dir
