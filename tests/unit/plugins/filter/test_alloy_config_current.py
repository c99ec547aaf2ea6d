"""alloy_config_current (the apply skipped on the controller) agrees with alloy_config_apply itself: on a
host left as the apply leaves it, the filter says current and the apply (check mode) changes nothing; after
each change of what is wanted or of the host, the filter says not current and the apply does change
something. The host is read by alloy_host_state's own functions; the secret section leaves it as an HMAC
under the run's key, and a read under another key never vouches for it."""
from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.filter import alloy_host_state as filters
from ansible_collections.fleet.alloy.plugins.modules import alloy_host_state as reader
from ansible_collections.fleet.alloy.plugins.modules.alloy_config_apply import ConfigApply
from ansible_collections.fleet.alloy.plugins.plugin_utils import host_state

RUN_KEY, HOST = "5" * 64, "web-01"
ME = pwd.getpwuid(os.geteuid()).pw_name
GROUP = grp.getgrgid(os.getegid()).gr_name
FILES = {"fleet_loki.alloy": 'loki.echo "a" {\n}\n', "fleet_self.alloy": 'prometheus.exporter.self "a" {\n}\n'}
SECRETS = {"ALLOY_LOKI_PASSWORD": "s3cr$t `x`", "ALLOY_PROM_TOKEN": "t0ken"}
RECORD = {"instance": "web-01", "pipelines": ["journal"], "backends": ["loki"]}


class AttributeModule:
    """What ConfigApply uses of AnsibleModule, with real file attributes: the mode the task gives is set, and
    a change of it counts (as set_fs_attributes_if_different does)."""

    def __init__(self, params: Dict[str, object], check_mode: bool) -> None:
        self.params = dict(dict(prefix="fleet_", expected=[], validate="none", reload_url="", timeout=5,
                                directory_mode="0750", alloy_command=["alloy"], env_section="alloy_config",
                                reload_tls=None, restart_on=[]), **params)
        self.check_mode = check_mode

    def load_file_common_arguments(self, params: Dict[str, object], path: str = "") -> Dict[str, object]:
        return {"path": path, "mode": params.get("mode")}

    def set_fs_attributes_if_different(self, args: Dict[str, object], changed: bool) -> bool:
        mode, path = args.get("mode"), str(args["path"])
        if mode is None or not os.path.exists(path):
            return changed
        wanted = int(str(mode), 8)
        if stat.S_IMODE(os.stat(path).st_mode) == wanted:
            return changed
        if not self.check_mode:
            os.chmod(path, wanted)
        return True

    def warn(self, text: str) -> None:
        raise AssertionError(text)


class Host:
    """A configuration directory, an env file (with alloy_install's section) and the record, in tmp_path."""

    def __init__(self, root: Path) -> None:
        self.config_dir, self.env_file, self.record = root / "conf.d", root / "alloy.env", root / "facts.d" / "p.fact"
        self.config_dir.mkdir()
        self.env_file.write_text("# BEGIN fleet.alloy alloy_install\nCONFIG_FILE=\"/etc/alloy/conf.d\"\n"
                                 "# END fleet.alloy alloy_install\n")
        self.env_file.chmod(0o640)
        self.runtime = {"config_dir": str(self.config_dir), "env_file": str(self.env_file), "config_group": GROUP}

    def apply(self, files: Dict[str, str], secrets: Dict[str, str], record: Dict[str, Any],
              check_mode: bool = False) -> Dict[str, Any]:
        module = AttributeModule(dict(path=str(self.config_dir), files=files, env_file=str(self.env_file),
                                      env_secrets=secrets, record=record, record_path=str(self.record), mode="0640"),
                                 check_mode)
        return ConfigApply(module).run()

    def read(self, key: str = "") -> Dict[str, Any]:
        """What the preflight's read returns of it (host_state.config_probe's options), under HOST's key."""
        key = key or host_state.host_key(HOST)
        return {"config": reader.config_state(str(self.config_dir), "fleet_"),
                "env": reader.env_state(str(self.env_file), "alloy_install", "alloy_config", key),
                "files": {"pipelines_fact": reader.file_state(str(self.record))}}


