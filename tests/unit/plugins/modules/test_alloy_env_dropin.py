"""The alloy_env module's drop-in and configuration check (issue #15: the env file, the
systemd drop-in and the look for the configuration in one task), run in this process."""
from __future__ import annotations

import grp
import os
import stat
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import files
from ansible_collections.fleet.alloy.plugins.modules import alloy_env
from module_main import run_main

DROPIN = "# Ansible managed\n[Service]\nUser=grafana\n"






def args(tmp_path: Path, **extra: Any) -> Dict[str, Any]:
    base = {"path": str(tmp_path / "alloy"), "section": "alloy_install", "values": {"CONFIG_FILE": "/c"},
            "mode": "0640", "dropin_path": str(tmp_path / "alloy.service.d" / "fleet-alloy.conf")}
    base.update(extra)
    return base


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_dropin_is_written_with_its_own_attributes_and_directory(tmp_path: Path, owner: Tuple[int, int],
                                                                     tight_umask: None) -> None:
    dropin = tmp_path / "alloy.service.d" / "fleet-alloy.conf"
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    assert not failed, result
    assert (result["changed"], result["dropin_changed"]) == (True, True)
    assert dropin.read_text() == DROPIN
    assert mode(dropin) == 0o644 and (dropin.stat().st_uid, dropin.stat().st_gid) == owner
    assert mode(dropin.parent) == 0o755 and (dropin.parent.stat().st_uid, dropin.parent.stat().st_gid) == owner
    assert mode(tmp_path / "alloy") == 0o640  # the task's mode is the env file's only
    assert not list(dropin.parent.glob(".*.tmp"))


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another group")
def test_the_tasks_owner_and_group_are_not_the_dropins(tmp_path: Path, owner: Tuple[int, int]) -> None:
    daemon = grp.getgrnam("daemon").gr_gid
    failed, _ = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN, group="daemon"))
    assert not failed
    assert (tmp_path / "alloy").stat().st_gid == daemon
    assert (tmp_path / "alloy.service.d" / "fleet-alloy.conf").stat().st_gid == 0


def test_a_second_run_changes_nothing(tmp_path: Path, owner: Tuple[int, int]) -> None:
    run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    assert not failed and (result["changed"], result["dropin_changed"]) == (False, False)


def test_new_content_or_a_changed_mode_is_a_change_of_the_dropin_alone(tmp_path: Path, owner: Tuple[int, int]) -> None:
    dropin = tmp_path / "alloy.service.d" / "fleet-alloy.conf"
    run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN + "Nice=5\n"))
    assert not failed and (result["changed"], result["dropin_changed"]) == (True, True)
    assert dropin.read_text() == DROPIN + "Nice=5\n"
    dropin.chmod(0o600)
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN + "Nice=5\n"))
    assert not failed and (result["changed"], result["dropin_changed"]) == (True, True) and mode(dropin) == 0o644


def test_an_env_change_alone_is_no_dropin_change(tmp_path: Path, owner: Tuple[int, int]) -> None:
    run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN, values={"CONFIG_FILE": "/d"}))
    assert not failed and (result["changed"], result["dropin_changed"]) == (True, False)


def test_an_empty_dropin_removes_the_file_and_keeps_the_directory(tmp_path: Path, owner: Tuple[int, int]) -> None:
    dropin = tmp_path / "alloy.service.d" / "fleet-alloy.conf"
    run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    (dropin.parent / "admin.conf").write_text("[Service]\n")
    failed, result = run_main(alloy_env.main, args(tmp_path))
    assert not failed and (result["changed"], result["dropin_changed"]) == (True, True)
    assert not dropin.exists() and (dropin.parent / "admin.conf").exists()
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=""))
    assert not failed and (result["changed"], result["dropin_changed"]) == (False, False)


def test_no_dropin_and_no_directory_is_no_change(tmp_path: Path) -> None:
    run_main(alloy_env.main, args(tmp_path))
    failed, result = run_main(alloy_env.main, args(tmp_path))
    assert not failed and (result["changed"], result["dropin_changed"]) == (False, False)
    assert not (tmp_path / "alloy.service.d").exists()


