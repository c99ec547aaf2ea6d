"""Shared by the tools: the repository, the collection as an importable package, and the
check-or-write of a generated file."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]


def import_collection() -> None:
    """Make ansible_collections.fleet.alloy importable: the checkout linked as
    .collections/ansible_collections/fleet/alloy (as ./dev links it) put on sys.path."""
    link = REPO / ".collections" / "ansible_collections" / "fleet" / "alloy"
    if not (link.is_symlink() and link.resolve() == REPO):
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(REPO, target_is_directory=True)
    if str(REPO / ".collections") not in sys.path:
        sys.path.insert(0, str(REPO / ".collections"))


def write_or_check(target: Path, text: str, argv: Sequence[str], source: str, module: str) -> int:
    """A generated file: --write writes it; otherwise exit 1 when it differs from text (so a
    test stage catches a generated file that drifted from its source)."""
    if "--write" in argv:
        target.write_text(text)
        return 0
    if not target.is_file() or target.read_text() != text:
        print(f"{target.relative_to(REPO)} is out of date with {source}; regenerate it with "
              f"python3 -m {module} --write (from the repository root)", file=sys.stderr)
        return 1
    return 0
