"""The fleet plays besides the rollout gate, on fresh Debian 12 lab hosts: upgrade.yml
(a rolling version change, one restart per host, one host per batch, each batch verified),
uninstall.yml (what alloy_install_state=absent removes, the WAL kept unless
alloy_uninstall_remove_data says otherwise, also as the AWX survey's string) and site.yml's
tags one at a time (config, install, verify, docker).

Two hosts for the whole module, in this order: site.yml installs 1.9.2 on both (the
inventory pins it), upgrade.yml moves them to 1.10.0, the tag cases run on the first, the
uninstall cases end them."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from conftest import Host, playbook, site
from labtool import lab  # lab/ is on the path (conftest.py)

OLD, NEW = "1.9.2", "1.10.0"
SITE_PLAY = "PLAY [Roll Grafana Alloy out to the fleet]"
WAIT = ("-e", "alloy_verify_wait_timeout=60")
# What alloy_install_state=absent deletes on a Debian host (roles/alloy_install/tasks/uninstall.yml),
# beside the package and the service: the repository, its key, the drop-in directory and the
# env file with the pipelines' credentials (a package removal that is not a purge keeps it).
REMOVED_PATHS = ("/etc/apt/sources.list.d/grafana.sources", "/etc/apt/keyrings/grafana.asc",
                 "/etc/systemd/system/alloy.service.d", "/usr/lib/systemd/system/alloy.service",
                 "/etc/default/alloy")
WAL = "find /var/lib/alloy/data -path '*/wal/*' -type f | sort"


def version(host: Host) -> str:
    return host.sh("dpkg-query -W -f '${Status} ${Version}' alloy", check=False).stdout.strip()


def selection(host: Host) -> str:
    return host.sh("dpkg-query -W -f '${Status}' alloy").stdout.split()[0]


def service(host: Host) -> Dict[str, str]:
    out = host.sh("systemctl show -p MainPID -p NRestarts -p ActiveState -p LoadState -p UnitFileState alloy.service")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def starts(host: Host) -> int:
    """Starts of alloy.service: the stand-in logs one such line per start (as
    molecule/alloy_install/tasks/count_starts.yml counts them)."""
    out = host.sh("journalctl -u alloy.service -o cat --no-pager | grep -c 'now listening for http traffic' || true")
    return int(out.stdout.strip() or 0)


def wal(host: Host) -> List[str]:
    return host.sh(WAL, check=False).stdout.split()


def recap(out: subprocess.CompletedProcess[str], host: Host) -> Dict[str, int]:
    match = re.search(rf"^{re.escape(host.name)}\s*: (ok=.*)$", out.stdout, re.M)
    assert match, f"no recap line for {host.name}:\n{out.stdout[-3000:]}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def tasks(out: subprocess.CompletedProcess[str]) -> List[str]:
    return re.findall(r"^TASK \[(.*)\] \**$", out.stdout, re.M)


def hosts_in(text: str) -> Set[str]:
    """Hosts that a task result names (ok/changed/skipping/fatal: [host])."""
    return {name.split(" -> ")[0] for name in re.findall(r"^\w+: \[([^\]]+)\]", text, re.M)}


def tail(out: subprocess.CompletedProcess[str], size: int = 5000) -> str:
    return f"rc={out.returncode}\n{out.stdout[-size:]}\n{out.stderr[-1500:]}"


HOLD_TASK = "fleet.alloy.alloy_install : Hold or release the package against unattended upgrades"


def task_output(out: subprocess.CompletedProcess[str], name: str) -> str:
    """What the task named name printed, up to the next task, handler, play or recap."""
    match = re.search(rf"^TASK \[{re.escape(name)}\] \**\n(.*?)(?=^(TASK|RUNNING HANDLER|PLAY) )",
                      out.stdout, re.M | re.S)
    assert match, f"no task {name}:\n{out.stdout[-3000:]}"
    return match.group(1)


@pytest.fixture(scope="module")
def installed(lab_urls: Dict[str, str], tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Tuple[Host, Host, Path, subprocess.CompletedProcess[str]]]:
    """Two Debian 12 hosts that site.yml gave 1.9.2 (pinned in their host vars, over the lab's
    1.10.0), their inventory and that first run's output."""
    names = [f"fleet-alloy-lab-test-plays-{n}" for n in (1, 2)]
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        lab.start_host("debian12", name)
    inventory = lab.write_inventory(tmp_path_factory.mktemp("pair"),
                                    {"alloy": {name: {"alloy_install_version": OLD} for name in names}})
    try:
        out = site(inventory, "-e", "alloy_site_serial=100%", *WAIT)  # one batch: the upgrade tests the batches
        assert out.returncode == 0, tail(out)
        yield Host(names[0]), Host(names[1]), inventory, out
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