@pytest.fixture()
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    monkeypatch.setattr(host_state, "run_key", lambda create=True: RUN_KEY)
    found = Host(tmp_path)
    found.apply(FILES, SECRETS, RECORD)
    return found


def current(host: Host, files: Dict[str, str] = FILES, secrets: Dict[str, str] = SECRETS,
            record: Dict[str, Any] = RECORD, **read: Any) -> bool:
    return filters.alloy_config_current(host.read(**read), host.runtime, files, secrets, record, HOST, "0640", ME)


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the record is root's, as alloy_config_apply keeps it")


def test_a_host_as_the_apply_left_it_is_current_and_the_apply_changes_nothing(host: Host) -> None:
    assert current(host) is True
    assert host.apply(FILES, SECRETS, RECORD, check_mode=True)["changed"] is False
    # the HMAC, not the values, is what left the host
    section = host.read()["env"]["secret_section"]
    assert set(section) == {"found", "hmac"} and "s3cr" not in str(host.read())


WANTED: Dict[str, Tuple[Dict[str, str], Dict[str, str], Dict[str, Any]]] = {
    "a file's content": (dict(FILES, **{"fleet_loki.alloy": 'loki.echo "b" {\n}\n'}), SECRETS, RECORD),
    "a new file": (dict(FILES, **{"fleet_unix.alloy": "// unix\n"}), SECRETS, RECORD),
    "a file no longer wanted": ({"fleet_loki.alloy": FILES["fleet_loki.alloy"]}, SECRETS, RECORD),
    "a secret's value": (FILES, dict(SECRETS, ALLOY_PROM_TOKEN="rotated"), RECORD),
    "a new secret": (FILES, dict(SECRETS, ALLOY_OTLP_TOKEN="x"), RECORD),
    "no secret any more": (FILES, {}, RECORD),
    "the record": (FILES, SECRETS, dict(RECORD, pipelines=["journal", "unix"])),
}


@pytest.mark.parametrize("what", sorted(WANTED))
def test_what_is_wanted_changes_the_filter_and_the_apply_agree(host: Host, what: str) -> None:
    files, secrets, record = WANTED[what]
    assert current(host, files, secrets, record) is False
    applied = host.apply(files, secrets, record, check_mode=True)
    assert applied["changed"] or applied.get("record_changed"), applied


def _edit_section(host: Host) -> None:
    host.env_file.write_text(host.env_file.read_text().replace("t0ken", "other"))


def _stray_key(host: Host) -> None:
    host.env_file.write_text(host.env_file.read_text() + "ALLOY_PROM_TOKEN=old\n")


def _not_secret(host: Host) -> None:
    host.env_file.write_text(host.env_file.read_text().replace("alloy_config (secret)", "alloy_config"))


HOST_CHANGES: Dict[str, Callable[[Host], Any]] = {
    "a file edited by hand": lambda h: (h.config_dir / "fleet_loki.alloy").write_text("// mine\n"),
    "a file's mode": lambda h: (h.config_dir / "fleet_loki.alloy").chmod(0o644),
    "a file of the writer's left behind": lambda h: (h.config_dir / "fleet_old.alloy").write_text("// old\n"),
    "a file removed": lambda h: (h.config_dir / "fleet_self.alloy").unlink(),
    "the section edited by hand": _edit_section,
    "a key of the section assigned outside it": _stray_key,
    "the section no longer marked secret": _not_secret,
    "the env file's mode": lambda h: h.env_file.chmod(0o644),
    "the record edited": lambda h: h.record.write_text("{}\n"),
    "the env file removed": lambda h: h.env_file.unlink(),
    "the configuration directory removed": lambda h: [p.unlink() for p in h.config_dir.iterdir()] + [h.config_dir.rmdir()],
    "a file with CR LF line ends": lambda h: (h.config_dir / "fleet_loki.alloy").write_bytes(
        FILES["fleet_loki.alloy"].replace("\n", "\r\n").encode()),
}


