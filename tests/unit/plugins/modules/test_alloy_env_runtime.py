"""The alloy_env module's local fact of the runtime contract (options runtime and runtime_path):
the description of how Alloy runs here kept on the host as JSON and returned as the fact
alloy_runtime, run in this process."""
from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any, Dict, Tuple

from ansible_collections.fleet.alloy.plugins.modules import alloy_env
from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime as rt
from module_main import run_main

DROPIN = "[Service]\nUser=grafana\n"


def contract(**changes: Any) -> Dict[str, Any]:
    """A systemd runtime as alloy_install's preflight builds it."""
    checked = {"config_path": "/etc/alloy/conf.d", "group": "alloy", "listen_address": "0.0.0.0:12345"}
    built = rt.systemd(checked, {"os_family": "Debian", "hostname": "web-1"}, "web-1.example.com")
    built.update(changes)
    return built






def fact_path(tmp_path: Path) -> Path:
    return tmp_path / "facts.d" / "alloy_runtime.fact"


def args(tmp_path: Path, **extra: Any) -> Dict[str, Any]:
    base = {"path": str(tmp_path / "alloy"), "section": "alloy_install", "values": {"CONFIG_FILE": "/c"},
            "mode": "0640", "runtime_path": str(fact_path(tmp_path))}
    base.update(extra)
    return base


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_run_writes_the_fact_as_sorted_indented_json(tmp_path: Path, owner: Tuple[int, int],
                                                               tight_umask: None) -> None:
    fact = fact_path(tmp_path)
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    assert not failed, result
    assert (result["changed"], result["runtime_changed"]) == (True, True)
    assert result["ansible_facts"] == {"alloy_runtime": contract()}
    text = fact.read_text()
    assert json.loads(text) == contract()
    assert text.startswith('{\n  "alloy_command": [\n    "/usr/bin/alloy"\n  ],\n  "api_tls": {},\n'
                           '  "api_url": "http://127.0.0.1:12345",\n')
    assert text.endswith('  "service": "alloy.service"\n}\n')
    assert mode(fact) == 0o644 and (fact.stat().st_uid, fact.stat().st_gid) == owner
    assert mode(fact.parent) == 0o755 and (fact.parent.stat().st_uid, fact.parent.stat().st_gid) == owner
    assert mode(tmp_path / "alloy") == 0o640  # the task's mode is the env file's only
    assert not list(fact.parent.glob(".*.tmp"))


def test_the_json_is_exactly_two_space_indented_with_sorted_keys_and_a_final_newline(tmp_path: Path,
                                                                                     owner: Tuple[int, int]) -> None:
    failed, _ = run_main(alloy_env.main, args(tmp_path, runtime={"kind": "compose", "host_paths": {"sysfs": "/s",
                                                                                                    "procfs": "/p"}}))
    assert not failed
    assert fact_path(tmp_path).read_text() == ('{\n  "host_paths": {\n    "procfs": "/p",\n    "sysfs": "/s"\n  },\n'
                                               '  "kind": "compose"\n}\n')


def test_an_existing_directory_keeps_its_mode(tmp_path: Path, owner: Tuple[int, int]) -> None:
    fact_path(tmp_path).parent.mkdir(mode=0o700)
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    assert not failed and result["runtime_changed"] is True
    assert mode(fact_path(tmp_path).parent) == 0o700 and mode(fact_path(tmp_path)) == 0o644


def test_a_second_run_changes_nothing(tmp_path: Path, owner: Tuple[int, int]) -> None:
    run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    assert not failed and (result["changed"], result["runtime_changed"]) == (False, False)
    assert result["ansible_facts"] == {"alloy_runtime": contract()}


def test_a_changed_runtime_rewrites_the_fact_and_the_diff_shows_it(tmp_path: Path, owner: Tuple[int, int]) -> None:
    fact = str(fact_path(tmp_path))
    run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    before = fact_path(tmp_path).read_text()
    new = contract(api_url="http://127.0.0.1:9999", instance="web-2")
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=new), diff=True)
    assert not failed and (result["changed"], result["runtime_changed"]) == (True, True)
    after = fact_path(tmp_path).read_text()
    assert json.loads(after) == new and after != before
    assert result["ansible_facts"] == {"alloy_runtime": new}
    env, local = result["diff"]
    assert env["before_header"] == str(tmp_path / "alloy") and env["before"] == env["after"]
    assert local == {"before": before, "after": after, "before_header": fact, "after_header": fact}
    assert '"api_url": "http://127.0.0.1:12345"' in local["before"]
    assert '"api_url": "http://127.0.0.1:9999"' in local["after"]


def test_a_changed_env_file_alone_is_no_runtime_change(tmp_path: Path, owner: Tuple[int, int]) -> None:
    run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract(), values={"CONFIG_FILE": "/d"}))
    assert not failed and (result["changed"], result["runtime_changed"]) == (True, False)


def test_a_changed_mode_of_the_fact_is_restored(tmp_path: Path, owner: Tuple[int, int]) -> None:
    fact = fact_path(tmp_path)
    run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    fact.chmod(0o600)
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    assert not failed and (result["changed"], result["runtime_changed"]) == (True, True) and mode(fact) == 0o644


def test_check_mode_writes_nothing_and_reports_the_change(tmp_path: Path, owner: Tuple[int, int]) -> None:
    fact = fact_path(tmp_path)
    run_main(alloy_env.main, args(tmp_path))  # the env file exists, no fact
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract()), check_mode=True, diff=True)
    assert not failed and (result["changed"], result["runtime_changed"]) == (True, True)
    assert result["ansible_facts"] == {"alloy_runtime": contract()}
    assert result["diff"][1]["before"] == "" and json.loads(result["diff"][1]["after"]) == contract()
    assert not fact.parent.exists()
    run_main(alloy_env.main, args(tmp_path, runtime=contract()))
    written = fact.read_text()
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract(instance="other")), check_mode=True)
    assert not failed and (result["changed"], result["runtime_changed"]) == (True, True)
    assert fact.read_text() == written


def test_the_diff_lists_the_env_file_the_dropin_then_the_fact(tmp_path: Path, owner: Tuple[int, int]) -> None:
    dropin = str(tmp_path / "alloy.service.d" / "fleet-alloy.conf")
    failed, result = run_main(alloy_env.main, args(tmp_path, runtime=contract(), dropin_path=dropin, dropin=DROPIN),
                              check_mode=True, diff=True)
    assert not failed
    assert [d["before_header"] for d in result["diff"]] == [str(tmp_path / "alloy"), dropin,
                                                            str(fact_path(tmp_path))]
    assert (result["dropin_changed"], result["runtime_changed"]) == (True, True)


def test_without_runtime_the_fact_is_left_alone(tmp_path: Path, owner: Tuple[int, int]) -> None:
    fact = fact_path(tmp_path)
    fact.parent.mkdir()
    fact.write_text("kept\n")
    fact.chmod(0o600)
    failed, result = run_main(alloy_env.main, args(tmp_path), diff=True)
    assert not failed, result
    assert "runtime_changed" not in result and "ansible_facts" not in result
    assert isinstance(result["diff"], dict) and result["diff"]["before_header"] == str(tmp_path / "alloy")
    assert fact.read_text() == "kept\n" and mode(fact) == 0o600
    assert sorted(p.name for p in fact.parent.iterdir()) == ["alloy_runtime.fact"]


def test_without_runtime_no_fact_directory_is_made(tmp_path: Path) -> None:
    failed, result = run_main(alloy_env.main, args(tmp_path))
    assert not failed and "runtime_changed" not in result and "ansible_facts" not in result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alloy"]
