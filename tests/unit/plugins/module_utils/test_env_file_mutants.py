"""Alloy's env file: the sections (module_utils/envfile.py), the private write every
module uses (module_utils/files.py) and the alloy_env module run in this process. Written
against the survivors of ./dev mutate (docs/testing.md)."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import envfile as ef
from ansible_collections.fleet.alloy.plugins.module_utils import files
from ansible_collections.fleet.alloy.plugins.modules import alloy_env
from module_main import documented_argument_spec, run_main


# --- envfile.py --------------------------------------------------------------------------------

@pytest.mark.parametrize("value,quoted", [(True, '"true"'), (False, '"false"'), (0, '"0"'), (1.5, '"1.5"'),
                                          ('a"b\\c$d', '"a\\"b\\\\c\\$d"'), ('a"b\\c$d`e', "'a\"b\\c$d`e'"), ("", '""')])
def test_values_are_quoted_as_systemd_and_sh_read_them(value: object, quoted: str) -> None:
    assert ef.quote(value) == quoted


def test_a_section_is_sorted_between_its_markers() -> None:
    assert ef.render_section("alloy_config", {"B": "2", "A": 1}, True) == [
        "# BEGIN fleet.alloy alloy_config (secret)", 'A="1"', 'B="2"', "# END fleet.alloy alloy_config (secret)"]
    assert ef.render_section("alloy_install", {}, False) == [
        "# BEGIN fleet.alloy alloy_install", "# END fleet.alloy alloy_install"]
    for key in ("1A", "A-B", "A B", ""):
        with pytest.raises(ef.EnvFileError, match="is not a valid environment variable name"):
            ef.render_section("x", {key: "v"}, False)
    assert ef.render_section("x", {"_a1": "v"}, False)[1] == '_a1="v"'


def test_a_key_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ef.EnvFileError):
        ef.render_section("x", {"A\n": "v"}, False)


def test_split_finds_sections_their_secrecy_and_the_lines_between() -> None:
    text = ("# head\nA=1\n# BEGIN fleet.alloy one\nB=2\n# BEGIN fleet.alloy two\n# END fleet.alloy one\n"
            "C=3\n# BEGIN fleet.alloy two (secret)\nS=4\n# END fleet.alloy two (secret)\n"
            "# BEGIN fleet.alloy open\nD=5\n")
    assert ef.split(text) == [
        (None, False, ["# head", "A=1"]),
        ("one", False, ["# BEGIN fleet.alloy one", "B=2", "# BEGIN fleet.alloy two", "# END fleet.alloy one"]),
        (None, False, ["C=3"]),
        ("two", True, ["# BEGIN fleet.alloy two (secret)", "S=4", "# END fleet.alloy two (secret)"]),
        ("open", False, ["# BEGIN fleet.alloy open", "D=5"]),
    ]
    assert ef.split("# BEGIN fleet.alloy bad-name\nX=1\n") == [(None, False, ["# BEGIN fleet.alloy bad-name", "X=1"])]


def test_update_appends_a_new_section_after_the_existing_text() -> None:
    text = ef.update("KEEP=1\n# note\n", "alloy_install", {"A": "x"}, False)
    assert text == 'KEEP=1\n# note\n# BEGIN fleet.alloy alloy_install\nA="x"\n# END fleet.alloy alloy_install\n'


def test_update_writes_the_header_into_an_empty_or_blank_file() -> None:
    section = '# BEGIN fleet.alloy s\nA="x"\n# END fleet.alloy s\n'
    assert ef.update("", "s", {"A": "x"}, False) == ef.HEADER + section
    assert ef.update("\n  \n", "s", {"A": "x"}, False) == ef.HEADER + section


def test_update_replaces_the_section_in_place_and_removes_overridden_lines_outside_sections() -> None:
    text = ("export A=old\nB=keep\n  C=old\n# BEGIN fleet.alloy s\nA=\"1\"\n# END fleet.alloy s\n"
            "# BEGIN fleet.alloy other\nA=\"theirs\"\n# END fleet.alloy other\nTAIL=1\n")
    assert ef.update(text, "s", {"A": "2", "C": "3"}, False) == (
        'B=keep\n# BEGIN fleet.alloy s\nA="2"\nC="3"\n# END fleet.alloy s\n'
        '# BEGIN fleet.alloy other\nA="theirs"\n# END fleet.alloy other\nTAIL=1\n')


def test_update_removes_an_emptied_section_and_keeps_the_rest() -> None:
    text = "X=1\n# BEGIN fleet.alloy s\nA=\"1\"\n# END fleet.alloy s\n"
    assert ef.update(text, "s", {}, False) == "X=1\n"
    assert ef.update("# BEGIN fleet.alloy s\nA=\"1\"\n# END fleet.alloy s\n", "s", {}, False) == ""


def test_a_missing_file_gets_at_least_the_header() -> None:
    assert ef.file_text("", False, "s", {}, False) == ef.HEADER
    assert ef.file_text("X=1\n", True, "s", {}, False) == "X=1\n"


def test_masked_hides_every_value_of_every_secret_section() -> None:
    text = ("A=plain\n# BEGIN fleet.alloy one (secret)\nP1=\"s1\"\nexport P2=\"s2\"\n# comment\nP3=\"s3\"\n"
            "# END fleet.alloy one (secret)\n# BEGIN fleet.alloy two\nV=\"shown\"\n# END fleet.alloy two\n"
            "# BEGIN fleet.alloy three (secret)\nT=\"s4\"\n# END fleet.alloy three (secret)\n")
    assert ef.masked(text) == (
        "A=plain\n# BEGIN fleet.alloy one (secret)\nP1=********\nP2=********\n# comment\nP3=********\n"
        "# END fleet.alloy one (secret)\n# BEGIN fleet.alloy two\nV=\"shown\"\n# END fleet.alloy two\n"
        "# BEGIN fleet.alloy three (secret)\nT=********\n# END fleet.alloy three (secret)\n")
    assert ef.masked("") == ""


# --- files.write_private -------------------------------------------------------------------------

class Module:
    """What write_private uses of AnsibleModule; records the temporary file as it is before the rename."""

    def __init__(self, params: Dict[str, Any] | None = None) -> None:
        self.params = params or {"mode": None}
        self.seen: List[Tuple[str, int, str, Dict[str, Any], bool]] = []

    def load_file_common_arguments(self, params: Dict[str, Any], path: str = "") -> Dict[str, Any]:
        return dict(params, path=path)

    def set_fs_attributes_if_different(self, args: Dict[str, Any], changed: bool) -> bool:
        path = args["path"]
        self.seen.append((path, stat.S_IMODE(os.stat(path).st_mode), Path(path).read_text(), args, changed))
        return changed


def test_a_new_file_is_written_through_a_private_temporary_file(tmp_path: Path) -> None:
    module = Module({"mode": "0640"})
    target = tmp_path / "alloy"
    files.write_private(module, str(target), "SECRET=1\n")
    tmp, mode, text, args, changed = module.seen[0]
    assert tmp == str(tmp_path / ".alloy.fleet-alloy.tmp") and mode == 0o600 and text == "SECRET=1\n"
    assert args["mode"] == "0640" and changed is False
    assert target.read_text() == "SECRET=1\n" and not Path(tmp).exists()


def test_an_existing_file_lends_its_owner_and_mode_before_the_rename(tmp_path: Path) -> None:
    target = tmp_path / "alloy"
    target.write_text("OLD=1\n")
    os.chmod(target, 0o640)
    if os.geteuid() == 0:
        os.chown(target, 4321, 4322)
    module = Module()
    files.write_private(module, str(target), "NEW=1\n")
    assert module.seen[0][1] == 0o640
    assert target.read_text() == "NEW=1\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    if os.geteuid() == 0:
        assert (target.stat().st_uid, target.stat().st_gid) == (4321, 4322)


def test_a_file_name_without_a_directory_is_written_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = Module()
    files.write_private(module, "envfile", "A=1\n")
    assert module.seen[0][0] == "./.envfile.fleet-alloy.tmp" and (tmp_path / "envfile").read_text() == "A=1\n"


# --- the alloy_env module ------------------------------------------------------------------------

def test_alloy_env_writes_the_section_privately_with_the_task_mode(tmp_path: Path) -> None:
    env = tmp_path / "alloy"
    failed, result = run_main(alloy_env.main, {"path": str(env), "section": "alloy_install", "mode": "0640",
                                               "values": {"CONFIG_FILE": "/etc/alloy/conf.d", "B": 1}})
    assert not failed and result["changed"] is True
    assert (result["keys"], result["secret"]) == (["B", "CONFIG_FILE"], False)
    assert env.read_text() == ef.update("", "alloy_install", {"CONFIG_FILE": "/etc/alloy/conf.d", "B": 1}, False)
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    failed, again = run_main(alloy_env.main, {"path": str(env), "section": "alloy_install", "mode": "0640",
                                              "values": {"CONFIG_FILE": "/etc/alloy/conf.d", "B": 1}})
    assert not failed and again["changed"] is False


def test_alloy_env_only_a_mode_change_is_a_change(tmp_path: Path) -> None:
    env = tmp_path / "alloy"
    run_main(alloy_env.main, {"path": str(env), "section": "s", "values": {"A": "1"}, "mode": "0640"})
    failed, result = run_main(alloy_env.main, {"path": str(env), "section": "s", "values": {"A": "1"},
                                               "mode": "0600"})
    assert not failed and result["changed"] is True and stat.S_IMODE(env.stat().st_mode) == 0o600


def test_alloy_env_secret_values_are_masked_in_the_diff(tmp_path: Path) -> None:
    env = tmp_path / "alloy"
    env.write_text("# BEGIN fleet.alloy alloy_config (secret)\nOLD=\"gone-secret\"\n# END fleet.alloy alloy_config "
                   "(secret)\n")
    failed, result = run_main(alloy_env.main, {"path": str(env), "section": "alloy_config",
                                               "values": {"PLAIN": "p"}, "secret_values": {"PW": "hunter2"}},
                              diff=True)
    assert not failed and result["secret"] is True and result["keys"] == ["PLAIN", "PW"]
    diff = result["diff"]
    assert (diff["before_header"], diff["after_header"]) == (str(env), str(env))
    assert "gone-secret" not in diff["before"] and "OLD=********" in diff["before"]
    assert "hunter2" not in diff["after"] and "PW=********" in diff["after"] and "PLAIN=********" in diff["after"]
    assert 'PW="hunter2"' in env.read_text()


def test_alloy_env_check_mode_writes_nothing(tmp_path: Path) -> None:
    env = tmp_path / "alloy"
    failed, result = run_main(alloy_env.main, {"path": str(env), "section": "s", "values": {"A": "1"}},
                              check_mode=True)
    assert not failed and result["changed"] is True and not env.exists()
    failed, result = run_main(alloy_env.main, {"path": str(tmp_path / "no" / "alloy"), "section": "s",
                                               "values": {"A": "1"}}, check_mode=True)
    assert not failed and result["changed"] is True


def test_alloy_env_refusals(tmp_path: Path) -> None:
    failed, result = run_main(alloy_env.main, {"path": str(tmp_path / "e"), "section": "alloy-config"})
    assert failed and result["msg"] == "section must be letters, digits and _, got 'alloy-config'"
    failed, result = run_main(alloy_env.main, {"path": str(tmp_path / "no" / "e"), "section": "s"})
    assert failed and result["msg"] == "the directory of %s does not exist" % (tmp_path / "no" / "e")
    failed, result = run_main(alloy_env.main, {"path": str(tmp_path / "e"), "section": "s",
                                               "values": {"A": "two\nlines"}})
    assert failed and result["msg"] == "%s: values must be one line without NUL characters" % (tmp_path / "e")
    assert not (tmp_path / "e").exists()


def test_alloy_env_creates_a_missing_file_even_for_an_empty_section(tmp_path: Path) -> None:
    env = tmp_path / "alloy"
    failed, result = run_main(alloy_env.main, {"path": str(env), "section": "s"})
    assert not failed and result["changed"] is True and env.read_text() == ef.HEADER


def test_alloy_env_documents_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = documented_argument_spec(alloy_env, monkeypatch)
    assert seen["add_file_common_args"] is True and seen["supports_check_mode"] is True
    assert seen["argument_spec"]["secret_values"].get("no_log") is True
