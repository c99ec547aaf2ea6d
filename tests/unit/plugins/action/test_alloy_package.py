"""fleet.alloy.alloy_package in a real ansible-playbook run (local connection; the "host" is a
folder of this machine): the package is taken from a controller directory or downloaded from a
URL, checked against its SHA256 on the controller, and only then copied; a tampered or unlisted
package fails the task and leaves the host as it was; downloads are cached only once they match."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import yaml

from local_http import LocalServer

REPO = Path(__file__).resolve().parents[4]
GOOD = b"!<arch>\nthe stand-in of a package, good\n"
BAD = b"!<arch>\nthe stand-in of a package, tampered\n"
DEB = "alloy-1.10.0-1.amd64.deb"
RPM_ARM = "alloy-1.10.0-1.arm64.rpm"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PLAYBOOK = """
- name: alloy_package cases
  hosts: all
  gather_facts: false
  tasks:
    - name: The case's platform, as fact gathering would set it
      ansible.builtin.set_fact:
        os_family: "{{ os_family | default('Debian') }}"
        architecture: "{{ architecture | default('x86_64') }}"
        cacheable: true

    - name: Put the package on the host
      fleet.alloy.alloy_package:
        location: "{{ location }}"
        version: "1.10.0"
        checksums: "{{ checksums }}"
        cache_dir: "{{ cache_dir }}"
        dest: "{{ dest }}"
      register: result
      check_mode: "{{ check | default(false) }}"

    - name: Report
      ansible.builtin.debug:
        var: result