@pytest.mark.parametrize("what", sorted(HOST_CHANGES))
def test_a_host_changed_since_the_apply_is_not_current_and_the_apply_mends_it(host: Host, what: str) -> None:
    HOST_CHANGES[what](host)
    assert current(host) is False
    applied = host.apply(FILES, SECRETS, RECORD, check_mode=True)
    assert applied["changed"] or applied.get("record_changed"), applied


def test_the_users_own_files_are_not_the_writers(host: Host) -> None:
    (host.config_dir / "mine.alloy").write_text("// the user's\n")
    assert current(host) is True
    assert host.apply(FILES, SECRETS, RECORD, check_mode=True)["changed"] is False


def test_a_wanted_file_with_cr_lf_line_ends_is_compared_as_it_is(host: Host) -> None:
    """A snippet with CR LF line ends: written once, then the host has it (the apply reads files as they are)."""
    files = dict(FILES, **{"fleet_snippet_crlf.alloy": "// one\r\n// two\r\n"})
    assert current(host, files) is False and host.apply(files, SECRETS, RECORD)["changed"] is True
    assert current(host, files) is True
    assert host.apply(files, SECRETS, RECORD, check_mode=True)["changed"] is False


def test_what_the_filter_alone_checks_of_the_read(host: Host) -> None:
    """A file's group (the fake module sets modes only) and a symbolic link (the writer's file replaced by one)."""
    state = host.read()
    state["config"]["files"]["fleet_loki.alloy"]["group"] = "another-group"
    assert filters.alloy_config_current(state, host.runtime, FILES, SECRETS, RECORD, HOST, "0640", ME) is False
    state = host.read()
    state["env"]["owner"] = "nobody"
    assert filters.alloy_config_current(state, host.runtime, FILES, SECRETS, RECORD, HOST, "0640", ME) is False
    (host.config_dir / "target").write_text(FILES["fleet_loki.alloy"])
    (host.config_dir / "fleet_loki.alloy").unlink()
    (host.config_dir / "fleet_loki.alloy").symlink_to(host.config_dir / "target")
    assert current(host) is False


def test_no_secret_and_no_section_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_state, "run_key", lambda create=True: "")   # no key is needed then
    found = Host(tmp_path)
    found.apply(FILES, {}, RECORD)
    assert current(found, secrets={}) is True
    assert current(found) is False


def test_a_read_the_filter_cannot_vouch_for_is_never_current(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    assert current(host, key="another run's key") is False
    assert current(host, key=host_state.host_key("web-02")) is False   # another host's key
    assert host_state.host_key("web-02") != host_state.host_key(HOST) and RUN_KEY not in host_state.host_key(HOST)
    state = host.read()
    monkeypatch.setattr(host_state, "run_key", lambda create=True: "")
    assert filters.alloy_config_current(state, host.runtime, FILES, SECRETS, RECORD, HOST, "0640", ME) is False
    monkeypatch.setattr(host_state, "run_key", lambda create=True: RUN_KEY)
    for runtime in (dict(host.runtime, config_dir="/etc/alloy/other"), dict(host.runtime, env_file="/etc/default/other"),
                    dict(host.runtime, config_group="nogroup-of-this-host")):
        assert filters.alloy_config_current(state, runtime, FILES, SECRETS, RECORD, HOST, "0640", ME) is False
    assert filters.alloy_config_current({}, host.runtime, FILES, SECRETS, RECORD, HOST, "0640", ME) is False   # no read
    assert filters.alloy_config_current(state, host.runtime, FILES, SECRETS, RECORD, HOST, "0600", ME) is False
    # a pipeline that did not render (a name expected, no content) is left to the apply, which refuses it
    assert filters.alloy_config_current(state, host.runtime, FILES, SECRETS, RECORD, HOST, "0640", ME,
                                        expected=list(FILES) + ["fleet_unix.alloy"]) is False
