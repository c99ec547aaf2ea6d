"""The state alloy_install leaves on every platform (after upgrade, downgrade and restore)."""
from __future__ import annotations

import os
import re
from typing import Dict, List

import pytest


def _debian(host) -> bool:
    return host.system_info.distribution == "debian"


def test_the_pinned_version_is_installed(host) -> None:
    pkg = host.package("alloy")
    assert pkg.is_installed
    assert pkg.version.startswith("1.9.2")
    assert re.search(r"version v1\.9\.2 ", host.check_output("alloy --version"))


def test_the_repository_is_signed_and_pinned(host) -> None:
    if _debian(host):
        source = host.file("/etc/apt/sources.list.d/grafana.sources")
        assert (source.user, source.group, source.mode) == ("root", "root", 0o644)
        assert "Signed-By: /etc/apt/keyrings/grafana.asc" in source.content_string
        assert "URIs: http://mirror/apt" in source.content_string
        keyring = host.file("/etc/apt/keyrings/grafana.asc")
        assert (keyring.user, keyring.mode) == ("root", 0o644)
        assert keyring.content_string.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        assert not host.file("/etc/apt/trusted.gpg.d/grafana.gpg").exists
    else:
        repo = host.file("/etc/yum.repos.d/grafana.repo").content_string
        for line in ("gpgcheck = 1", "repo_gpgcheck = 1", "gpgkey = file:///etc/pki/rpm-gpg/RPM-GPG-KEY-grafana",
                     "baseurl = http://mirror/rpm"):
            assert line in repo
        imported = host.check_output("rpm -q gpg-pubkey --qf '%{VERSION}\\n'").lower().split()
        assert os.environ["ALLOY_LAB_KEY_FINGERPRINT"][-8:].lower() in imported


def test_the_service_runs_enabled(host) -> None:
    service = host.service("alloy")
    assert service.is_running
    assert service.is_enabled
    assert host.check_output("curl -fsS http://127.0.0.1:12345/-/ready").strip() == "Alloy is ready."


def test_the_user_reads_the_journal(host) -> None:
    groups = host.user("alloy").groups
    assert "systemd-journal" in groups and "adm" in groups
    pid = host.check_output("systemctl show -p MainPID --value alloy")
    running_groups = host.check_output(f"ps -o supgrp= -p {pid}")
    assert "systemd-journal" in running_groups


def test_the_env_file(host) -> None:
    path = "/etc/default/alloy" if _debian(host) else "/etc/sysconfig/alloy"
    env = host.file(path)
    assert (env.user, env.group, env.mode) == ("root", "alloy", 0o640)
    text = env.content_string
    assert 'CONFIG_FILE="/etc/alloy/config.alloy"' in text
    assert ('CUSTOM_ARGS="--server.http.listen-addr=127.0.0.1:12345 --stability.level=generally-available '
            '--feature.community-components.enabled=true"') in text
    assert 'RESTART_ON_UPGRADE="false"' in text
    assert 'GOMAXPROCS="1"' in text
    # The package's own assignments are replaced, not shadowed.
    assert text.count("CONFIG_FILE=") == 1 and text.count("RESTART_ON_UPGRADE=") == 1
    cmdline = host.check_output("tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value alloy)/cmdline")
    assert "--feature.community-components.enabled=true" in cmdline


@pytest.mark.parametrize("path", ["/var/lib/alloy", "/var/lib/alloy/data"])
def test_state_directories_belong_to_alloy(host, path: str) -> None:
    folder = host.file(path)
    assert (folder.user, folder.group, folder.mode) == ("alloy", "alloy", 0o770)


def test_system_directories_still_belong_to_root(host) -> None:
    for path in ("/etc", "/usr", "/var"):
        assert host.file(path).user == "root"


def test_alloy_verify_sees_the_service_and_the_agent(host) -> None:
    result = host.ansible("fleet.alloy.alloy_verify", "require_enabled=true fail_on_unhealthy=false",
                          become=True, check=False)
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["service"]["ok"], checks["service"]["detail"]
    assert "active (running), MainPID" in checks["service"]["detail"]
    assert checks["alloy ready"]["ok"], checks["alloy ready"]["detail"]


# ---- the hardened service (alloy_install_hardening, on by default) ----------------------

def _exposure(host, unit: str) -> float:
    """systemd-analyze security's overall exposure of unit (0 safest, 10 least safe)."""
    out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert found, out
    return float(found.group(1))


def test_the_running_service_is_hardened(host) -> None:
    show = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show alloy -p NoNewPrivileges -p ProtectSystem -p ProtectHome -p PrivateTmp "
        "-p ReadWritePaths -p CapabilityBoundingSet -p ActiveState").splitlines())
    assert show["ActiveState"] == "active"
    assert (show["NoNewPrivileges"], show["ProtectSystem"], show["ProtectHome"], show["PrivateTmp"]) == \
        ("yes", "strict", "read-only", "yes")
    assert show["ReadWritePaths"] == "/var/lib/alloy" and show["CapabilityBoundingSet"] == ""
    # What the running process got (both files are readable without entering its namespace):
    # no new privileges, no capabilities, / read-only but for the storage path, a /tmp of its own.
    pid = host.check_output("systemctl show -p MainPID --value alloy")
    status = dict(line.split(":", 1) for line in host.check_output(f"cat /proc/{pid}/status").splitlines())
    assert status["NoNewPrivs"].strip() == "1" and int(status["CapBnd"], 16) == 0
    mounts: Dict[str, List[str]] = {}
    for line in host.check_output(f"cat /proc/{pid}/mountinfo").splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")  # the last mount on a point is the one seen
    assert "ro" in mounts["/"] and "ro" in mounts.get("/etc", mounts["/"]), mounts
    assert "rw" in mounts["/var/lib/alloy"] and "/tmp" in mounts, mounts


def test_hardening_lowers_the_exposure(host) -> None:
    # The package's unit alone, under another name (no drop-in), against the running one.
    unit = "/usr/lib/systemd/system/alloy.service" if host.file("/usr/lib/systemd/system/alloy.service").exists \
        else "/lib/systemd/system/alloy.service"
    host.run_expect([0], f"cp {unit} /run/systemd/system/alloy-unhardened.service && systemctl daemon-reload")
    try:
        plain = _exposure(host, "alloy-unhardened.service")
    finally:
        host.run("rm -f /run/systemd/system/alloy-unhardened.service && systemctl daemon-reload")
    hardened = _exposure(host, "alloy.service")
    assert hardened < plain - 2.0, (hardened, plain)