"""

def host(tmp: Path, name: str, **case: Any) -> Dict[str, Any]:
    return dict({"cache_dir": str(tmp / "cache"), "dest": str(tmp / name / "var-cache")}, **case)


def release(tmp: Path, folder: str, content: bytes, name: str = DEB) -> str:
    (tmp / folder).mkdir(exist_ok=True)
    (tmp / folder / name).write_bytes(content)
    return str(tmp / folder)


def play(tmp: Path, hosts: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Each host's result of the alloy_package task, in one ansible-playbook run."""
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                         "hosts": hosts}}
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp / "playbook.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORKS="8")
    out = subprocess.run(["ansible-playbook", "-i", str(tmp / "inventory.yml"), str(tmp / "playbook.yml")],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    report = json.loads(out.stdout[out.stdout.index("{"):])
    task = next(t for t in report["plays"][0]["tasks"] if t["task"]["name"] == "Put the package on the host")
    return task["hosts"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """Every case in a first run; then, with the server serving tampered bytes, a second run of
    the hosts that show what a run after a success does."""
    tmp = tmp_path_factory.mktemp("alloy_package")
    server = LocalServer()
    server.routes.update({"/v1.10.0/" + DEB: (200, GOOD.decode()), "/bad/" + DEB: (200, BAD.decode())})
    good = release(tmp, "good", GOOD)
    bad = release(tmp, "bad", BAD)
    cases = {
        "dir": host(tmp, "dir", location=good, checksums=f"{sha(GOOD)}  {DEB}\n"),
        "dir_tampered": host(tmp, "dir_tampered", location=bad, checksums={DEB: sha(GOOD).upper()}),
        "unlisted": host(tmp, "unlisted", location=good, checksums={"alloy-1.10.0-1.arm64.deb": sha(GOOD)}),
        "el_arm": host(tmp, "el_arm", location=release(tmp, "good", GOOD, RPM_ARM), checksums={RPM_ARM: sha(GOOD)},
                       os_family="RedHat", architecture="aarch64"),
        "url": host(tmp, "url", location=server.url + "/v1.10.0/", checksums={DEB: sha(GOOD)}),
        "url_twin": host(tmp, "url_twin", location=server.url + "/v1.10.0", checksums={DEB: sha(GOOD)}),
        "url_tampered": host(tmp, "url_tampered", location=server.url + "/bad", checksums={DEB: sha(GOOD)},
                             cache_dir=str(tmp / "other-cache")),
        "url_missing": host(tmp, "url_missing", location=server.url + "/missing", checksums={DEB: sha(GOOD)},
                            cache_dir=str(tmp / "other-cache")),
        "check": host(tmp, "check", location=good, checksums={DEB: sha(GOOD)}, check=True),
        "check_tampered": host(tmp, "check_tampered", location=bad, checksums={DEB: sha(GOOD)}, check=True),
        "sums_text": host(tmp, "sums_text", location=good, checksums="not a checksum line"),
        "sums_list": host(tmp, "sums_list", location=good, checksums=["a list"]),
        "armv7l": host(tmp, "armv7l", location=good, checksums={DEB: sha(GOOD)}, architecture="armv7l"),
    }
    try:
        first = play(tmp, cases)
        cached_first = (tmp / "cache" / sha(GOOD) / DEB).read_bytes()
        server.routes["/v1.10.0/" + DEB] = (200, BAD.decode())
        before = len(server.requests)
        second = play(tmp, {"dir": cases["dir"], "url": cases["url"],
                            "url_next": host(tmp, "url_next", location=cases["url"]["location"],
                                             checksums={DEB: sha(GOOD)})})
        between = len(server.requests) - before
        # Someone writes into the cache: the file no longer matches, so it is fetched again (and
        # the server, which now serves tampered bytes, is refused).
        (tmp / "cache" / sha(GOOD) / DEB).write_bytes(BAD)
        third = play(tmp, {"url_third": host(tmp, "url_third", location=cases["url"]["location"],
                                             checksums={DEB: sha(GOOD)})})
        yield {"tmp": tmp, "cases": cases, "first": first, "second": second, "third": third, "url": server.url,
               "downloads_between": between, "good": good, "cached_first": cached_first,
               "downloads": [r.path for r in server.requests].count("/v1.10.0/" + DEB)}
    finally:
        server.close()


def copied(runs: Dict[str, Any], name: str, fmt: str = "deb") -> Path:
    return Path(runs["cases"][name]["dest"]) / ("alloy." + fmt)


def test_a_package_from_a_controller_directory_is_checked_then_copied_once(runs: Dict[str, Any]) -> None:
    first, again = runs["first"]["dir"], runs["second"]["dir"]
    assert first.get("failed") is None and first["changed"] is True
    assert (first["name"], first["sha256"], first["source"]) == (DEB, sha(GOOD), runs["good"] + "/" + DEB)
    assert first["path"] == str(copied(runs, "dir")) and copied(runs, "dir").read_bytes() == GOOD
    assert oct(copied(runs, "dir").stat().st_mode & 0o777) == "0o644"
    assert again["changed"] is False and copied(runs, "dir").read_bytes() == GOOD


def test_a_tampered_package_fails_before_the_host_changes(runs: Dict[str, Any]) -> None:
    result = runs["first"]["dir_tampered"]
    assert result["failed"] is True
    assert result["msg"] == (f"{runs['tmp'] / 'bad' / DEB} has SHA256 {sha(BAD)}, but alloy_install_package_checksums "
                             f"says {sha(GOOD)}: the package was not copied to the host")
    assert not Path(runs["cases"]["dir_tampered"]["dest"]).exists()


def test_a_package_the_list_does_not_vouch_for_is_refused(runs: Dict[str, Any]) -> None:
    assert runs["first"]["unlisted"]["msg"] == (
        f"alloy_install_package_checksums lists no SHA256 for {DEB}: add the line of the release's SHA256SUMS for it")
    assert not Path(runs["cases"]["unlisted"]["dest"]).exists()


def test_the_host_decides_the_file_el_on_arm_takes_the_arm64_rpm(runs: Dict[str, Any]) -> None:
    result = runs["first"]["el_arm"]
    assert result["name"] == RPM_ARM and result["path"].endswith("/alloy.rpm")
    assert copied(runs, "el_arm", "rpm").read_bytes() == GOOD


def test_a_download_is_cached_under_its_checksum_once_it_matched(runs: Dict[str, Any]) -> None:
    first = runs["first"]["url"]
    assert first["changed"] is True and first["source"] == f"{runs['url']}/v1.10.0/{DEB}"
    assert runs["cached_first"] == GOOD
    assert copied(runs, "url").read_bytes() == GOOD
    # The server serves other bytes now: the cached copy, which matched, is used without a download.
    assert runs["downloads_between"] == 0
    assert runs["second"]["url"]["changed"] is False
    assert runs["second"]["url_next"]["changed"] is True
    assert (runs["tmp"] / "url_next" / "var-cache" / "alloy.deb").read_bytes() == GOOD


def test_a_download_that_does_not_match_is_neither_kept_nor_copied(runs: Dict[str, Any]) -> None:
    assert runs["first"]["url_tampered"]["msg"] == (
        f"{runs['url']}/bad/{DEB} has SHA256 {sha(BAD)}, but alloy_install_package_checksums says {sha(GOOD)}: "
        "the package was not copied to the host")
    left = [path.name for path in (runs["tmp"] / "other-cache" / sha(GOOD)).iterdir()]
    assert left == [".lock"]   # no partial download left
    assert not Path(runs["cases"]["url_tampered"]["dest"]).exists()


def test_a_missing_download_names_the_url(runs: Dict[str, Any]) -> None:
    message = runs["first"]["url_missing"]["msg"]
    assert message.startswith(f"cannot download {runs['url']}/missing/{DEB} on the controller: ") and "404" in message


def test_check_mode_checks_but_copies_nothing(runs: Dict[str, Any]) -> None:
    assert runs["first"]["check"]["changed"] is True and not Path(runs["cases"]["check"]["dest"]).exists()
    assert runs["first"]["check_tampered"]["failed"] is True and "has SHA256" in runs["first"]["check_tampered"]["msg"]


def test_a_list_that_is_no_list_of_checksums_is_refused(runs: Dict[str, Any]) -> None:
    assert runs["first"]["sums_text"]["msg"] == (
        "alloy_install_package_checksums: line 1 is not \"<64 hex digits>  <file name>\", got 'not a checksum line'")
    assert runs["first"]["sums_list"]["msg"] == (
        "alloy_install_package_checksums: expected the lines of a SHA256SUMS file (<64 hex digits>  <file name>, as "
        "lookup('file', ...) reads it) or a mapping of file name to SHA256")


def test_a_host_of_an_unknown_machine_is_refused(runs: Dict[str, Any]) -> None:
    assert runs["first"]["armv7l"]["msg"] == (
        "Grafana publishes no deb package for the machine armv7l (only for aarch64, ppc64le, s390x, x86_64)")


def test_hosts_that_need_the_same_download_wait_for_one_download(runs: Dict[str, Any]) -> None:
    assert runs["first"]["url_twin"]["changed"] is True and copied(runs, "url_twin").read_bytes() == GOOD
    # url and url_twin in the first run, url_third after the cache was tampered with: three hosts, two downloads.
    assert runs["downloads"] == 2


def test_a_cached_download_that_changed_is_not_used(runs: Dict[str, Any]) -> None:
    assert runs["third"]["url_third"]["msg"] == (
        f"{runs['url']}/v1.10.0/{DEB} has SHA256 {sha(BAD)}, but alloy_install_package_checksums says {sha(GOOD)}: "
        "the package was not copied to the host")
    assert not (runs["tmp"] / "cache" / sha(GOOD) / DEB).exists()
    assert not (runs["tmp"] / "url_third").exists()