@pytest.fixture(scope="module")
def pair(installed: Tuple[Host, Host, Path, subprocess.CompletedProcess[str]]) -> Tuple[Host, Host, Path]:
    """The two hosts of installed and their inventory."""
    return installed[:3]


def test_a_new_host_not_to_hold_the_package_skips_the_hold(
        installed: Tuple[Host, Host, Path, subprocess.CompletedProcess[str]]) -> None:
    """dpkg selects install for a package it did not know when apt installs it: on a new host without
    alloy_install_hold, the hold task has nothing to do and is skipped (a round trip spared)."""
    h1, h2, _, first_run = installed
    skipped = task_output(first_run, HOLD_TASK)
    for host in (h1, h2):
        assert re.search(rf"^skipping: \[{re.escape(host.name)}\]", skipped, re.M), skipped
        assert selection(host) == "install", version(host)


@pytest.mark.parametrize("given", [None, "v1.10.0"], ids=["missing", "v-prefixed"])
def test_upgrade_without_a_version_fails_before_any_host(pair: Tuple[Host, Host, Path], given: str | None) -> None:
    h1, h2, inventory = pair
    before = {h.name: (version(h), service(h)["MainPID"]) for h in (h1, h2)}
    out = playbook("upgrade.yml", inventory, *(["-e", f"alloy_upgrade_version={given}"] if given else []))
    assert out.returncode != 0, tail(out)
    assert ("alloy_upgrade_version: expected a version such as 1.10.0 (no v prefix), "
            f"got '{given or ''}'") in out.stdout, tail(out)
    assert SITE_PLAY not in out.stdout, tail(out)
    assert hosts_in(out.stdout) <= {"localhost"}, tail(out)
    assert {h.name: (version(h), service(h)["MainPID"]) for h in (h1, h2)} == before


def test_upgrade_rolls_the_version_one_host_per_batch(pair: Tuple[Host, Host, Path]) -> None:
    h1, h2, inventory = pair
    before = {}
    for host in (h1, h2):
        assert version(host) == f"install ok installed {OLD}-1", host.name
        state = service(host)
        assert state["ActiveState"] == "active", (host.name, state)
        before[host.name] = (state, starts(host))
        assert before[host.name][1] >= 1, host.name

    out = playbook("upgrade.yml", inventory, "-e", f"alloy_upgrade_version={NEW}",
                   "-e", "alloy_upgrade_serial=1", *WAIT)
    assert out.returncode == 0, tail(out)

    for host in (h1, h2):
        assert version(host) == f"install ok installed {NEW}-1", (host.name, tail(out))
        state, count = before[host.name]
        now = service(host)
        assert now["ActiveState"] == "active", (host.name, now)
        assert starts(host) == count + 1, f"{host.name}: expected exactly one new start"
        assert now["MainPID"] != state["MainPID"], host.name
        assert now["NRestarts"] == state["NRestarts"], (host.name, "systemd restarted a crashed Alloy")
        assert recap(out, host)["failed"] == 0

    # One batch per host, in inventory order: each batch's play shows only its host,
    # upgrades it and verifies it healthy before the next batch starts.
    batches = out.stdout.split(SITE_PLAY)[1:]
    assert len(batches) == 2, tail(out)
    for batch, host in zip(batches, (h1, h2)):
        batch = batch.split("PLAY RECAP")[0]
        assert hosts_in(batch) == {host.name}, (host.name, batch[-3000:])
        install = re.search(r"TASK \[fleet\.alloy\.alloy_install : Install the alloy package \(apt\)\][^\n]*\n"
                            rf"changed: \[{re.escape(host.name)}\]", batch)
        assert install, (host.name, batch[-3000:])
        verify = batch.find("TASK [Check the host with alloy_verify]")
        assert verify > install.start(), (host.name, batch[-3000:])
        report = batch[verify:]
        assert re.search(r"healthy: \d+ checks passed", report), (host.name, report[:2000])
    assert "is not healthy" not in out.stdout


