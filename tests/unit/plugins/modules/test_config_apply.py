"""alloy_config_apply's logic: plan, stage, validate with the stand-in, install, and the
rollback when a running Alloy refuses the reload (a real HTTP server on 127.0.0.1)."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import config_apply as ca
from ansible_collections.fleet.alloy.plugins.modules.alloy_config_apply import ConfigApply
from local_http import LocalServer

STANDINS = Path(__file__).resolve().parents[4] / "lab" / "standins"
GOOD = 'loki.echo "a" {\n}\n'
OTHER = 'loki.echo "b" {\n}\n'


class FakeModule:
    """What ConfigApply uses of AnsibleModule; commands really run."""

    def __init__(self, params: Dict[str, object], check_mode: bool = False) -> None:
        self.params = dict(dict(prefix="fleet_", expected=[], validate="auto", reload_url="", timeout=5, directory_mode="0750",
                                alloy_command=["env", f"PYTHONPATH={STANDINS}", "ALLOY_STANDIN_VERSION=1.10.0",
                                               sys.executable, "-m", "alloy_standin"],
                                env_file=None, env_section="alloy_config", env_secrets={}, reload_tls=None,
                                restart_on=[]), **params)
        self.check_mode = check_mode
        self.warnings: List[str] = []

    def run_command(self, cmd: List[str]) -> Tuple[int, str, str]:
        import subprocess
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return out.returncode, out.stdout, out.stderr

    def load_file_common_arguments(self, params: Dict[str, object], path: str = "") -> Dict[str, object]:
        return {"path": path}

    def set_fs_attributes_if_different(self, args: Dict[str, object], changed: bool) -> bool:
        return changed

    def warn(self, text: str) -> None:
        self.warnings.append(text)


@pytest.fixture()
def reload_server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.routes["/-/reload"] = (200, "config reloaded")
    yield srv
    srv.close()


def test_plan_writes_changes_and_removes_only_managed_files(tmp_path: Path) -> None:
    (tmp_path / "fleet_old.alloy").write_text(GOOD)
    (tmp_path / "fleet_same.alloy").write_text(GOOD)
    (tmp_path / "mine.alloy").write_text(OTHER)
    plan = ca.plan(str(tmp_path), {"fleet_same.alloy": GOOD, "fleet_new.alloy": GOOD}, "fleet_")
    assert list(plan.write) == ["fleet_new.alloy"] and plan.remove == ["fleet_old.alloy"]


def test_names_outside_the_prefix_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ca.ApplyError, match="mine.alloy"):
        ca.plan(str(tmp_path), {"mine.alloy": GOOD}, "fleet_")


@pytest.mark.parametrize("text,expected", [("alloy, version v1.10.0 (branch: HEAD)", "validate"),
                                           ("alloy, version v1.9.0 (", "validate"),
                                           ("alloy, version v1.8.3 (", "fmt")])
def test_validator_follows_the_version(text: str, expected: str) -> None:
    assert ca.validator_for(ca.parse_version(text)) == expected


def test_unreadable_version_is_an_error() -> None:
    with pytest.raises(ca.ApplyError, match="cannot read the Alloy version"):
        ca.parse_version("command not found")


def test_users_files_are_validated_with_ours(tmp_path: Path) -> None:
    live = tmp_path / "conf.d"
    live.mkdir()
    (live / "mine.alloy").write_text('loki.echo "a" {\n}\n')  # clashes with ours
    module = FakeModule({"path": str(live), "files": {"fleet_x.alloy": GOOD}})
    with pytest.raises(ca.ApplyError, match="refused the new configuration"):
        ConfigApply(module).run()
    assert not (live / "fleet_x.alloy").exists()


def test_check_mode_validates_but_writes_nothing(tmp_path: Path) -> None:
    live = tmp_path / "conf.d"
    module = FakeModule({"path": str(live), "files": {"fleet_x.alloy": 'x "y" {\n'}}, check_mode=True)
    with pytest.raises(ca.ApplyError, match="fleet_x.alloy:2:1"):
        ConfigApply(module).run()
    good = FakeModule({"path": str(live), "files": {"fleet_x.alloy": GOOD}}, check_mode=True)
    result = ConfigApply(good).run()
    assert result["changed"] and result["written"] == ["fleet_x.alloy"] and not live.exists()


def test_reload_success(tmp_path: Path, reload_server: LocalServer) -> None:
    live = tmp_path / "conf.d"
    result = ConfigApply(FakeModule({"path": str(live), "files": {"fleet_x.alloy": GOOD},
                                     "reload_url": reload_server.url + "/-/reload"})).run()
    assert result["reloaded"] and result["reload_message"] == "config reloaded"
    again = ConfigApply(FakeModule({"path": str(live), "files": {"fleet_x.alloy": GOOD},
                                    "reload_url": reload_server.url + "/-/reload"})).run()
    assert not again["changed"] and len(reload_server.requests) == 1


def test_refused_reload_puts_the_previous_files_back(tmp_path: Path, reload_server: LocalServer) -> None:
    live = tmp_path / "conf.d"
    live.mkdir()
    (live / "fleet_keep.alloy").write_text(GOOD)
    (live / "fleet_gone.alloy").write_text(OTHER)
    before = {p.name: p.read_text() for p in live.iterdir()}
    reload_server.routes["/-/reload"] = (400, "error: component x does not exist")
    module = FakeModule({"path": str(live), "files": {"fleet_keep.alloy": OTHER, "fleet_new.alloy": GOOD},
                         "reload_url": reload_server.url + "/-/reload"})
    with pytest.raises(ca.ApplyError, match="HTTP 400: error: component x does not exist"):
        ConfigApply(module).run()
    assert {p.name: p.read_text() for p in live.iterdir()} == before


def test_alloy_not_running_keeps_the_files(tmp_path: Path) -> None:
    live = tmp_path / "conf.d"
    result = ConfigApply(FakeModule({"path": str(live), "files": {"fleet_x.alloy": GOOD},
                                     "reload_url": "http://127.0.0.1:9/-/reload"})).run()
    assert not result["reloaded"] and "connection refused" in result["reload_message"]
    assert (live / "fleet_x.alloy").read_text() == GOOD
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".fleet-alloy-staging")]


def test_a_pipeline_that_did_not_render_fails_before_any_change(tmp_path: Path) -> None:
    live = tmp_path / "conf.d"
    live.mkdir()
    (live / "fleet_journal.alloy").write_text(GOOD)
    module = FakeModule({"path": str(live), "files": {"fleet_00_logging.alloy": GOOD},
                         "expected": ["fleet_00_logging.alloy", "fleet_journal.alloy"]})
    with pytest.raises(ca.ApplyError, match=r"^fleet_journal.alloy did not render \(no content given\): nothing "
                                            r"was changed in "):
        ConfigApply(module).run()
    assert sorted(p.name for p in live.iterdir()) == ["fleet_journal.alloy"]


def test_a_missing_directory_made_is_a_change_even_without_files(tmp_path: Path) -> None:
    result = ConfigApply(FakeModule({"path": str(tmp_path / "conf.d"), "files": {}})).run()
    assert result["changed"] is True and (tmp_path / "conf.d").is_dir()
    again = ConfigApply(FakeModule({"path": str(tmp_path / "conf.d"), "files": {}})).run()
    assert again["changed"] is False and again["reloaded"] is False and again["validator"] == ""


def test_a_configuration_file_where_the_directory_goes_is_refused_unchanged(tmp_path: Path) -> None:
    config = tmp_path / "config.river"
    config.write_text(GOOD)
    with pytest.raises(ca.ApplyError, match="config.river is a file: the pipelines go into a directory"):
        ConfigApply(FakeModule({"path": str(config), "files": {"fleet_x.alloy": GOOD}})).run()
    assert config.read_text() == GOOD


def test_staging_is_made_beside_the_directory_even_with_a_trailing_slash(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    made: List[object] = []
    real = tempfile.mkdtemp

    def mkdtemp(**kwargs: Any) -> str:
        made.append(kwargs.get("dir"))
        return real(**kwargs)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    ConfigApply(FakeModule({"path": str(tmp_path / "conf.d") + "/", "files": {"fleet_x.alloy": GOOD}})).run()
    assert made == [str(tmp_path)]


# The record of what runs (alloy_config's alloy_pipelines, plugin_utils/pipelines.py): kept as a local
# fact once the configuration is in place, returned as the fact; bookkeeping, never a change by itself.
RECORD = {"pipelines": ["journal"], "backends": {"loki": "query"}, "instance": "web-01"}


def _recorded(tmp_path: Path, record: Dict[str, object], check_mode: bool = False,
              files: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    return ConfigApply(FakeModule({"path": str(tmp_path / "conf.d"), "files": files or {"fleet_x.alloy": GOOD},
                                   "record": record, "record_path": str(tmp_path / "facts.d" / "alloy_pipelines.fact")},
                                  check_mode=check_mode)).run()


def test_the_record_is_kept_as_a_local_fact_and_returned(tmp_path: Path) -> None:
    fact = tmp_path / "facts.d" / "alloy_pipelines.fact"
    first = _recorded(tmp_path, RECORD)
    assert first["ansible_facts"] == {"alloy_pipelines": RECORD} and first["record_changed"] is True
    assert json.loads(fact.read_text()) == RECORD
    assert first["diff"][-1]["after_header"] == str(fact)
    again = _recorded(tmp_path, RECORD)
    assert again["changed"] is False and again["record_changed"] is False and "diff" not in again
    assert again["ansible_facts"] == {"alloy_pipelines": RECORD}
    # a new record alone: kept, but no change (nothing Alloy runs changed)
    other = dict(RECORD, backends={"loki": "delivery"})
    third = _recorded(tmp_path, other)
    assert third["changed"] is False and third["record_changed"] is True and json.loads(fact.read_text()) == other


def test_check_mode_returns_the_record_without_keeping_it(tmp_path: Path) -> None:
    result = _recorded(tmp_path, RECORD, check_mode=True)
    assert result["ansible_facts"] == {"alloy_pipelines": RECORD} and result["record_changed"] is True
    assert not (tmp_path / "facts.d").exists()


def test_a_refused_configuration_records_nothing(tmp_path: Path) -> None:
    with pytest.raises(ca.ApplyError, match="refused the new configuration"):
        _recorded(tmp_path, RECORD, files={"fleet_x.alloy": 'x "y" {\n'})
    assert not (tmp_path / "facts.d").exists()


def test_without_a_record_no_fact(tmp_path: Path) -> None:
    result = ConfigApply(FakeModule({"path": str(tmp_path / "conf.d"), "files": {"fleet_x.alloy": GOOD}})).run()
    assert "ansible_facts" not in result and "record_changed" not in result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf.d"]


def test_a_record_that_cannot_be_kept_warns_and_leaves_the_apply_done(tmp_path: Path) -> None:
    # The configuration is live when the record is written: a failure there must not hide that
    # (a failed task would skip the restart the env file may need).
    (tmp_path / "facts.d").write_text("a file where the directory should be\n")
    module = FakeModule({"path": str(tmp_path / "conf.d"), "files": {"fleet_x.alloy": GOOD}, "record": RECORD,
                         "record_path": str(tmp_path / "facts.d" / "alloy_pipelines.fact")})
    result = ConfigApply(module).run()
    assert result["changed"] is True and result["record_changed"] is False
    assert result["ansible_facts"] == {"alloy_pipelines": RECORD}
    assert (tmp_path / "conf.d" / "fleet_x.alloy").read_text() == GOOD
    assert len(module.warnings) == 1 and "could not be kept" in module.warnings[0]
