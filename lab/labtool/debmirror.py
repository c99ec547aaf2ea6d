"""Find the Debian mirror this machine uses, without naming any registry host ourselves.

Order: the FLEET_ALLOY_DEBIAN_MIRROR environment variable, then the first `URIs:` of a
deb822 sources file, then the first `deb` line of a one-line sources list, whose path
ends in /debian (the security archive is skipped).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

APT_DIR = Path("/etc/apt")


def _deb822_uris(text: str) -> list[str]:
    return [u for line in text.splitlines() if line.startswith("URIs:") for u in line.split()[1:]]


def _oneline_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        match = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line.strip())
        if match:
            uris.append(match.group(1))
    return uris


def candidate_uris(apt_dir: Path = APT_DIR) -> list[str]:
    uris: list[str] = []
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        uris += _deb822_uris(path.read_text(errors="replace"))
    for path in [apt_dir / "sources.list", *sorted(parts.glob("*.list"))] if parts.is_dir() else [apt_dir / "sources.list"]:
        if path.is_file():
            uris += _oneline_uris(path.read_text(errors="replace"))
    return uris


def debian_mirror(apt_dir: Path = APT_DIR) -> str:
    override = os.environ.get("FLEET_ALLOY_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    for uri in candidate_uris(apt_dir):
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    raise SystemExit(
        "cannot find a Debian mirror: set FLEET_ALLOY_DEBIAN_MIRROR to the URL of a Debian "
        f"archive (no URIs ending in /debian under {apt_dir})"
    )