def test_the_version_given_at_launch_is_the_one_installed(pair: Tuple[Host, Host, Path]) -> None:
    """alloy_site_version (extra vars, an AWX survey) over the inventory's pin: the hosts have NEW
    (upgrade.yml), their inventory still pins OLD. site.yml in check mode with NEW given at launch
    leaves the package task nothing to do (skipped: the host has that version); were the pin read
    instead, apt would downgrade."""
    h1, dummy, inventory = pair
    out = site(inventory, "--check", "--limit", h1.name, "-e", f"alloy_site_version={NEW}", *WAIT)
    assert out.returncode == 0, tail(out)
    # Skipped: the package task, or the whole of what the role includes when the host lacks nothing.
    install = re.search(r"TASK \[fleet\.alloy\.alloy_install : (Install the alloy package \(apt\)"
                        r"|Install, configure and run Alloy, or remove it)\][^\n]*\n(\w+): \[", out.stdout)
    assert install and install.group(2) == "skipping", tail(out)
    assert recap(out, h1)["changed"] == 0, tail(out)
    assert version(h1) == f"install ok installed {NEW}-1"


@pytest.fixture(scope="module")
def tagged(pair: Tuple[Host, Host, Path], tmp_path_factory: pytest.TempPathFactory) -> Tuple[Host, Path]:
    """The first host alone, its inventory pinning the version it has (whatever the upgrade did)."""
    h1 = pair[0]
    have = version(h1).rsplit(" ", 1)[-1].rsplit("-", 1)[0]
    return h1, lab.write_inventory(tmp_path_factory.mktemp("tags"), {"alloy": {h1.name: {"alloy_install_version": have}}})


UNIX_FILE = "/etc/alloy/conf.d/fleet_unix.alloy"
# alloy_install's tasks at the role's level (the install, configure and run tasks are included by the
# second, only on a host that lacks something of them: roles/alloy_install/tasks/main.yml).
INSTALL_TASKS = ("fleet.alloy.alloy_install : Check the platform and the variables",
                 "fleet.alloy.alloy_install : Install, configure and run Alloy, or remove it")


def test_tag_config_writes_only_the_pipelines(tagged: Tuple[Host, Path]) -> None:
    host, inventory = tagged
    assert re.search(r'scrape_interval\s*=\s*"15s"', host.sh(f"cat {UNIX_FILE}").stdout)
    pid = service(host)["MainPID"]
    out = site(inventory, "--tags", "config", "-e", "alloy_config_unix_scrape_interval=10s", *WAIT)
    assert out.returncode == 0, tail(out)
    assert re.search(r'scrape_interval\s*=\s*"10s"', host.sh(f"cat {UNIX_FILE}").stdout), tail(out)
    ran = tasks(out)
    assert "fleet.alloy.alloy_config : Install the configuration if Alloy accepts it, then reload" in ran, ran
    assert not [t for t in ran if t.startswith("fleet.alloy.alloy_install :")], ran
    assert not set(INSTALL_TASKS) & set(ran), ran
    assert "Check the host with alloy_verify" not in ran, ran
    assert recap(out, host)["changed"] >= 1
    # Reloaded, not restarted.
    assert service(host)["MainPID"] == pid


