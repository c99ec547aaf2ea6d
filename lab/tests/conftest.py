"""Unit tests of the lab itself, without containers: labtool, the stand-ins (test fixtures
that play Alloy, Loki and the gateway) and their wire formats. Importable from every test:
the stand-ins (lab/standins), labtool (lab/), the product tests' local HTTP server
(tests/unit/local_http.py) and the stand-in tests' shared helpers (standin_harness.py, beside
this file). Fixtures for every test: clock (a FakeClock), backend (a fake Prometheus
remote-write and Loki push endpoint) and pki (a throwaway PKI, made once per session; a test
module may define its own)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Iterator

import pytest

HERE = Path(__file__).resolve().parent
LAB = HERE.parent
REPO = LAB.parent
for folder in (REPO / "tests" / "unit", LAB, LAB / "standins", HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from local_http import LocalServer  # noqa: E402 - importable once the paths are set
from standin_harness import FakeClock, close_soon, fake_backend, make_pki  # noqa: E402


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def backend() -> Iterator[LocalServer]:
    server = fake_backend()
    yield server
    close_soon(server)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))
