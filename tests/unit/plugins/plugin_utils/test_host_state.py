"""What alloy_install's read of the host asks for: the repository key is downloaded only when the
role installs from the repository and the key is not given inline, from the family's URL."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from ansible_collections.fleet.alloy.plugins.plugin_utils import host_state

CHECKED: Dict[str, Any] = {"state": "present", "package_source": "repository", "key_content": "", "proxy": "",
                           "apt_key_url": "https://apt.example/gpg.key", "rpm_key_url": "https://rpm.example/gpg.key",
                           "apt_keyring": "/etc/apt/keyrings/grafana.asc", "rpm_key_file": "/etc/pki/rpm-gpg/K",
                           "key_fingerprints": ["B53AE77BADB630A683046005963FA27710458545"],
                           "config_path": "/etc/alloy/conf.d"}
RUNTIME = {"service": "alloy.service", "env_file": "/etc/default/alloy", "config_dir": "/etc/alloy/conf.d"}


def probe(os_family: str, **changes: Any) -> Dict[str, Any]:
    return host_state.install_probe(dict(CHECKED, **changes), {"os_family": os_family}, RUNTIME)


def test_the_key_of_the_hosts_family_through_the_roles_proxy() -> None:
    assert (probe("Debian")["url"], probe("Debian")["proxy"]) == ("https://apt.example/gpg.key", "")
    assert (probe("RedHat", proxy="http://proxy:3128")["url"], probe("RedHat", proxy="http://proxy:3128")["proxy"]) \
        == ("https://rpm.example/gpg.key", "http://proxy:3128")


@pytest.mark.parametrize("changes", [{"key_content": "-----BEGIN PGP PUBLIC KEY BLOCK-----"},
                                     {"package_source": "controller"}, {"state": "absent"}])
def test_no_download_when_the_role_does_not_need_the_key(changes: Dict[str, Any]) -> None:
    for family in ("Debian", "RedHat"):
        assert "url" not in probe(family, **changes) and "proxy" not in probe(family, **changes)


def test_no_download_when_the_play_says_the_repository_tasks_do_not_run() -> None:
    assert "url" not in host_state.install_probe(CHECKED, {"os_family": "Debian"}, RUNTIME, download_key=False)


def test_the_result_the_role_reads_has_the_download_or_an_empty_one() -> None:
    found = {"files": {}, "exists": {}, "rpm_keys": {}, "package": {}, "service": {}, "env": {}, "invocation": {},
             "download": {"url": "u", "status": 200, "content": "k", "msg": "OK"}}
    assert host_state.host_state(found)["download"] == found["download"]
    assert "invocation" not in host_state.host_state(found)
    assert host_state.host_state({})["download"] == {}


def test_the_section_read_is_the_one_the_role_writes() -> None:
    role_vars = yaml.safe_load((Path(__file__).parents[4] / "roles/alloy_install/vars/main.yml").read_text())
    assert role_vars["__alloy_install_env_section"] == host_state.ENV_SECTION == probe("Debian")["env_section"]


def test_every_read_the_preflight_asks_is_one_the_module_takes_by_family() -> None:
    """The read goes to the host as the module's options, or as for_family's (validated there against
    READ_OPTIONS): a key the probe gains must be one the module knows, on every family."""
    from ansible_collections.fleet.alloy.plugins.modules.alloy_host_state import READ_OPTIONS
    from ansible_collections.fleet.alloy.plugins.plugin_utils.rulebook import INSTALL_FAMILIES
    for family in INSTALL_FAMILIES:
        with_config = host_state.config_probe(probe(family), RUNTIME)
        assert set(with_config) <= set(READ_OPTIONS), family
        # every option is asked for, but the download's (not always) and the prefix (the writer's default)
        assert set(with_config) | {"url", "proxy", "config_prefix"} == set(READ_OPTIONS), family


def test_alloy_configs_read_is_of_the_runtime_and_of_the_section_and_record_the_apply_writes() -> None:
    """config_probe reads the runtime's configuration directory, the env file's section that alloy_config's
    apply task names, and the record at the path the apply keeps it; alloy_install's read is kept whole."""
    from ansible_collections.fleet.alloy.plugins.module_utils.runtime_fact import PIPELINES_FACT_PATH
    tasks = yaml.safe_load((Path(__file__).parents[4] / "roles/alloy_config/tasks/main.yml").read_text())
    apply = next(task["fleet.alloy.alloy_config_apply"] for task in tasks if "fleet.alloy.alloy_config_apply" in task)
    found = host_state.config_probe(probe("Debian"), dict(RUNTIME, config_dir="/srv/alloy"))
    assert apply["env_section"] == host_state.CONFIG_ENV_SECTION == found["env_secret_section"]
    assert found["config_dir"] == "/srv/alloy" and found["files"]["pipelines_fact"] == PIPELINES_FACT_PATH
    assert dict(found, files=probe("Debian")["files"], config_dir=None, env_secret_section=None) == dict(
        probe("Debian"), config_dir=None, env_secret_section=None)
    assert "record_path" not in apply and "prefix" not in apply   # the module's defaults, the ones read


@pytest.mark.parametrize("family", ["Debian", "RedHat"])
def test_the_apply_is_read_only_when_alloy_config_runs_and_the_state_is_present(family: str) -> None:
    facts = {"os_family": family}
    assert host_state.read_probe(CHECKED, facts, RUNTIME, config=True) == host_state.config_probe(probe(family), RUNTIME)
    assert host_state.read_probe(CHECKED, facts, RUNTIME) == probe(family)   # alloy_install alone
    absent = dict(CHECKED, state="absent")
    assert host_state.read_probe(absent, facts, RUNTIME, config=True) == probe(family, state="absent")
    assert "url" not in host_state.read_probe(CHECKED, facts, RUNTIME, download_key=False, config=True)


def test_the_runs_key_is_made_once_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_state.C, "DEFAULT_LOCAL_TMP", str(tmp_path))
    assert host_state.run_key(create=False) == ""
    key = host_state.run_key()
    assert len(key) == 64 and host_state.run_key() == key == host_state.run_key(create=False)
    assert oct((tmp_path / "fleet-alloy-digest.key").stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet-alloy-digest.key"]   # no staged file left
    host_keys = {host_state.host_key(name) for name in ("web-01", "web-02")}
    assert len(host_keys) == 2 and key not in host_keys and all(len(found) == 64 for found in host_keys)
    monkeypatch.setattr(host_state.C, "DEFAULT_LOCAL_TMP", str(tmp_path / "another-run"))
    (tmp_path / "another-run").mkdir()
    assert host_state.run_key() != key and host_state.host_key("web-01") not in host_keys
    monkeypatch.setattr(host_state.C, "DEFAULT_LOCAL_TMP", str(tmp_path / "gone"))
    assert host_state.run_key() == "" and host_state.host_key("web-01") == ""   # no key: no digest, no skip