APPLY_TASK = "fleet.alloy.alloy_config : Install the configuration if Alloy accepts it, then reload"
ENV_FILE = "/etc/default/alloy"


def outcome(out: subprocess.CompletedProcess[str], name: str) -> str:
    """How the task named name ended on the (one) host: ok, changed, skipping, fatal; '' when it did not run."""
    match = re.search(rf"^TASK \[{re.escape(name)}\][^\n]*\n(\w+): \[", out.stdout, re.M)
    return match.group(1) if match else ""


def test_the_apply_is_skipped_on_a_host_that_has_it_and_runs_on_one_changed_by_hand(tagged: Tuple[Host, Path]) -> None:
    """The preflight's read (files, record, the secret section as an HMAC) decides on the controller: a host
    as the apply would leave it skips it; a pipeline file or a secret changed on the host since makes it run
    and put them back - the file by a reload, the secret by a restart."""
    host, inventory = tagged
    first = site(inventory, "--tags", "config", *WAIT)   # as the inventory says (the case before set another interval)
    assert first.returncode == 0, tail(first)
    pid, env = service(host)["MainPID"], host.sh(f"cat {ENV_FILE}").stdout
    out = site(inventory, "--tags", "config", *WAIT)
    assert out.returncode == 0 and outcome(out, APPLY_TASK) == "skipping", tail(out)
    assert recap(out, host)["changed"] == 0 and "alloy_config (secret)" in env
    host.sh(f"echo '// edited by hand' >> {UNIX_FILE}")
    out = site(inventory, "--tags", "config", *WAIT)
    assert out.returncode == 0 and outcome(out, APPLY_TASK) == "changed", tail(out)
    assert "edited by hand" not in host.sh(f"cat {UNIX_FILE}").stdout
    assert service(host)["MainPID"] == pid   # reloaded
    # a secret changed on the host: only the HMAC of its section left it, and that differs
    host.sh(f"sed -i 's/^\\(FLEET_ALLOY_LOKI_0_PASSWORD=\"\\)/\\1stale-/' {ENV_FILE}")
    assert host.sh(f"cat {ENV_FILE}").stdout != env
    out = site(inventory, "--tags", "config", *WAIT)
    assert out.returncode == 0 and outcome(out, APPLY_TASK) == "changed", tail(out)
    assert host.sh(f"cat {ENV_FILE}").stdout == env
    assert "RUNNING HANDLER [fleet.alloy.alloy_install : Restart alloy for its new secrets]" in out.stdout, tail(out)
    assert service(host)["MainPID"] != pid   # restarted for the secret put back


def test_tag_install_runs_no_config_task(tagged: Tuple[Host, Path]) -> None:
    host, inventory = tagged
    pid = service(host)["MainPID"]
    config = host.sh(f"cat {UNIX_FILE}").stdout
    out = site(inventory, "--tags", "install", *WAIT)
    assert out.returncode == 0, tail(out)
    ran = tasks(out)
    assert set(INSTALL_TASKS) <= set(ran), ran
    assert not [t for t in ran if "alloy_config" in t], ran
    assert "Check the host with alloy_verify" not in ran, ran
    # The host already has the pinned version: nothing to change, nothing restarted, and
    # the pipelines of the config run stay (the inventory's 15s is not written back).
    assert recap(out, host)["changed"] == 0, tail(out)
    assert service(host)["MainPID"] == pid
    assert host.sh(f"cat {UNIX_FILE}").stdout == config
    # Nothing to do: the included tasks are not even loaded.
    assert HOLD_TASK not in ran, ran


