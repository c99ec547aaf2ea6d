"""Unit tests run without containers; the stand-ins and the lab tooling are importable."""
from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "standins", TESTS):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
