"""Env file sections: what systemd and sh read back, other owners kept, secrets masked."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import envfile
from ansible_collections.fleet.alloy.plugins.module_utils.envfile import (
    EnvFileError, HEADER, MASK, file_text, masked, quote, split, update,
)

PACKAGE_DEFAULT = 'CONFIG_FILE="/etc/alloy/config.alloy"\nCUSTOM_ARGS=""\nRESTART_ON_UPGRADE=true\n'


def sh_value(text: str, key: str, tmp_path: Path) -> str:
    env = tmp_path / "env"
    env.write_text(text)
    return subprocess.run(["sh", "-c", f'. {env}; printf %s "${key}"'], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("value", ['plain', 'with "quotes"', "it's", "$HOME and `id`", "back\\slash\\", "",
                                   "日本語", "trailing space "])
def test_values_come_back_unchanged_through_sh(value: str, tmp_path: Path) -> None:
    assert sh_value(update("", "me", {"K": value}, False), "K", tmp_path) == value


@pytest.mark.parametrize("value", ["two\nlines", "cr\r", "nul\0"])
def test_values_that_cannot_be_written_are_refused(value: str) -> None:
    with pytest.raises(EnvFileError):
        quote(value)


def test_bad_keys_are_refused() -> None:
    with pytest.raises(EnvFileError, match="not a valid"):
        update("", "me", {"BAD-KEY": "x"}, False)


def test_package_assignments_are_replaced_by_the_section(tmp_path: Path) -> None:
    text = update(PACKAGE_DEFAULT, "alloy_install", {"CONFIG_FILE": "/etc/alloy/conf.d", "RESTART_ON_UPGRADE": False},
                  False)
    assert text.count("CONFIG_FILE=") == 1 and text.count("RESTART_ON_UPGRADE=") == 1
    assert 'CUSTOM_ARGS=""' in text  # not set by the section: kept
    assert sh_value(text, "RESTART_ON_UPGRADE", tmp_path) == "false"


def test_sections_of_other_owners_are_kept_and_updates_are_idempotent() -> None:
    one = update(PACKAGE_DEFAULT, "alloy_install", {"CONFIG_FILE": "/c"}, False)
    two = update(one, "alloy_config", {"TOKEN": "t0p"}, True)
    three = update(two, "alloy_install", {"CONFIG_FILE": "/d"}, False)
    assert "TOKEN=\"t0p\"" in three and 'CONFIG_FILE="/d"' in three
    assert update(three, "alloy_install", {"CONFIG_FILE": "/d"}, False) == three
    assert [owner for owner, _, _ in split(three) if owner] == ["alloy_install", "alloy_config"]


def test_an_empty_section_is_removed() -> None:
    two = update(update("", "a", {"X": "1"}, False), "b", {"S": "s"}, True)
    assert "S=" not in update(two, "b", {}, True)
    assert update("", "b", {}, True) == ""


def test_a_missing_file_is_created_even_for_an_empty_section() -> None:
    assert file_text("", False, "b", {}, False) == HEADER
    assert file_text("", True, "b", {}, False) == ""
    assert file_text("", False, "b", {"X": "1"}, False) == update("", "b", {"X": "1"}, False)


def test_masked_hides_every_secret_section_whoever_asks() -> None:
    text = update(update("", "alloy_install", {"CONFIG_FILE": "/c"}, False), "alloy_config", {"PW": "hunter2"}, True)
    shown = masked(text)
    assert "hunter2" not in shown and f"PW={MASK}" in shown and 'CONFIG_FILE="/c"' in shown


SECRET = "# BEGIN fleet.alloy alloy_config (secret)\nTOKEN=\"t0ken\"\n# END fleet.alloy alloy_config (secret)\n"


def test_a_secret_section_leaves_the_host_as_an_hmac_under_the_key_only() -> None:
    lines = envfile.render_section("alloy_config", {"TOKEN": "t0ken"}, True)
    read = envfile.secret_section_read("A=1\n" + SECRET, "alloy_config", "k" * 64)
    assert read == {"found": True, "hmac": envfile.section_keyed_digest(lines, "k" * 64)}
    assert read["hmac"] != envfile.section_keyed_digest(lines, "j" * 64)      # another key, another digest
    assert envfile.secret_section_read(SECRET, "alloy_config", "") == {"found": True}    # no key, no digest
    assert envfile.secret_section_read("A=1\n", "alloy_config", "k") == {"found": False}


@pytest.mark.parametrize("text", [SECRET + SECRET,                                          # there twice
                                  SECRET.replace("alloy_config (secret)\n", "alloy_config (secret)\nX=1\n# END"
                                                 " fleet.alloy other\n", 1),                 # a marker inside
                                  SECRET.replace("# END fleet.alloy alloy_config (secret)\n", ""),   # not ended
                                  SECRET.replace(" (secret)", "")])                          # not marked secret
def test_a_secret_section_not_as_the_apply_writes_it_has_no_digest(text: str) -> None:
    assert envfile.secret_section_read(text, "alloy_config", "k") == {"found": True}
