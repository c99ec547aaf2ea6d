"""Shared helpers: paths, logging, subprocess calls and stage timing."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "lab"
TESTS = REPO / "tests"
CACHE = Path(os.environ.get("FLEET_ALLOY_CACHE", Path.home() / ".cache" / "fleet-alloy"))
PREFIX = "fleet-alloy-lab"


def log(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; with capture, return its output instead of streaming it."""
    merged = dict(os.environ, **env) if env else None
    return subprocess.run(
        list(cmd),
        check=check,
        text=True,
        env=merged,
        cwd=cwd,
        input=input_text,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )


def output(cmd: Sequence[str]) -> str:
    return run(cmd, capture=True).stdout.strip()


def succeeds(cmd: Sequence[str]) -> bool:
    return run(cmd, check=False, capture=True).returncode == 0


def digest(parts: Sequence[bytes | str], length: int = 12) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:length]


def tree_digest(root: Path) -> list[bytes]:
    """Names and contents of every file below root, in a stable order."""
    parts: list[bytes] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        parts.append(str(path.relative_to(root)).encode())
        parts.append(path.read_bytes())
    return parts


class Timings:
    """Collects the wall time of each stage and prints a table at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        log(f"=== stage {name}")
        start = time.monotonic()
        status = "failed"
        try:
            yield
            status = "ok"
        finally:
            elapsed = time.monotonic() - start
            self.rows.append((name, elapsed, status))
            log(f"=== stage {name}: {status} in {elapsed:.1f}s")

    def report(self) -> str:
        lines = ["stage timings:"]
        lines += [f"  {name:<22} {secs:8.1f}s  {status}" for name, secs, status in self.rows]
        lines.append(f"  {'total':<22} {sum(r[1] for r in self.rows):8.1f}s")
        return "\n".join(lines)
