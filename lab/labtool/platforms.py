"""The lab's platforms, one list: the hosts of each Molecule scenario and of the lab, how a
host container runs here (capabilities instead of --privileged, which this sandbox refuses:
docs of the test environment), and the groups a platform's hosts are in.

The `platforms:` of every molecule/<scenario>/molecule.yml is generated from it
(`./dev platforms --write`; without --write it checks them); a unit test
(lab/tests/test_platforms.py) fails when a scenario's list differs. labtool starts its lab
hosts with the same run settings (lab.py).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

from .common import REPO

MOLECULE = REPO / "molecule"
NETWORK = "${ALLOY_LAB_NETWORK:-fleet-alloy-lab}"
GENERATED = "# generated from lab/labtool/platforms.py (./dev platforms --write): edit it there"


@dataclass(frozen=True)
class Run:
    """How a host container runs: Docker's flags and Molecule's docker driver keys, one set."""

    capabilities: Tuple[str, ...] = ("SYS_ADMIN",)
    volumes: Tuple[str, ...] = ("/sys/fs/cgroup:/sys/fs/cgroup:rw",)
    keep_volumes: bool = True

    def docker_args(self) -> Tuple[str, ...]:
        args: List[str] = []
        for capability in self.capabilities:
            args += ["--cap-add", capability]
        args += ["--security-opt", "seccomp=unconfined", "--cgroupns", "host"]
        for volume in self.volumes:
            args += ["-v", volume]
        return tuple(args + ["--tmpfs", "/run", "--tmpfs", "/run/lock"])

    def molecule(self) -> Dict[str, Any]:
        keys: Dict[str, Any] = {"pre_build_image": True, "command": "/lib/systemd/systemd",
                                "capabilities": list(self.capabilities), "security_opts": ["seccomp=unconfined"],
                                "cgroupns_mode": "host", "volumes": list(self.volumes)}
        if not self.keep_volumes:
            keys["keep_volumes"] = False
        return dict(keys, tmpfs=["/run", "/run/lock"], networks=[{"name": NETWORK}])


SYSTEMD = Run()
# A host with its own Docker engine (alloy_docker): dockerd needs NET_ADMIN and a /var/lib/docker
# that is not on overlay (an anonymous volume, removed with the host).
DOCKER_ENGINE = Run(capabilities=("SYS_ADMIN", "NET_ADMIN"),
                    volumes=("/sys/fs/cgroup:/sys/fs/cgroup:rw", "/var/lib/docker"), keep_volumes=False)
# The stand-in Alloy images, made by ./dev as a tar (no registry), for a Molecule Docker host.
ALLOY_IMAGES_VOLUME = "${ALLOY_LAB_ALLOY_IMAGES:-/nonexistent}:/srv/lab/alloy-images.tar:ro"


@dataclass(frozen=True)
class Platform:
    name: str                 # the image of labtool/images.py it runs
    groups: Tuple[str, ...]   # the inventory groups of its hosts
    run: Run = SYSTEMD
    host: str = ""            # its hosts' name after the scenario's prefix; empty: name


PLATFORMS: Dict[str, Platform] = {p.name: p for p in (
    Platform("debian11", ("alloy", "debian")),
    Platform("debian12", ("alloy", "debian")),
    Platform("debian13", ("alloy", "debian")),
    Platform("el8-emulated", ("alloy", "el")),
    Platform("el9-emulated", ("alloy", "el")),
    Platform("debian13-docker", ("alloy_docker",), DOCKER_ENGINE, host="debian13"),
)}
SYSTEMD_HOSTS = ("debian11", "debian12", "debian13", "el8-emulated", "el9-emulated")
# scenario: (host name prefix, its platforms); a platform listed n > 1 times gives n hosts,
# numbered: <prefix>-<host>-1 ... <prefix>-<host>-n.
SCENARIOS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "alloy_install": ("install", SYSTEMD_HOSTS),
    "alloy_config": ("config", ("debian12", "el9-emulated")),
    "alloy_docker": ("docker", ("debian13-docker",)),
    "lab": ("lab", SYSTEMD_HOSTS),
    "alloy_install_offline": ("offline", ("debian12", "el9-emulated")),
    "alloy_fleet": ("fleet", ("debian12", "el9-emulated")),
    "alloy_cluster": ("cluster", ("debian12",) * 3),
}
# Scenarios whose hosts have no network at all (air-gapped: only the controller reaches
# anything, through the docker connection).
AIRGAPPED = ("alloy_install_offline",)
# The lab of ./dev lab (site.yml's inventories/lab): one host of each family, and a Compose host.
LAB_HOSTS = ("debian12", "el9-emulated")
LAB_DOCKER_HOSTS = ("debian13-docker",)


def image_variable(name: str) -> str:
    """ALLOY_TEST_IMAGE_<NAME>: the content-addressed tag of an image, set by ./dev."""
    return "ALLOY_TEST_IMAGE_" + re.sub(r"[-.]", "_", name.upper())


def molecule_platform(prefix: str, name: str, number: int = 0) -> Dict[str, Any]:
    """One host of a scenario; number > 0: the number-th of several hosts of that platform."""
    platform = PLATFORMS[name]
    entry: Dict[str, Any] = {"name": "%s-%s%s" % (prefix, platform.host or name, "-%d" % number if number else ""),
                             "image": "${%s:-fleet-alloy-lab/%s:lab}" % (image_variable(name), name)}
    entry.update(platform.run.molecule())
    if platform.run is DOCKER_ENGINE:
        entry["volumes"] = entry["volumes"] + [ALLOY_IMAGES_VOLUME]
    entry["groups"] = list(platform.groups)
    return entry


def molecule_platforms(scenario: str) -> List[Dict[str, Any]]:
    prefix, names = SCENARIOS[scenario]
    entries = [molecule_platform(prefix, name, names[:index + 1].count(name) if names.count(name) > 1 else 0)
               for index, name in enumerate(names)]
    if scenario in AIRGAPPED:
        for entry in entries:
            del entry["networks"]
            entry["network_mode"] = "none"
    return entries


def _scalar(value: Any) -> str:
    """A YAML scalar: booleans bare, strings double-quoted (JSON's quoting is YAML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (key, _value(item)) for key, item in value.items())
    if isinstance(value, list):
        return "[%s]" % ", ".join(_value(item) for item in value)
    return _scalar(value)


def _block(scenario: str) -> str:
    """The scenario's platforms: block (standard library only: labtool creates the venv)."""
    lines = [GENERATED, "platforms:"]
    for entry in molecule_platforms(scenario):
        for number, (key, value) in enumerate(entry.items()):
            lines.append("%s%s: %s" % ("  - " if number == 0 else "    ", key, _value(value)))
    return "\n".join(lines) + "\n"


_PLATFORMS_BLOCK = re.compile(r"^(?:# generated from lab/labtool/platforms\.py.*\n)*platforms:\n(?:[ -].*\n|\n)*", re.M)


def rewrite(scenario: str) -> Tuple[Path, str, str]:
    """(molecule.yml, its text, its text with the generated platforms)."""
    path = MOLECULE / scenario / "molecule.yml"
    text = path.read_text()
    if not _PLATFORMS_BLOCK.search(text):
        raise SystemExit("%s: no top-level platforms: block" % path)
    return path, text, _PLATFORMS_BLOCK.sub(lambda _: _block(scenario), text, count=1)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="labtool.platforms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the scenarios' platforms (else check them)")
    args = parser.parse_args(argv)
    stale = []
    for scenario in SCENARIOS:
        path, before, after = rewrite(scenario)
        if before != after:
            if args.write:
                path.write_text(after)
            stale.append("%s/molecule.yml" % scenario)
    if stale and not args.write:
        print("platforms differ from lab/labtool/platforms.py in molecule/: %s (run ./dev platforms --write)"
              % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
