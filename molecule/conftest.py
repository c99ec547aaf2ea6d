"""Fixtures shared by the Molecule scenarios' testinfra tests (pytest loads this conftest for
every test below molecule/)."""
from __future__ import annotations

import json
import shlex
import time
from typing import Any, Callable, Dict, List

import pytest

PrometheusQuery = Callable[[Any, str], List[Dict[str, Any]]]


def _query_until_found(host: Any, query: str, timeout: float = 90.0) -> List[Dict[str, Any]]:
    """The result of a PromQL query on the lab's real Prometheus, asked from the host (where
    `prometheus` resolves), again every 2 s until it returns a series or timeout seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        out = json.loads(host.check_output("curl -fsS -G --data-urlencode %s http://prometheus:9090/api/v1/query"
                                           % shlex.quote("query=" + query)))
        if out["data"]["result"] or time.monotonic() > deadline:
            return out["data"]["result"]
        time.sleep(2)


@pytest.fixture()
def lab_prometheus() -> PrometheusQuery:
    """query(host, promql): the series the lab's Prometheus returns, once some arrived (or [])."""
    return _query_until_found
