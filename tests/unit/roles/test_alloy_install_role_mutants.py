"""The alloy_install role without a host to install on: its preflight (roles/alloy_install/
tasks/preflight.yml, through include_role tasks_from, facts set per case; the rule book of
plugins/plugin_utils/rulebook.py run by the fleet.alloy.alloy_preflight action) refuses every bad
platform or variable with the one message that names it and lets good ones pass; its
templates (the apt deb822 source, the systemd drop-in, also as the template lookup the env file
task passes) render what apt and systemd read.
One ansible-playbook run, local connection, one inventory host per case. Written against
the survivors of ./dev mutate (docs/testing.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "alloy_install"
FPR = "B53AE77BADB630A683046005963FA27710458545"
SHA = "0f3a4e0c2d7c1b4f9e8a6d5c4b3a29181716151413121110090807060504030b"

# name: (case variables, the preflight's whole message; "" when it must pass). The preflight is
# one action, fleet.alloy.alloy_preflight with the rule book's alloy_install table; it fails
# with "alloy_install: " and its problems joined by "; ".
PREFLIGHT: Dict[str, Any] = {
    "debian_defaults": ({}, ""),
    "el8_pinned": ({"os_family": "RedHat", "distribution": "Rocky", "major": "8", "alloy_install_version": "1.10.0",
                    "alloy_install_key_fingerprints": [FPR.lower(), "ab" * 32], "alloy_install_hold": True,
                    "alloy_install_listen_address": "[::1]:12345", "alloy_install_proxy": "http://proxy:3128",
                    "alloy_install_extra_args": ["--cluster.enabled=true"], "alloy_install_env": {"GOMAXPROCS": 2},
                    "alloy_install_rpm_key_url": "https://mirror.example/gpg.key"}, ""),
    # Clustering: the members reach each other over Alloy's HTTP server, never on the loopback.
    "cluster_on": ({"alloy_install_cluster_enabled": True, "alloy_install_listen_address": "0.0.0.0:12345"}, ""),
    "cluster_loopback": ({"alloy_install_cluster_enabled": "yes"},
                         "alloy_install: alloy_install_cluster_enabled needs alloy_install_listen_address on an address "
                         "the other members reach (peers talk over Alloy's HTTP server), not the loopback "
                         "127.0.0.1:12345: for example 0.0.0.0:12345, with a firewall that lets only the members in"),
    "debian_version_rule_is_for_el": ({"major": "7", "alloy_install_version": "1.9.0-rc.1"}, ""),
    "absent_without_hold": ({"alloy_install_state": "absent", "alloy_install_key_content": "inline",
                             "alloy_install_apt_key_url": ""}, ""),
    # An AWX survey answers with strings; the rule book converts them.
    "survey_booleans": ({"alloy_install_hold": "yes", "alloy_install_disable_reporting": "false"}, ""),
    # The env file writer double-quotes values (module_utils/envfile.py): a quote is fine.
    "env_quote": ({"alloy_install_env": {"A": "it's"}}, ""),
    "suse": ({"os_family": "Suse", "distribution": "SLES", "major": "15"},
             "alloy_install: unsupported OS: SLES (os_family Suse); alloy_install supports the Debian family and the "
             "RHEL family 8 or later"),
    "el7": ({"os_family": "RedHat", "distribution": "CentOS", "major": "7"},
            "alloy_install: unsupported OS: CentOS 7; alloy_install needs EL 8 or later"),
    "sysvinit": ({"service_mgr": "sysvinit"},
                 "alloy_install: alloy_install needs systemd (found sysvinit); use alloy_docker instead"),
    "v_prefix": ({"alloy_install_version": "v1.10.0"},
                 "alloy_install: alloy_install_version: expected a version such as 1.10.0 (no v prefix, no package "
                 "release), got 'v1.10.0'"),
    "release": ({"alloy_install_package_release": "1 2"},
                "alloy_install: alloy_install_package_release: expected a package release such as 1, got '1 2'"),
    "key_url_scheme": ({"alloy_install_apt_key_url": "ftp://keys/grafana.asc"},
                       "alloy_install: alloy_install_apt_key_url: expected a URL (http:// or https://) (a local key "
                       "file goes in alloy_install_key_content, e.g. with lookup('file', ...)), "
                       "got 'ftp://keys/grafana.asc'"),
    # By design a local key file is no URL any more: its content goes in alloy_install_key_content.
    "key_url_file": ({"os_family": "RedHat", "distribution": "Rocky", "major": "9",
                      "alloy_install_rpm_key_url": "file:///etc/key.asc"},
                     "alloy_install: alloy_install_rpm_key_url: expected a URL (http:// or https://) (a local key "
                     "file goes in alloy_install_key_content, e.g. with lookup('file', ...)), "
                     "got 'file:///etc/key.asc'"),
    "key_url_credentials": ({"alloy_install_apt_key_url": "https://user:pw@mirror.example/gpg.key"},
                            "alloy_install: alloy_install_apt_key_url: the URL carries credentials (user:password@), "
                            "which would be written to files readable on the host and shown in logs; mirror "
                            "credentials are not supported in URLs: let the mirror trust the hosts by address or "
                            "network; a local key file goes in alloy_install_key_content, e.g. with lookup('file', ...)"),
    "key_source": ({"alloy_install_apt_key_url": "", "alloy_install_key_content": ""},
                   "alloy_install: the repository key needs alloy_install_key_content or an http(s):// key URL "
                   "(alloy_install_apt_key_url)"),
    "no_pins": ({"alloy_install_key_fingerprints": []},
                "alloy_install: alloy_install_key_fingerprints: expected a non-empty list of 40 or 64 hex digit "
                "fingerprints (spaces allowed, any case), got []"),
    "short_pin": ({"alloy_install_key_fingerprints": [FPR, "ABC"]},
                  "alloy_install: alloy_install_key_fingerprints[1]: expected a 40 or 64 hex digit fingerprint, "
                  "got 'ABC'"),
    "listen": ({"alloy_install_listen_address": "localhost"},
               "alloy_install: alloy_install_listen_address: expected host:port or [ipv6]:port with a port from 1 to "
               "65535, got 'localhost'"),
    "flag": ({"alloy_install_extra_args": ["--ok=1", "--cluster.enabled true"]},
             "alloy_install: alloy_install_extra_args[1]: expected one flag such as --cluster.enabled=true "
             "(no spaces), got '--cluster.enabled true'"),
    "env_key": ({"alloy_install_env": {"OK": "1", "1BAD": "x"}},
                "alloy_install: alloy_install_env: a key: expected an environment variable name "
                "([A-Za-z_][A-Za-z0-9_]*), got '1BAD'"),
    # Formerly a product bug (a pattern ending with $ let a trailing newline through).
    "env_key_newline": ({"alloy_install_env": {"GOMAXPROCS\n": "2"}},
                        "alloy_install: alloy_install_env: a key: expected an environment variable name "
                        "([A-Za-z_][A-Za-z0-9_]*) on one line, without control characters, got 'GOMAXPROCS\\n'"),
    # The value is secret: the message does not quote it.
    "env_newline": ({"alloy_install_env": {"A": "two\nlines"}},
                    "alloy_install: alloy_install_env.A: expected a string or number without line breaks"),
    "config_path": ({"alloy_install_config_path": "etc/alloy/config.alloy"},
                    "alloy_install: alloy_install_config_path: expected an absolute path without blanks, got "
                    "'etc/alloy/config.alloy'"),
    "proxy": ({"alloy_install_proxy": "proxy:3128"},
              "alloy_install: alloy_install_proxy: expected a URL (http:// or https://), got 'proxy:3128'"),
    "hold_absent": ({"alloy_install_state": "absent", "alloy_install_hold": True},
                    "alloy_install: alloy_install_hold cannot be true with alloy_install_state absent"),
    "hold_absent_survey": ({"alloy_install_state": "absent", "alloy_install_hold": "yes"},
                           "alloy_install: alloy_install_hold cannot be true with alloy_install_state absent"),
    # Packages from the controller (air-gapped hosts): the SHA256 list must vouch for this host's file.
    "controller_sums": ({"alloy_install_package_source": "controller", "alloy_install_version": "1.10.0",
                         "alloy_install_package_checksums": "%s  dist/alloy-1.10.0-1.amd64.deb\n%s *SHA256SUMS.sig\n"
                                                            % (SHA, SHA.upper()),
                         "alloy_install_apt_key_url": "", "alloy_install_key_content": ""}, ""),
    "controller_el_arm": ({"os_family": "RedHat", "distribution": "Rocky", "major": "9", "architecture": "aarch64",
                           "alloy_install_package_source": "controller", "alloy_install_version": "1.10.0",
                           "alloy_install_package_location": "/srv/alloy",
                           "alloy_install_package_checksums": {"alloy-1.10.0-1.arm64.rpm": SHA.upper()}}, ""),
    "controller_no_version": ({"alloy_install_package_source": "controller",
                               "alloy_install_package_checksums": {"alloy-1.10.0-1.amd64.deb": SHA}},
                              "alloy_install: alloy_install_package_source controller needs alloy_install_version (the "
                              "version whose package the controller takes)"),
    "controller_unlisted": ({"architecture": "aarch64", "alloy_install_package_source": "controller",
                             "alloy_install_version": "1.10.0",
                             "alloy_install_package_checksums": {"alloy-1.10.0-1.amd64.deb": SHA}},
                            "alloy_install: alloy_install_package_checksums lists no SHA256 for "
                            "alloy-1.10.0-1.arm64.deb, the package this host needs (it lists alloy-1.10.0-1.amd64.deb)"),
    "controller_nothing_listed": ({"alloy_install_package_source": "controller", "alloy_install_version": "1.10.0"},
                                  "alloy_install: alloy_install_package_checksums lists no SHA256 for "
                                  "alloy-1.10.0-1.amd64.deb, the package this host needs (it lists nothing)"),
    "controller_machine": ({"architecture": "armv7l", "alloy_install_package_source": "controller",
                            "alloy_install_version": "1.10.0"},
                           "alloy_install: alloy_install_package_source controller: Grafana publishes no deb package "
                           "for the machine armv7l (only for aarch64, ppc64le, s390x, x86_64)"),
    "controller_bad_line": ({"alloy_install_package_source": "controller", "alloy_install_version": "1.10.0",
                             "alloy_install_package_checksums": "%s  alloy.deb\nsha256:%s alloy.rpm" % (SHA, SHA)},
                            "alloy_install: alloy_install_package_checksums: expected the lines of a SHA256SUMS file "
                            "(<64 hex digits>  <file name>, as lookup('file', ...) reads it) or a mapping of file name "
                            "to SHA256; line 2 is not \"<64 hex digits>  <file name>\", got 'sha256:%s alloy.rpm'" % SHA),
    "controller_bad_digest": ({"alloy_install_package_source": "controller", "alloy_install_version": "1.10.0",
                               "alloy_install_package_checksums": {"alloy-1.10.0-1.amd64.deb": "md5:abc"}},
                              "alloy_install: alloy_install_package_checksums: expected the lines of a SHA256SUMS "
                              "file (<64 hex digits>  <file name>, as lookup('file', ...) reads it) or a mapping of "
                              "file name to SHA256; ['alloy-1.10.0-1.amd64.deb']: expected a SHA256 (64 hexadecimal "
                              "digits), got 'md5:abc'"),
    "controller_relative": ({"alloy_install_package_source": "controller", "alloy_install_version": "1.10.0",
                             "alloy_install_package_location": "files/alloy",
                             "alloy_install_package_checksums": {"alloy-1.10.0-1.amd64.deb": SHA}},
                            "alloy_install: alloy_install_package_location: expected an absolute directory on the "
                            "controller or an http(s):// URL of a directory, got 'files/alloy'"),
    "controller_url_credentials": ({"alloy_install_package_source": "controller", "alloy_install_version": "1.10.0",
                                    "alloy_install_package_location": "https://u:p@mirror/alloy",
                                    "alloy_install_package_checksums": {"alloy-1.10.0-1.amd64.deb": SHA}},
                                   "alloy_install: alloy_install_package_location: the URL carries credentials "
                                   "(user:password@), which would be shown in logs; give the controller credentials "
                                   "another way (its ~/.netrc)"),
    # The repository path does not read them: not checked.
    "repository_ignores_sums": ({"alloy_install_package_checksums": "garbage",
                                 "alloy_install_package_location": "relative"}, ""),
    "two_problems": ({"alloy_install_version": "v1", "alloy_install_proxy": "proxy:3128"},
                     "alloy_install: alloy_install_version: expected a version such as 1.10.0 (no v prefix, no "
                     "package release), got 'v1'; alloy_install_proxy: expected a URL (http:// or https://), "
                     "got 'proxy:3128'"),
}

RENDER: Dict[str, Dict[str, Any]] = {
    "defaults": {},
    "custom": {"alloy_install_user": "grafana", "alloy_install_systemd_override": "[Service]\nLimitNOFILE=65536",
               "alloy_install_apt_architectures": ["amd64", "arm64"], "alloy_install_apt_components": ["main", "extra"],
               "alloy_install_apt_suite": "beta", "alloy_install_apt_url": "http://mirror/apt",
               "alloy_install_apt_keyring": "/etc/apt/keyrings/mirror.asc"},
    "override_only": {"alloy_install_systemd_override": "[Service]\nNice=5", "alloy_install_hardening": False},
    "unhardened": {"alloy_install_hardening": "no"},
    "root": {"alloy_install_user": "root"},
}

PLAYBOOK = """
- name: The preflight of alloy_install for every case
  hosts: preflight
  gather_facts: false
  tasks:
    - name: The case's platform, as fact gathering would set it
      ansible.builtin.set_fact:
        os_family: "{{ os_family | default('Debian') }}"
        distribution: "{{ distribution | default('Debian') }}"
        distribution_major_version: "{{ major | default('12') }}"
        service_mgr: "{{ service_mgr | default('systemd') }}"
        architecture: "{{ architecture | default('x86_64') }}"
        cacheable: true

    - name: Run the role's preflight
      ansible.builtin.include_role:
        name: fleet.alloy.alloy_install
        tasks_from: preflight.yml

