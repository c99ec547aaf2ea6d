"""Unit tests of the lab itself, without containers: labtool, the stand-ins (test fixtures
that play Alloy, Loki and the gateway) and their wire formats. Importable from every test:
the stand-ins (lab/standins), labtool (lab/) and the product tests' local HTTP server
(tests/unit/local_http.py)."""
from __future__ import annotations

import sys
from pathlib import Path

LAB = Path(__file__).resolve().parents[1]
REPO = LAB.parent
for folder in (REPO / "tests" / "unit", LAB, LAB / "standins"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
