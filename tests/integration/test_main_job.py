"""The README's main command, `./dev lab`: site.yml rolls out to the lab's three hosts on
production-shaped backends (TLS from the lab CA, basic auth, a bearer token on Mimir's
paths, multi-tenant Loki, Grafana Cloud's paths with a write-only token, a Docker host
publishing Alloy on its lab address), and the report ends with `unhealthy: none`. The two
systemd hosts also run the fleet features (inventories/lab/group_vars/alloy.yml): registered
with Fleet Management's stand-in and running the pipeline of their role, and clustered; the
rollout gate judged both; the shared targets of their scrape job (alloy_config_scrape_jobs) are
each scraped by one member."""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Dict, List

from labtool import lab  # lab/ is on the path (conftest.py)

REPO = Path(__file__).resolve().parents[2]
DOCKER_HOST = "fleet-alloy-lab-debian13-docker"


def test_the_main_command_rolls_out_to_the_authenticated_lab(lab_urls: Dict[str, str]) -> None:
    out = subprocess.run([str(REPO / "dev"), "lab"], capture_output=True, text=True, cwd=REPO, check=False)
    report = out.stdout[out.stdout.rfind("PLAY [Report on every Alloy host]"):]
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
    assert "unhealthy: none" in report, report[-4000:]
    # Every host delivered to its backends; the write-only Grafana Cloud token was not used
    # to query, and no readiness path was asked of Grafana Cloud's shape.
    assert report.count("delivery loki | ok") == 3 and report.count("delivery prometheus | ok") == 3, report
    assert "data prometheus https://gateway | " not in report and "prometheus https://gateway | " not in report
    assert report.count("data loki https://gateway | ok") == 1
    # The Docker host publishes Alloy on its lab address only, and verify reached it there.
    address = lab.ip_of(DOCKER_HOST)
    listening = subprocess.run(["docker", "exec", DOCKER_HOST, "ss", "-Hltn"], capture_output=True, text=True,
                               check=True).stdout
    assert re.search(rf"\b{re.escape(address)}:12345\b", listening), listening
    assert "127.0.0.1:12345" not in listening, listening
    # Loki kept each tenant's lines apart: the gateway's tenant and Grafana Cloud's logs user.
    with urllib.request.urlopen(lab_urls["loki"] + "/lab/received", timeout=5) as answer:
        tenants = set(json.loads(answer.read())["tenants"])
    assert {"ops", "200001"} <= tenants, tenants
    _assert_the_fleet_features(report)


SYSTEMD_HOSTS = {"fleet-alloy-lab-debian12": "web", "fleet-alloy-lab-el9-emulated": "db"}


def _assert_the_fleet_features(report: str) -> None:
    """Each systemd host: judged by the gate on Fleet Management and its cluster (the canary
    batch expects itself alone, the second batch both), registered under its inventory name
    with the attributes of its inventory, and served the pipeline of its role."""
    assert report.count("fleet management | ok") == 2 and report.count("fleet pipelines | ok") == 2, report
    assert report.count("cluster | ok") == 2, report
    with urllib.request.urlopen(lab.url_of("fleet") + "/lab/collectors", timeout=5,
                                context=lab.lab_ca_context()) as answer:
        collectors = {c["id"]: c for c in json.loads(answer.read())["collectors"]}
    for host, role in SYSTEMD_HOSTS.items():
        assert collectors[host]["local_attributes"]["role"] == role, collectors.get(host)
        assert collectors[host]["local_attributes"]["env"] == "lab", collectors[host]
        assert collectors[host]["pipelines"] == [role], collectors[host]
    peers = subprocess.run(["docker", "exec", "fleet-alloy-lab-debian12", "curl", "-fsS",
                            "http://127.0.0.1:12345/api/v0/web/peers"], capture_output=True, text=True, check=True)
    assert sorted(p["name"] for p in json.loads(peers.stdout)) == sorted(SYSTEMD_HOSTS), peers.stdout
    _assert_each_shared_target_is_scraped_by_one_member()


# inventories/lab/group_vars/alloy.yml's scrape job of shared targets, clustered by itself there.
SHARED_SCRAPE = "prometheus.scrape.job_lab_shared"
SHARED_TARGETS = {"prometheus:9090", *(f"{host}:12345" for host in SYSTEMD_HOSTS)}


def _scraped_by(host: str) -> List[str]:
    """The targets host's Alloy scrapes for the shared job, by their instance label: the scrape
    component's debugInfo at /api/v0/web/components/<id>, one target block per target its scrape
    manager has (real Alloy: scrape.go DebugInfo over TargetsActive, in alloyjson), which with
    clustering are only those the hash ring gives this member."""
    out = subprocess.run(["docker", "exec", host, "curl", "-fsS",
                          f"http://127.0.0.1:12345/api/v0/web/components/{SHARED_SCRAPE}"],
                         capture_output=True, text=True, check=True)
    instances = []
    for block in json.loads(out.stdout).get("debugInfo") or []:
        fields = {attr["name"]: attr["value"] for attr in block["body"]} if block.get("name") == "target" else {}
        if fields:
            assert fields["job"]["value"] == "lab-shared", block
            labels = {field["key"]: field["value"]["value"] for field in fields["labels"]["value"]}
            instances.append(labels["instance"])
    return instances


def _assert_each_shared_target_is_scraped_by_one_member() -> None:
    """Every shared target on exactly one member (not on both, as without clustering, nor on
    none); the members' view settles within a minute of a cluster change."""
    deadline = time.monotonic() + 60
    while True:
        scraped = {host: _scraped_by(host) for host in SYSTEMD_HOSTS}
        counts = Counter(target for targets in scraped.values() for target in targets)
        if set(counts) == SHARED_TARGETS and set(counts.values()) == {1}:
            return
        assert time.monotonic() < deadline, f"each of {sorted(SHARED_TARGETS)} once, got {scraped}"
        time.sleep(2)
