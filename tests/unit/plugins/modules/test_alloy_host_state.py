"""alloy_host_state reads what a host has of an installation: a file's checksum and attributes as
copy and template compare them, dpkg's status file as dpkg writes it (several stanzas, continuation
lines, a held package, one removed but for its configuration files), rpm's and systemctl's answers."""
from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import ssl
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from gateway_standin import lab_ca
from local_http import LocalServer
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
    assert state == {"path": str(path), "exists": True, "state": "file", "link": False,
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


KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBGTnhmkBEADU\n-----END PGP PUBLIC KEY BLOCK-----\n"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY")


class Params:
    """What download() reads of a module."""

    def __init__(self, url: str, proxy: str = "") -> None:
        self.params = {"url": url, "proxy": proxy, "timeout": 5}


@pytest.fixture()
def server() -> Iterator[LocalServer]:
    found = LocalServer()
    yield found
    found.close()


@pytest.fixture()
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy variables as a shell would have them, put back after the test (download() sets them)."""
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, "")


def test_a_key_is_downloaded_from_the_host_its_content_returned(server: LocalServer, environment: None) -> None:
    server.routes["/gpg.key"] = (200, KEY)
    assert module.download(Params(server.url + "/gpg.key")) == {
        "url": server.url + "/gpg.key", "status": 200, "content": KEY, "msg": "OK"}
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/gpg.key")]


def test_a_failed_download_is_reported_with_its_status_not_raised(server: LocalServer, environment: None) -> None:
    missing = module.download(Params(server.url + "/missing.key"))
    assert (missing["status"], missing["content"]) == (404, "") and "Not Found" in missing["msg"], missing
    server.close()
    server.httpd.server_close()   # nothing listens on the port any more
    refused = module.download(Params(server.url + "/gpg.key"))
    assert (refused["status"], refused["content"]) == (-1, "") and "refused" in refused["msg"].lower(), refused


def test_a_proxy_is_the_one_given_and_none_without_it(server: LocalServer, environment: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Through alloy_install_proxy when set (as apt and dnf go), else direct even where the
    environment names a proxy: the old uri task's use_proxy."""
    server.routes["http://grafana.invalid/gpg.key"] = (200, KEY)   # a proxy sees the whole URL
    found = module.download(Params("http://grafana.invalid/gpg.key", proxy=server.url))
    assert (found["status"], found["content"]) == (200, KEY), found
    assert [r.path for r in server.requests] == ["http://grafana.invalid/gpg.key"]
    direct = LocalServer()
    direct.routes["/gpg.key"] = (200, KEY)
    monkeypatch.setenv("http_proxy", server.url)
    try:
        assert module.download(Params(direct.url + "/gpg.key"))["content"] == KEY
    finally:
        direct.close()
    assert len(server.requests) == 1 and len(direct.requests) == 1


def test_without_a_url_nothing_is_downloaded() -> None:
    assert module.download(Params("")) == {}


def test_a_redirect_is_followed_to_the_key(server: LocalServer, environment: None) -> None:
    server.redirects["/gpg.key"] = server.url + "/keys/gpg-2025.key"
    server.routes["/keys/gpg-2025.key"] = (200, KEY)
    found = module.download(Params(server.url + "/gpg.key"))
    assert (found["status"], found["content"]) == (200, KEY), found
    assert [r.path for r in server.requests] == ["/gpg.key", "/keys/gpg-2025.key"]


