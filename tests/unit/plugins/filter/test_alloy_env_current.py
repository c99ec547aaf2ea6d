"""alloy_env_current says "current" only where alloy_env would change nothing: for each env file below,
the filter on alloy_host_state's read of it agrees with alloy_env's own comparison (section_change),
and the read carries nothing of a secret's value, not even in a checksum."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict

import pytest
from ansible_collections.fleet.alloy.plugins.filter.alloy_host_state import (alloy_env_current, alloy_fact_current,
                                                                             alloy_file_current)
from ansible_collections.fleet.alloy.plugins.module_utils import envfile
from ansible_collections.fleet.alloy.plugins.module_utils.files import fact_text
from ansible_collections.fleet.alloy.plugins.modules.alloy_host_state import env_state, file_state

VALUES = {"CONFIG_FILE": "/etc/alloy/conf.d", "CUSTOM_ARGS": "--server.http.listen-addr=127.0.0.1:12345 --x=\"$y\"",
          "RESTART_ON_UPGRADE": "false"}
SECRET = "hunter2-s3cret"
WRITTEN = envfile.file_text("", False, "alloy_install", VALUES, False)
WITH_CONFIG = envfile.update(WRITTEN, "alloy_config", {"FLEET_ALLOY_LOKI_0_PASSWORD": SECRET}, True)

FILES: Dict[str, str] = {
    "as written": WRITTEN,
    "with the config's secret section": WITH_CONFIG,
    "the package's lines before it": "## Path:\nCUSTOM_OTHER=1\n" + WITH_CONFIG,
    "another value": envfile.file_text("", False, "alloy_install", dict(VALUES, RESTART_ON_UPGRADE="true"), False),
    "one key fewer": envfile.file_text("", False, "alloy_install", {"CONFIG_FILE": "/etc/alloy/conf.d"}, False),
    "a key set again outside": WRITTEN + "CONFIG_FILE=/etc/alloy/config.alloy\n",
    "an exported key outside": "export CUSTOM_ARGS=--x\n" + WRITTEN,
    "no last line end": WRITTEN.rstrip("\n"),
    "CRLF line ends": WRITTEN.replace("\n", "\r\n"),
    "no end marker": WRITTEN.replace("# END fleet.alloy alloy_install\n", ""),
    "the section marked secret": envfile.file_text("", False, "alloy_install", VALUES, True),
    "no section": "CONFIG_FILE=/etc/alloy/config.alloy\n",
    "empty": "",
    "twice, the first one old": envfile.file_text("", False, "alloy_install", dict(VALUES, RESTART_ON_UPGRADE="true"),
                                                  False) + WRITTEN.split("\n", 1)[1],
    "twice, the first one secret": envfile.file_text("", False, "alloy_install", VALUES, True)
    + WRITTEN.split("\n", 1)[1],
    "twice, the same": WRITTEN + WRITTEN.split("\n", 1)[1],
    "no end marker before a secret section": WITH_CONFIG.replace("# END fleet.alloy alloy_install\n", ""),
    "another owner's marker inside": WRITTEN.replace("# END fleet.alloy alloy_install\n",
                                                     "# END fleet.alloy alloy_config\n# END fleet.alloy alloy_install\n"),
}
CURRENT = ("as written", "with the config's secret section", "the package's lines before it", "CRLF line ends")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alloy"
    path.write_bytes(text.encode())
    path.chmod(0o640)
    return path


def read(path: Path) -> Dict[str, Any]:
    """alloy_host_state's read of the env file, its owner and group as the role sets them (root, alloy:
    the test runs as another user)."""
    found = env_state(str(path), "alloy_install")
    if found.get("exists"):
        found.update(owner="root", group="alloy")
    return found


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_filter_agrees_with_alloy_env(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, FILES[name])
    unchanged = not envfile.section_change(str(path), "alloy_install", VALUES, False).changed
    current = alloy_env_current(read(path), "alloy_install", VALUES, mode="0640", owner="root", group="alloy")
    assert current == unchanged or (not current and name == "twice, the same"), (name, read(path))
    assert current == (name in CURRENT), name


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_checksum_covers_a_secret_line(tmp_path: Path, name: str) -> None:
    """Whatever the file, the checksum the host gives is of the asked section's own lines, none of them
    secret; and no value of a secret section appears in the read."""
    found = read(write(tmp_path, FILES[name]))
    assert SECRET not in json.dumps(found)
    digest = (found.get("section") or {}).get("sha1")
    if digest:
        own = envfile.render_section("alloy_install", VALUES, False)
        candidates = {envfile.section_digest(own),
                      envfile.section_digest(envfile.render_section("alloy_install", {"CONFIG_FILE": "/etc/alloy/conf.d"},
                                                                    False)),
                      envfile.section_digest(envfile.render_section("alloy_install",
                                                                    dict(VALUES, RESTART_ON_UPGRADE="true"), False))}
        assert digest in candidates, name


def test_a_link_is_not_current(tmp_path: Path) -> None:
    """alloy_env sets the attributes of the link itself (it does not follow it): never skipped."""
    target = write(tmp_path, WRITTEN)
    link = tmp_path / "default-alloy"
    os.symlink(str(target), str(link))
    found = env_state(str(link), "alloy_install")
    assert found["link"] is True and found["canonical"] is False
    assert alloy_env_current(dict(found, owner="root", group="alloy"), "alloy_install", VALUES, group="alloy") is False
    state = file_state(str(link))
    assert alloy_file_current(state, WRITTEN, mode=state["mode"], owner=state["owner"], group=state["group"]) is False
    assert alloy_file_current(file_state(str(target)), WRITTEN, mode=state["mode"], owner=state["owner"],
                              group=state["group"]) is True


def test_attributes_count_and_a_missing_file_is_not_current(tmp_path: Path) -> None:
    found = read(write(tmp_path, WRITTEN))
    assert alloy_env_current(found, "alloy_install", VALUES, mode="0640", group="alloy") is True
    assert alloy_env_current(found, "alloy_install", VALUES, mode="0600", group="alloy") is False
    assert alloy_env_current(found, "alloy_install", VALUES, mode="0640", owner="nobody", group="alloy") is False
    assert alloy_env_current(found, "alloy_install", VALUES, mode="0640", group="grafana") is False
    assert alloy_env_current(read(tmp_path / "missing"), "alloy_install", VALUES) is False
    assert alloy_env_current(found, "alloy_install", dict(VALUES, BAD="a\nb"), mode="0640", group="alloy") is False
    assert alloy_env_current(found, "alloy_install", {}, mode="0640", group="alloy") is False


def test_the_read_gives_the_asked_section_only_and_no_whole_file_checksum(tmp_path: Path) -> None:
    path = write(tmp_path, WITH_CONFIG)
    found = read(path)
    assert found["section"] == {"found": True, "sha1": envfile.section_digest(
        envfile.render_section("alloy_install", VALUES, False))}
    assert "sha1" not in found and hashlib.sha1(path.read_bytes()).hexdigest() not in json.dumps(found)
    assert found["stray_keys"] == [] and found["canonical"] is True
    assert env_state(str(path), "alloy_config")["section"] == {"found": True}   # secret: found, no checksum


def test_a_file_that_is_not_utf8_is_not_current(tmp_path: Path) -> None:
    path = tmp_path / "alloy"
    path.write_bytes(WRITTEN.encode() + b"X=\xff\n")
    found = read(path)
    assert found["canonical"] is False
    assert alloy_env_current(found, "alloy_install", VALUES, group="alloy") is False


def test_a_local_fact_is_current_only_with_the_json_alloy_env_keeps(tmp_path: Path) -> None:
    runtime = {"kind": "systemd", "service": "alloy.service", "cluster": {"members": []}}
    path = tmp_path / "alloy_runtime.fact"
    path.write_text(fact_text(runtime))
    path.chmod(0o644)
    state = file_state(str(path))
    state.update(owner="root", group="root")   # as the role writes it (the test runs as another user)
    assert alloy_fact_current(state, runtime) is True
    assert alloy_fact_current(state, dict(runtime, service="other.service")) is False
    path.write_text(json.dumps(runtime))       # the same data, another text: alloy_env rewrites it
    assert alloy_fact_current(dict(file_state(str(path)), owner="root", group="root"), runtime) is False
