"""alloy_config_apply (module_utils/config_apply.py and the module): the plan, the staged
configuration, the validator and its commands, install and undo, the reload outcomes and
the module's exits, with a fake `alloy` that records how it is called. Written against
the survivors of ./dev mutate (docs/testing.md)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import config_apply as ca
from ansible_collections.fleet.alloy.plugins.module_utils.envfile import update
from ansible_collections.fleet.alloy.plugins.modules import alloy_config_apply as mod
from local_http import LocalServer
from module_main import documented_argument_spec, run_main

A, B = 'loki.echo "a" {\n}\n', 'loki.echo "b" {\n}\n'


# --- config_apply.py ---------------------------------------------------------------------------

def test_live_files_are_the_alloy_files_directly_in_the_directory(tmp_path: Path) -> None:
    assert ca.live_files(str(tmp_path / "missing")) == {}
    (tmp_path / "b.alloy").write_text(B)
    (tmp_path / "a.alloy").write_text(A)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.alloy").mkdir()
    assert ca.live_files(str(tmp_path)) == {"a.alloy": A, "b.alloy": B}
    assert list(ca.live_files(str(tmp_path))) == ["a.alloy", "b.alloy"]


@pytest.mark.parametrize("name", ["fleet_a.alloy", "fleet_9-x.y.alloy"])
def test_names_with_the_prefix_are_accepted(name: str) -> None:
    ca.check_names({name: A}, "fleet_")


@pytest.mark.parametrize("name", ["other.alloy", "fleet_a.txt", "fleet_a b.alloy", "fleet_/x.alloy", ".fleet.alloy"])
def test_other_names_are_refused_all_at_once(name: str) -> None:
    with pytest.raises(ca.ApplyError) as err:
        ca.check_names({name: A, "zz.alloy": A}, "fleet_")
    assert str(err.value) == ("file names must match fleet_*.alloy (letters, digits, _ . -): %s"
                              % ", ".join(sorted([name, "zz.alloy"])))


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ca.ApplyError):
        ca.check_names({"fleet_x.alloy\n": A}, "fleet_")


def test_the_plan_writes_what_differs_and_removes_the_managed_files_no_longer_wanted(tmp_path: Path) -> None:
    (tmp_path / "fleet_same.alloy").write_text(A)
    (tmp_path / "fleet_changed.alloy").write_text(A)
    (tmp_path / "fleet_z_gone.alloy").write_text(B)
    (tmp_path / "fleet_a_gone.alloy").write_text(B)
    (tmp_path / "users.alloy").write_text(B)
    plan = ca.plan(str(tmp_path), {"fleet_same.alloy": A, "fleet_changed.alloy": B, "fleet_new.alloy": A}, "fleet_")
    assert plan.write == {"fleet_changed.alloy": B, "fleet_new.alloy": A}
    assert plan.remove == ["fleet_a_gone.alloy", "fleet_z_gone.alloy"]
    assert plan.before == {"fleet_changed.alloy": A, "fleet_a_gone.alloy": B, "fleet_z_gone.alloy": B}
    assert plan.changed
    assert not ca.plan(str(tmp_path), {"fleet_same.alloy": A, "fleet_changed.alloy": A,
                                       "fleet_z_gone.alloy": B, "fleet_a_gone.alloy": B}, "fleet_").changed
    assert ca.Plan({}, ["x"], {}).changed and not ca.Plan({}, [], {}).changed


def test_diffs_show_every_written_then_every_removed_file(tmp_path: Path) -> None:
    plan = ca.Plan({"fleet_b.alloy": B, "fleet_a.alloy": A}, ["fleet_old.alloy"],
                   {"fleet_b.alloy": A, "fleet_old.alloy": B})
    diffs = ca.diffs(str(tmp_path), plan)
    assert [(d["before_header"], d["before"], d["after"]) for d in diffs] == [
        (str(tmp_path / "fleet_a.alloy"), "", A), (str(tmp_path / "fleet_b.alloy"), A, B),
        (str(tmp_path / "fleet_old.alloy"), B, "")]
    assert all(d["after_header"] == d["before_header"] for d in diffs)


def test_the_staged_configuration_is_the_users_files_and_ours(tmp_path: Path) -> None:
    live, staging = tmp_path / "live", tmp_path / "staging"
    live.mkdir()
    staging.mkdir()
    (live / "users.alloy").write_text(B)
    (live / "fleet_old.alloy").write_text(B)
    ca.stage(str(staging), str(live), {"fleet_new.alloy": A}, "fleet_")
    assert {p.name: p.read_text() for p in staging.iterdir()} == {"users.alloy": B, "fleet_new.alloy": A}


@pytest.mark.parametrize("text,version", [("alloy, version v1.10.2 (branch: HEAD)", (1, 10, 2)),
                                          ("alloy, version 1.9.0", (1, 9, 0))])
def test_the_version_is_read_from_alloys_answer(text: str, version: Tuple[int, int, int]) -> None:
    assert ca.parse_version(text) == version


def test_an_unreadable_version_is_quoted_and_bounded() -> None:
    with pytest.raises(ca.ApplyError) as err:
        ca.parse_version("  " + "x" * 300 + "  ")
    assert str(err.value) == "cannot read the Alloy version from: %r" % ("x" * 200)
    with pytest.raises(ca.ApplyError, match="from: ''"):
        ca.parse_version(None)


@pytest.mark.parametrize("version,validator", [((1, 9, 0), "validate"), ((2, 0, 0), "validate"), ((1, 8, 9), "fmt"),
                                               ((0, 40, 0), "fmt")])
def test_validate_exists_from_1_9_on(version: Tuple[int, int, int], validator: str) -> None:
    assert ca.validator_for(version) == validator


def test_validation_commands(tmp_path: Path) -> None:
    (tmp_path / "b.alloy").write_text(B)
    (tmp_path / "a.alloy").write_text(A)
    (tmp_path / "readme").write_text("x")
    assert ca.validation_commands(["alloy"], "validate", str(tmp_path)) == [["alloy", "validate", str(tmp_path)]]
    assert ca.validation_commands(["alloy"], "fmt", str(tmp_path)) == [
        ["alloy", "fmt", str(tmp_path / "a.alloy")], ["alloy", "fmt", str(tmp_path / "b.alloy")]]


def test_install_and_undo_put_back_exactly_what_was_there(tmp_path: Path) -> None:
    (tmp_path / "fleet_keep.alloy").write_text(A)
    (tmp_path / "fleet_gone.alloy").write_text(B)
    plan = ca.plan(str(tmp_path), {"fleet_keep.alloy": B, "fleet_new.alloy": A}, "fleet_")
    written: List[str] = []

    def write(path: str, content: str) -> None:
        written.append(os.path.basename(path))
        Path(path).write_text(content)
    undo_list = ca.install(str(tmp_path), plan, write)
    assert written == ["fleet_keep.alloy", "fleet_new.alloy"]
    assert {p.name for p in tmp_path.iterdir()} == {"fleet_keep.alloy", "fleet_new.alloy"}
    assert undo_list == [(str(tmp_path / "fleet_keep.alloy"), A), (str(tmp_path / "fleet_new.alloy"), None),
                         (str(tmp_path / "fleet_gone.alloy"), B)]
    written.clear()
    ca.undo(undo_list, write)
    assert written == ["fleet_gone.alloy", "fleet_keep.alloy"]
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"fleet_keep.alloy": A, "fleet_gone.alloy": B}
    ca.undo([(str(tmp_path / "never.alloy"), None)], write)  # already gone: nothing to do


def test_remove_tree(tmp_path: Path) -> None:
    (tmp_path / "t" / "d").mkdir(parents=True)
    ca.remove_tree(str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()
    ca.remove_tree(str(tmp_path / "t"))


# --- the module --------------------------------------------------------------------------------

FAKE_ALLOY = r'''#!/bin/sh
# A fake alloy: its version from $FAKE_VERSION, every call logged, validation refused when
# $FAKE_REFUSE is set (its message names the staged file).
echo "$*" >> "$FAKE_LOG"
case "$1" in
  --version) echo "alloy, version v$FAKE_VERSION (branch: HEAD)"; exit "${FAKE_VERSION_RC:-0}" ;;
  validate|fmt) if [ -n "$FAKE_REFUSE" ]; then echo "Error: $2/fleet_x.alloy:1:1: refused" >&2; exit 1; fi ;;
esac
exit 0
'''


@pytest.fixture()
def alloy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, Any]]:
    script = tmp_path / "alloy"
    script.write_text(FAKE_ALLOY)
    script.chmod(0o755)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_VERSION", "1.10.0")
    monkeypatch.delenv("FAKE_REFUSE", raising=False)
    yield {"command": [str(script)], "log": log, "env": monkeypatch}


def calls(alloy: Dict[str, Any]) -> List[str]:
    return alloy["log"].read_text().splitlines() if alloy["log"].exists() else []


def apply(path: Path, files: Dict[str, str], alloy: Dict[str, Any], check_mode: bool = False,
          **options: Any) -> Tuple[bool, Dict[str, Any]]:
    return run_main(mod.main, dict({"path": str(path), "files": files, "alloy_command": alloy["command"]}, **options),
                    check_mode=check_mode, diff=True)


def test_a_new_configuration_is_validated_then_installed(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    live = tmp_path / "conf.d"
    failed, result = apply(live, {"fleet_x.alloy": A}, alloy, mode="0640")
    assert not failed and result["changed"] and result["written"] == ["fleet_x.alloy"] and result["removed"] == []
    assert result["validator"] == "validate" and result["reloaded"] is False
    assert (live / "fleet_x.alloy").read_text() == A
    assert stat.S_IMODE(live.stat().st_mode) == 0o750 and stat.S_IMODE((live / "fleet_x.alloy").stat().st_mode) == 0o640
    log = calls(alloy)
    assert log[0] == "--version" and log[1].startswith("validate ") and len(log) == 2
    staging = log[1].split(" ", 1)[1]
    assert os.path.dirname(staging) == str(tmp_path) and os.path.basename(staging).startswith(".fleet-alloy-staging-")
    assert not os.path.exists(staging)
    path = str(live / "fleet_x.alloy")
    assert result["diff"] == [{"before_header": path, "after_header": path, "before": "", "after": A}]


def test_nothing_to_do_runs_nothing(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    live = tmp_path / "conf.d"
    live.mkdir(mode=0o750)
    (live / "fleet_x.alloy").write_text(A)
    failed, result = apply(live, {"fleet_x.alloy": A}, alloy)
    assert not failed and result["changed"] is False and result["validator"] == "" and calls(alloy) == []


def test_only_the_attributes_differ(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    live = tmp_path / "conf.d"
    live.mkdir()
    (live / "fleet_x.alloy").write_text(A)
    os.chmod(live / "fleet_x.alloy", 0o644)
    failed, result = apply(live, {"fleet_x.alloy": A}, alloy, mode="0640")
    assert not failed and result["changed"] is True and calls(alloy) == []
    assert stat.S_IMODE((live / "fleet_x.alloy").stat().st_mode) == 0o640


def test_an_older_alloy_is_checked_with_fmt_on_each_file(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    alloy["env"].setenv("FAKE_VERSION", "1.8.3")
    failed, result = apply(tmp_path / "conf.d", {"fleet_a.alloy": A, "fleet_b.alloy": B}, alloy)
    assert not failed and result["validator"] == "fmt"
    assert [c.split(" ")[0] + " " + os.path.basename(c.split(" ")[1]) for c in calls(alloy)[1:]] == [
        "fmt fleet_a.alloy", "fmt fleet_b.alloy"]


def test_a_chosen_validator_is_used_without_asking_the_version(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    failed, result = apply(tmp_path / "a", {"fleet_a.alloy": A}, alloy, validate="fmt")
    assert not failed and result["validator"] == "fmt" and [c.split(" ")[0] for c in calls(alloy)] == ["fmt"]
    failed, result = apply(tmp_path / "b", {"fleet_a.alloy": A}, alloy, validate="none")
    assert not failed and result["validator"] == "none" and len(calls(alloy)) == 1


def test_the_staging_directory_replaces_its_placeholder(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    command = ["sh", "-c", 'echo "$0 $*" >> "$FAKE_LOG"; [ "$1" = --version ] && echo "version v1.10.0"; exit 0',
               "--mount={staging}:/s"]
    failed, _ = run_main(mod.main, {"path": str(tmp_path / "c"), "files": {"fleet_a.alloy": A},
                                    "alloy_command": command})
    assert not failed
    staged = calls(alloy)[1].split(" ")
    assert staged[0].startswith("--mount=%s/.fleet-alloy-staging-" % tmp_path) and staged[0].endswith(":/s")
    assert staged[1] == "validate" and staged[0] == "--mount=%s:/s" % staged[2]


def test_a_refused_configuration_changes_nothing_and_quotes_alloy(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    live = tmp_path / "conf.d"
    live.mkdir()
    (live / "fleet_x.alloy").write_text(A)
    alloy["env"].setenv("FAKE_REFUSE", "1")
    failed, result = apply(live, {"fleet_x.alloy": B}, alloy)
    assert failed and result["msg"] == ("alloy validate refused the new configuration; the live files in %s are "
                                        "unchanged:\nError: fleet_x.alloy:1:1: refused" % live)
    assert (live / "fleet_x.alloy").read_text() == A
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".fleet-alloy-staging")] == []


def test_a_failing_version_command_is_reported(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    alloy["env"].setenv("FAKE_VERSION_RC", "3")
    failed, result = apply(tmp_path / "c", {"fleet_x.alloy": A}, alloy)
    assert failed and result["msg"] == "%s --version failed (rc 3): alloy, version v1.10.0 (branch: HEAD)" % \
        alloy["command"][0]


def test_check_mode_validates_and_creates_nothing(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    live = tmp_path / "conf.d"
    failed, result = apply(live, {"fleet_x.alloy": A}, alloy, check_mode=True)
    assert not failed and result["changed"] and result["validator"] == "validate" and not live.exists()


def test_a_refused_file_name_fails_the_task(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    failed, result = apply(tmp_path / "c", {"mine.alloy": A}, alloy)
    assert failed and result["msg"].startswith("file names must match fleet_*.alloy")


@pytest.fixture()
def reload_server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def test_reload_outcomes(tmp_path: Path, alloy: Dict[str, Any], reload_server: LocalServer) -> None:
    reload_server.routes["/-/reload"] = (200, "  config reloaded\n")
    url = reload_server.url + "/-/reload"
    failed, result = apply(tmp_path / "c", {"fleet_x.alloy": A}, alloy, reload_url=url, timeout=7)
    assert not failed and result["reloaded"] is True and result["reload_message"] == "config reloaded"
    assert [r.method for r in reload_server.requests] == ["POST"]
    reload_server.routes["/-/reload"] = (400, "error: bad")
    failed, result = apply(tmp_path / "c", {"fleet_x.alloy": B, "fleet_y.alloy": A}, alloy, reload_url=url)
    assert failed and result["msg"] == ("Alloy refused the reload (HTTP 400: error: bad); the previous files are back "
                                        "in %s and Alloy keeps running its previous configuration" % (tmp_path / "c"))
    assert {p.name: p.read_text() for p in (tmp_path / "c").iterdir()} == {"fleet_x.alloy": A}
    failed, result = apply(tmp_path / "d", {"fleet_x.alloy": A}, alloy, reload_url="http://127.0.0.1:9/-/reload")
    assert not failed and result["reloaded"] is False
    assert result["reload_message"] == ("Alloy did not answer (http://127.0.0.1:9/-/reload: connection refused); it "
                                        "loads the files when it starts")


def test_alloy_config_apply_documents_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = documented_argument_spec(mod, monkeypatch)
    assert seen["add_file_common_args"] is True and seen["supports_check_mode"] is True


def test_the_module_runs_as_a_script(tmp_path: Path) -> None:
    """`python alloy_config_apply.py args.json` is how Ansible's debugging runs a module."""
    args = tmp_path / "args.json"
    args.write_text('{"ANSIBLE_MODULE_ARGS": {"path": "%s", "files": {"bad.alloy": ""}}}' % (tmp_path / "c"))
    out = subprocess.run([sys.executable, mod.__file__, str(args)], capture_output=True, text=True, check=False,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 1 and "file names must match fleet_*.alloy" in out.stdout


# --- the env file's secret section, written with the configuration ----------------------------

SECRET = "s3cr3t-\"$HOME`x"
ROTATED = "r0tated"
INSTALL_SECTION = ("# BEGIN fleet.alloy alloy_install\nCONFIG_FILE=\"/etc/alloy/conf.d\"\n"
                   "# END fleet.alloy alloy_install\n")


def env_text(secrets: Dict[str, str]) -> str:
    """The env file as alloy_env writes it: alloy_install's section, then ours."""
    return update(INSTALL_SECTION, "alloy_config", secrets, True)


def read_var(env: Path, key: str = "FLEET_ALLOY_LOKI_0_PASSWORD") -> str:
    return subprocess.run(["sh", "-c", '. "$1"; eval "printf %s \\"\\$$2\\""', "sh", str(env), key],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture()
def host(tmp_path: Path) -> Dict[str, Path]:
    """A configured host: fleet_x.alloy live, the env file with alloy_install's section and our secret."""
    live, env = tmp_path / "conf.d", tmp_path / "alloy.env"
    live.mkdir()
    (live / "fleet_x.alloy").write_text(A)
    env.write_text(env_text({"FLEET_ALLOY_LOKI_0_PASSWORD": SECRET}))
    os.chmod(env, 0o640)
    return {"live": live, "env": env}


def apply_env(host: Dict[str, Path], files: Dict[str, str], alloy: Dict[str, Any], secret: str,
              check_mode: bool = False, **options: Any) -> Tuple[bool, Dict[str, Any]]:
    return apply(host["live"], files, alloy, check_mode=check_mode, env_file=str(host["env"]),
                 env_secrets={"FLEET_ALLOY_LOKI_0_PASSWORD": secret}, **options)


def test_a_refused_configuration_leaves_the_env_file_untouched(host: Dict[str, Path], alloy: Dict[str, Any],
                                                               reload_server: LocalServer) -> None:
    before = host["env"].read_bytes()
    alloy["env"].setenv("FAKE_REFUSE", "1")
    failed, result = apply_env(host, {"fleet_x.alloy": B}, alloy, ROTATED, reload_url=reload_server.url + "/-/reload")
    assert failed and result["msg"].startswith("alloy validate refused the new configuration")
    assert host["env"].read_bytes() == before and read_var(host["env"]) == SECRET
    assert (host["live"] / "fleet_x.alloy").read_text() == A and reload_server.requests == []
    # A new env file is not created either.
    host["env"].unlink()
    failed, _ = apply_env(host, {"fleet_x.alloy": B}, alloy, ROTATED)
    assert failed and not host["env"].exists()
    assert [p.name for p in host["env"].parent.iterdir() if p.name.startswith(".")] == []


def test_a_changed_secret_is_written_and_not_reloaded(host: Dict[str, Path], alloy: Dict[str, Any],
                                                      reload_server: LocalServer) -> None:
    reload_server.routes["/-/reload"] = (200, "config reloaded")
    failed, result = apply_env(host, {"fleet_x.alloy": B}, alloy, ROTATED, reload_url=reload_server.url + "/-/reload",
                               mode="0640")
    assert not failed and result["changed"] is True and result["env_changed"] is True
    assert result["written"] == ["fleet_x.alloy"] and result["validator"] == "validate"
    assert result["reloaded"] is False and reload_server.requests == []
    assert result["reload_message"] == "not asked: the env file changed, Alloy reads it only when it starts"
    assert host["env"].read_text() == env_text({"FLEET_ALLOY_LOKI_0_PASSWORD": ROTATED})
    assert read_var(host["env"]) == ROTATED and read_var(host["env"], "CONFIG_FILE") == "/etc/alloy/conf.d"
    assert (host["live"] / "fleet_x.alloy").read_text() == B
    assert stat.S_IMODE(host["env"].stat().st_mode) == 0o640
    # validated before the env file was written: the secret changes nothing in how Alloy is asked
    assert [c.split(" ")[0] for c in calls(alloy)] == ["--version", "validate"]


def test_a_changed_secret_alone_validates_nothing(host: Dict[str, Path], alloy: Dict[str, Any],
                                                  reload_server: LocalServer) -> None:
    failed, result = apply_env(host, {"fleet_x.alloy": A}, alloy, ROTATED, reload_url=reload_server.url + "/-/reload")
    assert not failed and result["changed"] is True and result["env_changed"] is True and result["written"] == []
    assert result["reloaded"] is False and result["reload_message"] == "" and result["validator"] == ""
    assert calls(alloy) == [] and reload_server.requests == [] and read_var(host["env"]) == ROTATED


def test_a_changed_configuration_with_the_same_secret_is_reloaded(host: Dict[str, Path], alloy: Dict[str, Any],
                                                                  reload_server: LocalServer) -> None:
    reload_server.routes["/-/reload"] = (200, "config reloaded")
    before = host["env"].read_bytes()
    failed, result = apply_env(host, {"fleet_x.alloy": B}, alloy, SECRET, reload_url=reload_server.url + "/-/reload")
    assert not failed and result["changed"] is True and result["env_changed"] is False
    assert result["reloaded"] is True and result["reload_message"] == "config reloaded"
    assert len(reload_server.requests) == 1 and host["env"].read_bytes() == before
    assert [d["before_header"] for d in result["diff"]] == [str(host["live"] / "fleet_x.alloy")]


def test_a_refused_reload_with_the_same_secret_rolls_back_the_files_only(
        host: Dict[str, Path], alloy: Dict[str, Any], reload_server: LocalServer) -> None:
    reload_server.routes["/-/reload"] = (400, "error: bad")
    before = host["env"].read_bytes()
    failed, result = apply_env(host, {"fleet_x.alloy": B}, alloy, SECRET, reload_url=reload_server.url + "/-/reload")
    assert failed and result["msg"].startswith("Alloy refused the reload (HTTP 400: error: bad)")
    assert (host["live"] / "fleet_x.alloy").read_text() == A and host["env"].read_bytes() == before


def test_a_second_run_changes_nothing(host: Dict[str, Path], alloy: Dict[str, Any],
                                      reload_server: LocalServer) -> None:
    reload_server.routes["/-/reload"] = (200, "config reloaded")
    url = reload_server.url + "/-/reload"
    failed, first = apply_env(host, {"fleet_x.alloy": B}, alloy, ROTATED, reload_url=url, mode="0640")
    assert not failed and first["changed"] and first["env_changed"]
    before = host["env"].read_bytes()
    log = len(calls(alloy))
    failed, again = apply_env(host, {"fleet_x.alloy": B}, alloy, ROTATED, reload_url=url, mode="0640")
    assert not failed and again["changed"] is False and again["env_changed"] is False
    assert again["reloaded"] is False and "diff" not in again
    assert reload_server.requests == [] and len(calls(alloy)) == log and host["env"].read_bytes() == before


def test_check_mode_writes_no_secret(host: Dict[str, Path], alloy: Dict[str, Any],
                                     reload_server: LocalServer) -> None:
    before = host["env"].read_bytes()
    failed, result = apply_env(host, {"fleet_x.alloy": B}, alloy, ROTATED, check_mode=True,
                               reload_url=reload_server.url + "/-/reload")
    assert not failed and result["changed"] is True and result["env_changed"] is True
    assert host["env"].read_bytes() == before and (host["live"] / "fleet_x.alloy").read_text() == A
    assert reload_server.requests == [] and sorted(p.name for p in host["env"].parent.iterdir()) == [
        "alloy", "alloy.env", "calls.log", "conf.d"]
    # a new env file, in a directory an earlier task would have made
    missing = {"live": host["live"], "env": host["env"].parent / "later" / "alloy.env"}
    failed, result = apply_env(missing, {"fleet_x.alloy": A}, alloy, ROTATED, check_mode=True)
    assert not failed and result["env_changed"] is True and not missing["env"].parent.exists()


def test_the_secret_is_masked_in_the_diff_and_nowhere_in_the_result(host: Dict[str, Path],
                                                                     alloy: Dict[str, Any]) -> None:
    failed, result = apply_env(host, {"fleet_x.alloy": B}, alloy, ROTATED)
    assert not failed
    path = str(host["env"])
    install = INSTALL_SECTION
    assert result["diff"][-1] == {
        "before_header": path, "after_header": path,
        "before": install + "# BEGIN fleet.alloy alloy_config (secret)\nFLEET_ALLOY_LOKI_0_PASSWORD=********\n"
                            "# END fleet.alloy alloy_config (secret)\n",
        "after": install + "# BEGIN fleet.alloy alloy_config (secret)\nFLEET_ALLOY_LOKI_0_PASSWORD=********\n"
                           "# END fleet.alloy alloy_config (secret)\n"}
    assert len(result["diff"]) == 2 and result["diff"][0]["before_header"] == str(host["live"] / "fleet_x.alloy")
    printed = json.dumps(result)
    for secret in (SECRET, ROTATED):
        assert secret not in printed and json.dumps(secret)[1:-1] not in printed


def test_the_result_itself_holds_no_secret(host: Dict[str, Path], alloy: Dict[str, Any]) -> None:
    """Without AnsibleModule's scrubbing of no_log values: the module must not put them there."""
    from test_config_apply import FakeModule
    module = FakeModule({"path": str(host["live"]), "files": {"fleet_x.alloy": B}, "alloy_command": alloy["command"],
                         "env_file": str(host["env"]), "env_secrets": {"FLEET_ALLOY_LOKI_0_PASSWORD": ROTATED}})
    result = mod.ConfigApply(module).run()
    assert result["env_changed"] is True and read_var(host["env"]) == ROTATED
    printed = json.dumps(result)
    assert "FLEET_ALLOY_LOKI_0_PASSWORD=********" in printed
    for secret in (SECRET, ROTATED):
        assert secret not in printed and json.dumps(secret)[1:-1] not in printed


def test_no_secrets_remove_the_section_and_keep_the_file(host: Dict[str, Path], alloy: Dict[str, Any]) -> None:
    failed, result = apply(host["live"], {"fleet_x.alloy": A}, alloy, env_file=str(host["env"]))
    assert not failed and result["env_changed"] is True and host["env"].read_text() == INSTALL_SECTION
    fresh = host["env"].parent / "fresh.env"
    failed, result = apply(host["live"], {"fleet_x.alloy": A}, alloy, env_file=str(fresh))
    assert not failed and result["env_changed"] is True and fresh.read_text().startswith("# Managed by fleet.alloy")


def test_without_an_env_file_nothing_is_said_of_it(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    failed, result = apply(tmp_path / "c", {"fleet_x.alloy": A}, alloy, env_secrets={"A": ROTATED})
    assert not failed and result["env_changed"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alloy", "c", "calls.log"]


def test_another_section_name(host: Dict[str, Path], alloy: Dict[str, Any]) -> None:
    failed, result = apply_env(host, {"fleet_x.alloy": A}, alloy, ROTATED, env_section="docker_pipelines")
    assert not failed and result["env_changed"] is True
    assert host["env"].read_text() == update(env_text({"FLEET_ALLOY_LOKI_0_PASSWORD": SECRET}), "docker_pipelines",
                                             {"FLEET_ALLOY_LOKI_0_PASSWORD": ROTATED}, True)
    assert "# BEGIN fleet.alloy docker_pipelines (secret)\n" in host["env"].read_text()  # the other section is kept


@pytest.mark.parametrize("options,message", [
    ({"env_section": "alloy config"}, "env_section must be letters, digits and _, got 'alloy config'"),
    ({"env_secrets": {"A": "line\nbreak"}}, "%s: values must be one line without NUL characters"),
    ({"env_secrets": {"A-B": "x"}}, "%s: 'A-B' is not a valid environment variable name"),
])
def test_a_section_that_cannot_be_written_fails_before_any_change(tmp_path: Path, alloy: Dict[str, Any],
                                                                  options: Dict[str, Any], message: str) -> None:
    env = tmp_path / "alloy.env"
    failed, result = apply(tmp_path / "c", {"fleet_x.alloy": A}, alloy, env_file=str(env), **options)
    assert failed and result["msg"] == (message % env if "%s" in message else message)
    assert not (tmp_path / "c").exists() and not env.exists() and calls(alloy) == []


def test_the_env_files_directory_must_exist(tmp_path: Path, alloy: Dict[str, Any]) -> None:
    env = tmp_path / "missing" / "alloy.env"
    failed, result = apply(tmp_path / "c", {"fleet_x.alloy": A}, alloy, env_file=str(env),
                           env_secrets={"A": ROTATED})
    assert failed and result["msg"] == "the directory of %s does not exist" % env and not (tmp_path / "c").exists()


def test_the_env_files_attributes_are_the_tasks(host: Dict[str, Path], alloy: Dict[str, Any]) -> None:
    os.chmod(host["env"], 0o644)
    failed, result = apply_env(host, {"fleet_x.alloy": A}, alloy, SECRET, mode="0640")
    assert not failed and result["changed"] is True and result["env_changed"] is False
    assert stat.S_IMODE(host["env"].stat().st_mode) == 0o640