def test_a_certificate_the_host_does_not_trust_is_refused(tmp_path: Path, environment: None) -> None:
    """The key is only as good as the channel: an HTTPS server whose CA the host does not know gives
    no content (certificates are verified, as the uri task did)."""
    ca = lab_ca.make_ca(tmp_path, "ca", "ca", days=2)
    pair = lab_ca.issue(ca, tmp_path, "keyserver", ["localhost"], days=2, ips=["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pair.cert), str(pair.key))
    server = LocalServer(tls=context)
    server.routes["/gpg.key"] = (200, KEY)
    try:
        found = module.download(Params(server.url + "/gpg.key"))
    finally:
        server.close()
    assert (found["status"], found["content"]) == (-1, ""), found
    assert "CERTIFICATE_VERIFY_FAILED" in found["msg"], found


def test_only_http_and_https_are_downloaded() -> None:
    found = module.download(Params("file:///etc/hostname"))
    assert (found["status"], found["content"]) == (-1, "") and "http://" in found["msg"], found


# --- the facts in the same round trip (ad hoc, on this machine, as Ansible runs the modules) ----------

def run_ad_hoc(module_name: str, args: Dict[str, object]) -> Dict[str, object]:
    """The module's result on localhost (ansible ad hoc, the json callback)."""
    repo = Path(__file__).resolve().parents[4]
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), ANSIBLE_INVENTORY="localhost,",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(["ansible", "localhost", "-c", "local", "-m", module_name, "-a", json.dumps(args)],
                         cwd=repo, env=env, capture_output=True, text=True, check=False)
    found: Dict[str, object] = json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return found


# What changes from one run to the next, or with the module that runs (its environment).
VOLATILE = {"ansible_date_time", "ansible_env"}


def test_the_facts_are_the_ones_setup_gathers(tmp_path: Path) -> None:
    """gather_subset: the same collectors as ansible.builtin.setup, local facts (fact_path) included."""
    (tmp_path / "lab.fact").write_text('{"address": "10.0.0.7"}')
    args = {"gather_subset": ["min"], "fact_path": str(tmp_path)}
    setup = run_ad_hoc("ansible.builtin.setup", args)["ansible_facts"]
    ours = run_ad_hoc("fleet.alloy.alloy_host_state", args)
    assert isinstance(setup, dict) and isinstance(ours["ansible_facts"], dict)
    assert sorted(ours["ansible_facts"]) == sorted(setup)
    assert {k: v for k, v in ours["ansible_facts"].items() if k not in VOLATILE} == {
        k: v for k, v in setup.items() if k not in VOLATILE}
    assert setup["ansible_local"] == {"lab": {"address": "10.0.0.7"}}
    assert ours["read"] is True and "family" not in ours


def test_the_read_given_for_the_hosts_family_is_the_one_made(tmp_path: Path) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.write_text("x")
    family = run_ad_hoc("ansible.builtin.setup", {"gather_subset": ["min"]})["ansible_facts"]["ansible_os_family"]
    other = "Solaris" if family != "Solaris" else "Debian"
    found = run_ad_hoc("fleet.alloy.alloy_host_state", {
        "gather_subset": ["min"], "for_family": {family: {"files": {"mine": str(here)}, "package": ""},
                                                 other: {"files": {"theirs": str(elsewhere)}}}})
    assert found["family"] == family and found["read"] is True, found
    assert found["files"] == {"mine": module.file_state(str(here))}
    assert found["ansible_facts"]["ansible_os_family"] == family   # type: ignore[index]
    # a family not listed: the facts, and nothing read
    none = run_ad_hoc("fleet.alloy.alloy_host_state", {"gather_subset": ["min"],
                                                       "for_family": {other: {"files": {"theirs": str(elsewhere)}}}})
    assert none["read"] is False and "files" not in none and none["family"] == family, none


def test_for_family_is_checked_and_needs_the_facts() -> None:
    wrong = run_ad_hoc("fleet.alloy.alloy_host_state", {"gather_subset": ["min"], "for_family": {
        run_ad_hoc("ansible.builtin.setup", {"gather_subset": ["min"]})["ansible_facts"]["ansible_os_family"]:
        {"package_manager": "pacman"}}})
    assert wrong.get("failed") is True and "for_family." in str(wrong["msg"]) and "pacman" in str(wrong["msg"]), wrong
    alone = run_ad_hoc("fleet.alloy.alloy_host_state", {"for_family": {"Debian": {}}})
    assert alone.get("failed") is True and "needs gather_subset" in str(alone["msg"]), alone


def test_a_configuration_directory_read_for_the_writers_files_only(tmp_path: Path) -> None:
    """The files whose name has the prefix and ends in .alloy, each read as files are; the user's own
    files and other names are not read; a path that is not a directory is not there."""
    (tmp_path / "fleet_loki.alloy").write_text("// loki\n")
    (tmp_path / "mine.alloy").write_text("// the user's\n")
    (tmp_path / "fleet_notes.txt").write_text("notes\n")
    found = module.config_state(str(tmp_path), "fleet_")
    assert found["exists"] is True and found["link"] is False and list(found["files"]) == ["fleet_loki.alloy"]
    assert found["files"]["fleet_loki.alloy"] == module.file_state(str(tmp_path / "fleet_loki.alloy"))
    assert module.config_state(str(tmp_path / "fleet_loki.alloy"), "fleet_") == {
        "path": str(tmp_path / "fleet_loki.alloy"), "exists": False}
    assert module.config_state(str(tmp_path / "absent"), "fleet_")["exists"] is False


SECRET_SECTION = '# BEGIN fleet.alloy alloy_config (secret)\nT="x"\n# END fleet.alloy alloy_config (secret)\n'


def test_the_secret_section_is_read_with_the_env_file_under_the_key(tmp_path: Path) -> None:
    path = tmp_path / "alloy"
    path.write_text(SECRET_SECTION)
    found = module.env_state(str(path), "alloy_install", "alloy_config", "k")
    assert found["secret_section"]["found"] is True and len(found["secret_section"]["hmac"]) == 64
    assert found["section"] == {"found": False}
    assert "secret_section" not in module.env_state(str(path), "alloy_install")
    path.write_bytes(b"\xff\xfe not UTF-8\n")
    assert module.env_state(str(path), "alloy_install", "alloy_config", "k")["secret_section"] == {"found": False}


def test_the_key_is_never_logged_and_no_digest_comes_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from module_main import documented_argument_spec, run_main  # noqa: PLC0415
    seen = documented_argument_spec(module, monkeypatch)
    assert seen["argument_spec"]["digest_key"]["no_log"] is True
    monkeypatch.undo()
    path = tmp_path / "alloy"
    path.write_text(SECRET_SECTION)
    failed, result = run_main(module.main, {"env_file": str(path), "env_secret_section": "alloy_config",
                                            "digest_key": "the-hosts-key-of-this-run"})
    assert not failed and len(result["env"]["secret_section"]["hmac"]) == 64
    assert "the-hosts-key-of-this-run" not in json.dumps(result)   # masked in the invocation
    failed, result = run_main(module.main, {"env_file": str(path), "env_secret_section": "alloy_config"})
    assert not failed and result["env"]["secret_section"] == {"found": True}
