"""alloy_config's remotecfg block against the lab's Fleet Management stand-in: every host
registered under its inventory name with its attributes, the pipeline chosen for its role
running and healthy in Alloy, its data in the lab's Prometheus, the rollout gate's check
passing; the secret only in the env file."""
from __future__ import annotations

import json
import re
import shlex
import time
from typing import Any, Dict, List

ROLES = {"fleet-debian12": "web", "fleet-el9-emulated": "db"}
OS = {"fleet-debian12": ("debian", "12"), "fleet-el9-emulated": ("rocky", "9")}
STATUS_APPLIED = "RemoteConfigStatuses_APPLIED"


def _name(host) -> str:
    """The host's inventory name (the collector's ID)."""
    return host.backend.host


def _collectors(host) -> List[Dict[str, Any]]:
    """What the stand-in recorded (its lab-only view, read from the host: `fleet` resolves on the
    lab network only)."""
    return json.loads(host.check_output("curl -fsS -k https://fleet/lab/collectors"))["collectors"]


def _collector(host) -> Dict[str, Any]:
    found = [c for c in _collectors(host) if c["id"] == _name(host)]
    assert len(found) == 1, [c["id"] for c in _collectors(host)]
    return found[0]


def _alloy(host, path: str) -> Any:
    return json.loads(host.check_output("curl -fsS http://127.0.0.1:12345" + path))


def _env_path(host) -> str:
    return "/etc/default/alloy" if host.system_info.distribution == "debian" else "/etc/sysconfig/alloy"


def test_the_remotecfg_block_names_the_host_and_reads_the_token_from_the_environment(host) -> None:
    text = host.file("/etc/alloy/conf.d/fleet_remotecfg.alloy").content_string
    assert re.search(r'^\s*url\s*=\s*"https://fleet",?$', text, re.M), text
    assert re.search(r'^\s*id\s*=\s*"%s",?$' % re.escape(_name(host)), text, re.M), text
    assert re.search(r'password\s*=\s*sys\.env\("FLEET_ALLOY_FLEET_0_PASSWORD"\)', text), text
    assert host.run("grep -rl -- lab-throwaway-glc-fleet /etc/alloy").rc == 1
    assert "FLEET_ALLOY_FLEET_0_PASSWORD=" in host.file(_env_path(host)).content_string


def test_the_host_is_registered_with_its_attributes(host) -> None:
    collector = _collector(host)
    assert collector["registered"] is True
    assert (collector["name"], collector["user"]) == (_name(host), "400001")
    attributes = collector["local_attributes"]
    os_name, os_version = OS[_name(host)]
    assert attributes["role"] == ROLES[_name(host)]
    assert attributes["env"] == "lab"
    assert (attributes["os"], attributes["os_version"]) == (os_name, os_version)
    assert attributes["collector.os"] == "linux" and attributes["collector.version"] == "v1.10.0"


def test_the_server_served_the_pipeline_of_the_host_s_role_and_alloy_applied_it(host) -> None:
    role = ROLES[_name(host)]
    deadline = time.monotonic() + 30  # the status arrives with the next poll (10 s)
    while True:
        collector = _collector(host)
        status = (collector.get("remote_config_status") or {}).get("status")
        if status == STATUS_APPLIED or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert collector["pipelines"] == [role]
    assert status == STATUS_APPLIED, collector["status_history"]
    assert 'declare "%s"' % role in (collector["effective_config"] or "")


def test_alloy_runs_the_served_pipeline_and_it_is_healthy(host) -> None:
    role = ROLES[_name(host)]
    roots = _alloy(host, "/api/v0/web/remotecfg/components")
    assert [c["localID"] for c in roots] == ["%s.default" % role]
    module = roots[0]["createdModuleIDs"][0]
    inner = _alloy(host, "/api/v0/web/remotecfg/modules/%s/components" % module)
    states = {c["localID"]: c["health"]["state"] for c in inner}
    assert states == {"prometheus.exporter.self.fleet_%s" % role: "healthy",
                      "discovery.relabel.fleet_%s" % role: "healthy",
                      "prometheus.scrape.fleet_%s" % role: "healthy",
                      "prometheus.remote_write.fleet_%s" % role: "healthy"}
    # Beside the local configuration, not in it.
    local = [c["localID"] for c in _alloy(host, "/api/v0/web/components")]
    assert not any("fleet_%s" % role in cid for cid in local)


def test_the_remote_configuration_is_cached_under_the_storage_path(host) -> None:
    # One file per set of arguments (a hash of them): side_effect's attribute change made another.
    found = host.run("grep -l %s /var/lib/alloy/data/remotecfg/*" % shlex.quote('declare "%s"' % ROLES[_name(host)]))
    assert found.rc == 0 and found.stdout.strip(), found.stderr


def test_the_pipeline_s_data_reaches_prometheus(host, lab_prometheus) -> None:
    role = ROLES[_name(host)]
    query = 'up{job="fleet-lab-%s",fleet_pipeline="%s",fleet_role="%s",fleet_host="%s"}' % (
        role, role, role, host.check_output("hostname"))
    assert [float(r["value"][1]) for r in lab_prometheus(host, query)] == [1.0], query


def test_alloy_verify_judges_fleet_management_healthy(host) -> None:
    result = host.ansible("fleet.alloy.alloy_verify",
                          "fleet_management=true delivery_window=15 wait=true wait_timeout=90",
                          become=True, check=False)
    assert result.get("healthy") is True, result.get("summary") or result
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["fleet management"]["ok"] and checks["fleet pipelines"]["ok"]
    assert ROLES[_name(host)] in checks["fleet pipelines"]["detail"]
    assert result["changed"] is False
