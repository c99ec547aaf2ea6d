"""alloy_install on hosts without any network: the package came from the controller, checked
against the release's SHA256SUMS there, and the host has no repository (after an upgrade and a
downgrade from the controller's packages, side_effect.yml)."""
from __future__ import annotations

import os
import re
import urllib.request
from typing import Dict


def _debian(host) -> bool:
    return host.system_info.distribution == "debian"


def _sums(version: str) -> Dict[str, str]:
    """The release's SHA256SUMS, as the controller reads it from the lab mirror."""
    url = f"{os.environ['ALLOY_LAB_RELEASES_URL']}/v{version}/SHA256SUMS"
    with urllib.request.urlopen(url, timeout=10) as response:
        lines = response.read().decode().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines)}


def test_the_host_has_no_network(host) -> None:
    routes = host.file("/proc/net/route").content_string.splitlines()[1:]
    assert routes == []
    assert host.run("getent hosts mirror").rc != 0


def test_the_version_last_asked_for_runs(host) -> None:
    assert host.package("alloy").version.startswith("1.9.2")
    assert re.search(r"version v1\.9\.2 ", host.check_output("alloy --version"))
    service = host.service("alloy")
    assert service.is_running and service.is_enabled
    assert host.check_output("curl -fsS http://127.0.0.1:12345/-/ready").strip() == "Alloy is ready."


def test_the_package_on_the_host_is_the_one_the_list_vouches_for(host) -> None:
    fmt = "deb" if _debian(host) else "rpm"
    package = host.file(f"/var/cache/fleet-alloy/alloy.{fmt}")
    assert (package.user, package.group, package.mode) == ("root", "root", 0o644)
    assert package.sha256sum == _sums("1.9.2")[f"alloy-1.9.2-1.amd64.{fmt}"]
    assert host.check_output("ls /var/cache/fleet-alloy") == f"alloy.{fmt}"


def test_no_repository_was_configured(host) -> None:
    for path in ("/etc/apt/sources.list.d/grafana.sources", "/etc/apt/keyrings/grafana.asc",
                 "/etc/yum.repos.d/grafana.repo", "/etc/pki/rpm-gpg/RPM-GPG-KEY-grafana"):
        assert not host.file(path).exists, path
    if not _debian(host):
        imported = host.run("rpm -q gpg-pubkey --qf '%{VERSION}\\n'").stdout.lower().split()
        assert os.environ["ALLOY_LAB_KEY_FINGERPRINT"][-8:].lower() not in imported


def test_the_env_file_keeps_the_upgrade_restart_to_the_role(host) -> None:
    path = "/etc/default/alloy" if _debian(host) else "/etc/sysconfig/alloy"
    assert 'RESTART_ON_UPGRADE="false"' in host.file(path).content_string