def test_tag_install_runs_the_included_tasks_when_there_is_work(tagged: Tuple[Host, Path]) -> None:
    """The tasks that main.yml includes inherit the role's tag: a hold asked under --tags install is
    applied (dpkg's selection), without a restart; the release after it too."""
    host, inventory = tagged
    pid = service(host)["MainPID"]
    try:
        for hold, expected in (("true", "hold"), ("false", "install")):
            out = site(inventory, "--tags", "install", "-e", f"alloy_install_hold={hold}", *WAIT)
            assert out.returncode == 0, tail(out)
            ran = tasks(out)
            assert HOLD_TASK in ran, ran
            assert not [t for t in ran if "alloy_config" in t], ran
            assert selection(host) == expected, tail(out)
            assert recap(out, host)["changed"] == 1, tail(out)
    finally:   # the cases after this one expect the package released
        host.sh("apt-mark unhold alloy", check=False)
    assert service(host)["MainPID"] == pid


def test_tag_verify_only_verifies(tagged: Tuple[Host, Path]) -> None:
    host, inventory = tagged
    out = site(inventory, "--tags", "verify", *WAIT)
    assert out.returncode == 0, tail(out)
    ran = tasks(out)
    assert not [t for t in ran if re.match(r"fleet\.alloy\.alloy_(install|config|docker) :", t)], ran
    assert "Check the host with alloy_verify" in ran, ran
    assert re.search(r"healthy: \d+ checks passed", out.stdout), tail(out)
    assert "is not healthy" not in out.stdout
    assert recap(out, host)["changed"] == 0


def test_tag_docker_changes_nothing_on_a_systemd_host(tagged: Tuple[Host, Path]) -> None:
    host, inventory = tagged
    before = (version(host), service(host)["MainPID"], starts(host))
    out = site(inventory, "--tags", "docker", *WAIT)
    assert out.returncode == 0, tail(out)
    ran = tasks(out)
    assert not [t for t in ran if "fleet.alloy.alloy_" in t], ran
    assert "Check the host with alloy_verify" not in ran, ran
    assert recap(out, host)["changed"] == 0, tail(out)
    assert (version(host), service(host)["MainPID"], starts(host)) == before
    assert host.sh("command -v docker", check=False).returncode != 0


def assert_removed(host: Host) -> None:
    assert not version(host).startswith("install ok installed"), version(host)
    state = service(host)
    assert state["LoadState"] == "not-found" and state["ActiveState"] == "inactive", (host.name, state)
    # No Alloy process left (the pattern does not match the grep's own command line).
    assert host.sh("grep -ls 'storage[.]path=/var/lib/alloy/data' /proc/[0-9]*/cmdline", check=False).stdout == "", host.name
    for path in REMOVED_PATHS:
        assert host.sh(f"test -e {path}", check=False).returncode != 0, (host.name, path)


def test_uninstall_keeps_the_wal_unless_asked(pair: Tuple[Host, Host, Path]) -> None:
    h1, h2, inventory = pair
    wals = {h.name: wal(h) for h in (h1, h2)}
    for host in (h1, h2):
        assert version(host).startswith("install ok installed"), host.name
        assert wals[host.name], f"{host.name}: no WAL under /var/lib/alloy/data"

    out = playbook("uninstall.yml", inventory, "--limit", h1.name)
    assert out.returncode == 0, tail(out)
    assert_removed(h1)
    assert wal(h1) == wals[h1.name]
    assert version(h2).startswith("install ok installed"), "--limit was not respected"

    # The AWX survey answers with strings: "false" keeps the data, "true" deletes it.
    out = playbook("uninstall.yml", inventory, "--limit", h1.name, "-e", "alloy_uninstall_remove_data=false")
    assert out.returncode == 0, tail(out)
    assert wal(h1) == wals[h1.name]

    out = playbook("uninstall.yml", inventory, "--limit", h2.name, "-e", "alloy_uninstall_remove_data=true")
    assert out.returncode == 0, tail(out)
    assert_removed(h2)
    assert h2.sh("test -e /var/lib/alloy", check=False).returncode != 0, "the data of " + h2.name + " is still there"
    assert wal(h1) == wals[h1.name], "the data of the other host went too"