- name: Render the templates
  hosts: render
  gather_facts: false
  tasks:
    - name: Load the role's defaults and internal values
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop: ["%(role)s/defaults/main.yml", "%(role)s/vars/main.yml"]

    - name: Apply the case's variables over the defaults
      ansible.builtin.set_fact:
        "{{ item.key }}": "{{ item.value }}"
      loop: "{{ render_case | dict2items }}"

    - name: Check and convert the variables as the role does
      fleet.alloy.alloy_preflight:
        rules: alloy_install
      register: __alloy_install_preflight

    - name: Render as the role does
      ansible.builtin.template:
        src: "%(role)s/templates/{{ item }}.j2"
        dest: "{{ render_dir }}/{{ item }}"
        mode: "0600"
      loop: [dropin.conf, grafana.sources]

    - name: Render the drop-in as the role's env file task does (a template lookup)
      ansible.builtin.copy:
        content: "{{ lookup('ansible.builtin.template', '%(role)s/templates/dropin.conf.j2') }}"
        dest: "{{ render_dir }}/dropin.lookup"
        mode: "0600"
""" % {"role": ROLE}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    root = tmp_path_factory.mktemp("alloy_install")
    render = {}
    for name, case in RENDER.items():
        (root / name).mkdir()
        render["render_" + name] = {"render_case": case, "render_dir": str(root / name)}
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                         "children": {"preflight": {"hosts": {n: c[0] for n, c in PREFLIGHT.items()}},
                                      "render": {"hosts": render}}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (root / "playbook.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORKS="8")
    out = subprocess.run(["ansible-playbook", "-i", str(root / "inventory.yml"), str(root / "playbook.yml")],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    report = json.loads(out.stdout[out.stdout.index("{"):])
    failures: Dict[str, List[str]] = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    failures.setdefault(host, []).append(res.get("msg") or json.dumps(res)[:2000])
    return {"root": root, "failures": failures}


@pytest.mark.parametrize("case", sorted(PREFLIGHT))
def test_the_preflight_names_exactly_what_is_wrong(outcome: Dict[str, Any], case: str) -> None:
    expected = PREFLIGHT[case][1]
    assert outcome["failures"].get(case, []) == ([expected] if expected else [])


def deb822(text: str) -> Dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def rendered(outcome: Dict[str, Any], case: str, name: str) -> str:
    assert outcome["failures"].get("render_" + case) is None
    return (outcome["root"] / case / name).read_text()


def test_the_apt_source_of_the_defaults(outcome: Dict[str, Any]) -> None:
    text = rendered(outcome, "defaults", "grafana.sources")
    assert text.startswith("# ")  # ansible_managed
    assert deb822(text) == {"Types": "deb", "URIs": "https://apt.grafana.com", "Suites": "stable", "Components": "main",
                            "Signed-By": "/etc/apt/keyrings/grafana.asc"}


def test_the_apt_source_with_architectures_and_a_mirror(outcome: Dict[str, Any]) -> None:
    assert deb822(rendered(outcome, "custom", "grafana.sources")) == {
        "Types": "deb", "URIs": "http://mirror/apt", "Suites": "beta", "Components": "main extra",
        "Architectures": "amd64 arm64", "Signed-By": "/etc/apt/keyrings/mirror.asc"}


def _settings(outcome: Dict[str, Any], case: str) -> List[str]:
    return [line for line in rendered(outcome, case, "dropin.conf").splitlines() if line and not line.startswith("#")]


HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/alloy", "ProtectHome=read-only",
             "PrivateTmp=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
             "ProtectKernelLogs=yes", "ProtectControlGroups=yes", "ProtectHostname=yes",
             "RestrictSUIDSGID=yes", "RestrictRealtime=yes", "RestrictNamespaces=yes", "LockPersonality=yes",
             "SystemCallArchitectures=native", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK"]


def test_the_dropin_hardens_the_service_by_default(outcome: Dict[str, Any]) -> None:
    assert _settings(outcome, "defaults") == ["[Service]", *HARDENING, "CapabilityBoundingSet="]
    # Alloy run as root keeps root's capabilities (it may own files the alloy user made).
    assert _settings(outcome, "root") == ["[Service]", "User=root", *HARDENING]


def test_the_dropin_sets_the_user_only_when_it_is_not_the_packages(outcome: Dict[str, Any]) -> None:
    assert _settings(outcome, "unhardened") == []  # a survey's "no": no drop-in settings at all
    assert _settings(outcome, "custom") == ["[Service]", "User=grafana", *HARDENING, "CapabilityBoundingSet=",
                                            "[Service]", "LimitNOFILE=65536"]
    assert _settings(outcome, "override_only") == ["[Service]", "Nice=5"]


@pytest.mark.parametrize("case", sorted(RENDER))
def test_the_dropin_reads_the_same_through_a_lookup(outcome: Dict[str, Any], case: str) -> None:
    # The env file task passes the drop-in as a template lookup (ansible_managed included).
    text = rendered(outcome, case, "dropin.lookup")
    assert text == rendered(outcome, case, "dropin.conf") and text.startswith("# ") and text.endswith("\n")
