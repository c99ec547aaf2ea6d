"""site.yml's gate against production-shaped backends (the lab gateway: TLS from the lab
CA, basic auth or bearer tokens, multi-tenant Loki, Grafana Cloud's paths).

A canary whose backend refuses its data installs and configures fine, because Alloy
keeps loki.write and prometheus.remote_write healthy whatever the backend answers; only
delivery (read from Alloy's own metrics) and the backend checks can tell. Each such
canary stops the rollout, the report names the endpoint and the reason, and the host of
the next batch is left untouched."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from conftest import Host, site
from labtool import lab  # lab/ is on the path (conftest.py)

TLS = "{{ lab_tls }}"
LOKI = {"url": "https://gateway:3100/loki/api/v1/push", "tenant_id": "ops", "tls": TLS,
        "basic_auth": {"username": "{{ lab_credentials.loki.username }}",
                       "password": "{{ lab_credentials.loki.password }}"}}
PROMETHEUS = {"url": "https://gateway:9090/api/v1/write", "tls": TLS,
              "basic_auth": {"username": "{{ lab_credentials.prometheus.username }}",
                             "password": "{{ lab_credentials.prometheus.password }}"}}
OTHER_CA = {"ca_pem": "{{ lookup('ansible.builtin.file', lookup('ansible.builtin.env', 'ALLOY_LAB_OTHER_CA_FILE')) }}"}


def endpoints(loki: Dict[str, Any] | None = None, prometheus: Dict[str, Any] | None = None) -> Dict[str, Any]:
    return {"alloy_config_loki_endpoints": [dict(LOKI, **(loki or {}))],
            "alloy_config_prometheus_endpoints": [dict(PROMETHEUS, **(prometheus or {}))]}


def installed(host: Host) -> bool:
    return host.sh("dpkg-query -W -f '${Status}' alloy", check=False).stdout == "install ok installed"


def gate_messages(stdout: str, host: str) -> List[str]:
    """Each failure message naming host as not healthy, whole: the YAML output folds a long
    message over lines indented deeper than its key, and folding puts a space there."""
    lines, found = stdout.splitlines(), []
    for i, line in enumerate(lines):
        if f"{host} is not healthy: " not in line:
            continue
        indent, parts = len(line) - len(line.lstrip()), [line.strip()]
        for more in lines[i + 1:]:
            if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                break
            parts.append(more.strip())
        found.append(" ".join(parts))
    return found


# Each case: the canary's endpoints, then what the gate must say (regular expressions). A
# Prometheus that cannot be reached is retried with a back-off of up to 5 s (Alloy's
# max_backoff), so a 5 s delivery window may end with a retry still waiting for its answer.
BROKEN: List[Tuple[str, Dict[str, Any], List[str]]] = [
    ("wrong password", endpoints(loki={"basic_auth": {"username": "{{ lab_credentials.loki.username }}",
                                                      "password": "not-the-password"}}),
     [r"delivery loki \(loki\.write\.endpoint: gateway:3100 tenant ops: .*dropped.*\(HTTP 401\)",
      r"loki https://gateway:3100 tenant ops \(https://gateway:3100/ready: HTTP 401"]),
    ("wrong tenant", endpoints(loki={"tenant_id": "team-b"}),
     [r"delivery loki \(loki\.write\.endpoint: gateway:3100 tenant team-b: .*dropped.*\(HTTP 403\)"]),
    ("backend down", endpoints(prometheus={"url": "https://gateway:9999/api/v1/write"}),
     [r"delivery prometheus \(prometheus\.remote_write\.default: https://gateway:9999/api/v1/write: "
      r".*(retried|nothing delivered|a send is waiting for its answer)",
      r"prometheus https://gateway:9999 \(.*connection refused"]),
    ("TLS CA mismatch", endpoints(prometheus={"tls": OTHER_CA}),
     [r"delivery prometheus \(prometheus\.remote_write\.default: https://gateway:9090/api/v1/write: "
      r".*(retried|nothing delivered|a send is waiting for its answer)",
      r"prometheus https://gateway:9090 \(.*CERTIFICATE_VERIFY_FAILED"]),
]


@pytest.fixture(scope="module")
def hosts(lab_urls: Dict[str, str]) -> Iterator[Tuple[Host, Host]]:
    names = [f"fleet-alloy-lab-test-gate-{role}" for role in ("canary", "later")]
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        lab.start_host("debian12", name)
    yield Host(names[0]), Host(names[1])
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


@pytest.mark.parametrize("case,canary_vars,expected", BROKEN, ids=[c[0] for c in BROKEN])
def test_a_refused_canary_stops_the_rollout(hosts: Tuple[Host, Host], tmp_path: Path, case: str,
                                            canary_vars: Dict[str, Any], expected: List[str]) -> None:
    canary, later = hosts
    inventory = lab.write_inventory(tmp_path, {"alloy": {canary.name: canary_vars, later.name: {}}})
    out = site(inventory, "-e", "alloy_verify_wait_timeout=15")
    assert out.returncode != 0, out.stdout[-3000:]
    gate = gate_messages(out.stdout, canary.name)
    assert gate, out.stdout[-4000:]
    for pattern in expected:
        assert any(re.search(pattern, line) for line in gate), (case, pattern, gate)
    # Alloy keeps its writers healthy: the component check passes, delivery is what fails.
    assert not any(re.search(r"(: |; )components \(", line) for line in gate), gate
    assert installed(canary), case
    assert not installed(later), f"{case}: {later.name} of the next batch was changed"
    for secret_line in ("not-the-password",):
        assert secret_line not in out.stdout


def test_a_healthy_canary_on_authenticated_backends_lets_the_rollout_go_on(hosts: Tuple[Host, Host],
                                                                          tmp_path: Path) -> None:
    canary, later = hosts
    bearer = {"alloy_config_prometheus_endpoints": [
        {"url": "https://gateway:9090/api/v1/push", "tls": TLS,
         "bearer_token": "{{ lab_credentials.prometheus.bearer_token }}"}]}
    inventory = lab.write_inventory(tmp_path, {"alloy": {canary.name: {}, later.name: bearer}})
    out = site(inventory, "-e", "alloy_site_serial=1")
    assert out.returncode == 0, out.stdout[-4000:]
    assert installed(canary) and installed(later)
    assert out.stdout.count("healthy: ") >= 2 and "is not healthy" not in out.stdout
    for name in ("delivery loki | ok", "delivery prometheus | ok", "data loki https://gateway:3100 tenant ops | ok",
                 "data prometheus https://gateway:9090 | ok"):
        assert out.stdout.count(name) == 2, (name, out.stdout[-4000:])