def test_check_mode_reports_the_change_and_touches_nothing(tmp_path: Path, owner: Tuple[int, int]) -> None:
    dropin = tmp_path / "alloy.service.d" / "fleet-alloy.conf"
    run_main(alloy_env.main, args(tmp_path))  # the env file exists, no drop-in
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN), check_mode=True)
    assert not failed and (result["changed"], result["dropin_changed"]) == (True, True)
    assert not dropin.parent.exists()
    run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    dropin.chmod(0o600)
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN), check_mode=True)
    assert not failed and (result["changed"], result["dropin_changed"]) == (True, True) and mode(dropin) == 0o600
    failed, result = run_main(alloy_env.main, args(tmp_path), check_mode=True)
    assert not failed and (result["changed"], result["dropin_changed"]) == (True, True)
    assert dropin.read_text() == DROPIN


def test_the_diff_has_the_env_file_then_the_dropin(tmp_path: Path, owner: Tuple[int, int]) -> None:
    dropin = str(tmp_path / "alloy.service.d" / "fleet-alloy.conf")
    failed, result = run_main(alloy_env.main, args(tmp_path, dropin=DROPIN, secret_values={"PW": "hunter2"}),
                              check_mode=True, diff=True)
    assert not failed
    env, drop = result["diff"]
    assert (env["before_header"], env["after_header"]) == (str(tmp_path / "alloy"),) * 2
    assert "hunter2" not in env["after"] and "PW=********" in env["after"]
    assert drop == {"before": "", "after": DROPIN, "before_header": dropin, "after_header": dropin}
    run_main(alloy_env.main, args(tmp_path, dropin=DROPIN))
    failed, result = run_main(alloy_env.main, args(tmp_path), diff=True)
    assert not failed and result["diff"][1] == {"before": DROPIN, "after": "", "before_header": dropin,
                                                "after_header": dropin}


def test_without_a_dropin_path_the_result_is_as_before(tmp_path: Path) -> None:
    failed, result = run_main(alloy_env.main, {"path": str(tmp_path / "alloy"), "section": "s", "dropin": DROPIN},
                              diff=True)
    assert not failed and "dropin_changed" not in result and "config_exists" not in result
    assert result["diff"]["before_header"] == str(tmp_path / "alloy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alloy"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_config_exists_says_whether_the_configuration_is_there(tmp_path: Path, check_mode: bool) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "config.alloy").write_text("")
    for name, exists in (("conf.d", True), ("config.alloy", True), ("missing.d", False)):
        failed, result = run_main(alloy_env.main, {"path": str(tmp_path / "alloy"), "section": "s",
                                                   "config_path": str(tmp_path / name)}, check_mode=check_mode)
        assert not failed and result["config_exists"] is exists, name


class Recorder:
    """What write_private uses of AnsibleModule; records the options given for the temporary file."""

    def __init__(self) -> None:
        self.params = {"mode": "0640", "group": "alloy"}
        self.seen: List[Dict[str, Any]] = []

    def load_file_common_arguments(self, params: Dict[str, Any], path: str = "") -> Dict[str, Any]:
        return dict(params, path=path)

    def set_fs_attributes_if_different(self, attributes: Dict[str, Any], changed: bool) -> bool:
        self.seen.append(attributes)
        return changed


def test_write_private_gives_the_temporary_file_the_options_it_is_passed(tmp_path: Path) -> None:
    module = Recorder()
    files.write_private(module, str(tmp_path / "a.conf"), "x\n", {"mode": "0644", "owner": "root"})
    files.write_private(module, str(tmp_path / "env"), "y\n")
    assert [(s["mode"], s.get("owner"), s.get("group")) for s in module.seen] == [("0644", "root", None),
                                                                                    ("0640", None, "alloy")]
    assert (tmp_path / "a.conf").read_text() == "x\n"
