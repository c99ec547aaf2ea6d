"""Unit tests run without containers; the stand-ins, the lab tooling and the collection
(as ansible_collections.fleet.alloy) are importable."""
from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
LINK = REPO / ".collections" / "ansible_collections" / "fleet" / "alloy"
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(REPO, target_is_directory=True)
for folder in (TESTS / "standins", TESTS, REPO / ".collections"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
