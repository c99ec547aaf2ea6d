"""The lab platforms are what the role scenarios stand on: check they are what they claim."""
from __future__ import annotations

import json

import pytest

EXPECTED = {
    "lab-debian11": ("debian", "11", "apt"),
    "lab-debian12": ("debian", "12", "apt"),
    "lab-debian13": ("debian", "13", "apt"),
    "lab-el8-emulated": ("rocky", "8", "dnf"),
    "lab-el9-emulated": ("rocky", "9", "dnf"),
}


def _os_release(host) -> dict[str, str]:
    text = host.file("/etc/os-release").content_string
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: value.strip('"') for key, value in pairs}


def test_systemd_is_pid_1_and_running(host) -> None:
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_os_release_matches_the_platform(host) -> None:
    distro, major, _ = EXPECTED[host.backend.get_hostname()]
    release = _os_release(host)
    assert release["ID"] == distro
    assert release["VERSION_ID"].split(".")[0] == major


def test_ansible_sees_the_intended_family(host) -> None:
    distro, major, pkg_mgr = EXPECTED[host.backend.get_hostname()]
    facts = host.ansible("setup", "gather_subset=!all,!min,distribution,pkg_mgr")["ansible_facts"]
    assert facts["ansible_os_family"] == ("RedHat" if distro == "rocky" else "Debian")
    assert facts["ansible_distribution_major_version"] == major
    assert facts["ansible_pkg_mgr"] == pkg_mgr


def test_the_lab_mirror_answers(host) -> None:
    out = host.run("curl -fsS http://mirror/keys/fingerprints.json")
    assert out.rc == 0, out.stderr
    assert set(json.loads(out.stdout)) == {"lab", "other"}


@pytest.mark.parametrize("tool", ["dnf", "rpm"])
def test_emulated_el_hosts_have_real_rpm_tools(host, tool: str) -> None:
    if EXPECTED[host.backend.get_hostname()][2] != "dnf":
        pytest.skip("Debian platform")
    assert host.run(f"{tool} --version").rc == 0
    assert host.file("/etc/yum.repos.d").is_directory
