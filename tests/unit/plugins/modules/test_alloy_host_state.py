"""alloy_host_state reads what a host has of an installation: a file's checksum and attributes as
copy and template compare them, dpkg's status file as dpkg writes it (several stanzas, continuation
lines, a held package, one removed but for its configuration files), rpm's and systemctl's answers."""
from __future__ import annotations

import grp
import hashlib
import os
import pwd
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.filter.alloy_host_state import alloy_file_current
from ansible_collections.fleet.alloy.plugins.modules import alloy_host_state as module

STATUS = """Package: adduser
Status: install ok installed
Priority: important
Version: 3.134
Description: add and remove users and groups
 This package includes the 'adduser' and 'deluser' commands.
 Package: alloy

Package: alloy
Status: hold ok installed
Priority: optional
Section: default
Version: 1.5.1-1
Conffiles:
 /etc/default/alloy 0123456789abcdef0123456789abcdef

Package: alloy-old
Status: deinstall ok config-files
Version: 1.0.0-1
"""


class Runner:
    """A module whose run_command answers from a table of argv prefixes."""

    def __init__(self, answers: Dict[str, Tuple[int, str, str]], systemctl: str = "/usr/bin/systemctl",
                 rpm: str = "/usr/bin/rpm") -> None:
        self.answers, self.calls = answers, []  # type: ignore[var-annotated]
        self.paths = {"systemctl": systemctl, "rpm": rpm}

    def get_bin_path(self, name: str) -> str:
        return self.paths.get(name, "")

    def run_command(self, argv: List[str]) -> Tuple[int, str, str]:
        self.calls.append(argv)
        return self.answers.get(os.path.basename(argv[0]), (1, "", "not found"))


def test_a_files_checksum_and_attributes_are_what_copy_compares(tmp_path: Path) -> None:
    path = tmp_path / "grafana.sources"
    path.write_text("Types: deb\n")
    path.chmod(0o640)
    state = module.file_state(str(path))
    assert state == {"path": str(path), "exists": True, "state": "file",
                     "sha1": hashlib.sha1(b"Types: deb\n").hexdigest(),
                     "mode": "0640", "owner": pwd.getpwuid(os.geteuid()).pw_name,
                     "group": grp.getgrgid(os.getegid()).gr_name}


def test_a_missing_path_is_not_there_a_directory_has_no_checksum(tmp_path: Path) -> None:
    assert module.file_state(str(tmp_path / "absent")) == {"path": str(tmp_path / "absent"), "exists": False}
    (tmp_path / "keys").mkdir(mode=0o750)
    found = module.file_state(str(tmp_path / "keys"))
    assert (found["exists"], found["state"], found["mode"], "sha1" in found) == (True, "directory", "0750", False)
    assert module.file_state("/dev/null")["exists"] is False


def test_rpm_keys_each_asked_by_its_id() -> None:
    runner = Runner({"rpm": (0, "gpg-pubkey-10458545-5f8f3f3c", "")})
    assert module.rpm_keys_imported(runner, ["10458545"]) == {"10458545": True}
    assert runner.calls == [["/usr/bin/rpm", "-q", "gpg-pubkey-10458545"]]
    assert module.rpm_keys_imported(Runner({}), ["10458545"]) == {"10458545": False}
    assert module.rpm_keys_imported(Runner({"rpm": (0, "", "")}, rpm=""), ["10458545"]) == {"10458545": False}


def test_dpkg_a_held_package_its_version_and_selection() -> None:
    assert module.dpkg_package(STATUS, "alloy") == {"installed": True, "version": "1.5.1-1", "selection": "hold"}
    assert module.dpkg_package(STATUS, "adduser") == {"installed": True, "version": "3.134", "selection": "install"}


def test_dpkg_a_package_removed_but_for_its_configuration_is_not_installed() -> None:
    assert module.dpkg_package(STATUS, "alloy-old") == {"installed": False, "version": "",
                                                        "selection": "deinstall"}


def test_dpkg_a_package_it_does_not_list_nor_one_named_in_a_description() -> None:
    assert module.dpkg_package(STATUS, "grafana") == {"installed": False, "version": "", "selection": ""}
    assert module.dpkg_stanza(STATUS, "alloy")["Version"] == "1.5.1-1"


def test_rpm_answers_version_and_release_or_not_installed() -> None:
    found = Runner({"rpm": (0, "1.5.1-1", "")})
    assert module.rpm_package(found, "alloy") == {"installed": True, "version": "1.5.1-1", "selection": ""}
    assert found.calls == [["/usr/bin/rpm", "-q", "--queryformat", "%{VERSION}-%{RELEASE}", "alloy"]]
    missing = Runner({"rpm": (1, "package alloy is not installed\n", "")})
    assert module.rpm_package(missing, "alloy")["installed"] is False
    no_rpm = Runner({"rpm": (0, "1.5.1-1", "")}, rpm="")   # a host without rpm has no rpm package installed
    assert module.rpm_package(no_rpm, "alloy")["installed"] is False and no_rpm.calls == []


def test_systemctl_show_its_three_states() -> None:
    runner = Runner({"systemctl": (0, "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n", "")})
    assert module.systemd_unit(runner, "alloy.service") == {
        "load_state": "loaded", "active_state": "active", "unit_file_state": "enabled"}
    assert runner.calls == [["/usr/bin/systemctl", "show", "alloy.service",
                             "--property=LoadState,ActiveState,UnitFileState"]]


@pytest.mark.parametrize("runner", [Runner({"systemctl": (1, "", "System has not been booted with systemd")}),
                                    Runner({}, systemctl="")])
def test_without_an_answer_from_systemd_nothing_is_known(runner: Runner) -> None:
    assert module.systemd_unit(runner, "alloy.service") == {"load_state": "", "active_state": "",
                                                            "unit_file_state": ""}


def test_the_filter_agrees_with_the_module_only_on_same_content_and_attributes(tmp_path: Path) -> None:
    path = tmp_path / "grafana.asc"
    path.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    path.chmod(0o644)
    state = module.file_state(str(path))
    me = {"owner": state["owner"], "group": state["group"]}
    assert alloy_file_current(state, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n", **me) is True
    assert alloy_file_current(state, "-----BEGIN PGP PUBLIC KEY BLOCK-----", **me) is False
    assert alloy_file_current(state, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n", mode="0600", **me) is False
    assert alloy_file_current(dict(state, owner="nobody"), "-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
                              owner="root", group=state["group"]) is False
    assert alloy_file_current(module.file_state(str(tmp_path / "absent")), "") is False
    assert alloy_file_current(module.file_state(str(tmp_path)), "", **me) is False       # a directory, not a file
    directory = module.file_state(str(tmp_path))
    assert alloy_file_current(directory, None, mode=directory["mode"], **me) is True
    assert alloy_file_current(state, None, **me) is False                                 # a file, not a directory
